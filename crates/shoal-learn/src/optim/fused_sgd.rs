//! SGD with momentum as burn's `Sgd` computes it (same maths in the same `f32` order, and a
//! state record of the same layout, so checkpoints keep loading), but on the CPU backend
//! one parallel pass per parameter reads weight, gradient and velocity and writes the new
//! weight and velocity, where burn's makes seven single-threaded passes.

use super::{as_cpu, buffer, cpu, cpu_tensor, from_cpu};
use crate::Cpu;
use crate::flex::{CHUNK, par_build, vals};
use burn::optim::SimpleOptimizer;
use burn::optim::momentum::MomentumConfig;
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Momentum SGD without weight decay: `v = (1 - dampening) g + momentum v` (just `g` at the
/// first step), then `w -= lr (g + momentum v)` with Nesterov, `w -= lr v` without.
#[derive(Clone, Debug)]
pub struct FusedSgd {
    momentum: f64,
    dampening: f64,
    nesterov: bool,
}

impl FusedSgd {
    pub fn new(config: &MomentumConfig) -> Self {
        Self {
            momentum: config.momentum,
            dampening: config.dampening,
            nesterov: config.nesterov,
        }
    }
}

/// The optimiser state of one parameter (laid out as burn's `SgdState`).
#[derive(Record, Clone)]
pub struct FusedSgdState<B: Backend, const D: usize> {
    pub momentum: Option<Velocity<B, D>>,
}

/// Laid out as burn's `MomentumState`.
#[derive(Record, Clone)]
pub struct Velocity<B: Backend, const D: usize> {
    pub velocity: Tensor<B, D>,
}

impl FusedSgd {
    /// The step with burn tensor ops, for any backend (burn's own order of operations).
    fn step_ops<B: Backend, const D: usize>(
        &self,
        lr: f64,
        w: Tensor<B, D>,
        g: Tensor<B, D>,
        v: Option<Tensor<B, D>>,
    ) -> (Tensor<B, D>, Tensor<B, D>) {
        let v = match v {
            Some(v) => g
                .clone()
                .mul_scalar(1.0 - self.dampening)
                .add(v.mul_scalar(self.momentum)),
            None => g.clone(),
        };
        let step = if self.nesterov {
            v.clone().mul_scalar(self.momentum).add(g)
        } else {
            v.clone()
        };
        (w - step.mul_scalar(lr), v)
    }

    /// The same step in one pass over the CPU backend's buffers.
    fn step_cpu<const D: usize>(
        &self,
        lr: f64,
        w: Tensor<Cpu, D>,
        g: Tensor<Cpu, D>,
        v: Option<Tensor<Cpu, D>>,
    ) -> (Tensor<Cpu, D>, Tensor<Cpu, D>) {
        let shape = w.dims().to_vec();
        let (wt, gt, vt) = (buffer(w), buffer(g), v.map(buffer));
        let (wv, gv, vv) = (vals(&wt), vals(&gt), vt.as_ref().map(vals));
        let (keep, m, lr, nesterov) = (
            (1.0 - self.dampening) as f32,
            self.momentum as f32,
            lr as f32,
            self.nesterov,
        );
        let new_v = par_build(gv.len(), CHUNK, |k, out| {
            let at = k * CHUNK;
            let g = &gv[at..at + out.len()];
            match vv {
                Some(vv) => {
                    for ((o, &g), &v) in out.iter_mut().zip(g).zip(&vv[at..]) {
                        *o = g * keep + v * m;
                    }
                }
                None => out.copy_from_slice(g),
            }
        });
        let new_w = par_build(wv.len(), CHUNK, |k, out| {
            let at = k * CHUNK;
            let (w, g, v) = (&wv[at..], &gv[at..], &new_v[at..]);
            for (((o, &w), &g), &v) in out.iter_mut().zip(w).zip(g).zip(v) {
                let step = if nesterov { v * m + g } else { v };
                *o = w - step * lr;
            }
        });
        (cpu_tensor(new_w, &shape), cpu_tensor(new_v, &shape))
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedSgd {
    type State<const D: usize> = FusedSgdState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        w: Tensor<B, D>,
        g: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let v = state.and_then(|s| s.momentum).map(|m| m.velocity);
        let (w, v) = match as_cpu(w) {
            Ok(w) => {
                let (w, v) = self.step_cpu(lr, w, cpu(g), v.map(cpu));
                (from_cpu::<B, D>(w), from_cpu::<B, D>(v))
            }
            Err(w) => self.step_ops(lr, w, g, v),
        };
        let state = FusedSgdState {
            momentum: Some(Velocity { velocity: v }),
        };
        (w, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        FusedSgdState {
            momentum: state.momentum.map(|m| Velocity {
                velocity: m.velocity.to_device(device),
            }),
        }
    }
}
