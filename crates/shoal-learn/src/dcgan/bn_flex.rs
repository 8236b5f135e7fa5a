//! Training-mode batch norm as one autodiff op on burn's Flex backend: the statistics, the
//! normalisation and the whole backward pass are loops over the raw `f32` buffers, spread
//! over threads (rayon on native). Built from burn ops the same layer costs a broadcast
//! subtract, multiply and add forward, and their gradients' reductions backward, each a
//! single-threaded strided pass over the activation (about a sixth of a DCGAN iteration).
//!
//! Inputs are `[n, c, inner...]` (channel axis 1), in burn's layout or stored channel-major
//! with the sample innermost as the DCGAN's convolutions make them (then each channel is
//! one contiguous run, and the output can stay so for the next convolution). Statistics
//! are summed in `f64`. The
//! activation that follows the normalisation in the model (ReLU or leaky ReLU) is part of
//! the op: one pass less over the activation each way, and no mask kept. Eval mode (the
//! running statistics) is one plain pass too ([`batch_norm_eval`]).

use super::act::Act;
use crate::flex::{
    AdTensor, Dims, cm_tensor, cm_vals, dense, finish, from_cm, lane_sums, par_build, per_channel, tensor, to_cm, vals,
};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

/// A new buffer filled row by row: `f(channel, start, out)` writes the `inner` values of one
/// sample's channel, which start at value index `start`; one sample per task (one channel
/// when there is one "sample": the channel-major layout).
fn map_rows(d: Dims, f: impl Fn(usize, usize, &mut [f32]) + Sync + Send) -> Vec<f32> {
    let row = d.c * d.inner;
    if d.n == 1 {
        return par_build(row, d.inner, |c, out| f(c, c * d.inner, out));
    }
    par_build(d.n * row, row, |i, r| {
        for (c, o) in r.chunks_exact_mut(d.inner).enumerate() {
            f(c, i * row + c * d.inner, o);
        }
    })
}

/// How the loops see an activation of logical shape `shape`: `[n, c, inner]` in burn's
/// layout, `[1, c, n * inner]` channel-major.
fn loop_dims(shape: &[usize], cm: bool) -> Dims {
    let (n, c, inner) = (shape[0], shape[1], shape[2..].iter().product::<usize>());
    if cm {
        Dims {
            n: 1,
            c,
            inner: n * inner,
        }
    } else {
        Dims { n, c, inner }
    }
}

/// One channel's constants: the mean, 1/std, gamma/std and beta.
#[derive(Clone, Copy)]
struct Chan {
    mean: f32,
    inv_std: f32,
    scale: f32,
    beta: f32,
}

impl Chan {
    fn all(mean: &[f32], inv_std: &[f32], gamma: &[f32], beta: &[f32]) -> Vec<Chan> {
        (0..mean.len())
            .map(|c| Chan {
                mean: mean[c],
                inv_std: inv_std[c],
                scale: inv_std[c] * gamma[c],
                beta: beta[c],
            })
            .collect()
    }

    /// The normalised value before the activation.
    #[inline(always)]
    fn pre(self, x: f32) -> f32 {
        (x - self.mean) * self.scale + self.beta
    }

    #[inline(always)]
    fn x_hat(self, x: f32) -> f32 {
        (x - self.mean) * self.inv_std
    }
}

/// The gradients of beta and gamma and (when `want_dx`) of the input, for an activation
/// whose derivative at a pre-activation value is `slope`.
fn grads_with(
    s: &State,
    x: &[f32],
    g: &[f32],
    want_dx: bool,
    slope: impl Fn(f32) -> f32 + Copy + Sync + Send,
) -> (Vec<f64>, Vec<f64>, Option<Vec<f32>>) {
    let d = s.dims;
    let chans = Chan::all(&s.mean, &s.inv_std, &s.gamma, &s.beta);
    // The gradient before the activation, and x_hat.
    let g_pre = move |ch: Chan, x: f32, g: f32| (g * slope(ch.pre(x)), ch.x_hat(x));
    // [sum g_pre, sum g_pre * x_hat] per channel.
    let sums = per_channel(d, |c, at, len| {
        let (ch, xs, gs) = (chans[c], &x[at..at + len], &g[at..at + len]);
        lane_sums(len, |j| {
            let (gp, h) = g_pre(ch, xs[j], gs[j]);
            [gp, gp * h]
        })
    });
    let d_beta: Vec<f64> = sums.iter().map(|v| v[0]).collect();
    let d_gamma: Vec<f64> = sums.iter().map(|v| v[1]).collect();
    let dx = want_dx.then(|| {
        // dx = gamma / std / m * (m g - sum g - x_hat sum(g x_hat))
        let m = d.count() as f32;
        map_rows(d, |c, at, out| {
            let ch = chans[c];
            let (k, sb, sg) = (ch.scale / m, d_beta[c] as f32, d_gamma[c] as f32);
            let (xs, gs) = (&x[at..at + out.len()], &g[at..at + out.len()]);
            for ((o, &xv), &gv) in out.iter_mut().zip(xs).zip(gs) {
                let (gp, h) = g_pre(ch, xv, gv);
                *o = k * (m * gp - sb - h * sg);
            }
        })
    });
    (d_beta, d_gamma, dx)
}

/// What the backward pass needs: the input, the per-channel mean and 1/std, gamma.
#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    act: Act,
    dims: Dims,
    shape: Vec<usize>,
    /// `x` is stored channel-major (`dims` are its loop dims); its gradient is made so too.
    cm: bool,
    /// `x` itself came channel-major (else it came in burn's layout, and so goes its gradient).
    x_cm: bool,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let s = ops.state;
        let d = s.dims;
        let g = grads.consume::<Flex>(&ops.node);
        // The gradient in x's layout.
        let g = match (s.cm, cm_vals(&g).is_some()) {
            (true, true) => g,
            (true, false) => {
                let (n, c) = (s.shape[0], s.shape[1]);
                let g = dense(g);
                cm_tensor(to_cm(vals(&g), n, c, d.inner / n), &s.shape)
            }
            (false, _) => dense(g),
        };
        let (g, x) = (layout_vals(&g, s.cm), layout_vals(&s.x, s.cm));
        // One instantiation per activation (its derivative as in `Act::slope`), so the
        // loops carry no match.
        let (d_beta, d_gamma, dx) = match s.act {
            Act::Identity => grads_with(&s, x, g, node_x.is_some(), |_| 1.0),
            Act::Relu => grads_with(&s, x, g, node_x.is_some(), |p| if p > 0.0 { 1.0 } else { 0.0 }),
            Act::Leaky(k) => grads_with(&s, x, g, node_x.is_some(), move |p| if p < 0.0 { k } else { 1.0 }),
        };
        if let (Some(node), Some(dx)) = (node_x, dx) {
            let (n, c) = (s.shape[0], s.shape[1]);
            let dx = match (s.x_cm, s.cm) {
                (true, _) => cm_tensor(dx, &s.shape),
                (false, true) => tensor(from_cm(&dx, n, c, d.inner / n, None), s.shape.clone()),
                (false, false) => tensor(dx, s.shape.clone()),
            };
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(d_gamma.iter().map(|&v| v as f32).collect(), vec![d.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(d_beta.iter().map(|&v| v as f32).collect(), vec![d.c]));
        }
    }
}

/// The values of a tensor in burn's layout ([`dense`]) or channel-major (`cm`).
fn layout_vals(t: &FlexTensor, cm: bool) -> &[f32] {
    if cm {
        cm_vals(t).expect("stored channel-major")
    } else {
        vals(t)
    }
}

/// `act(pre)` for every value.
fn normalise(d: Dims, x: &[f32], chans: &[Chan], act: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    map_rows(d, |c, at, out| {
        let ch = chans[c];
        let len = out.len();
        for (o, &v) in out.iter_mut().zip(&x[at..at + len]) {
            *o = act(ch.pre(v));
        }
    })
}

/// `act(pre)` for every value, with one instantiation per activation (as in `Act::apply`):
/// no match inside the loop.
fn normalise_act(d: Dims, x: &[f32], chans: &[Chan], act: Act) -> Vec<f32> {
    match act {
        Act::Identity => normalise(d, x, chans, |p| p),
        Act::Relu => normalise(d, x, chans, |p| p.max(0.0)),
        Act::Leaky(k) => normalise(d, x, chans, move |p| if p < 0.0 { p * k } else { p }),
    }
}

/// Eval-mode batch norm (the running `mean` and `var`, as burn's `BatchNorm` computes it in
/// `valid()` mode, up to rounding) then `act`, on a plain CPU tensor: one pass with one scale
/// and shift per channel, where burn's makes four broadcast passes, each a strided
/// iteration (about a quarter of the generator's time when it draws samples for the poster
/// and the live score).
/// Layouts as in [`batch_norm_train`].
pub fn batch_norm_eval(
    x: FlexTensor,
    [mean, var, gamma, beta]: [&[f32]; 4],
    epsilon: f64,
    act: Act,
    cm_out: bool,
) -> FlexTensor {
    let shape: Vec<usize> = x.layout().shape().iter().copied().collect();
    let cm = cm_vals(&x).is_some();
    let x = if cm { x } else { dense(x) };
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let chans = Chan::all(mean, &inv_std, gamma, beta);
    let y = normalise_act(loop_dims(&shape, cm), layout_vals(&x, cm), &chans, act);
    stored(y, &shape, cm, cm_out)
}

/// Output values `y` computed in the input's layout (channel-major when `cm`) as a tensor of
/// `shape`: channel-major when `cm_out` too, else in burn's layout.
fn stored(y: Vec<f32>, shape: &[usize], cm: bool, cm_out: bool) -> FlexTensor {
    match (cm, cm_out) {
        (true, true) => cm_tensor(y, shape),
        (true, false) => {
            let inner = shape[2..].iter().product::<usize>();
            tensor(from_cm(&y, shape[0], shape[1], inner, None), shape.to_vec())
        }
        (false, _) => tensor(y, shape.to_vec()),
    }
}

/// Batch norm over the batch and every axis after the channel axis (1), with the batch's
/// biased variance, then `act`. Returns the output and the per-channel mean and biased
/// variance. A channel-major input gives a channel-major output when `cm_out`, else the
/// output is in burn's layout.
pub fn batch_norm_train(
    x: AdTensor,
    gamma: AdTensor,
    beta: AdTensor,
    epsilon: f64,
    act: Act,
    cm_out: bool,
) -> (AdTensor, Vec<f32>, Vec<f32>) {
    let shape: Vec<usize> = x.primitive.layout().shape().iter().copied().collect();
    let x_cm = cm_vals(&x.primitive).is_some();
    // `[n, c]` activations (one value per sample and channel) are computed channel-major too:
    // one run of n values per channel for the SIMD loops, for a transposed copy in and out.
    let cm = x_cm || shape[2..].iter().product::<usize>() == 1;
    let dims = loop_dims(&shape, cm);
    let xs = if x_cm {
        x.primitive.clone()
    } else if cm {
        let d = dense(x.primitive.clone());
        cm_tensor(to_cm(vals(&d), shape[0], shape[1], 1), &shape)
    } else {
        dense(x.primitive.clone())
    };
    let xv = if cm { cm_vals(&xs).expect("checked") } else { vals(&xs) };
    let gamma_v = vals(&dense(gamma.primitive.clone())).to_vec();
    let beta_v = vals(&dense(beta.primitive.clone())).to_vec();
    let (mean, var) = {
        let m = dims.count() as f64;
        let mean: Vec<f64> = per_channel(dims, |_, at, len| lane_sums(len, |j| [xv[at + j]]))
            .iter()
            .map(|s| s[0] / m)
            .collect();
        let var: Vec<f64> = per_channel(dims, |c, at, len| {
            let mc = mean[c] as f32;
            lane_sums(len, |j| [(xv[at + j] - mc) * (xv[at + j] - mc)])
        })
        .iter()
        .map(|s| s[0] / m)
        .collect();
        (mean, var)
    };
    let mean_f: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    let var_f: Vec<f32> = var.iter().map(|&v| v as f32).collect();
    let inv_std: Vec<f32> = var.iter().map(|&v| (1.0 / (v + epsilon).sqrt()) as f32).collect();
    let chans = Chan::all(&mean_f, &inv_std, &gamma_v, &beta_v);
    let y = normalise_act(dims, xv, &chans, act);
    let y = stored(y, &shape, cm, cm_out);
    let state = || State {
        x: xs,
        mean: mean_f.clone(),
        inv_std,
        gamma: gamma_v,
        beta: beta_v,
        act,
        dims,
        shape,
        cm,
        x_cm,
    };
    let out = finish(BatchNormBackward, [&x, &gamma, &beta], state, y);
    (out, mean_f, var_f)
}
