//! The DCGAN's live quality number: fresh samples scored by the shipped classifier
//! ([`Judge`]), and natively a helper thread that does it beside the training ([`Scorer`]).

use super::Quality;

/// Fresh samples the live quality number scores.
pub const SCORE_SAMPLES: usize = 256;
/// DCGAN iterations between two quality measurements.
pub(super) const SCORE_EVERY: u64 = 20;
/// The classifier score from which the samples count as digits ("first digits at m:ss").
pub const FIRST_DIGITS_SCORE: f64 = 5.0;
/// Real digits the Fréchet distance compares with (the bundled test split's first).
const REAL_FOR_FRECHET: usize = 1000;

/// Scores samples with the shipped classifier, on the CPU: the live quality number.
pub struct Judge {
    model: crate::metrics::Classifier<crate::Cpu>,
    /// The classifier's features of real test digits (computed once per process).
    real: &'static [f32],
}

impl Judge {
    /// The shipped classifier and the real digits it compares with, where this build has them
    /// (in the browser once a training worker has fetched them).
    pub fn load() -> Option<Self> {
        let dev = Default::default();
        let model = crate::metrics::live_classifier()?;
        let test = crate::data::live_test()?;
        // The real digits' features: the same for every job, so computed once (a job is
        // rebuilt on every Reset).
        static REAL: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
        let real = REAL.get_or_init(|| {
            let n = REAL_FOR_FRECHET.min(test.len());
            let px = crate::data::PIXELS;
            crate::metrics::probs_and_features(&model, &test.images[..n * px], &dev).1
        });
        Some(Self { model, real })
    }

    /// The quality of `images` (`n x 784` bytes) made by the generator of training step `step`.
    pub fn judge(&self, step: u64, images: &[u8]) -> Quality {
        use crate::metrics::{FEATURES, classifier_score, frechet_distance, probs_and_features};
        let (probs, feats) = probs_and_features(&self.model, images, &Default::default());
        Quality {
            step,
            score: classifier_score(&probs),
            frechet: frechet_distance(&feats, self.real, FEATURES),
        }
    }
}

/// Makes the samples to score (`n x 784` bytes), from a snapshot of the generator.
#[cfg(not(target_arch = "wasm32"))]
pub type MakeSamples = Box<dyn FnOnce() -> Vec<u8> + Send>;

/// The live score on a thread of its own at idle priority (native app): the DCGAN's training
/// thread hands it a snapshot of G (cheap: the weights are shared, not copied) and goes on
/// training; the scorer generates the fresh samples and runs the classifier on what the
/// frames and the training leave idle. One measurement at a time: while it is still busy the
/// caller scores in line, so a machine with nothing idle still gets its numbers.
#[cfg(not(target_arch = "wasm32"))]
pub struct Scorer {
    shared: std::sync::Arc<Shared>,
    done: std::sync::mpsc::Receiver<Quality>,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
struct Shared {
    slot: std::sync::Mutex<Slot>,
    wake: std::sync::Condvar,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
struct Slot {
    task: Option<(u64, MakeSamples)>,
    busy: bool,
    quit: bool,
}

#[cfg(not(target_arch = "wasm32"))]
impl Scorer {
    /// Starts the scorer's thread (`None` if the thread cannot start: score in line then).
    pub fn start(judge: std::sync::Arc<Judge>) -> Option<Self> {
        let shared = std::sync::Arc::new(Shared::default());
        let (tx, done) = std::sync::mpsc::channel();
        let theirs = shared.clone();
        // Not named like the training threads (`share::THREAD_PREFIX`): its priority stays idle
        // whatever the share.
        std::thread::Builder::new()
            .name("score DCGAN".into())
            .spawn(move || serve(&theirs, &judge, &tx))
            .ok()?;
        Some(Self { shared, done })
    }

    /// Hands over the samples of training step `step` to score; `false` (and nothing taken)
    /// while the scorer is still at an earlier one.
    pub fn offer(&self, step: u64, make: MakeSamples) -> bool {
        let mut slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.busy || slot.task.is_some() {
            return false;
        }
        slot.task = Some((step, make));
        self.shared.wake.notify_one();
        true
    }

    /// A measurement finished since the last call, if any.
    pub fn finished(&self) -> Option<Quality> {
        self.done.try_recv().ok()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Scorer {
    /// Tells the thread to end after what it is doing (not waited for: at idle priority that
    /// can take a while, and its result is no longer wanted).
    fn drop(&mut self) {
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner()).quit = true;
        self.shared.wake.notify_one();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn serve(shared: &Shared, judge: &Judge, done: &std::sync::mpsc::Sender<Quality>) {
    // Idle priority: it only takes what the frames and the training leave.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    super::share::idle_this_thread();
    // With a one-thread kernel pool, the kernels run here too, at this thread's priority.
    let _kernels = super::share::kernels_on_this_thread();
    loop {
        let (step, make) = {
            let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if slot.quit {
                    return;
                }
                if let Some(t) = slot.task.take() {
                    slot.busy = true;
                    break t;
                }
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
        };
        let quality = judge.judge(step, &make());
        shared.slot.lock().unwrap_or_else(|e| e.into_inner()).busy = false;
        if done.send(quality).is_err() {
            return;
        }
    }
}
