//! The three trainings as [`Job`]s: tensor basics, the Path-SGD comparison, the DCGAN.

use super::score::{Judge, SCORE_EVERY, SCORE_SAMPLES};
use super::{Command, Deferred, Job, NotReady, Quality, Report};
use crate::CpuAutodiff;
use crate::basics::{Basics, Method};
use crate::data::{Digits, PIXELS};
use crate::dcgan::{DcganConfig, Trainer as Gan};
use crate::path_sgd::experiment::{Algo, Feed, Init, Recipe, Run, initial_net};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use std::sync::Arc;

/// The live jobs' training digits: [`NotReady`] while the browser still fetches them, an
/// error if that failed.
fn live_digits() -> anyhow::Result<Arc<Digits>> {
    match crate::data::live_train() {
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

/// The duty of the demos beside the DCGAN (see [`Job::duty`]).
pub const LIGHT_DUTY: f64 = 0.25;

impl Job for BasicsJob {
    fn name(&self) -> &'static str {
        "Tensor basics"
    }
    fn duty(&self) -> f64 {
        LIGHT_DUTY
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
            quality: None,
            error: None,
        }
    }
    fn command(&mut self, cmd: &Command) {
        if let Command::SetLr(lr) = cmd {
            // The three methods keep the ratio of their default learning rates.
            self.inner.by_hand.lr = *lr;
            self.inner.autodiff.lr = *lr * (crate::basics::LR_AUTODIFF / crate::basics::LR_BY_HAND);
            self.inner.module.lr = *lr * (crate::basics::LR_MODULE / crate::basics::LR_BY_HAND);
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
                Recipe {
                    algo,
                    init: Init::Balanced,
                    lr,
                    p,
                },
                Feed {
                    train: data.clone(),
                    batch,
                    seed,
                },
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
            quality: None,
            error: None,
        }
    }
}

impl<B: AutodiffBackend> Job for PathSgdJob<B> {
    fn name(&self) -> &'static str {
        "Path-SGD"
    }
    /// On the browser's GPU a step's time is mostly the wait for the GPU, which takes no CPU
    /// from the DCGAN: no rest there.
    fn duty(&self) -> f64 {
        if self.read_async { 1.0 } else { LIGHT_DUTY }
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

/// DCGAN: one G+D iteration per step; the fixed-noise grid every `grid_every` steps; every
/// few steps the classifier score of [`SCORE_SAMPLES`] fresh samples.
pub struct DcganJob<B: AutodiffBackend = CpuAutodiff> {
    gan: Gan<B>,
    grid_every: u64,
    /// Shared with the scorer's thread, if any (loaded once per job).
    judge: Option<Arc<Judge>>,
    /// Numbers and pictures are read asynchronously ([`Job::step_deferred`]): the browser's GPU.
    read_async: bool,
    /// Each iteration spread over two calls of [`Job::step_deferred`] (G's step, then D's).
    halves: bool,
    /// Fresh samples read asynchronously, for [`Job::finish_deferred`] to score.
    samples_read: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    /// Scores on a thread of its own ([`DcganJob::scoring_aside`]).
    #[cfg(not(target_arch = "wasm32"))]
    scorer: Option<super::score::Scorer>,
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
            judge: Judge::load().map(Arc::new),
            read_async: false,
            halves: false,
            samples_read: Default::default(),
            #[cfg(not(target_arch = "wasm32"))]
            scorer: None,
        })
    }

    /// On `dev`, continuing from checkpoint `bytes` (a `shoal dcgan` run on the same digits):
    /// its settings (batch, optimiser, seed), weights, optimiser state and epoch.
    pub fn from_checkpoint(bytes: &[u8], grid_every: u64, dev: B::Device) -> anyhow::Result<Self> {
        let cfg = crate::dcgan::checkpoint::read_config(bytes)?;
        let mut job = Self::on(cfg, grid_every, dev)?;
        job.gan.load_checkpoint_bytes(bytes)?;
        Ok(job)
    }

    /// Steps leave their numbers and pictures on the device, read asynchronously
    /// ([`Job::step_deferred`]): for the browser's GPU, which has no synchronous read. The
    /// first picture then comes with the first step.
    pub fn reading_async(mut self) -> Self {
        self.read_async = true;
        self
    }

    /// [`Job::step_deferred`] takes half an iteration a call (G's step, then D's with the
    /// report): where a step runs on the thread that also draws the frames (the browser's
    /// CPU path), it holds that thread up half as long at a time.
    pub fn in_halves(mut self) -> Self {
        self.halves = true;
        self
    }

    /// The live score is measured on a helper thread at idle priority ([`super::score::Scorer`],
    /// native only): for a job on a thread of its own (the app), whose steps then only train.
    /// A measurement arrives with a later step's report, marked with its own step.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn scoring_aside(mut self) -> Self {
        self.scorer = self.judge.clone().and_then(super::score::Scorer::start);
        self
    }

    /// The report of the iteration just finished (`r`): the picture and quality when due.
    fn report(&self, r: &crate::dcgan::IterReport) -> Report {
        let image = self.picture_due().then(|| self.gan.fixed_grid());
        Report {
            quality: self.quality_due(),
            ..dcgan_report(self.gan.iteration, r, image)
        }
    }

    fn picture_due(&self) -> bool {
        let step = self.gan.iteration;
        step.is_multiple_of(self.grid_every) || step == 1
    }

    /// Whether this step's samples are scored: every [`SCORE_EVERY`] steps and the first.
    fn scoring_due(&self) -> bool {
        let step = self.gan.iteration;
        self.judge.is_some() && (step.is_multiple_of(SCORE_EVERY) || step == 1)
    }

    /// The seed of the step's fresh samples (new noise each time).
    fn sample_seed(&self) -> u64 {
        0x5C0E ^ self.gan.iteration
    }

    /// The quality of fresh samples, when due (or, with a scorer, one it finished).
    fn quality_due(&self) -> Option<Quality> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(scorer) = &self.scorer {
            if self.scoring_due() {
                let step = self.gan.iteration;
                let (g, z, seed) = (self.gan.sampler(), self.gan.cfg.z, self.sample_seed());
                let dev = self.gan.device().clone();
                let make = move || crate::dcgan::sample_generator(&g, z, SCORE_SAMPLES, seed, &dev);
                if !scorer.offer(step, Box::new(make)) {
                    // Still busy with the last one: this one in line (a machine with nothing idle).
                    return self.quality_here();
                }
            }
            return scorer.finished();
        }
        self.scoring_due().then(|| self.quality_here()).flatten()
    }

    /// The quality of this step's fresh samples, measured on this thread.
    fn quality_here(&self) -> Option<Quality> {
        let judge = self.judge.as_ref()?;
        let images = self.gan.sample(SCORE_SAMPLES, self.sample_seed());
        Some(judge.judge(self.gan.iteration, &images))
    }
}

const DCGAN_SERIES: [&str; 4] = ["G loss", "D loss", "D(x)", "D(G(z))"];

fn dcgan_report(step: u64, r: &crate::dcgan::IterReport, image: Option<(Vec<u8>, u32, u32)>) -> Report {
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
        quality: None,
        error: None,
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
        self.report(&r)
    }
    fn finish_deferred(&mut self, report: &mut Report) {
        let samples = self.samples_read.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(judge), Some(samples)) = (&self.judge, samples) {
            report.quality = Some(judge.judge(report.step, &samples));
        }
    }
    fn step_deferred(&mut self) -> Deferred {
        if self.halves && !self.read_async {
            if !self.gan.mid_iteration() {
                self.gan.g_half();
                return Deferred::Half;
            }
            let r = self.gan.d_half_read();
            return Deferred::Ready(self.report(&r));
        }
        if !self.read_async {
            return Deferred::Ready(self.step());
        }
        let (values, epoch_done) = self.gan.step_on_device();
        let images = self.picture_due().then(|| self.gan.fixed_images_on_device());
        // Fresh samples to score, read with the rest and scored by `finish_deferred`.
        let samples = self.scoring_due().then(|| {
            let z = crate::dcgan::sample_noise(self.gan.cfg.z, SCORE_SAMPLES, self.sample_seed());
            self.gan.generate_on_device(&z, self.gan.averaging())
        });
        let samples_read = self.samples_read.clone();
        let step = self.gan.iteration;
        Deferred::Reading(Box::pin(async move {
            if let Some(t) = samples
                && let Ok(d) = t.into_data_async().await
            {
                *samples_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(crate::dcgan::image_bytes(d));
            }
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
                    .map(|d| crate::dcgan::tile(&crate::dcgan::image_bytes(d), 8, 8)),
                None => None,
            };
            dcgan_report(step, &crate::dcgan::IterReport::from_values(&read, epoch_done), image)
        }))
    }
}
