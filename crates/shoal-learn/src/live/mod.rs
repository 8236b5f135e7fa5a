//! The three trainings as live, steppable jobs with one small interface, so the app can
//! run them (on a worker thread, or in per-frame time budgets) and plot what they report.

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod fetch;
mod jobs;
mod runner;
mod score;
pub mod share;
pub mod spec;
pub mod wire;
mod worker;

pub use jobs::{BasicsJob, DcganJob, LIVE_LRS, PathSgdJob};
pub use runner::{INLINE_SHARE, MAX_POINTS, Runner};
pub use score::{FIRST_DIGITS_SCORE, Judge, SCORE_SAMPLES};
use std::sync::Arc;

/// What one step reports: named values for the curves, maybe a new grey image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub step: u64,
    pub values: Vec<(&'static str, f64)>,
    /// Grey pixels, width, height.
    pub image: Option<(Vec<u8>, u32, u32)>,
    /// A value became NaN or infinite: the job stops.
    pub diverged: bool,
    /// The job reached its end (e.g. the epochs of the basics experiment).
    pub finished: bool,
    /// A quality measurement taken at this step (the DCGAN's samples, scored).
    pub quality: Option<Quality>,
    /// The job cannot go on (e.g. its browser worker stopped): why. The job stops.
    pub error: Option<String>,
}

impl Report {
    /// The job stops after this step: it diverged, finished, or cannot go on.
    pub fn stops(&self) -> bool {
        self.diverged || self.finished || self.error.is_some()
    }
}

/// How good a generator's samples are, by the shipped classifier: its score of fresh samples
/// (1 to 10; real digits score about 9.7) and the Fréchet distance of their logits to real
/// digits' (lower is better).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    /// The training step whose generator made the samples.
    pub step: u64,
    pub score: f64,
    pub frechet: f64,
}

/// Commands a job understands besides stepping.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Path-SGD demo: multiply hidden layer `layer`'s incoming weights by `c` and divide
    /// its outgoing weights by `c`, in every run.
    Rescale { layer: usize, c: f32 },
    /// Set the learning rate(s) to `lr` (scaled per algorithm where that applies).
    SetLr(f64),
}

/// A training job the app can drive.
pub trait Job: Send + 'static {
    fn name(&self) -> &'static str;
    /// One unit of work (an epoch for basics, a mini-batch per run for Path-SGD, one G+D
    /// iteration for DCGAN).
    fn step(&mut self) -> Report;
    fn command(&mut self, _cmd: &Command) {}
    /// The names of the curves, in order.
    fn series(&self) -> Vec<&'static str>;
    /// Whether the curves are best shown on a log scale.
    fn log_scale(&self) -> bool {
        true
    }
    /// A picture of the initial state, if the job makes pictures.
    fn image(&self) -> Option<(Vec<u8>, u32, u32)> {
        None
    }
    /// One step whose numbers may still be on a device. A job training on the browser's GPU
    /// (which has no synchronous read) leaves them there and returns [`Deferred::Reading`];
    /// every other job steps and reads at once.
    fn step_deferred(&mut self) -> Deferred {
        Deferred::Ready(self.step())
    }
    /// Called with a [`Deferred::Reading`] step's report once it is read, before the app sees
    /// it: the job updates its own state from the numbers (smoothing, divergence).
    fn finish_deferred(&mut self, _report: &mut Report) {}
    /// The part of its thread's time a job trains (1: back to back; 0.25: it rests three
    /// times as long as each step takes), so that the demos beside the DCGAN leave it most of
    /// the trainings' share.
    fn duty(&self) -> f64 {
        1.0
    }
}

/// A step's report, or the read that will give it.
pub enum Deferred {
    Ready(Report),
    /// Part of a step was taken; its report comes with a later call.
    Half,
    /// Reads the step's numbers (and picture) from the device; owns what it reads, so it
    /// outlives the borrow of the job. Hand its output to [`Job::finish_deferred`].
    Reading(std::pin::Pin<Box<dyn std::future::Future<Output = Report>>>),
}

/// A job cannot be built yet because something it needs is still on its way (the browser's
/// download of the digits, its GPU device). The app shows `what` and builds the job again on a
/// later frame; it is not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct NotReady {
    pub what: &'static str,
}

/// Builds a job (again on reset); on a worker thread it runs there.
pub type Factory = Arc<dyn Fn() -> anyhow::Result<Box<dyn Job>> + Send + Sync>;
