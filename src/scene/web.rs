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

/// App options from a query string such as `?fish=500&seed=3&train=basics,dcgan&autostart=1`.
///
/// Keys: `fish`, `seed`, `train` (comma list of `basics`, `path-sgd`, `dcgan`, or `none`),
/// `autostart` (`1`/`true`/`0`/`false`), `diagnostics` (frame-time lines in the console),
/// `seconds` (stop after this long), `backend` (`auto`: the browser's GPU through WebGPU where
/// it has a hardware adapter, the default; `wgpu`: its WebGPU adapter, even a software one; `flex`: the CPU), `bundle` (`webgpu`/`webgl2`: which build the page
/// loads, instead of choosing by the browser's WebGPU). Bad values are reported, never half applied: any error
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
                Ok(n) if n <= crate::boids::MAX_FISH => {
                    opts.fish = n;
                    Ok(())
                }
                _ => Err(format!(
                    "fish must be a whole number up to {}, got '{value}'",
                    crate::boids::MAX_FISH
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
            "backend" => value.parse().map(|b| opts.backend = b),
            // Read by the page (web/index.html), which loads that bundle; checked here.
            "bundle" => match value {
                "webgpu" | "webgl2" => Ok(()),
                _ => Err(format!("bundle must be webgpu or webgl2, got '{value}'")),
            },
            _ => Err(format!(
                "unknown option '{key}' (use fish, seed, train, autostart, diagnostics, seconds, backend, bundle)"
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

/// The files the page fetches after start, relative to the page (`scripts/build-web` copies
/// them into `dist/`): the live trainings' digits, the same bytes the native binary bundles.
pub const DIGIT_FILES: [&str; 2] = ["mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"];

/// The browser app: options from the page address, then the same app as native, while the
/// digits download. A bad query is shown in the page (and the console), and nothing starts.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    let query = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.url().ok())
        .and_then(|url| {
            url.split_once('?')
                .map(|(_, q)| q.split('#').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    let opts = match options_from_query(&query) {
        Ok(opts) => opts,
        Err(e) => {
            let message = format!("shoal cannot start: {e}");
            print_error(&message);
            show_in_page(&message);
            return;
        }
    };
    if !opts.jobs.is_empty() {
        wasm_bindgen_futures::spawn_local(fetch_digits());
    }
    let mut app = super::build_app(&opts);
    app.add_systems(bevy::prelude::Last, first_frame);
    app.run();
}

/// Why the page loaded the bundle without GPU training (`web/index.html` sets
/// `window.shoalNoWebGpu`), for the training panel's backend line.
#[cfg(all(target_arch = "wasm32", not(feature = "gpu")))]
pub fn why_no_webgpu() -> String {
    page_string("shoalNoWebGpu").unwrap_or_else(|| super::backend::NO_GPU_BUILD.into())
}

/// The page's name for the browser's WebGPU adapter when it is a software one (`web/index.html`
/// sets `window.shoalSoftwareWebGpu` from `GPUAdapterInfo.isFallbackAdapter`).
#[cfg(all(target_arch = "wasm32", feature = "gpu"))]
pub fn software_webgpu() -> Option<String> {
    page_string("shoalSoftwareWebGpu")
}

/// A string the page (`web/index.html`) left for the app as `window.<name>`.
#[cfg(target_arch = "wasm32")]
fn page_string(name: &str) -> Option<String> {
    let window: wasm_bindgen::JsValue = web_sys::window()?.into();
    js_sys::Reflect::get(&window, &name.into()).ok()?.as_string()
}

/// The page's status box (`#status` in web/index.html): "Loading…", then gone or an error.
#[cfg(target_arch = "wasm32")]
fn status_box() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id("status")
}

/// A message in the page's status box, above the canvas.
#[cfg(target_arch = "wasm32")]
fn show_in_page(message: &str) {
    if let Some(status) = status_box() {
        status.set_text_content(Some(message));
        status.set_class_name("error");
    }
}

/// Downloads the live trainings' digits and hands them over (or why they could not be had).
#[cfg(target_arch = "wasm32")]
async fn fetch_digits() {
    let result = async {
        let images = fetch_bytes(DIGIT_FILES[0]).await?;
        let labels = fetch_bytes(DIGIT_FILES[1]).await?;
        crate::learn::data::Digits::from_idx_bytes(&images, &labels, None, "bundled MNIST (train, 8,000)")
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = &result {
        print_error(&format!("shoal: cannot load the digits: {e}"));
    }
    crate::learn::data::provide_live_train(result);
}

/// The bytes at `url` (relative to the page).
#[cfg(target_arch = "wasm32")]
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let js = |e: wasm_bindgen::JsValue| format!("{url}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")));
    let window = web_sys::window().ok_or("no browser window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js)?).await.map_err(js)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Says when the first frame is done (the browser test measures time to first frame).
#[cfg(target_arch = "wasm32")]
fn first_frame(frames: bevy::prelude::Res<bevy::diagnostic::FrameCount>, mut done: bevy::prelude::Local<bool>) {
    if !*done && frames.0 >= 1 {
        *done = true;
        print_line(r#"{"kind":"first_frame"}"#);
        // The "Loading…" box over the canvas leaves the page: the tank shows, and the browser
        // composites the canvas alone.
        if let Some(status) = status_box().filter(|s| s.class_name() != "error") {
            status.set_class_name("gone");
        }
    }
}
