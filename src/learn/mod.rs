//! Everything on burn: data, tensor basics, Path-SGD, DCGAN, metrics.
//! No Bevy here: this module builds and tests without the render stack.

pub mod data;

/// The CPU backend (burn Flex).
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
pub mod basics;
pub mod dcgan;
pub mod path_sgd;
pub mod plot;
pub mod rng;
