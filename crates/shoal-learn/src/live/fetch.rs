//! What the browser's trainings fetch after the page has started: the digits they train on and,
//! for the DCGAN's live score, the shipped classifier and the test digits it compares with (none
//! of them is in the .wasm). Each page or worker fetches them once; a job that needs them is
//! [`super::NotReady`] until they are in.

use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

fn console_error(line: &str) {
    web_sys::console::error_1(&line.into());
}

/// The live trainings' digits, relative to the page (or a worker's script, which sits beside
/// it; `scripts/build-web` copies them into `dist/`): the same bytes the native binary bundles.
pub const DIGIT_FILES: [&str; 2] = ["mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"];

/// The files a training worker fetches for the DCGAN's live quality number: the shipped
/// classifier's weights and the test digits its Fréchet distance compares with.
pub const JUDGE_FILES: [&str; 3] = [
    "classifier.bin",
    "mnist/t10k-images-idx3-ubyte.gz",
    "mnist/t10k-labels-idx1-ubyte.gz",
];

/// Starts the download of the live trainings' digits (once per page or worker): a job that
/// needs them is [`super::NotReady`] until they are in.
pub fn need_digits() {
    thread_local!(static ASKED: Cell<bool> = const { Cell::new(false) });
    if !ASKED.replace(true) {
        wasm_bindgen_futures::spawn_local(async {
            let result = async {
                let images = fetch_bytes(DIGIT_FILES[0]).await?;
                let labels = fetch_bytes(DIGIT_FILES[1]).await?;
                crate::data::Digits::from_idx_bytes(&images, &labels, None, "bundled MNIST (train, 8,000)")
                    .map_err(|e| e.to_string())
            }
            .await;
            if let Err(e) = &result {
                console_error(&format!("shoal: cannot load the digits: {e}"));
            }
            crate::data::provide_live_train(result);
        });
    }
}

/// Starts the download of the live quality number's files (once); `true` once it has ended (the
/// files in, or given up on: then the DCGAN trains without a score).
pub fn judge_files_done() -> bool {
    // 0 not asked for, 1 on their way, 2 done.
    thread_local!(static STATE: Rc<Cell<u8>> = Rc::new(Cell::new(0)));
    let state = STATE.with(Rc::clone);
    if state.get() == 0 {
        state.set(1);
        let done = state.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = async {
                let classifier = fetch_bytes(JUDGE_FILES[0]).await?;
                let images = fetch_bytes(JUDGE_FILES[1]).await?;
                let labels = fetch_bytes(JUDGE_FILES[2]).await?;
                let test = crate::data::Digits::from_idx_bytes(&images, &labels, None, "bundled MNIST (test, 2,000)")
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((classifier, test))
            }
            .await;
            match result {
                Ok((classifier, test)) => {
                    crate::metrics::provide_classifier(classifier);
                    crate::data::provide_live_test(test);
                }
                Err(e) => console_error(&format!("shoal: no live classifier score: {e}")),
            }
            done.set(2);
        });
    }
    state.get() == 2
}

/// The bytes at `url` (relative to the page, or to a worker's script).
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen_futures::JsFuture;
    let js = |e: JsValue| format!("{url}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")));
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
