//! Helpers shared by the fused ops on burn's Flex backend (Path-SGD's `fused`, the DCGAN's
//! `bn_flex` and `conv_flex`): raw `f32` buffers in and out of Flex tensors, chunked parallel
//! loops, per-channel sums, and the autodiff bookkeeping of a three-input op.

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::tensor::TensorData;
use burn_flex::{Flex, FlexTensor};

/// A float tensor of the CPU autodiff backend.
pub(crate) type AdTensor = burn::tensor::ops::FloatTensor<burn::backend::Autodiff<Flex>>;

/// `f(chunk index, chunk)` over `out` cut into `chunk`-long pieces, in parallel (rayon) on
/// native, in turn on wasm.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn par_chunks<F: Fn(usize, &mut [f32]) + Sync + Send>(out: &mut [f32], chunk: usize, f: F) {
    use rayon::prelude::*;
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, r)| f(i, r));
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn par_chunks<F: Fn(usize, &mut [f32]) + Sync + Send>(out: &mut [f32], chunk: usize, f: F) {
    out.chunks_mut(chunk).enumerate().for_each(|(i, r)| f(i, r));
}

/// The tensor with its values packed in order from the start of its buffer (no copy when
/// they already are).
pub(crate) fn dense(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a [`dense`] tensor.
pub(crate) fn vals(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
}

pub(crate) fn tensor(v: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// Channels per block of parallel work in [`per_channel`].
const CHANNEL_BLOCK: usize = 16;

/// Shape of an activation seen as `[n, c, inner]` (channel axis 1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub inner: usize,
}

impl Dims {
    /// Values per channel.
    pub fn count(self) -> usize {
        self.n * self.inner
    }
}

/// Per channel, `sum over samples and positions of term(channel, value index)`, in blocks
/// of channels (each block's sums in a fixed order: results do not depend on threads).
pub(crate) fn per_channel(d: Dims, term: impl Fn(usize, usize) -> f64 + Sync + Send) -> Vec<f64> {
    let blocks = crate::learn::par_map(d.c.div_ceil(CHANNEL_BLOCK), |b| {
        let (c0, c1) = (b * CHANNEL_BLOCK, ((b + 1) * CHANNEL_BLOCK).min(d.c));
        let mut acc = vec![0.0f64; c1 - c0];
        for i in 0..d.n {
            for (k, c) in (c0..c1).enumerate() {
                let base = (i * d.c + c) * d.inner;
                let mut s = 0.0f64;
                for j in base..base + d.inner {
                    s += term(c, j);
                }
                acc[k] += s;
            }
        }
        acc
    });
    blocks.concat()
}

/// Registers `out` as the result of the three-input autodiff op `op`; `state` (what its
/// backward pass needs) is built only when some input is tracked.
pub(crate) fn finish<S, O>(op: O, parents: [&AdTensor; 3], state: impl FnOnce() -> S, out: FlexTensor) -> AdTensor
where
    S: Clone + Send + std::fmt::Debug + 'static,
    O: Backward<Flex, 3, State = S>,
{
    match op
        .prepare::<NoCheckpointing>(parents.map(|t| t.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Whether gradients flow into `t`.
pub(crate) fn tracked(t: &AdTensor) -> bool {
    !t.node.requirement.is_none()
}
