//! One training run of the Fig. 2 experiment (and of the live demo): a net, its optimiser
//! (SGD, AdaGrad or Path-SGD) and its mini-batches, stepped one batch at a time.

use super::PathSgd;
use super::mlp::Mlp;
use crate::data::{Batches, Digits, PIXELS, batch_tensors};
use crate::optim::AnyOptimizer;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use std::sync::Arc;

enum Opt<B: AutodiffBackend> {
    /// SGD or AdaGrad.
    Burn(AnyOptimizer<B, Mlp<B>>),
    Path(PathSgd),
}

/// Mean cross-entropy and 0/1 error of a model on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    pub cross_entropy: f64,
    pub error: f64,
}

/// One training run.
pub struct Run<B: AutodiffBackend> {
    pub algo: Algo,
    pub init: Init,
    pub lr: f64,
    model: Option<Mlp<B>>,
    opt: Opt<B>,
    batches: Batches,
    train: Arc<Digits>,
    device: B::Device,
    pub steps: usize,
    /// Set when a loss became NaN or infinite; the run stops stepping.
    pub diverged: bool,
}

/// The three optimisers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    Sgd,
    AdaGrad,
    PathSgd,
}

impl Algo {
    pub const ALL: [Algo; 3] = [Algo::Sgd, Algo::AdaGrad, Algo::PathSgd];
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sgd => "SGD",
            Algo::AdaGrad => "AdaGrad",
            Algo::PathSgd => "Path-SGD",
        }
    }
}

/// Balanced or unbalanced initial weights (the same function either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Init {
    Balanced,
    Unbalanced,
}

impl Init {
    pub const ALL: [Init; 2] = [Init::Balanced, Init::Unbalanced];
    pub fn name(self) -> &'static str {
        match self {
            Init::Balanced => "balanced",
            Init::Unbalanced => "unbalanced",
        }
    }
}

/// How a run trains: the optimizer, its learning rate and (Path-SGD) its `p`, and which
/// initialisation the net came from (for the logs).
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    pub algo: Algo,
    pub init: Init,
    pub lr: f64,
    pub p: f64,
}

/// What a run trains on: the digits, in shuffled batches of `batch` drawn with `seed`.
#[derive(Clone)]
pub struct Feed {
    pub train: Arc<Digits>,
    pub batch: usize,
    pub seed: u64,
}

impl<B: AutodiffBackend> Run<B> {
    pub fn new(model: Mlp<B>, recipe: Recipe, feed: Feed, device: B::Device) -> Result<Self, super::PathSgdError> {
        let Recipe { algo, init, lr, p } = recipe;
        let Feed {
            train,
            batch,
            seed: data_seed,
        } = feed;
        let opt = match algo {
            Algo::Sgd => Opt::Burn(AnyOptimizer::sgd()),
            Algo::AdaGrad => Opt::Burn(AnyOptimizer::adagrad()),
            Algo::PathSgd => Opt::Path(PathSgd::new(p)?),
        };
        let batches = Batches::new(train.len(), batch, data_seed);
        Ok(Self {
            algo,
            init,
            lr,
            model: Some(model),
            opt,
            batches,
            train,
            device,
            steps: 0,
            diverged: false,
        })
    }

    pub fn model(&self) -> &Mlp<B> {
        self.model.as_ref().expect("model present between steps")
    }

    /// Replaces the model (e.g. after a rescaling), keeping the optimiser state.
    pub fn map_model(&mut self, f: impl FnOnce(Mlp<B>) -> Mlp<B>) {
        let m = self.model.take().expect("model present between steps");
        self.model = Some(f(m));
    }

    /// Mini-batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.batches.per_epoch()
    }

    /// Trains one mini-batch; returns its mean cross-entropy (NaN once diverged).
    pub fn step(&mut self) -> f64 {
        if self.diverged {
            return f64::NAN;
        }
        let (model, loss) = self.next_batch_loss();
        let value: f64 = loss.clone().into_scalar().elem();
        if !value.is_finite() {
            self.diverged = true;
            self.model = Some(model);
            return value;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.update(model, grads));
        self.steps += 1;
        value
    }

    /// [`Run::step`] with the loss left on the device (a `[1]` tensor) for callers that read it
    /// asynchronously (the browser's GPU): the update is applied before the loss is known, so
    /// a step whose loss turns out not finite has already spoiled the model, and the caller
    /// marks the run diverged ([`Run::mark_diverged`]). `None` once diverged.
    pub fn step_on_device(&mut self) -> Option<Tensor<B::InnerBackend, 1>> {
        if self.diverged {
            return None;
        }
        let (model, loss) = self.next_batch_loss();
        let value = loss.clone().inner();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.update(model, grads));
        self.steps += 1;
        Some(value)
    }

    /// The model (taken out for its update) and its mean cross-entropy on the next mini-batch.
    fn next_batch_loss(&mut self) -> (Mlp<B>, Tensor<B, 1>) {
        let (idx, _) = self.batches.next_batch();
        let idx = &idx[..];
        let (x, y) = batch_tensors::<B>(&self.train, idx, &self.device);
        let n = idx.len();
        let model = self.model.take().expect("model present between steps");
        let logits = model.forward(x.reshape([n, PIXELS]));
        let loss = CrossEntropyLossConfig::new().init(&self.device).forward(logits, y);
        (model, loss)
    }

    /// A loss read after [`Run::step_on_device`] was not finite: the run stops.
    pub fn mark_diverged(&mut self) {
        self.diverged = true;
    }

    fn update(&mut self, model: Mlp<B>, grads: GradientsParams) -> Mlp<B> {
        match &mut self.opt {
            Opt::Burn(o) => o.step(self.lr, model, grads),
            Opt::Path(o) => o.step(self.lr, model, grads).expect("an Mlp is a Linear chain"),
        }
    }

    /// Cross-entropy and error on `data` (eval mode, in chunks).
    pub fn evaluate(&self, data: &Digits) -> Eval {
        evaluate(&self.model().valid(), data, &self.device)
    }
}

/// Cross-entropy and 0/1 error of `model` on `data`.
pub fn evaluate<B: Backend>(model: &Mlp<B>, data: &Digits, device: &B::Device) -> Eval {
    let (mut ce, mut wrong) = (0.0f64, 0usize);
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(1000) {
        let (x, y) = batch_tensors::<B>(data, chunk, device);
        let n = chunk.len();
        let logits = model.forward(x.reshape([n, PIXELS]));
        let loss: f64 = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits.clone(), y.clone())
            .into_scalar()
            .elem();
        ce += loss * n as f64;
        let pred = logits.argmax(1).reshape([n]);
        let correct: i64 = pred.equal(y).int().sum().into_scalar().elem();
        wrong += n - correct as usize;
    }
    let n = data.len() as f64;
    let ce = ce / n;
    Eval {
        cross_entropy: if ce.is_finite() { ce } else { f64::INFINITY },
        error: wrong as f64 / n,
    }
}
