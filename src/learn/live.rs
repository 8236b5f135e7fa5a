//! The three trainings as live, steppable jobs with one small interface, so the app can
//! run them (on a worker thread, or in per-frame time budgets) and plot what they report.

use crate::learn::CpuAutodiff;
use crate::learn::basics::{Basics, Method};
use crate::learn::data::{Digits, PIXELS, Split};
use crate::learn::dcgan::{DcganConfig, Trainer as Gan};
use crate::learn::path_sgd::experiment::{Algo, Init, Run, initial_net};
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
        let data = Arc::new(Digits::bundled(Split::Train));
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
        })
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
        let mut values = Vec::new();
        for (k, run) in self.runs.iter_mut().enumerate() {
            let loss = run.step();
            let s = &mut self.smooth[k];
            *s = if s.is_nan() || !loss.is_finite() {
                loss
            } else {
                0.9 * *s + 0.1 * loss
            };
            values.push((run.algo.name(), *s));
        }
        let diverged = self.runs.iter().all(|r| r.diverged);
        Report {
            step: self.step,
            values,
            image: None,
            diverged,
            finished: false,
        }
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
        let data = Arc::new(Digits::bundled(Split::Train));
        Ok(Self {
            gan: Gan::new(cfg, data, dev)?,
            grid_every: grid_every.max(1),
        })
    }
}

impl<B: AutodiffBackend> Job for DcganJob<B> {
    fn name(&self) -> &'static str {
        "DCGAN"
    }
    fn series(&self) -> Vec<&'static str> {
        vec!["G loss", "D loss", "D(x)", "D(G(z))"]
    }
    fn log_scale(&self) -> bool {
        false
    }
    fn image(&self) -> Option<(Vec<u8>, u32, u32)> {
        Some(self.gan.fixed_grid())
    }
    fn step(&mut self) -> Report {
        let r = self.gan.step();
        let values = vec![
            ("G loss", r.g_loss as f64),
            ("D loss", r.d_loss as f64),
            ("D(x)", r.d_real as f64),
            ("D(G(z))", r.d_fake as f64),
        ];
        let step = self.gan.iteration;
        let image = (step % self.grid_every == 0 || step == 1).then(|| self.gan.fixed_grid());
        Report {
            step,
            diverged: !finite(&values),
            finished: false,
            values,
            image,
        }
    }
}

/// Type-erased constructor, so a job can be reset to its initial state.
pub type Factory = Box<dyn Fn() -> anyhow::Result<Box<dyn Job>> + Send + Sync>;
