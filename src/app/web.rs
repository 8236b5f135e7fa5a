//! Where the browser build differs from native, in one place: the canvas the app draws
//! into, options from the page's query string instead of a command line, output to the
//! browser console instead of stdout, and where the trainings run: each job in a Web Worker of
//! its own (`web/worker.js`; see [`browser_factory`] and [`crate::learn::live::browser`]), on the
//! CPU in the page's bundle again, on the browser's GPU in the GPU trainer bundle.
//!
//! The query parser is plain Rust, tested on native.

use super::{AppOptions, JobKind, options};
use std::time::Duration;

/// The page's canvas (`web/index.html`).
pub const CANVAS: &str = "#shoal";

/// Training time per frame for a job stepped on the page's thread (a CPU job where the page
/// gives no worker); the rest of the frame draws the tank.
pub const TRAIN_BUDGET: Duration = Duration::from_millis(8);

/// App options from a query string such as `?fish=500&seed=3&train=basics,dcgan&autostart=1`.
///
/// Keys: `fish`, `seed`, `train` (comma list of `basics`, `path-sgd`, `dcgan`, or `none`),
/// `autostart` (`1`/`true`/`0`/`false`), `diagnostics` (frame-time lines in the console),
/// `seconds` (stop after this long), `backend` (`auto`: the browser's GPU through WebGPU where
/// it has a hardware adapter, the default; `wgpu`: its WebGPU adapter, even a software one;
/// `flex`: the CPU). Bad values are reported, never half applied: any error gives `Err` with
/// every problem found.
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
            "fish" => options::parse_count("fish", value, options::fish).map(|n| opts.fish = n),
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
            "seconds" => options::parse_number("seconds", value, options::seconds).map(|s| opts.seconds = Some(s)),
            "backend" => value.parse().map(|b| opts.backend = b),
            _ => Err(format!(
                "unknown option '{key}' (use fish, seed, train, autostart, diagnostics, seconds, backend)"
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

/// The browser app: options from the page address, then the same app as native, while the
/// digits download. A bad query is shown in the page (and the console), and nothing starts.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    // The same bundle started in a Web Worker (web/worker.js): serve one CPU training job.
    if web_sys::window().is_none() {
        crate::learn::live::browser::serve_jobs();
        return;
    }
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
    let mut app = super::build_app(&opts);
    app.add_systems(bevy::prelude::Last, first_frame);
    app.run();
}

/// A string the page (`web/index.html`) left for the app as `window.<name>`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn page_string(name: &str) -> Option<String> {
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

/// The browser's factory for a job: it trains in a Web Worker of its own, so the page's thread
/// only draws: on the CPU in a worker of the page's own bundle, on the browser's GPU in one of
/// the GPU trainer bundle (`gpu/`). Where the page gives no worker, a CPU job trains on the
/// page's thread in half steps, and a GPU job falls back to the CPU, saying why.
#[cfg(target_arch = "wasm32")]
pub fn browser_factory(
    kind: JobKind,
    settings: super::SharedSettings,
    backend: super::backend::SharedBackend,
) -> crate::learn::live::Factory {
    use super::backend::{BackendState, TrainDevice};
    use crate::learn::live::browser::{NoWorker, worker_factory};
    use crate::learn::live::fetch::need_digits;
    use crate::learn::live::spec::encode_spec;
    use std::sync::atomic::{AtomicBool, Ordering};
    let inline = super::job_factory(kind, settings.clone(), backend.clone(), super::Host::PageThread);
    // The bundle the page loaded: a CPU job's worker loads the same one.
    let bundle = page_string("shoalBundle").unwrap_or_else(|| "app".into());
    let spec = |gpu: bool| {
        let settings = settings.clone();
        move || encode_spec(kind, &settings.0.lock().unwrap_or_else(|e| e.into_inner()), gpu)
    };
    let cpu_worker = worker_factory(format!("worker.js?bundle={bundle}"), spec(false));
    let gpu_worker = worker_factory("worker.js?bundle=gpu".into(), spec(true));
    let no_worker = AtomicBool::new(false);
    std::sync::Arc::new(move || {
        let on_gpu = kind != JobKind::Basics && matches!(backend.for_job()?.device, TrainDevice::BrowserGpu);
        if on_gpu {
            return match gpu_worker() {
                // No GPU worker (its bundle cannot load, the device cannot be opened): the CPU.
                Err(e) if !e.is::<crate::learn::live::NotReady>() => {
                    let why = format!("{e:#}");
                    web_sys::console::warn_1(&format!("shoal: {} cannot train on the GPU: {why}", kind.name()).into());
                    backend.set(BackendState::cpu_because(format!("the GPU failed: {why}")));
                    Err(crate::learn::live::NotReady {
                        what: "the GPU failed: starting on the CPU…",
                    }
                    .into())
                }
                built => built,
            };
        }
        if !no_worker.load(Ordering::Relaxed) {
            match cpu_worker() {
                Err(e) if e.is::<NoWorker>() => {
                    let line = format!("shoal: {e}; {} trains on the page's thread", kind.name());
                    web_sys::console::warn_1(&line.into());
                    backend.cpu_on_page_thread();
                    no_worker.store(true, Ordering::Relaxed);
                }
                built => return built,
            }
        }
        if kind != JobKind::Basics {
            need_digits();
        }
        inline()
    })
}

/// In the browser: the trainings' backend from what the page found (`web/index.html` asks
/// `navigator.gpu` for an adapter before it loads the app): the browser's WebGPU, used by a
/// training worker that loads the GPU trainer bundle, or the CPU with the reason (no WebGPU in
/// this browser; with `auto`, a software WebGPU adapter; `backend=flex`).
#[cfg(target_arch = "wasm32")]
pub fn browser_backend(choice: super::backend::BackendChoice) -> super::backend::BackendState {
    use super::backend::{BackendChoice, BackendState, TrainDevice};
    use bevy::log::{info, warn};
    let state = match (choice, page_string("shoalWebGpu"), page_string("shoalSoftwareWebGpu")) {
        (BackendChoice::Flex, ..) => BackendState::cpu(),
        (_, None, _) => BackendState::cpu_because(
            page_string("shoalNoWebGpu").unwrap_or_else(|| "this browser offers no WebGPU".into()),
        ),
        (BackendChoice::Auto, Some(_), Some(name)) => BackendState::cpu_because(format!(
            "this browser's WebGPU adapter is a software one ({name}), far slower than the CPU at \
             training (backend=wgpu uses it anyway)"
        )),
        (_, Some(name), software) => BackendState {
            device: TrainDevice::BrowserGpu,
            label: format!(
                "{} '{name}' (WebGPU in a Web Worker, burn wgpu)",
                if software.is_some() {
                    "the software WebGPU adapter"
                } else {
                    "GPU"
                }
            ),
            fallback: None,
        },
    };
    match &state.fallback {
        Some(why) => warn!("training on the CPU (burn Flex): {why}"),
        None => info!("training on {}", state.label),
    }
    state
}
