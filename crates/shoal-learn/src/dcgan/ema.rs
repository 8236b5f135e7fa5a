//! An exponential moving average of the generator's weights (Yazıcı et al. 2019, "The
//! Unusual Effectiveness of Averaging in GAN Training"): samples come from the average
//! instead of the last step's weights, which jitter from step to step in the adversarial game.
//!
//! The average covers every float tensor of the module in visiting order: weights, biases,
//! and BatchNorm's running statistics (so the eval-mode average normalises consistently).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The decay used at update `t` (0-based): `min(decay, (1 + t) / (10 + t))`, so an average
/// started from a young network forgets its start quickly (TensorFlow's
/// `ExponentialMovingAverage` with `num_updates`).
pub fn decay_at(decay: f64, t: u64) -> f64 {
    decay.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// `avg <- decay * avg + (1 - decay) * current`, tensor by tensor.
pub fn update<B: Backend, M: Module<B>>(avg: M, current: &M, decay: f64) -> M {
    let mut collect = Collect(Vec::new());
    current.visit(&mut collect);
    let mut blend = Blend {
        current: collect.0.into_iter(),
        decay,
    };
    let out = avg.map(&mut blend);
    debug_assert!(blend.current.next().is_none(), "the two modules have the same tensors");
    out
}

struct Collect<B: Backend>(Vec<Tensor<B, 1>>);

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().reshape([-1]));
    }
}

struct Blend<B: Backend, I: Iterator<Item = Tensor<B, 1>>> {
    current: I,
    decay: f64,
}

impl<B: Backend, I: Iterator<Item = Tensor<B, 1>>> ModuleMapper<B> for Blend<B, I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let cur = self.current.next().expect("the two modules have the same tensors");
        let decay = self.decay;
        param.map(|avg| {
            let shape = avg.shape();
            avg.mul_scalar(decay)
                .add(cur.reshape(shape).mul_scalar(1.0 - decay))
                .detach()
        })
    }
}
