//! burn's optimisers as shoal's trainings use them, behind one enum over any module: plain
//! SGD and AdaGrad (the Path-SGD comparison), the seed's momentum SGD and Adam (the DCGAN),
//! both fused on the CPU. One `step`, whichever it is.

mod fused_adam;
mod fused_sgd;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGrad, AdaGradConfig, GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
pub use fused_adam::FusedAdam;
pub use fused_sgd::FusedSgd;

/// One of the optimisers, for module `M`.
pub enum AnyOptimizer<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// SGD without momentum or weight decay.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
    /// Momentum SGD (one fused pass per parameter on the CPU backend).
    Momentum(OptimizerAdaptor<FusedSgd, M, B>),
    AdaGrad(OptimizerAdaptor<AdaGrad, M, B>),
    /// Adam (one fused pass per parameter on the CPU backend; no weight decay or AMSGrad).
    Adam(OptimizerAdaptor<FusedAdam, M, B>),
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

    /// Adam with `beta_1`, `beta_2` and `epsilon` as burn's [`burn::optim::AdamConfig`] takes them.
    pub fn adam(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self::Adam(OptimizerAdaptor::from(FusedAdam::new(beta_1, beta_2, epsilon)))
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

/// `t` on the CPU backend when `B` is it (the fused passes), else `t` back (burn's ops).
fn as_cpu<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B, D>,
) -> Result<burn::tensor::Tensor<crate::Cpu, D>, burn::tensor::Tensor<B, D>> {
    crate::cast::<B, crate::Cpu, D>(t)
}

/// A gradient or state tensor on the CPU backend, once [`as_cpu`] found its weight there.
fn cpu<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B, D>,
) -> burn::tensor::Tensor<crate::Cpu, D> {
    as_cpu(t).expect("the same backend as the weight")
}

fn from_cpu<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<crate::Cpu, D>,
) -> burn::tensor::Tensor<B, D> {
    crate::cast::<crate::Cpu, B, D>(t).expect("B is the CPU backend")
}

/// A CPU tensor's values packed in order (see `flex::dense`), for the fused passes.
fn buffer<const D: usize>(t: burn::tensor::Tensor<crate::Cpu, D>) -> burn_flex::FlexTensor {
    crate::flex::dense(t.into_primitive().tensor())
}

/// Values from a fused pass as a CPU tensor of `shape`.
fn cpu_tensor<const D: usize>(v: Vec<f32>, shape: &[usize]) -> burn::tensor::Tensor<crate::Cpu, D> {
    use burn::tensor::TensorPrimitive;
    burn::tensor::Tensor::from_primitive(TensorPrimitive::Float(crate::flex::tensor(v, shape.to_vec())))
}
