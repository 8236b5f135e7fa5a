//! Helpers shared by the fused ops on burn's Flex backend (Path-SGD's `fused`, the DCGAN's
//! `bn_flex`, `conv_flex`, `linear_flex` and `sgd`): raw `f32` buffers in and out of Flex
//! tensors, buffers built in parallel pieces, per-channel sums in SIMD lanes, matrix products
//! (`gemm`), the channel-major activation layout (`[c, h, w, n]`) and the autodiff
//! bookkeeping of a three-input op.

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::tensor::TensorData;
use burn_flex::{Flex, FlexTensor};

/// A float tensor of the CPU autodiff backend.
pub(crate) type AdTensor = burn::tensor::ops::FloatTensor<burn::backend::Autodiff<Flex>>;

/// Values per task in element-wise passes over whole buffers.
pub(crate) const CHUNK: usize = 1 << 14;

/// A new buffer of `len` values built in `chunk`-long pieces in parallel: `f(chunk index,
/// chunk)` gets its piece zero-filled. The zeros are written by the task itself, while its
/// piece is in cache, not by the allocator in one pass over the whole buffer beforehand.
pub(crate) fn par_build<F: Fn(usize, &mut [f32]) + Sync + Send>(len: usize, chunk: usize, f: F) -> Vec<f32> {
    let mut out = Vec::<std::mem::MaybeUninit<f32>>::with_capacity(len);
    // SAFETY: MaybeUninit values need no initialisation; every one is written below before
    // the buffer is read as f32.
    unsafe { out.set_len(len) };
    par_chunks(&mut out, chunk.max(1), |i, piece| {
        piece.fill(std::mem::MaybeUninit::new(0.0));
        // SAFETY: every value of `piece` was just initialised; MaybeUninit<f32> has f32's layout.
        let piece = unsafe { &mut *(piece as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
        f(i, piece);
    });
    let mut out = std::mem::ManuallyDrop::new(out);
    // SAFETY: all `len` values are initialised (each piece was filled); same layout and
    // allocation, ownership moves to the new Vec.
    unsafe { Vec::from_raw_parts(out.as_mut_ptr() as *mut f32, out.len(), out.capacity()) }
}

/// `f(chunk index, chunk)` over the values of `v` cut into `chunk`-long pieces, in parallel.
pub(crate) fn par_update(v: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    par_chunks(v, chunk.max(1), f);
}

/// `f(chunk index, chunk)` over `out` cut into `chunk`-long pieces, in parallel (rayon) on
/// native, in turn on wasm.
#[cfg(not(target_arch = "wasm32"))]
fn par_chunks<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(out: &mut [T], chunk: usize, f: F) {
    use rayon::prelude::*;
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, r)| f(i, r));
}

#[cfg(target_arch = "wasm32")]
fn par_chunks<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(out: &mut [T], chunk: usize, f: F) {
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

/// Values per block of parallel work in [`per_channel`] (at least one channel).
const BLOCK_VALUES: usize = 1 << 15;

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

/// `N` sums of `term(j)` for `j` in `0..len`, in eight interleaved `f32` partial sums (so
/// the loop runs in SIMD lanes), added up in a fixed order.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // index loops over lanes and sums read plainest here
pub(crate) fn lane_sums<const N: usize>(len: usize, term: impl Fn(usize) -> [f32; N]) -> [f32; N] {
    if len < 8 {
        let mut out = [0.0f32; N];
        for j in 0..len {
            let t = term(j);
            for k in 0..N {
                out[k] += t[k];
            }
        }
        return out;
    }
    let mut acc = [[0.0f32; 8]; N];
    let full = len / 8 * 8;
    for j in (0..full).step_by(8) {
        for l in 0..8 {
            let t = term(j + l);
            for k in 0..N {
                acc[k][l] += t[k];
            }
        }
    }
    let mut out = [0.0f32; N];
    for k in 0..N {
        out[k] = acc[k].iter().sum();
    }
    for j in full..len {
        let t = term(j);
        for k in 0..N {
            out[k] += t[k];
        }
    }
    out
}

/// Values summed in `f32` lanes before they join a channel's `f64` total (see [`per_channel`]).
const PIECE: usize = 512;

/// Per channel, `N` sums of `row(channel, start, len)` over all its values, where `row` sums
/// terms over `len` consecutive values of one channel from value index `start` (see
/// [`lane_sums`]): a sample's row, in pieces of at most [`PIECE`] values. Pieces are summed in
/// `f32`, pieces into a channel's total in `f64`. Channels are summed in blocks in parallel,
/// each in a fixed order: results do not depend on threads.
pub(crate) fn per_channel<const N: usize>(
    d: Dims,
    row: impl Fn(usize, usize, usize) -> [f32; N] + Sync + Send,
) -> Vec<[f64; N]> {
    let block = BLOCK_VALUES.div_ceil(d.count().max(1)).max(1);
    let blocks = crate::par_map(d.c.div_ceil(block), |b| {
        let (c0, c1) = (b * block, ((b + 1) * block).min(d.c));
        let mut acc = vec![[0.0f64; N]; c1 - c0];
        for i in 0..d.n {
            for (a, c) in acc.iter_mut().zip(c0..c1) {
                let start = (i * d.c + c) * d.inner;
                for p in (0..d.inner).step_by(PIECE) {
                    let r = row(c, start + p, PIECE.min(d.inner - p));
                    for k in 0..N {
                        a[k] += r[k] as f64;
                    }
                }
            }
        }
        acc
    });
    blocks.concat()
}

/// `[n, c, p]` -> `[c, p, n]` (channel-major, sample innermost).
pub(crate) fn to_cm(v: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    par_build(v.len(), p * n, |ch, out| {
        for i in 0..n {
            let src = &v[(i * c + ch) * p..][..p];
            for (q, &s) in src.iter().enumerate() {
                out[q * n + i] = s;
            }
        }
    })
}

/// Samples per task in [`from_cm`]: a cache line of each source run.
const SAMPLE_BLOCK: usize = 16;

/// `[c, p, n]` -> `[n, c, p]`, adding `bias[c]` when given.
pub(crate) fn from_cm(v: &[f32], n: usize, c: usize, p: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let per_sample = c * p;
    par_build(v.len(), SAMPLE_BLOCK * per_sample, |blk, out| {
        let i0 = blk * SAMPLE_BLOCK;
        let count = out.len() / per_sample.max(1);
        for ch in 0..c {
            let add = bias.map_or(0.0, |b| b[ch]);
            for q in 0..p {
                let src = &v[(ch * p + q) * n + i0..][..count];
                for (k, &s) in src.iter().enumerate() {
                    out[k * per_sample + ch * p + q] = s + add;
                }
            }
        }
    })
}

/// A tensor of logical shape `[n, c, rest...]` over values stored channel-major with the
/// sample innermost (`[c, rest..., n]`): a permuted view, no copy.
pub(crate) fn cm_tensor(v: Vec<f32>, shape: &[usize]) -> FlexTensor {
    let mut stored: Vec<usize> = shape[1..].to_vec();
    stored.push(shape[0]);
    let d = shape.len();
    let mut axes = vec![d - 1];
    axes.extend(0..d - 1);
    tensor(v, stored).permute(&axes)
}

/// The values of `t` as `[c, rest..., n]` when it is stored so (as [`cm_tensor`] makes).
pub(crate) fn cm_vals(t: &FlexTensor) -> Option<&[f32]> {
    let l = t.layout();
    let shape = l.shape();
    let d = shape.len();
    if d < 2 || l.start_offset() != 0 {
        return None;
    }
    // Expected strides: n -> 1, then [c, rest...] row-major scaled by n.
    let mut want = vec![0isize; d];
    want[0] = 1;
    let mut acc = shape[0] as isize;
    for k in (1..d).rev() {
        want[k] = acc;
        acc *= shape[k] as isize;
    }
    let len = l.num_elements();
    (l.strides() == want.as_slice()).then(|| &t.storage::<f32>()[..len])
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

/// A row-major matrix, or the transpose of one (`t`: the buffer holds `cols x rows`).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    v: &'a [f32],
    t: bool,
}

pub(crate) fn plain(v: &[f32]) -> Mat<'_> {
    Mat { v, t: false }
}

pub(crate) fn trans(v: &[f32]) -> Mat<'_> {
    Mat { v, t: true }
}

/// `a (m x k) * b (k x n)`, row-major `m x n`.
pub(crate) fn matmul(m: usize, k: usize, n: usize, a: Mat, b: Mat) -> Vec<f32> {
    if k == 0 {
        return vec![0.0; m * n];
    }
    // gemm writes every value without reading (`read_dst` false), so no zero fill first.
    let mut out = Vec::<f32>::with_capacity(m * n);
    // SAFETY: `out` has room for m*n values; gemm writes all of them and reads none
    // (`read_dst` false, k > 0), so they are set after it.
    unsafe {
        gemm_raw(m, k, n, a, b, out.as_mut_ptr(), false);
        out.set_len(m * n);
    }
    out
}

/// `out += a (m x k) * b (k x n)`, `out` row-major `m x n`.
pub(crate) fn matmul_add(out: &mut [f32], m: usize, k: usize, n: usize, a: Mat, b: Mat) {
    assert_eq!(out.len(), m * n, "output size");
    if k > 0 {
        // SAFETY: `out` holds exactly m*n initialised values.
        unsafe { gemm_raw(m, k, n, a, b, out.as_mut_ptr(), true) }
    }
}

/// The product into `dst` (row-major `m x n`), added to what it holds when `read_dst`.
///
/// # Safety
/// `dst` must be valid for writing `m * n` values (and reading them, initialised, when
/// `read_dst`); `k > 0`.
unsafe fn gemm_raw(m: usize, k: usize, n: usize, a: Mat, b: Mat, dst: *mut f32, read_dst: bool) {
    assert!(a.v.len() >= m * k && b.v.len() >= k * n, "matrix sizes");
    // (column stride, row stride) of each operand.
    let (a_cs, a_rs) = if a.t { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if b.t { (k as isize, 1) } else { (1, n as isize) };
    #[cfg(not(target_arch = "wasm32"))]
    let par = if m * n * k >= 1 << 16 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[cfg(target_arch = "wasm32")]
    let par = gemm::Parallelism::None;
    // SAFETY: the operands hold at least m*k and k*n values (checked above) and the strides
    // address exactly those row-major (or transposed) layouts; `dst` is the caller's promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            read_dst,
            a.v.as_ptr(),
            a_cs,
            a_rs,
            b.v.as_ptr(),
            b_cs,
            b_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

/// Per-channel sums of `[n, c, inner]` values (a bias gradient), in `f64` then rounded.
pub(crate) fn channel_sums(v: &[f32], n: usize, c: usize, inner: usize) -> Vec<f32> {
    let sums = per_channel(Dims { n, c, inner }, |_, at, len| lane_sums(len, |j| [v[at + j]]));
    sums.iter().map(|s| s[0] as f32).collect()
}
