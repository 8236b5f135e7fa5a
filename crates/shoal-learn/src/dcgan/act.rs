//! How the DCGAN's fused CPU ops end: the activation a batch norm applies, and the layout a
//! layer leaves its output in. Shared by the models and the ops, which depend on neither.

use burn::tensor::Tensor;
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::backend::Backend;

/// The activation after a batch norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    /// Leaky ReLU with this slope for negative inputs.
    Leaky(f32),
}

impl Act {
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Act::Identity => v,
            Act::Relu => v.max(0.0),
            Act::Leaky(s) if v < 0.0 => v * s,
            Act::Leaky(_) => v,
        }
    }

    /// The derivative at `v`, as burn's activations take it (ReLU's is 0 at 0, leaky
    /// ReLU's 1).
    pub fn slope(self, v: f32) -> f32 {
        match self {
            Act::Identity => 1.0,
            Act::Relu if v > 0.0 => 1.0,
            Act::Relu => 0.0,
            Act::Leaky(s) if v < 0.0 => s,
            Act::Leaky(_) => 1.0,
        }
    }

    pub(super) fn tensor<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Act::Identity => x,
            Act::Relu => relu(x),
            Act::Leaky(s) => leaky_relu(x, s as f64),
        }
    }
}

/// Where a layer's output goes. The CPU backend's convolution and batch-norm ops work on
/// activations stored channel-major with the sample innermost; between two of them
/// (`Fused`) the output stays stored so, for anything else (`BurnLayout`) it is stored in burn's
/// layout. Only speed depends on it: the values are the same either way, and burn's own
/// ops read either layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Fused,
    BurnLayout,
}
