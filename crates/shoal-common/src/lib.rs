//! What the layers of shoal share: files written atomically, percentiles, numbers for
//! messages, and (feature `gpu`, native) the GPU adapter to open when there is no renderer's.

pub mod fs;
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub mod gpu;
pub mod stats;
pub mod text;
