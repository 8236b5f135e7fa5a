//! burn's optimisers as shoal's trainings use them, behind one enum over any module: plain
//! SGD and AdaGrad (the Path-SGD comparison), the seed's momentum SGD fused on the CPU and Adam
//! (the DCGAN). One `step`, whichever it is.

mod fused_sgd;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGrad, AdaGradConfig, Adam, AdamConfig, GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
pub use fused_sgd::FusedSgd;

/// One of the optimisers, for module `M`.
pub enum AnyOptimizer<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// SGD without momentum or weight decay.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
    /// Momentum SGD (one fused pass per parameter on the CPU backend).
    Momentum(OptimizerAdaptor<FusedSgd, M, B>),
    AdaGrad(OptimizerAdaptor<AdaGrad, M, B>),
    Adam(OptimizerAdaptor<Adam, M, B>),
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> AnyOptimizer<B, M> {
    /// Plain SGD.
    pub fn sgd() -> Self {
        Self::Sgd(SgdConfig::new().init())
    }

    /// Momentum SGD as `config` sets it (no weight decay).
    pub fn momentum(config: &MomentumConfig) -> Self {
        Self::Momentum(OptimizerAdaptor::from(FusedSgd::new(config)))
    }

    /// AdaGrad with burn's defaults.
    pub fn adagrad() -> Self {
        Self::AdaGrad(AdaGradConfig::new().init())
    }

    /// Adam as `config` sets it.
    pub fn adam(config: &AdamConfig) -> Self {
        Self::Adam(config.init())
    }

    /// One update of `module` with learning rate `lr`.
    pub fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Sgd(o) => o.step(lr, module, grads),
            Self::Momentum(o) => o.step(lr, module, grads),
            Self::AdaGrad(o) => o.step(lr, module, grads),
            Self::Adam(o) => o.step(lr, module, grads),
        }
    }
}
