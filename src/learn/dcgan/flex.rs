//! Helpers shared by the DCGAN's fused ops on burn's Flex backend (`bn_flex`, `conv_flex`):
//! raw `f32` buffers in and out of Flex tensors, and chunked parallel loops.

use burn::tensor::TensorData;
use burn_flex::FlexTensor;

/// `f(chunk index, chunk)` over `out` cut into `chunk`-long pieces, in parallel (rayon) on
/// native, in turn on wasm.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn par_chunks<F: Fn(usize, &mut [f32]) + Sync + Send>(out: &mut [f32], chunk: usize, f: F) {
    use rayon::prelude::*;
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, r)| f(i, r));
}

#[cfg(target_arch = "wasm32")]
pub(super) fn par_chunks<F: Fn(usize, &mut [f32]) + Sync + Send>(out: &mut [f32], chunk: usize, f: F) {
    out.chunks_mut(chunk).enumerate().for_each(|(i, r)| f(i, r));
}

/// The tensor with its values packed in order from the start of its buffer (no copy when
/// they already are).
pub(super) fn dense(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a [`dense`] tensor.
pub(super) fn vals(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
}

pub(super) fn tensor(v: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}
