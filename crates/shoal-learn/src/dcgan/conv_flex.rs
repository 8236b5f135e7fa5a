//! The DCGAN's convolutions and transposed convolutions on burn's Flex backend, as autodiff
//! ops built on whole-batch matrix products (in eval mode the same ops on untracked inputs:
//! forward only, nothing kept).
//!
//! Flex computes a convolution sample by sample (one small product per image, or per tile of
//! output pixels), a transposed convolution sample by sample with a single-threaded scatter,
//! and their weight gradients as convolutions over transposed copies of the activations. Here
//! each pass is one im2col / col2im over the whole batch and one large product (`gemm`, the
//! crate Flex itself uses), with the patch matrix kept from the forward pass for the weight
//! gradient.
//!
//! Both ops share one geometry: a "big" image `[n, c, h, w]` and a grid of `oh x ow` patch
//! positions, position `(oy, ox)` and kernel offset `(ky, kx)` meeting the big image at
//! `(oy * stride + ky - pad, ox * stride + kx - pad)`. A convolution reads its input (big)
//! at the patches of its output (grid); a transposed convolution writes its output (big)
//! from the patches of its input (grid). Only square kernels, equal strides and paddings,
//! dilation 1 and one group are handled; [`supported`] says when.
//!
//! Inside the ops activations are "channel-major, sample innermost": `[c, h, w, n]`. Then a
//! patch-matrix row holds, for each position, the whole batch's values side by side, so
//! im2col and col2im move runs of `n` values (a vector copy or add) instead of a few
//! strided pixels; converting from and to burn's `[n, c, h, w]` costs one pass over the
//! image, a fraction of a pass over the patch matrix.

use super::act::Act;
use crate::flex::{
    AdTensor, CHUNK, channel_sums, cm_tensor, cm_vals, dense, finish, from_cm, matmul, matmul_add, par_build,
    par_update, plain, tensor, to_cm, tracked, trans, vals,
};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

/// The big image and the patch grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    /// Channels of the big image.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Patch-matrix rows: `(channel, ky, kx)`.
    fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Patch-matrix columns: `(oy, ox, sample)`.
    fn cols(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// The grid positions `o` whose `o * stride + off - pad` lies in `0..size`, as the range
    /// `(first o, end o)` (empty when there are none).
    fn span(&self, off: usize, grid: usize, size: usize) -> (usize, usize) {
        let s = self.stride;
        // smallest o with o*s + off >= pad
        let lo = self.pad.saturating_sub(off).div_ceil(s);
        // smallest o with o*s + off >= size + pad
        let hi = (size + self.pad).saturating_sub(off).div_ceil(s);
        (lo.min(grid), hi.min(grid).max(lo.min(grid)))
    }
}

/// Whether [`conv2d`] / [`conv_transpose2d`] handle these settings.
pub fn supported(kernel: [usize; 2], stride: [usize; 2], pad: [usize; 2], dilation: [usize; 2], groups: usize) -> bool {
    kernel[0] == kernel[1]
        && stride[0] == stride[1]
        && stride[0] > 0
        && pad[0] == pad[1]
        && dilation == [1, 1]
        && groups == 1
}

/// `col[(c, ky, kx), (oy, ox, i)] = big[c, oy*s + ky - p, ox*s + kx - p, i]` (0 outside), for
/// `big` in `[c, h, w, n]`.
pub fn im2col(g: &Geometry, big: &[f32]) -> Vec<f32> {
    let (cols, n, plane) = (g.cols(), g.n, g.h * g.w * g.n);
    par_build(g.rows() * cols, cols, |row, out| {
        let (c, ky, kx) = (row / (g.k * g.k), row / g.k % g.k, row % g.k);
        let (y0, y1) = g.span(ky, g.oh, g.h);
        let (x0, x1) = g.span(kx, g.ow, g.w);
        if x0 == x1 {
            return;
        }
        let src = &big[c * plane..][..plane];
        for oy in y0..y1 {
            let y = oy * g.stride + ky - g.pad;
            for ox in x0..x1 {
                let x = ox * g.stride + kx - g.pad;
                out[(oy * g.ow + ox) * n..][..n].copy_from_slice(&src[(y * g.w + x) * n..][..n]);
            }
        }
    })
}

/// The adjoint of [`im2col`]: every patch value added back into its big-image pixel, onto
/// `init[channel]` (0 without); the big image in `[c, h, w, n]`.
pub fn col2im(g: &Geometry, col: &[f32], init: Option<&[f32]>) -> Vec<f32> {
    let (cols, n, row) = (g.cols(), g.n, g.w * g.n);
    // One task per (channel, image row): each writes only its own row.
    par_build(g.c * g.h * row, row, |cy, out| {
        let (c, y) = (cy / g.h, cy % g.h);
        if let Some(init) = init {
            out.fill(init[c]);
        }
        for ky in 0..g.k {
            // The grid row that meets image row y at kernel row ky, if any.
            let Some(oy) = (y + g.pad)
                .checked_sub(ky)
                .filter(|t| t % g.stride == 0)
                .map(|t| t / g.stride)
            else {
                continue;
            };
            if oy >= g.oh {
                continue;
            }
            for kx in 0..g.k {
                let (x0, x1) = g.span(kx, g.ow, g.w);
                let src = &col[((c * g.k + ky) * g.k + kx) * cols..][..cols];
                for ox in x0..x1 {
                    let x = ox * g.stride + kx - g.pad;
                    let (d, s) = (&mut out[x * n..][..n], &src[(oy * g.ow + ox) * n..][..n]);
                    d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
                }
            }
        }
    })
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// An activation `[n, c, p...]` as `[c, p..., n]` values: its own buffer when it is stored so
/// (made by these ops or batch norm with `cm_out`), else a transposed copy.
#[derive(Clone, Debug)]
enum Cm {
    View(FlexTensor),
    Copy(Vec<f32>),
}

impl Cm {
    fn of(t: FlexTensor) -> Cm {
        if cm_vals(&t).is_some() {
            return Cm::View(t);
        }
        let s = t.layout().shape();
        let (n, c) = (s[0], s[1]);
        let p = s.num_elements() / (n * c).max(1);
        let t = dense(t);
        Cm::Copy(to_cm(vals(&t), n, c, p))
    }

    fn vals(&self) -> &[f32] {
        match self {
            Cm::View(t) => cm_vals(t).expect("checked when made"),
            Cm::Copy(v) => v,
        }
    }

    /// Whether the activation came stored channel-major.
    fn was_cm(&self) -> bool {
        matches!(self, Cm::View(_))
    }
}

/// `[c, p..., n]` values as a tensor of logical shape `shape` (`[n, c, p...]`): stored so
/// when `cm`, else transposed into burn's layout.
fn activation(v: Vec<f32>, shape: [usize; 4], cm: bool) -> FlexTensor {
    if cm {
        cm_tensor(v, &shape)
    } else {
        tensor(
            from_cm(&v, shape[0], shape[1], shape[2] * shape[3], None),
            shape.to_vec(),
        )
    }
}

/// Per-channel sums of a `[n, c, p...]` gradient (the bias gradient), in either layout.
fn bias_grad(dy: &Cm, n: usize, c: usize, p: usize) -> FlexTensor {
    // Channel-major: one row of n * p values per channel.
    tensor(channel_sums(dy.vals(), 1, c, n * p), vec![c])
}

/// What a backward pass keeps: the patch matrix (conv) or the channel-major input
/// (transposed conv) for the weight gradient, the weight for the input gradient.
#[derive(Clone, Debug)]
struct State {
    g: Geometry,
    /// Conv: output channels; transposed conv: input channels (the grid side's channels).
    grid_c: usize,
    saved: Option<Cm>,
    weight: Option<FlexTensor>,
    w_shape: Vec<usize>,
    /// The input came channel-major: its gradient is made so too.
    x_cm: bool,
    /// The activation applied to the output, and the output (for its derivative) when it
    /// is not the identity.
    act: Act,
    out: Option<FlexTensor>,
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let (g, co) = (s.g, s.grid_c);
        let dy = Cm::of(grads.consume::<Flex>(&ops.node));
        // Through the activation: dy times its derivative, read off the output (which has
        // the sign of the activation's input).
        let dy = match (&s.out, s.act) {
            (Some(y), act) if act != Act::Identity => {
                let y = Cm::of(y.clone());
                let (dv, yv) = (dy.vals(), y.vals());
                Cm::Copy(par_build(dv.len(), CHUNK, |k, out| {
                    let at = k * CHUNK;
                    for ((o, &d), &y) in out.iter_mut().zip(&dv[at..]).zip(&yv[at..]) {
                        *o = d * act.slope(y);
                    }
                }))
            }
            _ => dy,
        };
        if let Some(node) = node_w {
            let col = s.saved.as_ref().expect("patches kept for the weight gradient");
            let dw = matmul(co, g.cols(), g.rows(), plain(dy.vals()), trans(col.vals()));
            grads.register::<Flex>(node.id, tensor(dw, s.w_shape.clone()));
        }
        if let Some(node) = node_x {
            let w = vals(s.weight.as_ref().expect("weight kept for the input gradient"));
            let dcol = matmul(g.rows(), co, g.cols(), trans(w), plain(dy.vals()));
            let dx = col2im(&g, &dcol, None);
            grads.register::<Flex>(node.id, activation(dx, [g.n, g.c, g.h, g.w], s.x_cm));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, bias_grad(&dy, g.n, co, g.oh * g.ow));
        }
    }
}

#[derive(Debug)]
struct ConvTransposeBackward;

impl Backward<Flex, 3> for ConvTransposeBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let (g, ci) = (s.g, s.grid_c);
        let dy = Cm::of(grads.consume::<Flex>(&ops.node));
        let dcol = im2col(&g, dy.vals());
        if let Some(node) = node_x {
            let w = vals(s.weight.as_ref().expect("weight kept for the input gradient"));
            let dx = matmul(ci, g.rows(), g.cols(), plain(w), plain(&dcol));
            grads.register::<Flex>(node.id, activation(dx, [g.n, ci, g.oh, g.ow], s.x_cm));
        }
        if let Some(node) = node_w {
            let x_cp = s.saved.as_ref().expect("input kept for the weight gradient");
            let dw = matmul(ci, g.cols(), g.rows(), plain(x_cp.vals()), trans(&dcol));
            grads.register::<Flex>(node.id, tensor(dw, s.w_shape.clone()));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, bias_grad(&dy, g.n, g.c, g.h * g.w));
        }
    }
}

/// `[rows, cols]` values starting at `bias[row]`.
fn rows_of(bias: &[f32], cols: usize) -> Vec<f32> {
    par_build(bias.len() * cols, cols, |r, out| out.fill(bias[r]))
}

/// `act(conv2d(x [n, ci, h, w], weight [co, ci, k, k], bias [co]))` with the given stride and
/// padding (see [`supported`]). The output is stored channel-major when `cm_out` (for a next
/// op that takes it so: these ops and batch norm), else in burn's layout.
pub fn conv2d(
    x: AdTensor,
    weight: AdTensor,
    bias: AdTensor,
    stride: usize,
    pad: usize,
    act: Act,
    cm_out: bool,
) -> AdTensor {
    let [n, ci, h, w] = dims4(&x.primitive);
    let [co, _, k, _] = dims4(&weight.primitive);
    let g = Geometry {
        n,
        c: ci,
        h,
        w,
        k,
        stride,
        pad,
        oh: (h + 2 * pad - k) / stride + 1,
        ow: (w + 2 * pad - k) / stride + 1,
    };
    let (wt, bt) = (dense(weight.primitive.clone()), dense(bias.primitive.clone()));
    let x_in = Cm::of(x.primitive.clone());
    let col = im2col(&g, x_in.vals());
    let mut y = rows_of(vals(&bt), g.cols());
    matmul_add(&mut y, co, g.rows(), g.cols(), plain(vals(&wt)), plain(&col));
    if act != Act::Identity {
        par_update(&mut y, CHUNK, |_, piece| {
            piece.iter_mut().for_each(|v| *v = act.apply(*v))
        });
    }
    let y = activation(y, [n, co, g.oh, g.ow], cm_out);
    let (need_w, need_x) = (tracked(&weight), tracked(&x));
    let x_cm = x_in.was_cm();
    let out = (act != Act::Identity).then(|| y.clone());
    let state = move || State {
        g,
        grid_c: co,
        saved: need_w.then_some(Cm::Copy(col)),
        weight: need_x.then_some(wt),
        w_shape: vec![co, ci, k, k],
        x_cm,
        act,
        out,
    };
    finish(ConvBackward, [&x, &weight, &bias], state, y)
}

/// `conv_transpose2d(x [n, ci, h, w], weight [ci, co, k, k], bias [co])` with the given
/// stride and padding, no output padding (see [`supported`]); the output layout as in
/// [`conv2d`].
pub fn conv_transpose2d(
    x: AdTensor,
    weight: AdTensor,
    bias: AdTensor,
    stride: usize,
    pad: usize,
    cm_out: bool,
) -> AdTensor {
    let [n, ci, h, w] = dims4(&x.primitive);
    let [_, co, k, _] = dims4(&weight.primitive);
    let g = Geometry {
        n,
        c: co,
        h: (h - 1) * stride + k - 2 * pad,
        w: (w - 1) * stride + k - 2 * pad,
        k,
        stride,
        pad,
        oh: h,
        ow: w,
    };
    let (wt, bt) = (dense(weight.primitive.clone()), dense(bias.primitive.clone()));
    let x_cp = Cm::of(x.primitive.clone());
    let col = matmul(g.rows(), ci, g.cols(), trans(vals(&wt)), plain(x_cp.vals()));
    let y = activation(col2im(&g, &col, Some(vals(&bt))), [n, co, g.h, g.w], cm_out);
    let (need_w, need_x) = (tracked(&weight), tracked(&x));
    let x_cm = x_cp.was_cm();
    let state = move || State {
        g,
        grid_c: ci,
        saved: need_w.then_some(x_cp),
        weight: need_x.then_some(wt),
        w_shape: vec![ci, co, k, k],
        x_cm,
        act: Act::Identity,
        out: None,
    };
    finish(ConvTransposeBackward, [&x, &weight, &bias], state, y)
}
