//! The three trainings as live, steppable jobs with one small interface, so the app can
//! run them (on a worker thread, or in per-frame time budgets) and plot what they report.

use crate::learn::CpuAutodiff;
use crate::learn::basics::{Basics, Method};
use crate::learn::data::{Digits, PIXELS};
use crate::learn::dcgan::{DcganConfig, Trainer as Gan};
use crate::learn::path_sgd::experiment::{Algo, Init, Run, initial_net};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
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
}

/// A step's report, or the read that will give it.
pub enum Deferred {
    Ready(Report),
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

/// The live jobs' training digits: [`NotReady`] while the browser still fetches them, an
/// error if that failed.
fn live_digits() -> anyhow::Result<Arc<Digits>> {
    match crate::learn::data::live_train() {
        Some(Ok(d)) => Ok(d),
        Some(Err(why)) => Err(anyhow::anyhow!("cannot load the MNIST digits: {why}")),
        None => Err(NotReady {
            what: "loading the MNIST digits…",
        }
        .into()),
    }
}

fn finite(values: &[(&'static str, f64)]) -> bool {
    values.iter().all(|(_, v)| v.is_finite())
}

/// The basics experiment: the three methods, one epoch per step, up to `epochs`.
pub struct BasicsJob {
    inner: Basics<CpuAutodiff>,
    epochs: usize,
}

impl BasicsJob {
    pub fn new(seed: u64, epochs: usize) -> Self {
        Self {
            inner: Basics::new(seed, &Default::default()),
            epochs,
        }
    }
}

impl Job for BasicsJob {
    fn name(&self) -> &'static str {
        "Tensor basics"
    }
    fn series(&self) -> Vec<&'static str> {
        Method::ALL.iter().map(|m| m.name()).collect()
    }
    fn step(&mut self) -> Report {
        let l = self.inner.step();
        let values: Vec<_> = Method::ALL.iter().zip(l).map(|(m, v)| (m.name(), v as f64)).collect();
        let step = self.inner.epoch() as u64;
        Report {
            step,
            diverged: !finite(&values),
            finished: step as usize >= self.epochs,
            values,
            image: None,
        }
    }
    fn command(&mut self, cmd: &Command) {
        if let Command::SetLr(lr) = cmd {
            // The three methods keep the ratio of their default learning rates.
            self.inner.by_hand.lr = *lr;
            self.inner.autodiff.lr = *lr * (crate::learn::basics::LR_AUTODIFF / crate::learn::basics::LR_BY_HAND);
            self.inner.module.lr = *lr * (crate::learn::basics::LR_MODULE / crate::learn::basics::LR_BY_HAND);
        }
    }
}

/// The live Path-SGD demo: SGD, AdaGrad and Path-SGD from the same balanced 784-H-H-10 net,
/// one mini-batch each per step; reports each run's loss (smoothed) on the batch.
pub struct PathSgdJob<B: AutodiffBackend = CpuAutodiff> {
    runs: Vec<Run<B>>,
    smooth: Vec<f64>,
    step: u64,
    device: B::Device,
    /// Losses are read asynchronously ([`Job::step_deferred`]): the browser's GPU.
    read_async: bool,
}

/// Learning rates of the live demo (chosen by `shoal path-sgd` on the bundled data).
pub const LIVE_LRS: [(Algo, f64); 3] = [(Algo::Sgd, 0.1), (Algo::AdaGrad, 0.01), (Algo::PathSgd, 0.01)];

impl PathSgdJob {
    /// On the CPU backend.
    pub fn new(hidden: usize, batch: usize, p: f64, seed: u64) -> anyhow::Result<Self> {
        Self::on(hidden, batch, p, seed, Default::default())
    }
}

impl<B: AutodiffBackend> PathSgdJob<B> {
    /// On `dev` of backend `B`.
    pub fn on(hidden: usize, batch: usize, p: f64, seed: u64, dev: B::Device) -> anyhow::Result<Self> {
        let data = live_digits()?;
        let sizes = [PIXELS, hidden, hidden, 10];
        let mut runs = Vec::new();
        for (algo, lr) in LIVE_LRS {
            let net = initial_net::<B>(&sizes, Init::Balanced, seed, &dev);
            runs.push(Run::new(
                net,
                algo,
                Init::Balanced,
                lr,
                p,
                data.clone(),
                batch,
                seed,
                dev.clone(),
            )?);
        }
        Ok(Self {
            smooth: vec![f64::NAN; runs.len()],
            runs,
            step: 0,
            device: dev,
            read_async: false,
        })
    }

    /// Steps leave their losses on the device, read asynchronously ([`Job::step_deferred`]):
    /// for the browser's GPU, which has no synchronous read.
    pub fn reading_async(mut self) -> Self {
        self.read_async = true;
        self
    }

    /// The report for one step's raw losses (one per run; NaN for a diverged run): smoothed.
    fn report(&mut self, losses: &[f64]) -> Report {
        let mut values = Vec::new();
        for ((run, &loss), s) in self.runs.iter().zip(losses).zip(&mut self.smooth) {
            *s = if s.is_nan() || !loss.is_finite() {
                loss
            } else {
                0.9 * *s + 0.1 * loss
            };
            values.push((run.algo.name(), *s));
        }
        Report {
            step: self.step,
            values,
            image: None,
            diverged: self.runs.iter().all(|r| r.diverged),
            finished: false,
        }
    }
}

impl<B: AutodiffBackend> Job for PathSgdJob<B> {
    fn name(&self) -> &'static str {
        "Path-SGD"
    }
    fn series(&self) -> Vec<&'static str> {
        self.runs.iter().map(|r| r.algo.name()).collect()
    }
    fn step(&mut self) -> Report {
        self.step += 1;
        let losses: Vec<f64> = self.runs.iter_mut().map(|r| r.step()).collect();
        self.report(&losses)
    }
    fn step_deferred(&mut self) -> Deferred {
        if !self.read_async {
            return Deferred::Ready(self.step());
        }
        self.step += 1;
        let dev = self.device.clone();
        let losses: Vec<Tensor<B::InnerBackend, 1>> = self
            .runs
            .iter_mut()
            .map(|r| {
                r.step_on_device()
                    .unwrap_or_else(|| Tensor::from_floats([f32::NAN], &dev))
            })
            .collect();
        let names: Vec<&'static str> = self.runs.iter().map(|r| r.algo.name()).collect();
        let step = self.step;
        let losses = Tensor::cat(losses, 0);
        Deferred::Reading(Box::pin(async move {
            // A failed read counts as a non-finite loss: the runs stop.
            let read = match losses.into_data_async().await {
                Ok(d) => d.convert::<f32>().to_vec::<f32>().unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let values = names
                .iter()
                .enumerate()
                .map(|(k, &n)| (n, read.get(k).map_or(f64::NAN, |&v| v as f64)))
                .collect();
            Report {
                step,
                values,
                ..Report::default()
            }
        }))
    }
    fn finish_deferred(&mut self, report: &mut Report) {
        let losses: Vec<f64> = report.values.iter().map(|&(_, v)| v).collect();
        for (run, loss) in self.runs.iter_mut().zip(&losses) {
            if !loss.is_finite() {
                run.mark_diverged();
            }
        }
        let step = report.step;
        *report = Report {
            step,
            ..self.report(&losses)
        };
    }
    fn command(&mut self, cmd: &Command) {
        match *cmd {
            Command::Rescale { layer, c } => {
                for run in &mut self.runs {
                    if layer < run.model().hidden_layers() && c.is_finite() && c > 0.0 {
                        run.map_model(|m| m.rescale_layer(layer, c));
                    }
                }
            }
            // Scales every run's learning rate relative to its default.
            Command::SetLr(scale) => {
                for (run, (_, base)) in self.runs.iter_mut().zip(LIVE_LRS) {
                    run.lr = base * scale;
                }
            }
        }
    }
}

/// DCGAN: one G+D iteration per step; the fixed-noise grid every `grid_every` steps.
pub struct DcganJob<B: AutodiffBackend = CpuAutodiff> {
    gan: Gan<B>,
    grid_every: u64,
    /// Numbers and pictures are read asynchronously ([`Job::step_deferred`]): the browser's GPU.
    read_async: bool,
}

impl DcganJob {
    /// On the CPU backend.
    pub fn new(cfg: DcganConfig, grid_every: u64) -> anyhow::Result<Self> {
        Self::on(cfg, grid_every, Default::default())
    }
}

impl<B: AutodiffBackend> DcganJob<B> {
    /// On `dev` of backend `B`.
    pub fn on(cfg: DcganConfig, grid_every: u64, dev: B::Device) -> anyhow::Result<Self> {
        let data = live_digits()?;
        Ok(Self {
            gan: Gan::new(cfg, data, dev)?,
            grid_every: grid_every.max(1),
            read_async: false,
        })
    }

    /// Steps leave their numbers and pictures on the device, read asynchronously
    /// ([`Job::step_deferred`]): for the browser's GPU, which has no synchronous read. The
    /// first picture then comes with the first step.
    pub fn reading_async(mut self) -> Self {
        self.read_async = true;
        self
    }

    fn picture_due(&self) -> bool {
        let step = self.gan.iteration;
        step % self.grid_every == 0 || step == 1
    }
}

const DCGAN_SERIES: [&str; 4] = ["G loss", "D loss", "D(x)", "D(G(z))"];

fn dcgan_report(step: u64, r: &crate::learn::dcgan::IterReport, image: Option<(Vec<u8>, u32, u32)>) -> Report {
    let values: Vec<_> = DCGAN_SERIES
        .into_iter()
        .zip([r.g_loss, r.d_loss, r.d_real, r.d_fake])
        .map(|(n, v)| (n, v as f64))
        .collect();
    Report {
        step,
        diverged: !finite(&values),
        finished: false,
        values,
        image,
    }
}

impl<B: AutodiffBackend> Job for DcganJob<B> {
    fn name(&self) -> &'static str {
        "DCGAN"
    }
    fn series(&self) -> Vec<&'static str> {
        DCGAN_SERIES.to_vec()
    }
    fn log_scale(&self) -> bool {
        false
    }
    fn image(&self) -> Option<(Vec<u8>, u32, u32)> {
        (!self.read_async).then(|| self.gan.fixed_grid())
    }
    fn step(&mut self) -> Report {
        let r = self.gan.step();
        let image = self.picture_due().then(|| self.gan.fixed_grid());
        dcgan_report(self.gan.iteration, &r, image)
    }
    fn step_deferred(&mut self) -> Deferred {
        if !self.read_async {
            return Deferred::Ready(self.step());
        }
        let (values, epoch_done) = self.gan.step_on_device();
        let images = self.picture_due().then(|| self.gan.fixed_images_on_device());
        let step = self.gan.iteration;
        Deferred::Reading(Box::pin(async move {
            let read = match values.into_data_async().await {
                Ok(d) => d.convert::<f32>().to_vec::<f32>().unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            // A failed read shows as non-finite numbers: the job stops.
            let read: Vec<f32> = (0..4).map(|k| read.get(k).copied().unwrap_or(f32::NAN)).collect();
            let image = match images {
                Some(t) => t
                    .into_data_async()
                    .await
                    .ok()
                    .map(|d| crate::learn::dcgan::tile(&crate::learn::dcgan::image_bytes(d), 8, 8)),
                None => None,
            };
            dcgan_report(
                step,
                &crate::learn::dcgan::IterReport::from_values(&read, epoch_done),
                image,
            )
        }))
    }
}

/// Type-erased constructor, so a job can be reset to its initial state.
pub type Factory = Box<dyn Fn() -> anyhow::Result<Box<dyn Job>> + Send + Sync>;
