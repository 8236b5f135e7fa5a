//! Where the browser build differs from native, in one place: the canvas the app draws
//! into, options from the page's query string instead of a command line, output to the
//! browser console instead of stdout, and training stepped on the main thread within a
//! per-frame budget (wasm has no threads; see [`super::add_training`]).
//!
//! The query parser is plain Rust and is tested on native.

use super::{AppOptions, JobKind};
use std::time::Duration;

/// The page's canvas (`web/index.html`).
pub const CANVAS: &str = "#shoal";

/// Training time per frame in the browser (the rest of the frame draws the tank).
pub const TRAIN_BUDGET: Duration = Duration::from_millis(8);

/// Most fish the page accepts (`?fish=`).
pub const MAX_WEB_FISH: usize = 50_000;

/// App options from a query string such as `?fish=500&seed=3&train=basics,dcgan&autostart=1`.
///
/// Keys: `fish`, `seed`, `train` (comma list of `basics`, `path-sgd`, `dcgan`, or `none`),
/// `autostart` (`1`/`true`/`0`/`false`), `diagnostics` (frame-time lines in the console),
/// `seconds` (stop after this long). Bad values are reported, never half applied: any error
/// gives `Err` with every problem found.
pub fn options_from_query(query: &str) -> Result<AppOptions, String> {
    let mut opts = AppOptions::default();
    let mut errors = Vec::new();
    let query = query.trim_start_matches('?');
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let flag = |v: &str| match v {
            "" | "1" | "true" | "yes" => Ok(true),
            "0" | "false" | "no" => Ok(false),
            _ => Err(format!("{key} must be 1 or 0, got '{v}'")),
        };
        let result: Result<(), String> = match key {
            "fish" => match value.parse::<usize>() {
                Ok(n) if n <= MAX_WEB_FISH => {
                    opts.fish = n;
                    Ok(())
                }
                _ => Err(format!(
                    "fish must be a whole number up to {MAX_WEB_FISH}, got '{value}'"
                )),
            },
            "seed" => value
                .parse()
                .map(|s| opts.seed = s)
                .map_err(|_| format!("seed must be a whole number, got '{value}'")),
            "train" if value == "none" => {
                opts.jobs.clear();
                Ok(())
            }
            "train" => value
                .split(',')
                .map(|k| k.parse::<JobKind>())
                .collect::<Result<Vec<_>, _>>()
                .map(|jobs| opts.jobs = jobs),
            "autostart" => flag(value).map(|b| opts.autostart = b),
            "diagnostics" => flag(value).map(|b| opts.diagnostics = b.then_some(None)),
            "seconds" => match value.parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 => {
                    opts.seconds = Some(s);
                    Ok(())
                }
                _ => Err(format!("seconds must be a positive number, got '{value}'")),
            },
            _ => Err(format!(
                "unknown option '{key}' (use fish, seed, train, autostart, diagnostics, seconds)"
            )),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(opts)
    } else {
        Err(errors.join("; "))
    }
}

/// One line of output: the browser console on wasm, stdout on native.
pub fn print_line(line: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::log_1(&line.into());
    #[cfg(not(target_arch = "wasm32"))]
    println!("{line}");
}

/// An error for the user: the browser console on wasm, stderr on native.
pub fn print_error(line: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::error_1(&line.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{line}");
}

/// The browser app: options from the page address, then the same app as native. A bad
/// query is reported in the console and the tank starts with the defaults.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    use bevy::prelude::*;
    let query = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.url().ok())
        .and_then(|url| {
            url.split_once('?')
                .map(|(_, q)| q.split('#').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    let opts = options_from_query(&query).unwrap_or_else(|e| {
        print_error(&format!("shoal: {e}; starting with the defaults"));
        AppOptions::default()
    });
    let mut app = super::build_app(&opts);
    app.add_systems(Last, first_frame);
    app.run();
}

/// Says when the first frame is done (the browser test measures time to first frame).
#[cfg(target_arch = "wasm32")]
fn first_frame(frames: bevy::prelude::Res<bevy::diagnostic::FrameCount>, mut done: bevy::prelude::Local<bool>) {
    if !*done && frames.0 >= 1 {
        *done = true;
        print_line(r#"{"kind":"first_frame"}"#);
    }
}
