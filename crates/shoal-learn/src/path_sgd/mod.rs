//! Path-SGD (Neyshabur, Salakhutdinov & Srebro, NeurIPS 2015): path-normalised,
//! rescaling-invariant steepest descent for feed-forward ReLU nets.
//!
//! For an edge `e = (u -> v)` the update is `w_e -= eta * dL/dw_e / gamma_p(w, e)` with
//! `gamma_p(w, e) = (sum over paths through e of prod_{e' != e} |w_e'|^p)^(2/p)`.
//! All gammas come from one forward and one backward pass with `|w|^p` weights:
//! `gamma_in(v) = sum_u gamma_in(u) |w_uv|^p + |b_v|^p` from all-ones inputs,
//! `gamma_out(u) = sum_v |w_uv|^p gamma_out(v)` from all-ones outputs, and
//! `gamma(u -> v) = gamma_in(u)^(2/p) * gamma_out(v)^(2/p)`. A bias is an edge from a
//! constant-1 unit: its update is divided by `gamma_out(v)^(2/p)`.
//!
//! **Restriction.** [`PathSgd`] works on any burn module whose float parameters are,
//! in visiting order, a chain of `Linear` layers (Row layout): weight `[in, out]`,
//! optional bias `[out]`, with each layer's `in` equal to the previous `out`, and
//! ReLU (or identity) between them. Anything else (convolutions, norms, embeddings,
//! shape breaks) is rejected with [`PathSgdError::Unsupported`]; the activation
//! cannot be seen from the parameters, so using another activation is the caller's error.

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod experiment;
pub mod fused;
pub mod mlp;
pub mod run;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use std::collections::HashMap;

/// Why Path-SGD cannot handle a module.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathSgdError {
    #[error("Path-SGD supports only chains of Linear layers (+ ReLU): {0}")]
    Unsupported(String),
    #[error("p must be a finite number >= 1, got {0}")]
    BadP(f64),
}

/// One layer's weights on a plain backend: `w` is `[in, out]`, `b` is `[out]`.
#[derive(Clone, Debug)]
pub struct LayerWeights<B: Backend> {
    pub w: Tensor<B, 2>,
    pub b: Option<Tensor<B, 1>>,
    pub w_id: Option<ParamId>,
    pub b_id: Option<ParamId>,
}

/// `|x|^p`, with the cheap forms for p = 1 and p = 2.
fn abs_pow<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64) -> Tensor<B, D> {
    if p == 2.0 {
        x.square()
    } else if p == 1.0 {
        x.abs()
    } else {
        x.abs().powf_scalar(p)
    }
}

/// `x^(2/p)` for non-negative `x`.
fn pow_two_over_p<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64) -> Tensor<B, D> {
    if p == 2.0 { x } else { x.powf_scalar(2.0 / p) }
}

/// `gamma_in` of each layer's input units and `gamma_out` of each layer's output units.
pub struct PathGammas<B: Backend> {
    /// `gamma_in[l]`: `[in_l]` for the inputs of layer `l`; `gamma_in[L]` are the network outputs.
    pub gamma_in: Vec<Tensor<B, 1>>,
    /// `gamma_out[l]`: `[out_l]` for the outputs of layer `l`.
    pub gamma_out: Vec<Tensor<B, 1>>,
}

/// The forward and backward passes with `|w|^p` weights (batch of one, ReLU as identity).
pub fn path_gammas<B: Backend>(layers: &[LayerWeights<B>], p: f64) -> PathGammas<B> {
    let powered: Vec<(Tensor<B, 2>, Option<Tensor<B, 1>>)> = layers
        .iter()
        .map(|l| (abs_pow(l.w.clone(), p), l.b.clone().map(|b| abs_pow(b, p))))
        .collect();
    let device = layers[0].w.device();
    let in0 = layers[0].w.dims()[0];
    let mut gamma_in = vec![Tensor::<B, 1>::ones([in0], &device)];
    for (wp, bp) in &powered {
        let prev = gamma_in.last().expect("non-empty").clone();
        let out = wp.dims()[1];
        let mut next = prev.reshape([1, wp.dims()[0]]).matmul(wp.clone()).reshape([out]);
        if let Some(bp) = bp {
            next = next + bp.clone();
        }
        gamma_in.push(next);
    }
    let last_out = powered.last().expect("non-empty").0.dims()[1];
    let mut gamma_out_rev = vec![Tensor::<B, 1>::ones([last_out], &device)];
    for (wp, _) in powered.iter().rev() {
        let next = gamma_out_rev.last().expect("non-empty").clone();
        let [i, o] = wp.dims();
        gamma_out_rev.push(wp.clone().matmul(next.reshape([o, 1])).reshape([i]));
    }
    // gamma_out_rev = [gamma_out of layer L-1, gamma_out of layer L-2 (= its outputs), ..., gamma_out of the inputs]
    gamma_out_rev.pop(); // the inputs' gamma_out is not needed
    gamma_out_rev.reverse();
    PathGammas {
        gamma_in,
        gamma_out: gamma_out_rev,
    }
}

/// The path norm `phi_p(w) = (sum over all input->output paths of prod |w_e|^p)^(1/p)`,
/// where paths may also start at a bias (a constant-1 unit).
pub fn path_norm<B: Backend>(layers: &[LayerWeights<B>], p: f64) -> f64 {
    let g = path_gammas(layers, p);
    let total: f64 = g
        .gamma_in
        .last()
        .expect("outputs")
        .clone()
        .sum()
        .into_scalar()
        .elem::<f64>();
    total.powf(1.0 / p)
}

/// `gamma_p(w, e)` of every weight (`[in, out]`) and bias (`[out]`), materialised (for tests).
pub fn edge_gammas<B: Backend>(layers: &[LayerWeights<B>], p: f64) -> Vec<(Tensor<B, 2>, Tensor<B, 1>)> {
    let g = path_gammas(layers, p);
    layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let [i, o] = layer.w.dims();
            let a = pow_two_over_p(g.gamma_in[l].clone(), p).reshape([i, 1]);
            let b = pow_two_over_p(g.gamma_out[l].clone(), p);
            (a.matmul(b.clone().reshape([1, o])), b)
        })
        .collect()
}

/// Collects a module's parameters as a chain of Linear layers, or says why it is not one.
struct LayerCollector<B: AutodiffBackend> {
    layers: Vec<LayerWeights<B::InnerBackend>>,
    error: Option<String>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for LayerCollector<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.error.is_some() {
            return;
        }
        let t = param.val().inner();
        let dims = t.dims();
        match D {
            2 => {
                let (i, o) = (dims[0], dims[1]);
                if let Some(prev) = self.layers.last() {
                    let prev_out = prev.w.dims()[1];
                    if prev_out != i {
                        self.error = Some(format!(
                            "layer {} takes {i} inputs but the previous layer has {prev_out} outputs",
                            self.layers.len()
                        ));
                        return;
                    }
                }
                self.layers.push(LayerWeights {
                    w: t.reshape([i, o]),
                    b: None,
                    w_id: Some(param.id),
                    b_id: None,
                });
            }
            1 => {
                let n = dims[0];
                match self.layers.last_mut() {
                    Some(l) if l.b.is_none() && l.w.dims()[1] == n => {
                        l.b = Some(t.reshape([n]));
                        l.b_id = Some(param.id);
                    }
                    _ => self.error = Some(format!("a 1-D parameter of size {n} is not the bias of a Linear layer")),
                }
            }
            _ => {
                self.error = Some(format!(
                    "a {D}-D parameter {dims:?} (only Linear weights and biases are allowed)"
                ))
            }
        }
    }

    fn visit_int<const D: usize>(&mut self, _: &Param<Tensor<B, D, burn::tensor::Int>>) {
        self.error.get_or_insert_with(|| "an integer parameter".into());
    }

    fn visit_bool<const D: usize>(&mut self, _: &Param<Tensor<B, D, burn::tensor::Bool>>) {
        self.error.get_or_insert_with(|| "a boolean parameter".into());
    }
}

/// The Linear chain of `module`, checked.
pub fn linear_chain<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
) -> Result<Vec<LayerWeights<B::InnerBackend>>, PathSgdError> {
    let mut c = LayerCollector::<B> {
        layers: Vec::new(),
        error: None,
    };
    module.visit(&mut c);
    if let Some(e) = c.error {
        return Err(PathSgdError::Unsupported(e));
    }
    if c.layers.is_empty() {
        return Err(PathSgdError::Unsupported("the module has no Linear layers".into()));
    }
    Ok(c.layers)
}

/// Per-parameter step scales: a weight's step is `col[u] * grad[u][v] * row[v]` with
/// `col = lr / gamma_in^(2/p)` and `row = 1 / gamma_out^(2/p)`; a bias's is `row_lr[v] * grad[v]`.
/// On Flex they are CPU vectors for the fused update; on other backends tensors on the
/// device, so a step never waits to read anything back (a GPU, the browser's WebGPU).
enum Scale<B: Backend> {
    Weight { col: Vec<f32>, row: Vec<f32> },
    Bias(Vec<f32>),
    WeightOnDevice { col: Tensor<B, 1>, row: Tensor<B, 1> },
    BiasOnDevice(Tensor<B, 1>),
}

/// The Path-SGD optimizer (stateless apart from `p`).
#[derive(Clone, Copy, Debug)]
pub struct PathSgd {
    pub p: f64,
}

impl PathSgd {
    pub fn new(p: f64) -> Result<Self, PathSgdError> {
        if !(p.is_finite() && p >= 1.0) {
            return Err(PathSgdError::BadP(p));
        }
        Ok(Self { p })
    }

    /// One update of `module` with `grads` (from `GradientsParams::from_grads`). On burn's
    /// Flex backend the gammas and the update are fused loops over the buffers
    /// ([`fused`]); on other backends they are burn tensor ops. Both compute the same step.
    pub fn step<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        lr: f64,
        module: M,
        grads: GradientsParams,
    ) -> Result<M, PathSgdError> {
        self.step_with::<B, M>(lr, module, grads, true)
    }

    /// [`Self::step`] with burn tensor ops only (what other backends run); for comparisons.
    pub fn step_unfused<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        lr: f64,
        module: M,
        grads: GradientsParams,
    ) -> Result<M, PathSgdError> {
        self.step_with::<B, M>(lr, module, grads, false)
    }

    fn step_with<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        lr: f64,
        module: M,
        grads: GradientsParams,
        fused: bool,
    ) -> Result<M, PathSgdError> {
        let layers = linear_chain::<B, M>(&module)?;
        let fast = if fused {
            fused::flex_gammas(&layers, self.p)
        } else {
            None
        };
        // The fused update only where the fused gammas worked (Flex, f32).
        let fused = fast.is_some();
        // gamma = 0 only where the gradient is 0 too. The floor keeps 1/gamma finite (so
        // 0 * 1/gamma = 0, never NaN); it only bites for gammas below 1e-15.
        let mut scales = HashMap::new();
        match fast {
            Some((gamma_in, gamma_out)) => {
                let inv = |x: f32, scale: f64| (scale / (x as f64).powf(2.0 / self.p).max(1e-15)) as f32;
                for (l, layer) in layers.iter().enumerate() {
                    let row: Vec<f32> = gamma_out[l].iter().map(|&x| inv(x, 1.0)).collect();
                    if let Some(id) = layer.b_id {
                        scales.insert(id, Scale::Bias(row.iter().map(|&r| (r as f64 * lr) as f32).collect()));
                    }
                    if let Some(id) = layer.w_id {
                        let col = gamma_in[l].iter().map(|&x| inv(x, lr)).collect();
                        scales.insert(id, Scale::Weight { col, row });
                    }
                }
            }
            None => {
                let g = path_gammas(&layers, self.p);
                let inv = |x: Tensor<B::InnerBackend, 1>, scale: f64| {
                    x.powf_scalar(2.0 / self.p)
                        .clamp(1e-15, f32::MAX)
                        .recip()
                        .mul_scalar(scale)
                };
                for (l, layer) in layers.iter().enumerate() {
                    let row = inv(g.gamma_out[l].clone(), 1.0);
                    if let Some(id) = layer.b_id {
                        scales.insert(id, Scale::BiasOnDevice(row.clone().mul_scalar(lr)));
                    }
                    if let Some(id) = layer.w_id {
                        let col = inv(g.gamma_in[l].clone(), lr);
                        scales.insert(id, Scale::WeightOnDevice { col, row });
                    }
                }
            }
        }
        // The chain holds clones of the weights: drop it so the update can work in place.
        drop(layers);
        let mut mapper = PathMapper::<B> {
            scales,
            grads,
            fused,
            _b: std::marker::PhantomData,
        };
        Ok(module.map(&mut mapper))
    }
}

struct PathMapper<B: AutodiffBackend> {
    scales: HashMap<ParamId, Scale<B::InnerBackend>>,
    grads: GradientsParams,
    fused: bool,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> PathMapper<B> {
    /// `w - col[u] * grad[u][v] * row[v]` from CPU scales: the fused loop where it applies,
    /// else tensor ops on uploaded copies.
    fn cpu_update<const D: usize>(
        &self,
        w: Tensor<B::InnerBackend, D>,
        grad: Tensor<B::InnerBackend, D>,
        col: &[f32],
        row: &[f32],
    ) -> Tensor<B::InnerBackend, D> {
        let updated = match self.fused {
            true => fused::update(w, grad, col, row),
            false => Err((w, grad)),
        };
        updated.unwrap_or_else(|(w, grad)| {
            let device = w.device();
            let shape = grad.shape();
            let (i, o) = (col.len(), row.len());
            let c = Tensor::<B::InnerBackend, 1>::from_floats(col, &device).reshape([i, 1]);
            let r = Tensor::<B::InnerBackend, 1>::from_floats(row, &device).reshape([1, o]);
            w - (grad.reshape([i, o]) * c.matmul(r)).reshape(shape)
        })
    }
}

impl<B: AutodiffBackend> ModuleMapper<B> for PathMapper<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let grad = self.grads.remove::<B::InnerBackend, D>(id);
        let tensor = match (grad, self.scales.get(&id)) {
            (Some(grad), Some(scale)) => {
                let require_grad = tensor.is_require_grad();
                let inner = tensor.inner();
                let shape = grad.shape();
                let step = |grad: Tensor<B::InnerBackend, D>,
                            col: Tensor<B::InnerBackend, 1>,
                            row: Tensor<B::InnerBackend, 1>| {
                    let (i, o) = (col.dims()[0], row.dims()[0]);
                    // The outer product as a K = 1 matmul, then one multiply.
                    (grad.reshape([i, o]) * col.reshape([i, 1]).matmul(row.reshape([1, o]))).reshape(shape.clone())
                };
                let updated = match scale {
                    Scale::WeightOnDevice { col, row } => inner - step(grad, col.clone(), row.clone()),
                    Scale::BiasOnDevice(row) => inner - grad * row.clone().reshape(shape.clone()),
                    Scale::Weight { col, row } => self.cpu_update(inner, grad, col, row),
                    Scale::Bias(row) => self.cpu_update(inner, grad, &[1.0], row),
                };
                let t = Tensor::from_inner(updated);
                if require_grad { t.require_grad() } else { t }
            }
            (_, _) => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}
