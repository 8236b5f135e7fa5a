//! DCGAN on MNIST / EMNIST, with the seed's model and recipe, as a steppable trainer.
//!
//! Recipe: z (32) ~ U(-1, 1); batch 128 shuffled; BCE; each iteration one G step
//! (BCE(D(G(z)), 1)) then one D step (BCE(D(G(z')), 0) + BCE(D(x), 1), fakes detached);
//! SGD lr 1e-3, momentum 0.8, Nesterov, dampening 0 for both nets, lr x 0.95^(epoch div 2);
//! or Adam (lr 2e-4, betas 0.5 / 0.999, eps 1e-8). Sampling uses eval-mode BatchNorm.
//! Optionally, samples come from a moving average of G's weights ([`ema`]).

mod act;
mod bn_flex;
pub mod checkpoint;
pub mod conv_flex;
pub mod ema;
pub mod linear_flex;
pub mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod run;

use crate::data::{Batches, Digits, PIXELS, SIDE, batch_tensors};
use crate::optim::AnyOptimizer;
use crate::rng::Rng64;
use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use model::{Discriminator, Generator, bce};
use std::sync::Arc;

/// Which optimiser both nets use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adam" => Ok(Self::Adam),
            _ => Err(format!("unknown optimizer '{s}'; use sgd or adam")),
        }
    }
}

/// Settings of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DcganConfig {
    pub z: usize,
    pub batch: usize,
    pub optimizer: OptimizerKind,
    pub seed: u64,
    /// Decay of the moving average of G's weights that samples are drawn from (e.g. 0.999);
    /// `None`: samples come from G's current weights.
    #[serde(default)]
    pub ema: Option<f64>,
    /// The learning rate instead of the recipe's (SGD: the base of its decay); `None`: the
    /// recipe's.
    #[serde(default)]
    pub base_lr: Option<f64>,
}

impl Default for DcganConfig {
    fn default() -> Self {
        Self {
            z: 32,
            batch: 128,
            optimizer: OptimizerKind::Sgd,
            seed: 1,
            ema: None,
            base_lr: None,
        }
    }
}

impl DcganConfig {
    /// Learning rate at `epoch` (0-based): SGD 1e-3 x 0.95^(epoch div 2), Adam 2e-4 (or
    /// `base_lr` in their place).
    pub fn lr(&self, epoch: usize) -> f64 {
        match self.optimizer {
            OptimizerKind::Sgd => self.base_lr.unwrap_or(1e-3) * 0.95f64.powi((epoch / 2) as i32),
            OptimizerKind::Adam => self.base_lr.unwrap_or(2e-4),
        }
    }
}

/// The optimiser for a net of the DCGAN, as `kind` and the recipe set it.
fn optimizer<B: AutodiffBackend, M: AutodiffModule<B>>(kind: OptimizerKind) -> AnyOptimizer<B, M> {
    match kind {
        OptimizerKind::Sgd => AnyOptimizer::momentum(&crate::basics::seed_momentum()),
        OptimizerKind::Adam => AnyOptimizer::adam(0.5, 0.999, 1e-8),
    }
}

/// The noise of `n` fresh samples (uniform in [-1, 1], `z` each) from seed `seed`.
pub fn sample_noise(z: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng64::new(seed);
    (0..n * z).map(|_| r.uniform(-1.0, 1.0)).collect()
}

/// `n` images (`n x 28 x 28` bytes) from generator `g` (`z` inputs; an inference backend, so
/// batch norm uses its running statistics), for noise drawn from `seed` as
/// [`Trainer::sample`] draws it: the same weights and seed give the same images. Made in
/// chunks, so any `n` fits in memory.
pub fn sample_generator<B: burn::tensor::backend::Backend>(
    g: &Generator<B>,
    z: usize,
    n: usize,
    seed: u64,
    dev: &B::Device,
) -> Vec<u8> {
    const CHUNK: usize = 256;
    let noise = sample_noise(z, n, seed);
    let mut out = Vec::with_capacity(n * PIXELS);
    for part in noise.chunks(CHUNK * z) {
        let zt = Tensor::<B, 2>::from_data(TensorData::new(part.to_vec(), [part.len() / z, z]), dev);
        out.extend(image_bytes(g.forward(zt).into_data()));
    }
    out
}

/// What one iteration measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IterReport {
    pub g_loss: f32,
    pub d_loss: f32,
    /// Mean D(x) on the real batch.
    pub d_real: f32,
    /// Mean D(G(z)) on the D step's fakes.
    pub d_fake: f32,
    /// The iteration ended an epoch.
    pub epoch_done: bool,
}

/// The DCGAN trainer: one G step + one D step per [`Trainer::step`].
pub struct Trainer<B: AutodiffBackend> {
    pub cfg: DcganConfig,
    g: Option<Generator<B>>,
    d: Option<Discriminator<B>>,
    /// The moving average of G (when `cfg.ema` is set) and how many updates it has had.
    g_ema: Option<Generator<B::InnerBackend>>,
    ema_updates: u64,
    opt_g: AnyOptimizer<B, Generator<B>>,
    opt_d: AnyOptimizer<B, Discriminator<B>>,
    data: Arc<Digits>,
    device: B::Device,
    /// The shuffled batches; its random source also draws the noise.
    batches: Batches<Rng64>,
    pub epoch: usize,
    pub iteration: u64,
    /// The fixed noise batch for the sample grid (64 x z).
    fixed_noise: Vec<f32>,
    /// Two fixed z for the interpolation strip.
    fixed_pair: (Vec<f32>, Vec<f32>),
    /// An iteration split in two whose G half is done ([`Trainer::g_half`]): its batch, whether
    /// it ended an epoch, and G's loss (on the device).
    half: Option<(Tensor<B, 4>, bool, Tensor<B::InnerBackend, 1>)>,
}

impl<B: AutodiffBackend> Trainer<B> {
    pub fn new(cfg: DcganConfig, data: Arc<Digits>, device: B::Device) -> anyhow::Result<Self> {
        anyhow::ensure!(cfg.z > 0, "z must be at least 1");
        if let Some(decay) = cfg.ema {
            anyhow::ensure!(
                (0.0..1.0).contains(&decay),
                "the EMA decay must be in [0, 1), e.g. 0.999 (got {decay})"
            );
        }
        anyhow::ensure!(cfg.batch > 1, "the batch needs at least 2 images (BatchNorm)");
        anyhow::ensure!(
            data.len() >= cfg.batch,
            "the dataset has fewer images ({}) than one batch",
            data.len()
        );
        let mut fixed = Rng64::new(cfg.seed ^ 0xF1E3_D000);
        let fixed_noise = (0..64 * cfg.z).map(|_| fixed.uniform(-1.0, 1.0)).collect();
        let a = (0..cfg.z).map(|_| fixed.uniform(-1.0, 1.0)).collect();
        let b = (0..cfg.z).map(|_| fixed.uniform(-1.0, 1.0)).collect();
        let mut t = Self {
            g_ema: None,
            ema_updates: 0,
            g: Some(crate::seeded_init::<B, _>(&device, cfg.seed, || {
                Generator::new(cfg.z, &device)
            })),
            d: Some(crate::seeded_init::<B, _>(&device, cfg.seed ^ 0xD15C, || {
                Discriminator::new(&device)
            })),
            opt_g: optimizer(cfg.optimizer),
            opt_d: optimizer(cfg.optimizer),
            batches: Batches::with_rng(data.len(), cfg.batch, Rng64::new(cfg.seed)),
            epoch: 0,
            iteration: 0,
            fixed_noise,
            fixed_pair: (a, b),
            half: None,
            cfg,
            data,
            device,
        };
        t.start_ema();
        Ok(t)
    }

    /// (Re)starts the moving average from G's current weights (when averaging is on).
    fn start_ema(&mut self) {
        self.g_ema = self.cfg.ema.map(|_| self.generator().valid());
        self.ema_updates = 0;
    }

    /// Full batches per epoch.
    pub fn iters_per_epoch(&self) -> usize {
        self.data.len() / self.cfg.batch
    }

    fn noise(&mut self, n: usize) -> Tensor<B, 2> {
        let z = self.cfg.z;
        let v: Vec<f32> = (0..n * z).map(|_| self.batches.rng.uniform(-1.0, 1.0)).collect();
        Tensor::from_data(TensorData::new(v, [n, z]), &self.device)
    }

    /// One G step, then one D step.
    pub fn step(&mut self) -> IterReport {
        self.g_half();
        self.d_half_read()
    }

    /// [`Trainer::step`] with its four numbers (`[g_loss, d_loss, d_real, d_fake]`) left on the
    /// device, for callers that read them asynchronously (the browser's GPU has no synchronous
    /// read); and whether the iteration ended an epoch.
    pub fn step_on_device(&mut self) -> (Tensor<B::InnerBackend, 1>, bool) {
        self.g_half();
        self.d_half()
    }

    /// Whether an iteration is half done (its G step taken, its D step not yet).
    pub fn mid_iteration(&self) -> bool {
        self.half.is_some()
    }

    /// The first half of an iteration: the batch is drawn and G takes its step. For callers
    /// that spread an iteration over two calls (the browser, where a step holds up the page's
    /// one thread); [`Trainer::d_half`] finishes it, and the two make the same iteration as
    /// [`Trainer::step`]. Does nothing when an iteration is already half done.
    pub fn g_half(&mut self) {
        if self.half.is_some() {
            return;
        }
        let n = self.cfg.batch;
        let lr = self.cfg.lr(self.epoch);
        let (idx, epoch_done) = self.batches.next_batch();
        let (x, _) = batch_tensors::<B>(&self.data, &idx, &self.device);

        // G step: make D call the fakes real. D's own weight gradients are not needed here
        // (only those flowing through D to G): D runs as an untracked copy (same weights,
        // same batch-norm statistics).
        let g = self.g.take().expect("G present");
        let z = self.noise(n);
        let d = self.discriminator().clone().no_grad();
        let g_loss = bce(d.forward(g.forward(z)), 1.0);
        // The four numbers are read back together at the end (one sync on a GPU).
        let g_value = g_loss.clone().inner();
        let mut grads = g_loss.backward();
        let g_grads = GradientsParams::from_module(&mut grads, &g);
        let g = self.opt_g.step(lr, g, g_grads);
        if let (Some(decay), Some(avg)) = (self.cfg.ema, self.g_ema.take()) {
            let decay = ema::decay_at(decay, self.ema_updates);
            self.g_ema = Some(ema::update(avg, &g.valid(), decay));
            self.ema_updates += 1;
        }
        self.g = Some(g);
        self.half = Some((x, epoch_done, g_value));
    }

    /// [`Trainer::d_half`] with the iteration's numbers read back (a synchronous read).
    pub fn d_half_read(&mut self) -> IterReport {
        let (values, epoch_done) = self.d_half();
        let read = values.into_data().convert::<f32>().to_vec::<f32>().expect("f32 losses");
        IterReport::from_values(&read, epoch_done)
    }

    /// The second half of an iteration, after [`Trainer::g_half`]: D's step; the iteration's
    /// four numbers on the device and whether it ended an epoch.
    pub fn d_half(&mut self) -> (Tensor<B::InnerBackend, 1>, bool) {
        let (x, epoch_done, g_value) = self.half.take().expect("G half done before D half");
        let (n, lr) = (self.cfg.batch, self.cfg.lr(self.epoch));
        // D step: fakes (detached: made by an untracked copy of G) are 0, real images are 1.
        let d = self.d.take().expect("D present");
        let z = self.noise(n);
        let fake = self.generator().clone().no_grad().forward(z).detach();
        let p_fake = d.forward(fake);
        let p_real = d.forward(x);
        let d_fake = p_fake.clone().inner().mean();
        let d_real = p_real.clone().inner().mean();
        let d_loss = bce(p_fake, 0.0) + bce(p_real, 1.0);
        let d_value = d_loss.clone().inner();
        let d_grads = GradientsParams::from_grads(d_loss.backward(), &d);
        self.d = Some(self.opt_d.step(lr, d, d_grads));
        let values = Tensor::cat(vec![g_value, d_value, d_real, d_fake], 0);

        self.iteration += 1;
        self.epoch = self.batches.epoch;
        (values, epoch_done)
    }

    pub fn generator(&self) -> &Generator<B> {
        self.g.as_ref().expect("G present")
    }

    pub fn discriminator(&self) -> &Discriminator<B> {
        self.d.as_ref().expect("D present")
    }

    /// Images for `z` (`n x z` values) from the eval-mode generator, as bytes (n x 28 x 28):
    /// the moving average of G when averaging is on, else G itself.
    pub fn generate(&self, z: &[f32]) -> Vec<u8> {
        self.generate_from(z, self.g_ema.is_some())
    }

    /// As [`Trainer::generate`], from the moving average (`averaged`, when there is one) or
    /// from G's current weights.
    pub fn generate_from(&self, z: &[f32], averaged: bool) -> Vec<u8> {
        image_bytes(self.generate_on_device(z, averaged).into_data())
    }

    /// The images for `z` as a tensor on the device (`n x 1 x 28 x 28`, values in about
    /// `[0, 1]`), for callers that read them asynchronously; [`image_bytes`] makes bytes of them.
    pub fn generate_on_device(&self, z: &[f32], averaged: bool) -> Tensor<B::InnerBackend, 4> {
        let n = z.len() / self.cfg.z;
        let g = self.sampler_from(averaged);
        let zt = Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(z.to_vec(), [n, self.cfg.z]), &self.device);
        g.forward(zt)
    }

    /// The fixed noise batch's 64 images on the device (see [`Trainer::fixed_grid`]).
    pub fn fixed_images_on_device(&self) -> Tensor<B::InnerBackend, 4> {
        self.generate_on_device(&self.fixed_noise, self.g_ema.is_some())
    }

    /// `n` fresh samples as bytes (n x 28 x 28), from a separate seeded stream.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<u8> {
        self.sample_from(n, seed, self.g_ema.is_some())
    }

    /// As [`Trainer::sample`], from the moving average or from G's current weights.
    pub fn sample_from(&self, n: usize, seed: u64, averaged: bool) -> Vec<u8> {
        sample_generator(&self.sampler_from(averaged), self.cfg.z, n, seed, &self.device)
    }

    /// The generator [`Trainer::sample`] uses: a snapshot sharing this moment's weights.
    pub fn sampler(&self) -> Generator<B::InnerBackend> {
        self.sampler_from(self.g_ema.is_some())
    }

    fn sampler_from(&self, averaged: bool) -> Generator<B::InnerBackend> {
        match (&self.g_ema, averaged) {
            (Some(avg), true) => avg.clone(),
            _ => self.generator().valid(),
        }
    }

    /// Whether samples come from a moving average of G.
    pub fn averaging(&self) -> bool {
        self.g_ema.is_some()
    }

    /// The 8 x 8 grid of the fixed noise batch: a 8*30+2 square grey image (2 px gaps).
    pub fn fixed_grid(&self) -> (Vec<u8>, u32, u32) {
        let imgs = self.generate(&self.fixed_noise);
        tile(&imgs, 8, 8)
    }

    /// 10 images interpolating linearly between the two fixed z.
    pub fn interpolation_strip(&self) -> (Vec<u8>, u32, u32) {
        let (a, b) = &self.fixed_pair;
        let mut z = Vec::with_capacity(10 * self.cfg.z);
        for k in 0..10 {
            let t = k as f32 / 9.0;
            z.extend(a.iter().zip(b).map(|(x, y)| x + t * (y - x)));
        }
        tile(&self.generate(&z), 10, 1)
    }

    pub fn device(&self) -> &B::Device {
        &self.device
    }
}

impl IterReport {
    /// From the four numbers [`Trainer::step_on_device`] leaves on the device, once read.
    pub fn from_values(v: &[f32], epoch_done: bool) -> Self {
        Self {
            g_loss: v[0],
            d_loss: v[1],
            d_real: v[2],
            d_fake: v[3],
            epoch_done,
        }
    }
}

/// Generated images (read from the device) as grey bytes, 28 x 28 each.
pub fn image_bytes(data: TensorData) -> Vec<u8> {
    let v = data.convert::<f32>().to_vec::<f32>().expect("f32 images");
    v.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
}

/// Tiles 28 x 28 grey images into `cols x rows` with 2-pixel dark gaps.
pub fn tile(imgs: &[u8], cols: usize, rows: usize) -> (Vec<u8>, u32, u32) {
    let cell = SIDE + 2;
    let (w, h) = (cols * cell + 2, rows * cell + 2);
    let mut out = vec![32u8; w * h];
    for (k, img) in imgs.chunks_exact(PIXELS).take(cols * rows).enumerate() {
        let (cx, cy) = (k % cols, k / cols);
        for r in 0..SIDE {
            let dst = (cy * cell + 2 + r) * w + cx * cell + 2;
            out[dst..dst + SIDE].copy_from_slice(&img[r * SIDE..(r + 1) * SIDE]);
        }
    }
    (out, w as u32, h as u32)
}

/// Grey pixels scaled up `k` times as RGB (for PNG / GIF output).
pub fn grey_to_rgb(grey: &[u8], w: u32, h: u32, k: u32) -> (Vec<u8>, u32, u32) {
    let (ow, oh) = (w * k, h * k);
    let mut out = Vec::with_capacity((ow * oh * 3) as usize);
    for y in 0..oh {
        for x in 0..ow {
            let v = grey[((y / k) * w + x / k) as usize];
            out.extend_from_slice(&[v, v, v]);
        }
    }
    (out, ow, oh)
}

/// Writes grey frames as a looping animated GIF (grey palette), atomically.
pub fn write_gif(path: &std::path::Path, frames: &[Vec<u8>], w: u32, h: u32, delay_cs: u16) -> anyhow::Result<()> {
    anyhow::ensure!(!frames.is_empty(), "no frames for {}", path.display());
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    let mut bytes = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut bytes, w as u16, h as u16, &palette)?;
        enc.set_repeat(gif::Repeat::Infinite)?;
        for f in frames {
            anyhow::ensure!(f.len() == (w * h) as usize, "GIF frames must all be {w}x{h}");
            let mut frame = gif::Frame::from_indexed_pixels(w as u16, h as u16, f.clone(), None);
            frame.delay = delay_cs;
            enc.write_frame(&frame)?;
        }
    }
    shoal_common::fs::write_atomic(path, &bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Writes a grey image as PNG (scaled up `k` times), atomically.
pub fn write_grey_png(path: &std::path::Path, grey: &[u8], w: u32, h: u32, k: u32) -> anyhow::Result<()> {
    let (rgb, ow, oh) = grey_to_rgb(grey, w, h, k);
    let png = crate::plot::encode_png(&rgb, ow, oh, false)?;
    shoal_common::fs::write_atomic(path, &png).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Mean losses and D outputs over one epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochStats {
    pub epoch: usize,
    pub g_loss: f64,
    pub d_loss: f64,
    pub d_real: f64,
    pub d_fake: f64,
    pub seconds: f64,
}

/// Accumulates iteration reports into epoch means.
#[derive(Default)]
pub struct EpochMeter {
    sums: [f64; 4],
    n: usize,
}

impl EpochMeter {
    pub fn add(&mut self, r: &IterReport) {
        for (s, v) in self.sums.iter_mut().zip([r.g_loss, r.d_loss, r.d_real, r.d_fake]) {
            *s += v as f64;
        }
        self.n += 1;
    }

    pub fn finish(&mut self, epoch: usize, seconds: f64) -> EpochStats {
        let n = self.n.max(1) as f64;
        let s = EpochStats {
            epoch,
            g_loss: self.sums[0] / n,
            d_loss: self.sums[1] / n,
            d_real: self.sums[2] / n,
            d_fake: self.sums[3] / n,
            seconds,
        };
        *self = Self::default();
        s
    }
}
