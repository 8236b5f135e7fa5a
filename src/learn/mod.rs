//! Everything on burn: data, tensor basics, Path-SGD, DCGAN, metrics.
//! No Bevy here: this module builds and tests without the render stack.

pub mod data;

/// The CPU backend (burn Flex).
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
pub mod basics;
pub mod dcgan;
pub mod live;
pub mod metrics;
pub mod path_sgd;
pub mod plot;
pub mod rng;

/// burn's backends keep one global random state for weight initialisation. Seeding it
/// and drawing the initial weights happen under this lock, so runs (and tests running in
/// parallel) get exactly the weights their seed gives.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Seeds the backend and runs `init` (which draws initial weights) without interference.
pub fn seeded_init<B: burn::tensor::backend::Backend, T>(dev: &B::Device, seed: u64, init: impl FnOnce() -> T) -> T {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    B::seed(dev, seed);
    init()
}
