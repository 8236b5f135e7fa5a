//! Everything on burn: data, tensor basics, Path-SGD, DCGAN, metrics.
//! No Bevy here: this module builds and tests without the render stack.

pub mod data;

/// The CPU backend (burn Flex).
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
pub mod basics;
pub mod dcgan;
pub(crate) mod flex;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod live;
pub mod metrics;
pub mod optim;
pub mod path_sgd;
pub mod plot;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod tasks;

pub use live::spec::Device;

/// `f(0), ..., f(n - 1)` in order, computed in parallel (rayon) on native, in turn on wasm.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn par_map<T: Send, F: Fn(usize) -> T + Sync + Send>(n: usize, f: F) -> Vec<T> {
    use rayon::prelude::*;
    (0..n).into_par_iter().map(f).collect()
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn par_map<T: Send, F: Fn(usize) -> T + Sync + Send>(n: usize, f: F) -> Vec<T> {
    (0..n).map(f).collect()
}

/// `t` as a tensor of backend `B2` when `B1` is `B2` (else `t` back): lets generic code take a
/// faster path written for one backend.
pub fn cast<B1: burn::tensor::backend::Backend, B2: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B1, D>,
) -> Result<burn::tensor::Tensor<B2, D>, burn::tensor::Tensor<B1, D>> {
    let any: Box<dyn std::any::Any> = Box::new(t);
    match any.downcast::<burn::tensor::Tensor<B2, D>>() {
        Ok(t) => Ok(*t),
        Err(any) => Err(*any
            .downcast::<burn::tensor::Tensor<B1, D>>()
            .expect("the same type went in")),
    }
}

/// burn's backends keep one global random state for weight initialisation. Seeding it
/// and drawing the initial weights happen under this lock, so runs (and tests running in
/// parallel) get exactly the weights their seed gives.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Seeds the backend, builds a module with `init` and draws all its initial weights, without
/// interference. burn initialises parameters lazily (at their first use), so without the
/// explicit draw here the weights would depend on whatever used the random state in between,
/// and a clone taken before the first use (e.g. a checkpoint) would draw weights of its own.
pub fn seeded_init<B: burn::tensor::backend::Backend, M: burn::module::Module<B>>(
    dev: &B::Device,
    seed: u64,
    init: impl FnOnce() -> M,
) -> M {
    struct Draw;
    impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Draw {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    B::seed(dev, seed);
    let module = init();
    module.visit(&mut Draw);
    module
}
/// CRC-32 (IEEE) of `parts` one after another: the checksum of checkpoints and shipped weights.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = flate2::Crc::new();
    for p in parts {
        c.update(p);
    }
    c.sum()
}
