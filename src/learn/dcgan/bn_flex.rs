//! Training-mode batch norm as one autodiff op on burn's Flex backend: the statistics, the
//! normalisation and the whole backward pass are loops over the raw `f32` buffers, spread
//! over threads (rayon on native). Built from burn ops the same layer costs a broadcast
//! subtract, multiply and add forward, and their gradients' reductions backward, each a
//! single-threaded strided pass over the activation (about a sixth of a DCGAN iteration).
//!
//! Inputs are `[n, c, inner...]` (channel axis 1). Statistics are summed in `f64`.

use crate::learn::flex::{AdTensor, Dims, dense, finish, par_chunks, per_channel, tensor, vals};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

/// `f(channel, value index)` for every value, written to a new buffer, one sample per task.
fn map_values(d: Dims, f: impl Fn(usize, usize) -> f32 + Sync + Send) -> Vec<f32> {
    let row = d.c * d.inner;
    let mut out = vec![0.0f32; d.n * row];
    par_chunks(&mut out, row, |i, r| {
        for c in 0..d.c {
            for j in 0..d.inner {
                let at = c * d.inner + j;
                r[at] = f(c, i * row + at);
            }
        }
    });
    out
}

/// What the backward pass needs: the input, the per-channel mean and 1/std, gamma.
#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    dims: Dims,
    shape: Vec<usize>,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let s = ops.state;
        let d = s.dims;
        let g = dense(grads.consume::<Flex>(&ops.node));
        let (g, x) = (vals(&g), vals(&s.x));
        let x_hat = |c: usize, j: usize| (x[j] - s.mean[c]) * s.inv_std[c];
        let d_beta = per_channel(d, |_, j| g[j] as f64);
        let d_gamma = per_channel(d, |c, j| (g[j] * x_hat(c, j)) as f64);
        if let Some(node) = node_x {
            // dx = gamma / std / m * (m g - sum g - x_hat sum(g x_hat))
            let m = d.count() as f32;
            let dx = map_values(d, |c, j| {
                s.gamma[c] * s.inv_std[c] / m * (m * g[j] - d_beta[c] as f32 - x_hat(c, j) * d_gamma[c] as f32)
            });
            grads.register::<Flex>(node.id, tensor(dx, s.shape.clone()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(d_gamma.iter().map(|&v| v as f32).collect(), vec![d.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(d_beta.iter().map(|&v| v as f32).collect(), vec![d.c]));
        }
    }
}

/// Batch norm over the batch and every axis after the channel axis (1), with the batch's
/// biased variance. Returns the output and the per-channel mean and biased variance.
pub fn batch_norm_train(x: AdTensor, gamma: AdTensor, beta: AdTensor, epsilon: f64) -> (AdTensor, Vec<f32>, Vec<f32>) {
    let shape: Vec<usize> = x.primitive.layout().shape().iter().copied().collect();
    let dims = Dims {
        n: shape[0],
        c: shape[1],
        inner: shape[2..].iter().product(),
    };
    let xs = dense(x.primitive.clone());
    let gamma_v = vals(&dense(gamma.primitive.clone())).to_vec();
    let beta_v = vals(&dense(beta.primitive.clone())).to_vec();
    let (mean, var) = {
        let xv = vals(&xs);
        let m = dims.count() as f64;
        let mean: Vec<f64> = per_channel(dims, |_, j| xv[j] as f64).iter().map(|s| s / m).collect();
        let var: Vec<f64> = per_channel(dims, |c, j| (xv[j] as f64 - mean[c]).powi(2))
            .iter()
            .map(|s| s / m)
            .collect();
        (mean, var)
    };
    let mean_f: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    let var_f: Vec<f32> = var.iter().map(|&v| v as f32).collect();
    let inv_std: Vec<f32> = var.iter().map(|&v| (1.0 / (v + epsilon).sqrt()) as f32).collect();
    let y = {
        let xv = vals(&xs);
        map_values(dims, |c, j| (xv[j] - mean_f[c]) * inv_std[c] * gamma_v[c] + beta_v[c])
    };
    let y = tensor(y, shape.clone());
    let state = || State {
        x: xs,
        mean: mean_f.clone(),
        inv_std,
        gamma: gamma_v,
        dims,
        shape,
    };
    let out = finish(BatchNormBackward, [&x, &gamma, &beta], state, y);
    (out, mean_f, var_f)
}
