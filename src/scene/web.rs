//! Where the browser build differs from native, in one place: the canvas the app draws
//! into, options from the page's query string instead of a command line, output to the
//! browser console instead of stdout, and where the trainings run: a CPU job in a Web Worker
//! of its own (the page's bundle again, `web/worker.js`; see [`browser_factory`] and
//! [`crate::learn::live::browser`]), a GPU job on the page's thread, whose steps only queue
//! work for the GPU.
//!
//! The query parser and the job specs sent to workers are plain Rust, tested on native.

use super::{AppOptions, JobKind, JobSettings};
use crate::learn::live::wire::{Reader, Writer};
use std::time::Duration;

/// The page's canvas (`web/index.html`).
pub const CANVAS: &str = "#shoal";

/// Training time per frame for a job stepped on the page's thread (a GPU job, or a CPU job where
/// the page gives no worker); the rest of the frame draws the tank.
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
    // The same bundle started in a Web Worker (web/worker.js): serve one training job.
    if web_sys::window().is_none() {
        crate::learn::live::browser::serve(build_from_spec);
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

/// Starts the download of the live trainings' digits (once per page or worker): a job that
/// needs them is [`crate::learn::live::NotReady`] until they are in.
#[cfg(target_arch = "wasm32")]
fn need_digits() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static ASKED: AtomicBool = AtomicBool::new(false);
    if !ASKED.swap(true, Ordering::Relaxed) {
        wasm_bindgen_futures::spawn_local(fetch_digits());
    }
}

/// The files a training worker fetches for the DCGAN's live quality number: the shipped
/// classifier's weights and the test digits its Fréchet distance compares with.
pub const JUDGE_FILES: [&str; 3] = [
    "classifier.bin",
    "mnist/t10k-images-idx3-ubyte.gz",
    "mnist/t10k-labels-idx1-ubyte.gz",
];

/// Where the live quality number's files are: 0 not asked for, 1 on their way, 2 done (in, or
/// given up: then the DCGAN trains without a score).
#[cfg(target_arch = "wasm32")]
static JUDGE_FILES_STATE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Starts the download of the live quality number's files (once); `true` once it has ended.
#[cfg(target_arch = "wasm32")]
fn judge_files_done() -> bool {
    use std::sync::atomic::Ordering;
    if JUDGE_FILES_STATE
        .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        wasm_bindgen_futures::spawn_local(async {
            let result = async {
                let classifier = fetch_bytes(JUDGE_FILES[0]).await?;
                let images = fetch_bytes(JUDGE_FILES[1]).await?;
                let labels = fetch_bytes(JUDGE_FILES[2]).await?;
                let test =
                    crate::learn::data::Digits::from_idx_bytes(&images, &labels, None, "bundled MNIST (test, 2,000)")
                        .map_err(|e| e.to_string())?;
                Ok::<_, String>((classifier, test))
            }
            .await;
            match result {
                Ok((classifier, test)) => {
                    crate::learn::metrics::provide_classifier(classifier);
                    crate::learn::data::provide_live_test(test);
                }
                Err(e) => print_error(&format!("shoal: no live classifier score: {e}")),
            }
            JUDGE_FILES_STATE.store(2, std::sync::atomic::Ordering::Relaxed);
        });
    }
    JUDGE_FILES_STATE.load(Ordering::Relaxed) == 2
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

/// The bytes at `url` (relative to the page, or to a worker's script, which sits beside it).
#[cfg(target_arch = "wasm32")]
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let js = |e: wasm_bindgen::JsValue| format!("{url}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")));
    let request = match web_sys::window() {
        Some(window) => window.fetch_with_str(url),
        None => js_sys::global()
            .unchecked_into::<web_sys::WorkerGlobalScope>()
            .fetch_with_str(url),
    };
    let response: web_sys::Response = JsFuture::from(request).await.map_err(js)?.dyn_into().map_err(js)?;
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

/// A job's kind and settings as the page sends them to its training worker (the worker
/// rebuilds the job from them: [`decode_spec`]).
pub fn encode_spec(kind: JobKind, s: &JobSettings) -> Vec<u8> {
    use crate::learn::dcgan::OptimizerKind;
    let mut w = Writer::default();
    w.u8(match kind {
        JobKind::Basics => 0,
        JobKind::PathSgd => 1,
        JobKind::Dcgan => 2,
    });
    w.f64(s.path_sgd_p)
        .u64(s.path_sgd_batch as u64)
        .u64(s.path_sgd_hidden as u64)
        .u64(s.dcgan_batch as u64)
        .u8(match s.dcgan_optimizer {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Adam => 1,
        })
        .u64(s.dcgan_grid_every);
    w.0
}

/// The job a worker is asked to train; a spec that is not [`encode_spec`]'s is an error.
pub fn decode_spec(bytes: &[u8]) -> Result<(JobKind, JobSettings), String> {
    use crate::learn::dcgan::OptimizerKind;
    let mut r = Reader(bytes);
    let kind = match r.u8()? {
        0 => JobKind::Basics,
        1 => JobKind::PathSgd,
        2 => JobKind::Dcgan,
        k => return Err(format!("unknown training {k}")),
    };
    let size = |v: u64| usize::try_from(v).map_err(|_| format!("size {v} too large"));
    let s = JobSettings {
        dcgan_from: None,
        path_sgd_p: r.f64()?,
        path_sgd_batch: size(r.u64()?)?,
        path_sgd_hidden: size(r.u64()?)?,
        dcgan_batch: size(r.u64()?)?,
        dcgan_optimizer: match r.u8()? {
            0 => OptimizerKind::Sgd,
            1 => OptimizerKind::Adam,
            o => return Err(format!("unknown optimiser {o}")),
        },
        dcgan_grid_every: r.u64()?,
    };
    r.end()?;
    Ok((kind, s))
}

/// In a training worker: the job the page asked for, on the CPU (burn Flex).
#[cfg(target_arch = "wasm32")]
fn build_from_spec(spec: &[u8]) -> anyhow::Result<Box<dyn crate::learn::live::Job>> {
    let (kind, settings) = decode_spec(spec).map_err(|e| anyhow::anyhow!("a bad training spec: {e}"))?;
    if kind != JobKind::Basics {
        need_digits();
    }
    // The DCGAN scores its samples here, off the page's thread: it starts with the classifier.
    if kind == JobKind::Dcgan && !judge_files_done() {
        return Err(crate::learn::live::NotReady {
            what: "loading the classifier for the live score…",
        }
        .into());
    }
    let settings = super::SharedSettings(std::sync::Arc::new(std::sync::Mutex::new(settings)));
    kind.factory(settings, super::backend::SharedBackend::cpu())()
}

/// The browser's factory for a job: on the CPU it trains in a Web Worker of its own (the
/// page's thread only draws); on the browser's GPU (whose steps only queue work) on the page's
/// thread; where the page gives no worker, on the page's thread in half steps.
#[cfg(target_arch = "wasm32")]
pub fn browser_factory(
    kind: JobKind,
    settings: super::SharedSettings,
    backend: super::backend::SharedBackend,
) -> crate::learn::live::Factory {
    use crate::learn::live::browser::{NoWorker, worker_factory};
    use std::sync::atomic::{AtomicBool, Ordering};
    let inline = kind.factory(settings.clone(), backend.clone());
    // The bundle the page loaded (the worker loads the same one).
    let bundle =
        page_string("shoalBundle").unwrap_or_else(|| if cfg!(feature = "gpu") { "webgpu" } else { "webgl2" }.into());
    let spec = move || encode_spec(kind, &settings.0.lock().unwrap_or_else(|e| e.into_inner()));
    let worker = worker_factory(format!("worker.js?bundle={bundle}"), spec);
    let no_worker = AtomicBool::new(false);
    std::sync::Arc::new(move || {
        let on_gpu = kind != JobKind::Basics && backend.for_job()?.on_gpu();
        if !on_gpu && !no_worker.load(Ordering::Relaxed) {
            match worker() {
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
