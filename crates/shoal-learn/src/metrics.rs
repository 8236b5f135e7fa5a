//! Quality metrics for generated digits: a small MNIST CNN classifier (shipped trained in
//! `assets/classifier.bin`), the classifier score `exp(E_x KL(p(y|x) || p(y)))` (max 10)
//! and the Fréchet distance between the classifier's logits of two image sets (the
//! features TF-GAN's MNIST evaluation uses, so the numbers are comparable).

use crate::data::{Batches, Digits, PIXELS, SIDE};
use burn::module::{AutodiffModule, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use nalgebra::{DMatrix, SymmetricEigen};

/// Width of the classifier's hidden layer.
pub const HIDDEN: usize = 256;
/// Size of the features used for the Fréchet distance: the 10 logits.
pub const FEATURES: usize = 10;

/// conv 1->32 k3 p1, ReLU, conv 32->32 k3 p1, ReLU, max-pool 2 (14) -> conv 32->64 k3 p1,
/// ReLU, conv 64->64 k3 p1, ReLU, max-pool 2 (7) -> Linear 3136 -> 256, ReLU (the features)
/// -> dropout 0.4 (training only) -> Linear 256 -> 10.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    c1: Conv2d<B>,
    c2: Conv2d<B>,
    c3: Conv2d<B>,
    c4: Conv2d<B>,
    pool: MaxPool2d,
    fc1: Linear<B>,
    drop: Dropout,
    fc2: Linear<B>,
}

impl<B: Backend> Classifier<B> {
    /// PyTorch-style random initialisation.
    pub fn new(dev: &B::Device) -> Self {
        Self::build(dev, None)
    }

    /// The layers with zero weights (no random draws), to load weights into.
    fn skeleton(dev: &B::Device) -> Self {
        Self::build(dev, Some(burn::nn::Initializer::Zeros))
    }

    fn build(dev: &B::Device, init: Option<burn::nn::Initializer>) -> Self {
        let conv = |i: usize, o: usize| {
            let c = Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
            match &init {
                Some(z) => c.with_initializer(z.clone()).init(dev),
                None => c.init(dev),
            }
        };
        let linear = |i: usize, o: usize| {
            let l = LinearConfig::new(i, o);
            match &init {
                Some(z) => l.with_initializer(z.clone()).init(dev),
                None => l.init(dev),
            }
        };
        Self {
            c1: conv(1, 32),
            c2: conv(32, 32),
            c3: conv(32, 64),
            c4: conv(64, 64),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: linear(64 * 7 * 7, HIDDEN),
            drop: DropoutConfig::new(0.4).init(),
            fc2: linear(HIDDEN, 10),
        }
    }

    /// Logits `[n, 10]` and hidden activations `[n, 256]` of images `[n, 1, 28, 28]` in [0, 1].
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let n = x.dims()[0];
        let h = self.pool.forward(relu(self.c2.forward(relu(self.c1.forward(x)))));
        let h = self.pool.forward(relu(self.c4.forward(relu(self.c3.forward(h)))));
        let f = relu(self.fc1.forward(h.reshape([n, 64 * 7 * 7])));
        (self.fc2.forward(self.drop.forward(f.clone())), f)
    }
}

// Version 2: the four-conv network (version 1 files, two convs, are refused as not ours).
const MAGIC: &[u8] = b"SHOALCLS2\n";
/// The trained classifier shipped with shoal (`shoal classifier` rebuilds it).
#[cfg(not(target_arch = "wasm32"))]
pub static BUNDLED: &[u8] = include_bytes!("../../../assets/classifier.bin");

/// The shipped classifier's weights as the browser fetched them (its .wasm leaves the 3.5 MB
/// out): set by [`provide_classifier`].
#[cfg(target_arch = "wasm32")]
static FETCHED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Hands the browser build the shipped classifier's weights once it has fetched them (a
/// training worker does, where the DCGAN scores its samples off the page's thread). The first
/// call wins.
#[cfg(target_arch = "wasm32")]
pub fn provide_classifier(bytes: Vec<u8>) {
    let _ = FETCHED.set(bytes);
}

/// The shipped classifier for the app's live quality number: compiled in on native; in the
/// browser what [`provide_classifier`] gave (`None` before, or where nothing was fetched).
pub fn live_classifier<B: Backend>() -> Option<Classifier<B>> {
    #[cfg(not(target_arch = "wasm32"))]
    let bytes = BUNDLED;
    #[cfg(target_arch = "wasm32")]
    let bytes = FETCHED.get()?;
    Classifier::from_bytes(bytes, &Default::default()).ok()
}

/// Why classifier weights could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("not a shoal classifier file")]
    BadMagic,
    #[error("classifier file is corrupt (CRC mismatch or truncated)")]
    Corrupt,
    #[error("classifier weights cannot be decoded: {0}")]
    Decode(String),
}

fn crc(bytes: &[u8]) -> u32 {
    crate::crc32(&[bytes])
}

impl<B: Backend> Classifier<B> {
    /// The weights as bytes: magic, CRC-32, burn binary record.
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let rec = BinBytesRecorder::<FullPrecisionSettings>::default()
            .record(self.clone().into_record(), ())
            .map_err(|e| anyhow::anyhow!("cannot encode classifier: {e}"))?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&crc(&rec).to_le_bytes());
        out.extend_from_slice(&rec);
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8], dev: &B::Device) -> Result<Self, ClassifierError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(ClassifierError::BadMagic)?;
        let sum = u32::from_le_bytes(rest.get(..4).ok_or(ClassifierError::Corrupt)?.try_into().unwrap());
        let rec = &rest[4..];
        if crc(rec) != sum {
            return Err(ClassifierError::Corrupt);
        }
        let record =
            crate::dcgan::checkpoint::decode_record::<B, _>(rec.to_vec(), dev).map_err(ClassifierError::Decode)?;
        Ok(Self::skeleton(dev).load_record(record))
    }

    /// The classifier shipped in `assets/classifier.bin`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled(dev: &B::Device) -> Result<Self, ClassifierError> {
        Self::from_bytes(BUNDLED, dev)
    }
}

/// Shifts each 28 x 28 image by up to `max` pixels in x and y (zero fill): augmentation.
/// Random small affine distortions of 28x28 images (bilinear, zero outside): rotation up
/// to `max_turn` radians, scale in `1 ± max_scale`, shift up to `max_shift` pixels.
pub fn distorted(images: &[u8], rng: &mut crate::rng::Rng64, max_turn: f32, max_scale: f32, max_shift: f32) -> Vec<u8> {
    let mut out = vec![0u8; images.len()];
    let side = SIDE as i64;
    let centre = (SIDE as f32 - 1.0) / 2.0;
    for (src, dst) in images.chunks_exact(PIXELS).zip(out.chunks_exact_mut(PIXELS)) {
        let turn = rng.uniform(-max_turn, max_turn);
        let scale = rng.uniform(1.0 - max_scale, 1.0 + max_scale);
        let (dx, dy) = (rng.uniform(-max_shift, max_shift), rng.uniform(-max_shift, max_shift));
        // Output pixel -> source point: undo the shift, the rotation and the scale.
        let (sin, cos) = turn.sin_cos();
        let at = |r: i64, c: i64| -> f32 {
            if (0..side).contains(&r) && (0..side).contains(&c) {
                src[(r * side + c) as usize] as f32
            } else {
                0.0
            }
        };
        for r in 0..SIDE {
            for c in 0..SIDE {
                let (x, y) = (c as f32 - centre - dx, r as f32 - centre - dy);
                let sx = (cos * x + sin * y) / scale + centre;
                let sy = (-sin * x + cos * y) / scale + centre;
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let v = at(y0, x0) * (1.0 - fx) * (1.0 - fy)
                    + at(y0, x0 + 1) * fx * (1.0 - fy)
                    + at(y0 + 1, x0) * (1.0 - fx) * fy
                    + at(y0 + 1, x0 + 1) * fx * fy;
                dst[r * SIDE + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Trains the classifier (Adam, batch 64, lr 1e-3 decaying to 1e-5, each image randomly
/// rotated up to 0.2 rad, scaled by 0.9-1.1 and shifted up to 2 pixels) and returns it
/// with its test accuracy after each epoch.
pub fn train_classifier<B: AutodiffBackend>(
    train: &Digits,
    test: &Digits,
    epochs: usize,
    seed: u64,
    dev: &B::Device,
    mut progress: impl FnMut(usize, usize, f64),
) -> (Classifier<B::InnerBackend>, Vec<f64>) {
    let mut rng = crate::rng::Rng64::new(seed);
    let mut model = crate::seeded_init::<B, _>(dev, seed, || Classifier::<B>::new(dev));
    let mut opt = AdamConfig::new().init();
    let mut batches = Batches::new(train.len(), 64, seed);
    let mut accs = Vec::new();
    let steps = batches.per_epoch();
    let total = (epochs * steps).max(1) as f64;
    for epoch in 0..epochs {
        for s in 0..steps {
            let (idx, _) = batches.next_batch();
            let picked: Vec<u8> = idx.iter().flat_map(|&i| train.image(i).iter().copied()).collect();
            let px: Vec<f32> = distorted(&picked, &mut rng, 0.2, 0.1, 2.0)
                .iter()
                .map(|&b| b as f32 / 255.0)
                .collect();
            let n = idx.len();
            let x = Tensor::<B, 4>::from_data(TensorData::new(px, [n, 1, SIDE, SIDE]), dev);
            let labels: Vec<i64> = idx.iter().map(|&i| train.labels[i] as i64).collect();
            let y = Tensor::<B, 1, burn::tensor::Int>::from_data(TensorData::new(labels, [n]), dev);
            let (logits, _) = model.forward(x);
            let loss = CrossEntropyLossConfig::new().init(dev).forward(logits, y);
            let v: f64 = loss.clone().into_scalar().elem();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // Exponential decay from 1e-3 to 1e-5 over the run.
            let lr = 1e-3 * 0.01f64.powf((epoch * steps + s) as f64 / total);
            model = opt.step(lr, model, grads);
            progress(epoch, s, v);
        }
        accs.push(accuracy(&model.valid(), test, dev));
    }
    (model.valid(), accs)
}

/// Class probabilities and Fréchet features (the logits) of `images` (`n x 784` bytes).
pub fn probs_and_features<B: Backend>(model: &Classifier<B>, images: &[u8], dev: &B::Device) -> (Vec<f32>, Vec<f32>) {
    let n = images.len() / PIXELS;
    let (mut probs, mut feats) = (Vec::with_capacity(n * 10), Vec::with_capacity(n * FEATURES));
    for chunk in images.chunks(500 * PIXELS) {
        let m = chunk.len() / PIXELS;
        let px: Vec<f32> = chunk.iter().map(|&b| b as f32 / 255.0).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(px, [m, 1, SIDE, SIDE]), dev);
        let (logits, _) = model.forward(x);
        feats.extend(
            logits
                .clone()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32"),
        );
        probs.extend(
            softmax(logits, 1)
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32"),
        );
    }
    (probs, feats)
}

/// Accuracy on a labelled set.
pub fn accuracy<B: Backend>(model: &Classifier<B>, data: &Digits, dev: &B::Device) -> f64 {
    let (probs, _) = probs_and_features(model, &data.images, dev);
    let correct = probs
        .chunks_exact(10)
        .zip(&data.labels)
        .filter(|(p, l)| {
            let best = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k)
                .unwrap_or(0);
            best == **l as usize
        })
        .count();
    correct as f64 / data.len().max(1) as f64
}

/// `exp(mean_x KL(p(y|x) || p(y)))` over rows of 10 probabilities: 1 (useless) .. 10 (every
/// image confidently one digit, all digits equally often).
pub fn classifier_score(probs: &[f32]) -> f64 {
    let n = probs.len() / 10;
    if n == 0 {
        return f64::NAN;
    }
    let mut marginal = [0.0f64; 10];
    for p in probs.chunks_exact(10) {
        for k in 0..10 {
            marginal[k] += p[k] as f64 / n as f64;
        }
    }
    let mut kl = 0.0;
    for p in probs.chunks_exact(10) {
        for k in 0..10 {
            let pk = p[k] as f64;
            if pk > 0.0 {
                kl += pk * (pk.ln() - marginal[k].max(1e-30).ln());
            }
        }
    }
    (kl / n as f64).exp()
}

/// Mean and covariance (unbiased) of `n x d` features.
fn moments(x: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let mut mean = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for k in 0..d {
            mean[k] += row[k] as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; d * d];
    for row in x.chunks_exact(d) {
        for i in 0..d {
            let a = row[i] as f64 - mean[i];
            for j in i..d {
                cov[i * d + j] += a * (row[j] as f64 - mean[j]);
            }
        }
    }
    let div = (n.max(2) - 1) as f64;
    for i in 0..d {
        for j in i..d {
            cov[i * d + j] /= div;
            cov[j * d + i] = cov[i * d + j];
        }
    }
    (mean, cov)
}

/// Square root of a symmetric positive semi-definite matrix (negative eigenvalues, from
/// rounding, clipped to 0).
fn sqrt_psd(a: DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(a);
    let root = DMatrix::from_diagonal(&eig.eigenvalues.map(|w| w.max(0.0).sqrt()));
    &eig.eigenvectors * root * eig.eigenvectors.transpose()
}

/// Fréchet distance between Gaussians fitted to two feature sets (`n x d` each):
/// `|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`.
pub fn frechet_distance(a: &[f32], b: &[f32], d: usize) -> f64 {
    let (m1, s1) = moments(a, d);
    let (m2, s2) = moments(b, d);
    let mean_term: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y).powi(2)).sum();
    let (s1, s2) = (DMatrix::from_row_slice(d, d, &s1), DMatrix::from_row_slice(d, d, &s2));
    let r1 = sqrt_psd(s1.clone());
    let inner = &r1 * &s2 * &r1;
    // Symmetrise against rounding before the eigen-decomposition.
    let sym = (&inner + inner.transpose()) * 0.5;
    let tr_sqrt: f64 = sym.symmetric_eigenvalues().iter().map(|x| x.max(0.0).sqrt()).sum();
    (mean_term + s1.trace() + s2.trace() - 2.0 * tr_sqrt).max(0.0)
}

/// Eigenvalues of a symmetric `d x d` matrix (row-major), ascending: what the Fréchet
/// distance's matrix square roots rest on.
pub fn symmetric_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
    let mut w: Vec<f64> = DMatrix::from_row_slice(d, d, a)
        .symmetric_eigenvalues()
        .iter()
        .copied()
        .collect();
    w.sort_by(f64::total_cmp);
    w
}

/// How a set of digit images scores against real ones.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scores {
    pub images: usize,
    /// The classifier score, `exp(E KL(p(y|x) || p(y)))`: 1 to 10, higher is better.
    pub score: f64,
    /// Fréchet distance of the classifier's logits to those of the real images; lower is better.
    pub frechet: f64,
    /// How many images the classifier puts in each class (0 to 9).
    pub classes: Vec<usize>,
}

/// Scores `images` (`n x 784` bytes) against `real` ones with classifier `model`.
pub fn score_images<B: Backend>(model: &Classifier<B>, images: &[u8], real: &[u8], dev: &B::Device) -> Scores {
    let (probs, feats) = probs_and_features(model, images, dev);
    let (_, real_feats) = probs_and_features(model, real, dev);
    let mut classes = vec![0; 10];
    for p in probs.chunks_exact(10) {
        let best = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
        classes[best] += 1;
    }
    Scores {
        images: images.len() / PIXELS,
        score: classifier_score(&probs),
        frechet: frechet_distance(&feats, &real_feats, FEATURES),
        classes,
    }
}

/// Score and Fréchet distance of generated images against real ones (`n x 784` bytes each).
pub fn image_metrics<B: Backend>(model: &Classifier<B>, generated: &[u8], real: &[u8], dev: &B::Device) -> (f64, f64) {
    let (pg, fg) = probs_and_features(model, generated, dev);
    let (_, fr) = probs_and_features(model, real, dev);
    (classifier_score(&pg), frechet_distance(&fg, &fr, FEATURES))
}
