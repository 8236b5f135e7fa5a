//! Tensor basics: one small network trained three ways (the seed's "getting started").
//!
//! Data `x ~ N(0,1)` (100 x 100), targets `y ~ N(0,1)` (100 x 10); net
//! `y_hat = relu(x W1) W2` with W1 100 x 1000, W2 1000 x 10, no biases; loss = sum of
//! squared errors. The three methods:
//! 1. [`ByHand`]: forward and backward written with plain tensor ops (no autodiff).
//! 2. [`ByAutodiff`]: the same forward on the Autodiff backend, `backward()`, manual update.
//! 3. [`ByModule`]: two burn `Linear` layers and burn's `Sgd` (momentum 0.8, Nesterov,
//!    dampening 0, weight decay 1e-8).
//!
//! Each is a steppable object: one epoch (one full-batch step) per call, returning the loss
//! measured by that epoch's forward pass.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

/// Sizes of the seed's experiment.
pub const N: usize = 100;
pub const D_IN: usize = 100;
pub const HIDDEN: usize = 1000;
pub const D_OUT: usize = 10;

/// Learning rates. By hand: the seed's 1e-6 diverges with this data's scale only for
/// larger values; 1e-6 converges and halves every 200 epochs.
pub const LR_BY_HAND: f64 = 1e-6;
pub const LR_AUTODIFF: f64 = 1e-6;
pub const LR_MODULE: f64 = 1e-5;
/// The by-hand learning rate halves every this many epochs (as in the seed).
pub const HALVE_EVERY: usize = 200;

/// The three methods, in the order of the seed's figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    ByHand,
    Autodiff,
    Module,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::ByHand, Method::Autodiff, Method::Module];

    pub fn name(self) -> &'static str {
        match self {
            Method::ByHand => "by-hand",
            Method::Autodiff => "autodiff",
            Method::Module => "module+optimizer",
        }
    }
}

/// Seeded draws, independent of the backend's global random state.
pub fn normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let d = Normal::new(0.0f32, 1.0).expect("valid normal");
    (0..n).map(|_| d.sample(rng)).collect()
}

fn tensor<B: Backend, const D: usize>(values: Vec<f32>, shape: [usize; D], dev: &B::Device) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, shape), dev)
}

/// The experiment's data and N(0,1) weights, all from one seed.
#[derive(Clone, Debug)]
pub struct Problem {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub w1: Vec<f32>,
    pub w2: Vec<f32>,
    pub seed: u64,
}

impl Problem {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let x = normal(&mut rng, N * D_IN);
        let y = normal(&mut rng, N * D_OUT);
        let w1 = normal(&mut rng, D_IN * HIDDEN);
        let w2 = normal(&mut rng, HIDDEN * D_OUT);
        Self { x, y, w1, w2, seed }
    }
}

/// Loss and gradients written by hand: `grad_pred = 2(pred - y)`, `grad_W2 = a^T grad_pred`,
/// `grad_a = grad_pred W2^T` masked where `z < 0`, `grad_W1 = x^T grad_a`.
pub fn hand_gradients<B: Backend>(
    x: &Tensor<B, 2>,
    y: &Tensor<B, 2>,
    w1: &Tensor<B, 2>,
    w2: &Tensor<B, 2>,
) -> (f32, Tensor<B, 2>, Tensor<B, 2>) {
    let z = x.clone().matmul(w1.clone());
    let a = relu(z.clone());
    let pred = a.clone().matmul(w2.clone());
    let diff = pred - y.clone();
    let loss = diff.clone().square().sum().into_scalar().to_f32();
    let grad_pred = diff.mul_scalar(2.0);
    let grad_w2 = a.transpose().matmul(grad_pred.clone());
    let grad_a = grad_pred.matmul(w2.clone().transpose());
    let grad_z = grad_a.mask_fill(z.lower_elem(0.0), 0.0);
    let grad_w1 = x.clone().transpose().matmul(grad_z);
    (loss, grad_w1, grad_w2)
}

/// Loss and gradients of the same forward pass by burn's autodiff.
pub fn autodiff_gradients<B: AutodiffBackend>(
    x: &Tensor<B, 2>,
    y: &Tensor<B, 2>,
    w1: &Tensor<B, 2>,
    w2: &Tensor<B, 2>,
) -> (f32, Tensor<B::InnerBackend, 2>, Tensor<B::InnerBackend, 2>) {
    let w1 = w1.clone().detach().require_grad();
    let w2 = w2.clone().detach().require_grad();
    let pred = relu(x.clone().matmul(w1.clone())).matmul(w2.clone());
    let loss = (pred - y.clone()).square().sum();
    let value = loss.clone().into_scalar().to_f32();
    let grads = loss.backward();
    let g1 = w1.grad(&grads).expect("w1 requires grad");
    let g2 = w2.grad(&grads).expect("w2 requires grad");
    (value, g1, g2)
}

use burn::tensor::ElementConversion;
trait ToF32 {
    fn to_f32(self) -> f32;
}
impl<E: ElementConversion> ToF32 for E {
    fn to_f32(self) -> f32 {
        self.elem::<f32>()
    }
}

/// The problem's x, y, W1, W2 as tensors on `dev`.
fn tensors<B: Backend>(p: &Problem, dev: &B::Device) -> [Tensor<B, 2>; 4] {
    [
        tensor(p.x.clone(), [N, D_IN], dev),
        tensor(p.y.clone(), [N, D_OUT], dev),
        tensor(p.w1.clone(), [D_IN, HIDDEN], dev),
        tensor(p.w2.clone(), [HIDDEN, D_OUT], dev),
    ]
}

/// Method 1: hand-written backward pass on the plain backend.
pub struct ByHand<B: Backend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    pub w1: Tensor<B, 2>,
    pub w2: Tensor<B, 2>,
    pub lr: f64,
    pub epoch: usize,
}

impl<B: Backend> ByHand<B> {
    pub fn new(p: &Problem, lr: f64, dev: &B::Device) -> Self {
        let [x, y, w1, w2] = tensors(p, dev);
        Self {
            x,
            y,
            w1,
            w2,
            lr,
            epoch: 0,
        }
    }

    /// Learning rate of the current epoch (halved every [`HALVE_EVERY`] epochs).
    pub fn current_lr(&self) -> f64 {
        self.lr * 0.5f64.powi((self.epoch / HALVE_EVERY) as i32)
    }

    pub fn step(&mut self) -> f32 {
        let lr = self.current_lr();
        let (loss, g1, g2) = hand_gradients(&self.x, &self.y, &self.w1, &self.w2);
        self.w1 = self.w1.clone() - g1.mul_scalar(lr);
        self.w2 = self.w2.clone() - g2.mul_scalar(lr);
        self.epoch += 1;
        loss
    }
}

/// Method 2: autodiff gradients, parameters updated by hand.
pub struct ByAutodiff<B: AutodiffBackend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    pub w1: Tensor<B, 2>,
    pub w2: Tensor<B, 2>,
    pub lr: f64,
    pub epoch: usize,
}

impl<B: AutodiffBackend> ByAutodiff<B> {
    pub fn new(p: &Problem, lr: f64, dev: &B::Device) -> Self {
        let [x, y, w1, w2] = tensors(p, dev);
        Self {
            x,
            y,
            w1,
            w2,
            lr,
            epoch: 0,
        }
    }

    pub fn step(&mut self) -> f32 {
        let (loss, g1, g2) = autodiff_gradients(&self.x, &self.y, &self.w1, &self.w2);
        let w1 = self.w1.clone().inner() - g1.mul_scalar(self.lr);
        let w2 = self.w2.clone().inner() - g2.mul_scalar(self.lr);
        self.w1 = Tensor::from_inner(w1);
        self.w2 = Tensor::from_inner(w2);
        self.epoch += 1;
        loss
    }
}

/// The two-layer net of method 3.
#[derive(Module, Debug)]
pub struct TwoLayer<B: Backend> {
    pub l1: Linear<B>,
    pub l2: Linear<B>,
}

impl<B: Backend> TwoLayer<B> {
    /// Bias-free layers with burn's default Linear initialisation (Kaiming-uniform with
    /// gain 1/sqrt(3), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default), drawn
    /// from shoal's seeded generator so runs repeat exactly.
    pub fn new(seed: u64, dev: &B::Device) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6d6f_6475_6c65);
        let mut layer = |d_in: usize, d_out: usize| {
            let mut l = LinearConfig::new(d_in, d_out)
                .with_bias(false)
                .with_initializer(Initializer::Zeros)
                .init::<B>(dev);
            let bound = 1.0 / (d_in as f32).sqrt();
            let u = Uniform::new(-bound, bound).expect("valid bounds");
            let w: Vec<f32> = (0..d_in * d_out).map(|_| u.sample(&mut rng)).collect();
            l.weight = Param::from_tensor(tensor(w, [d_in, d_out], dev));
            l
        };
        Self {
            l1: layer(D_IN, HIDDEN),
            l2: layer(HIDDEN, D_OUT),
        }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.l2.forward(relu(self.l1.forward(x)))
    }
}

/// Method 3: module + optimizer.
pub struct ByModule<B: AutodiffBackend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    model: Option<TwoLayer<B>>,
    optim: burn::optim::adaptor::OptimizerAdaptor<burn::optim::Sgd<B::InnerBackend>, TwoLayer<B>, B>,
    pub lr: f64,
    pub epoch: usize,
}

/// The seed's momentum: 0.8, Nesterov, dampening 0 (burn's default dampening is 0.1,
/// PyTorch's 0).
pub fn seed_momentum() -> MomentumConfig {
    MomentumConfig::new()
        .with_momentum(0.8)
        .with_dampening(0.0)
        .with_nesterov(true)
}

/// SGD as the seed configures it for this net: the seed's momentum, weight decay 1e-8.
pub fn seed_sgd() -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(seed_momentum()))
        .with_weight_decay(Some(WeightDecayConfig::new(1e-8)))
}

impl<B: AutodiffBackend> ByModule<B> {
    pub fn new(p: &Problem, lr: f64, dev: &B::Device) -> Self {
        Self {
            x: tensor(p.x.clone(), [N, D_IN], dev),
            y: tensor(p.y.clone(), [N, D_OUT], dev),
            model: Some(TwoLayer::new(p.seed, dev)),
            optim: seed_sgd().init(),
            lr,
            epoch: 0,
        }
    }

    pub fn model(&self) -> &TwoLayer<B> {
        self.model.as_ref().expect("model is present between steps")
    }

    pub fn step(&mut self) -> f32 {
        let model = self.model.take().expect("model is present between steps");
        let loss = (model.forward(self.x.clone()) - self.y.clone()).square().sum();
        let value = loss.clone().into_scalar().to_f32();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(self.lr, model, grads));
        self.epoch += 1;
        value
    }
}

/// All three trainers over one problem, stepped together (what the CLI and the app run).
pub struct Basics<B: AutodiffBackend> {
    pub by_hand: ByHand<B::InnerBackend>,
    pub autodiff: ByAutodiff<B>,
    pub module: ByModule<B>,
}

impl<B: AutodiffBackend> Basics<B> {
    pub fn new(seed: u64, dev: &B::Device) -> Self {
        let p = Problem::new(seed);
        Self {
            by_hand: ByHand::new(&p, LR_BY_HAND, dev),
            autodiff: ByAutodiff::new(&p, LR_AUTODIFF, dev),
            module: ByModule::new(&p, LR_MODULE, dev),
        }
    }

    /// One epoch of each method: losses in [`Method::ALL`] order.
    pub fn step(&mut self) -> [f32; 3] {
        [self.by_hand.step(), self.autodiff.step(), self.module.step()]
    }

    pub fn epoch(&self) -> usize {
        self.by_hand.epoch
    }
}

/// Loss curves of a run: `losses[e][m]` is method `m`'s loss at epoch `e`.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    pub losses: Vec<[f32; 3]>,
}

impl Curves {
    /// CSV with a header: `epoch,method,loss`.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("epoch,method,loss\n");
        for (e, row) in self.losses.iter().enumerate() {
            for (m, loss) in Method::ALL.iter().zip(row) {
                s.push_str(&format!("{e},{},{loss}\n", m.name()));
            }
        }
        s
    }

    /// Loss of `method` at `epoch`.
    pub fn at(&self, epoch: usize, method: Method) -> f32 {
        let m = Method::ALL.iter().position(|&x| x == method).expect("known method");
        self.losses[epoch][m]
    }

    /// Writes `basics.csv` and `basics.png` (log-scale loss vs epoch) into `dir`, atomically.
    pub fn write(&self, dir: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
        let csv = dir.join("basics.csv");
        let png = dir.join("basics.png");
        shoal_common::fs::write_atomic(&csv, self.to_csv().as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", csv.display()))?;
        let lines: Vec<Vec<(f64, f64)>> = (0..3)
            .map(|m| {
                self.losses
                    .iter()
                    .enumerate()
                    .map(|(e, r)| (e as f64, r[m] as f64))
                    .collect()
            })
            .collect();
        let series: Vec<crate::plot::Series> = Method::ALL
            .iter()
            .zip(&lines)
            .map(|(m, pts)| crate::plot::Series {
                name: m.name(),
                points: pts,
                thin: false,
            })
            .collect();
        crate::plot::write_line_plot(
            &png,
            "Tensor basics: one net trained three ways",
            "epoch",
            "loss (sum of squared errors)",
            &series,
            true,
        )?;
        Ok((csv, png))
    }
}

/// Runs `epochs` epochs of all three methods, calling `progress` after each.
pub fn run<B: AutodiffBackend>(
    epochs: usize,
    seed: u64,
    dev: &B::Device,
    mut progress: impl FnMut(usize, [f32; 3]),
) -> Curves {
    let mut basics = Basics::<B>::new(seed, dev);
    let mut curves = Curves::default();
    for e in 0..epochs {
        let l = basics.step();
        curves.losses.push(l);
        progress(e, l);
    }
    curves
}
