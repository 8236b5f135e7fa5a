//! The Path-SGD step fused over raw `f32` buffers, used when the backend is burn's Flex
//! (the CPU backend): the gamma passes read every weight matrix twice except the largest,
//! whose forward and backward passes share one read, and the update reads weight and
//! gradient once and writes the weight in place. Built from burn ops (the generic path in
//! [`super`]) the same step needs |W|^p, two matrix-vector products, an outer product and
//! a multiply: about five extra passes over every weight instead of one.
//!
//! Work is split into fixed row blocks (rayon on native) and partial sums are added in
//! block order, so results do not depend on the thread count or on scheduling.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};

/// Rows per block of parallel work.
const BLOCK_ROWS: usize = 32;

/// `tensor` as a Flex tensor when `B` is Flex (else the tensor back).
pub fn to_flex<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Result<FlexTensor, Tensor<B, D>> {
    crate::cast::<B, Flex, D>(tensor).map(|t| t.into_primitive().tensor())
}

/// The inverse of [`to_flex`]; only called when `B` is Flex.
pub fn from_flex<B: Backend, const D: usize>(t: FlexTensor) -> Tensor<B, D> {
    crate::cast::<Flex, B, D>(Tensor::from_primitive(TensorPrimitive::Float(t))).expect("B is Flex")
}

/// A Flex tensor with contiguous `f32` storage starting at 0 (copied into that form if needed).
fn contiguous_f32(t: FlexTensor) -> Option<FlexTensor> {
    if t.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    Some(crate::flex::dense(t))
}

/// One weight matrix `[rows, cols]` (row = input unit) and its bias `[cols]`, as slices.
pub struct LayerSlices<'a> {
    pub w: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub b: Option<&'a [f32]>,
}

/// One gamma pass over `w`: forward `gamma_in_next[v] = sum_u gamma_in[u] |w_uv|^p` and/or backward
/// `gamma_out_prev[u] = sum_v |w_uv|^p gamma_out[v]`.
fn gamma_pass(
    layer: &LayerSlices,
    pw: impl Fn(f32) -> f32 + Sync + Send + Copy,
    gamma_in: Option<&[f32]>,
    gamma_out: Option<&[f32]>,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (rows, cols) = (layer.rows, layer.cols);
    let n_blocks = rows.div_ceil(BLOCK_ROWS);
    let parts = crate::par_map(n_blocks, |blk| {
        let r0 = blk * BLOCK_ROWS;
        let r1 = (r0 + BLOCK_ROWS).min(rows);
        let mut acc = gamma_in.map(|_| vec![0.0f32; cols]);
        let mut dots = Vec::with_capacity(if gamma_out.is_some() { r1 - r0 } else { 0 });
        for r in r0..r1 {
            let row = &layer.w[r * cols..(r + 1) * cols];
            match (gamma_in, gamma_out, acc.as_mut()) {
                (Some(gamma_in), Some(gamma_out), Some(acc)) => {
                    let gi = gamma_in[r];
                    let mut lanes = [0.0f32; 8];
                    let (wc, gc, ac) = (row.chunks_exact(8), gamma_out.chunks_exact(8), acc.chunks_exact_mut(8));
                    let (wr, gr) = (wc.remainder(), gc.remainder());
                    for ((w8, g8), a8) in wc.zip(gc).zip(ac) {
                        for k in 0..8 {
                            let s = pw(w8[k]);
                            a8[k] += gi * s;
                            lanes[k] += s * g8[k];
                        }
                    }
                    let tail = cols - wr.len();
                    let mut dot = lanes.iter().sum::<f32>();
                    for (k, (&w, &g)) in wr.iter().zip(gr).enumerate() {
                        let s = pw(w);
                        acc[tail + k] += gi * s;
                        dot += s * g;
                    }
                    dots.push(dot);
                }
                (Some(gamma_in), None, Some(acc)) => {
                    let gi = gamma_in[r];
                    for (a, &w) in acc.iter_mut().zip(row) {
                        *a += gi * pw(w);
                    }
                }
                (None, Some(gamma_out), _) => {
                    let mut lanes = [0.0f32; 8];
                    let (wc, gc) = (row.chunks_exact(8), gamma_out.chunks_exact(8));
                    let (wr, gr) = (wc.remainder(), gc.remainder());
                    for (w8, g8) in wc.zip(gc) {
                        for k in 0..8 {
                            lanes[k] += pw(w8[k]) * g8[k];
                        }
                    }
                    let mut dot = lanes.iter().sum::<f32>();
                    for (&w, &g) in wr.iter().zip(gr) {
                        dot += pw(w) * g;
                    }
                    dots.push(dot);
                }
                _ => {}
            }
        }
        (acc, dots)
    });
    let fwd = gamma_in.map(|_| {
        let mut out = match layer.b {
            Some(b) => b.iter().map(|&x| pw(x)).collect(),
            None => vec![0.0f32; cols],
        };
        for (acc, _) in &parts {
            for (o, a) in out.iter_mut().zip(acc.as_ref().expect("forward gamma pass")) {
                *o += a;
            }
        }
        out
    });
    let bwd = gamma_out.map(|_| parts.iter().flat_map(|(_, d)| d.iter().copied()).collect());
    (fwd, bwd)
}

/// Each layer's `gamma_in` and `gamma_out`.
pub type Gammas = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// `gamma_in` of each layer's inputs (`gamma_in[l]`, and `gamma_in[L]` for the outputs) and
/// `gamma_out` of each layer's outputs (`gamma_out[l]`), as in [`super::path_gammas`].
pub fn gammas(layers: &[LayerSlices], p: f64) -> Gammas {
    if p == 2.0 {
        gammas_with(layers, |x| x * x)
    } else if p == 1.0 {
        gammas_with(layers, f32::abs)
    } else {
        let pf = p as f32;
        gammas_with(layers, move |x: f32| x.abs().powf(pf))
    }
}

fn gammas_with(layers: &[LayerSlices], pw: impl Fn(f32) -> f32 + Sync + Send + Copy) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let n = layers.len();
    let mut gamma_in: Vec<Option<Vec<f32>>> = vec![None; n + 1];
    let mut gamma_out: Vec<Option<Vec<f32>>> = vec![None; n];
    gamma_in[0] = Some(vec![1.0; layers[0].rows]);
    gamma_out[n - 1] = Some(vec![1.0; layers[n - 1].cols]);
    // The largest layer is read once for both directions; the others once per direction.
    let k = (0..n).max_by_key(|&l| layers[l].rows * layers[l].cols).expect("layers");
    for l in 0..k {
        gamma_in[l + 1] = gamma_pass(&layers[l], pw, gamma_in[l].as_deref(), None).0;
    }
    for l in (k + 1..n).rev() {
        gamma_out[l - 1] = gamma_pass(&layers[l], pw, None, gamma_out[l].as_deref()).1;
    }
    let (fwd, bwd) = gamma_pass(
        &layers[k],
        pw,
        gamma_in[k].as_deref(),
        (k > 0).then(|| gamma_out[k].as_deref()).flatten(),
    );
    gamma_in[k + 1] = fwd;
    if k > 0 {
        gamma_out[k - 1] = bwd;
    }
    for l in k + 1..n {
        gamma_in[l + 1] = gamma_pass(&layers[l], pw, gamma_in[l].as_deref(), None).0;
    }
    for l in (1..k).rev() {
        gamma_out[l - 1] = gamma_pass(&layers[l], pw, None, gamma_out[l].as_deref()).1;
    }
    let done = |v: Vec<Option<Vec<f32>>>| v.into_iter().map(|g| g.expect("every gamma computed")).collect();
    (done(gamma_in), done(gamma_out))
}

/// The gammas of a chain of Flex tensors, or `None` when a tensor is not contiguous `f32`.
pub fn flex_gammas<B: Backend>(layers: &[super::LayerWeights<B>], p: f64) -> Option<Gammas> {
    let mut held = Vec::with_capacity(layers.len());
    for layer in layers {
        let [rows, cols] = layer.w.dims();
        let w = contiguous_f32(to_flex(layer.w.clone()).ok()?)?;
        let b = match &layer.b {
            Some(b) => Some(contiguous_f32(to_flex(b.clone()).ok()?)?),
            None => None,
        };
        held.push((w, b, rows, cols));
    }
    let slices: Vec<LayerSlices> = held
        .iter()
        .map(|(w, b, rows, cols)| LayerSlices {
            w: &w.storage::<f32>()[..rows * cols],
            rows: *rows,
            cols: *cols,
            b: b.as_ref().map(|b| &b.storage::<f32>()[..*cols]),
        })
        .collect();
    Some(gammas(&slices, p))
}

/// `w[u][v] -= col[u] * g[u][v] * row[v]` in place (`row.len()` columns), for weights held
/// by the Flex backend; `None` (nothing done) when `B` is not Flex.
pub fn update<B: Backend, const D: usize>(
    w: Tensor<B, D>,
    g: Tensor<B, D>,
    col: &[f32],
    row: &[f32],
) -> Result<Tensor<B, D>, (Tensor<B, D>, Tensor<B, D>)> {
    let (w, g) = match (to_flex(w), to_flex(g)) {
        (Ok(w), Ok(g)) => (w, g),
        (w, g) => {
            // Not Flex: both come back unchanged.
            return Err((w.expect_err("not Flex"), g.expect_err("not Flex")));
        }
    };
    if w.dtype() != burn::tensor::DType::F32 || g.dtype() != burn::tensor::DType::F32 {
        // Other float types take the burn-ops path.
        return Err((from_flex(w), from_flex(g)));
    }
    let (Some(mut w), Some(g)) = (contiguous_f32(w), contiguous_f32(g)) else {
        unreachable!("both are f32")
    };
    let cols = row.len();
    let n = w.layout().num_elements();
    assert_eq!(n, col.len() * cols, "Path-SGD scales do not fit the parameter");
    let gs = &g.storage::<f32>()[..n];
    let ws = &mut w.storage_mut::<f32>()[..n];
    update_slices(ws, gs, col, row);
    Ok(from_flex(w))
}

/// The fused update on slices: `w[u * cols + v] -= col[u] * g[u * cols + v] * row[v]`.
pub fn update_slices(w: &mut [f32], g: &[f32], col: &[f32], row: &[f32]) {
    let cols = row.len();
    let apply = |(blk, (wb, gb)): (usize, (&mut [f32], &[f32]))| {
        for (r, (wr, gr)) in wb.chunks_exact_mut(cols).zip(gb.chunks_exact(cols)).enumerate() {
            let s = col[blk * BLOCK_ROWS + r];
            for ((w, &g), &c) in wr.iter_mut().zip(gr).zip(row) {
                *w -= s * g * c;
            }
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        w.par_chunks_mut(BLOCK_ROWS * cols)
            .zip(g.par_chunks(BLOCK_ROWS * cols))
            .enumerate()
            .for_each(apply);
    }
    #[cfg(target_arch = "wasm32")]
    w.chunks_mut(BLOCK_ROWS * cols)
        .zip(g.chunks(BLOCK_ROWS * cols))
        .enumerate()
        .for_each(apply);
}
