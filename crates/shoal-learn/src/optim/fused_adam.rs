//! Adam as burn's `Adam` computes it (no weight decay, no AMSGrad: the DCGAN's recipe), with
//! the same maths in the same `f32` order and a state record of the same layout (checkpoints
//! keep loading), but on the CPU backend three passes per parameter (each moment, then the
//! weight) where burn's makes about a dozen, each allocating its result.

use super::{as_cpu, buffer, cpu, cpu_tensor, from_cpu};
use crate::Cpu;
use crate::flex::{CHUNK, par_build, vals};
use burn::optim::SimpleOptimizer;
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Adam with `beta_1`, `beta_2` and `epsilon` as burn's `AdamConfig` takes them.
#[derive(Clone, Debug)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl FusedAdam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon,
        }
    }
}

/// The optimiser state of one parameter (laid out as burn's `AdamState`).
#[derive(Record, Clone)]
pub struct FusedAdamState<B: Backend, const D: usize> {
    pub momentum: Moments<B, D>,
}

/// Laid out as burn's `AdaptiveMomentumState` (`max_moment_2` is AMSGrad's, always `None` here).
#[derive(Record, Clone)]
pub struct Moments<B: Backend, const D: usize> {
    pub time: usize,
    pub moment_1: Tensor<B, D>,
    pub moment_2: Tensor<B, D>,
    pub max_moment_2: Option<Tensor<B, D>>,
}

/// The scalars of step `time` (1-based): burn's bias corrections.
struct Factors {
    b1: f32,
    b2: f32,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    combined: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    eps: f32,
    lr: f32,
}

impl FusedAdam {
    fn factors(&self, time: usize, lr: f64) -> Factors {
        let t = time as i32;
        let bc2 = (1.0 - self.beta_2.powi(t)).sqrt();
        Factors {
            b1: self.beta_1,
            b2: self.beta_2,
            combined: bc2 / (1.0 - self.beta_1.powi(t)),
            eps: self.epsilon * bc2,
            lr: lr as f32,
        }
    }

    /// The step with burn tensor ops, for any backend (burn's own order of operations).
    fn step_ops<B: Backend, const D: usize>(
        &self,
        lr: f64,
        w: Tensor<B, D>,
        g: Tensor<B, D>,
        m: Option<(Tensor<B, D>, Tensor<B, D>)>,
        time: usize,
    ) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
        let f = self.factors(time, lr);
        let (m1, m2) = match m {
            Some((m1, m2)) => (
                m1.mul_scalar(f.b1).add(g.clone().mul_scalar(1.0 - f.b1)),
                m2.mul_scalar(f.b2).add(g.square().mul_scalar(1.0 - f.b2)),
            ),
            None => (g.clone().mul_scalar(1.0 - f.b1), g.square().mul_scalar(1.0 - f.b2)),
        };
        let update = m1
            .clone()
            .mul_scalar(f.combined)
            .div(m2.clone().sqrt().add_scalar(f.eps));
        (w - update.mul_scalar(f.lr), m1, m2)
    }

    /// The same step in three passes over the CPU backend's buffers.
    fn step_cpu<const D: usize>(
        &self,
        lr: f64,
        w: Tensor<Cpu, D>,
        g: Tensor<Cpu, D>,
        m: Option<(Tensor<Cpu, D>, Tensor<Cpu, D>)>,
        time: usize,
    ) -> (Tensor<Cpu, D>, Tensor<Cpu, D>, Tensor<Cpu, D>) {
        let shape = w.dims().to_vec();
        let (wt, gt) = (buffer(w), buffer(g));
        let mt = m.map(|(a, b)| (buffer(a), buffer(b)));
        let (wv, gv) = (vals(&wt), vals(&gt));
        let mv = mt.as_ref().map(|(a, b)| (vals(a), vals(b)));
        let f = self.factors(time, lr);
        let n = wv.len();
        // Three passes over chunks (the moments, then the weight), each a loop over zipped
        // slices that vectorises.
        let (k1, k2) = (1.0 - f.b1, 1.0 - f.b2);
        let new_m1 = par_build(n, CHUNK, |k, out| {
            let g = &gv[k * CHUNK..][..out.len()];
            match mv {
                Some((m1, _)) => {
                    for ((o, &m), &g) in out.iter_mut().zip(&m1[k * CHUNK..]).zip(g) {
                        *o = m * f.b1 + g * k1;
                    }
                }
                None => out.iter_mut().zip(g).for_each(|(o, &g)| *o = g * k1),
            }
        });
        let new_m2 = par_build(n, CHUNK, |k, out| {
            let g = &gv[k * CHUNK..][..out.len()];
            match mv {
                Some((_, m2)) => {
                    for ((o, &v), &g) in out.iter_mut().zip(&m2[k * CHUNK..]).zip(g) {
                        *o = v * f.b2 + (g * g) * k2;
                    }
                }
                None => out.iter_mut().zip(g).for_each(|(o, &g)| *o = (g * g) * k2),
            }
        });
        let new_w = par_build(n, CHUNK, |k, out| {
            let at = k * CHUNK;
            for (((o, &w), &m1), &m2) in out.iter_mut().zip(&wv[at..]).zip(&new_m1[at..]).zip(&new_m2[at..]) {
                *o = w - (m1 * f.combined) / (m2.sqrt() + f.eps) * f.lr;
            }
        });
        (
            cpu_tensor(new_w, &shape),
            cpu_tensor(new_m1, &shape),
            cpu_tensor(new_m2, &shape),
        )
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdam {
    type State<const D: usize> = FusedAdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        w: Tensor<B, D>,
        g: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (time, m) = match state {
            Some(s) => (s.momentum.time + 1, Some((s.momentum.moment_1, s.momentum.moment_2))),
            None => (1, None),
        };
        let (w, m1, m2) = match as_cpu(w) {
            Ok(w) => {
                let m = m.map(|(a, b)| (cpu(a), cpu(b)));
                let (w, m1, m2) = self.step_cpu(lr, w, cpu(g), m, time);
                (from_cpu::<B, D>(w), from_cpu::<B, D>(m1), from_cpu::<B, D>(m2))
            }
            Err(w) => self.step_ops(lr, w, g, m, time),
        };
        let momentum = Moments {
            time,
            moment_1: m1,
            moment_2: m2,
            max_moment_2: None,
        };
        (w, Some(FusedAdamState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        let m = state.momentum;
        FusedAdamState {
            momentum: Moments {
                time: m.time,
                moment_1: m.moment_1.to_device(device),
                moment_2: m.moment_2.to_device(device),
                max_moment_2: m.max_moment_2.map(|t| t.to_device(device)),
            },
        }
    }
}
