//! A feed-forward ReLU net of Linear layers, with balanced / unbalanced inits and
//! the rescalings that leave its function unchanged.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

/// `Linear -> ReLU -> ... -> Linear` (no activation after the last layer: logits).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub layers: Vec<Linear<B>>,
}

impl<B: Backend> Mlp<B> {
    /// Balanced init: weights `N(0, 1/fan_in)`, biases 0, from `seed`.
    pub fn balanced(sizes: &[usize], seed: u64, dev: &B::Device) -> Self {
        assert!(sizes.len() >= 2, "an MLP needs at least an input and an output size");
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = sizes
            .windows(2)
            .map(|w| {
                let (i, o) = (w[0], w[1]);
                let normal = Normal::new(0.0f32, (1.0 / i as f32).sqrt()).expect("valid std");
                let values: Vec<f32> = (0..i * o).map(|_| normal.sample(&mut rng)).collect();
                let mut l = LinearConfig::new(i, o)
                    .with_initializer(Initializer::Zeros)
                    .init::<B>(dev);
                l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(values, [i, o]), dev));
                l.bias = Some(Param::from_tensor(Tensor::zeros([o], dev)));
                l
            })
            .collect();
        Self { layers }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (k, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if k < last {
                h = relu(h);
            }
        }
        h
    }

    /// Layer sizes `[in, hidden..., out]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.layers[0].weight.dims()[0]];
        s.extend(self.layers.iter().map(|l| l.weight.dims()[1]));
        s
    }

    /// Number of hidden layers (rescalable unit layers).
    pub fn hidden_layers(&self) -> usize {
        self.layers.len() - 1
    }

    /// Multiplies the incoming weights and bias of each unit `j` of hidden layer `h` by
    /// `factors[j]` and divides its outgoing weights by it. For positive factors the
    /// network computes the same function (ReLU is positively homogeneous).
    pub fn rescale_units(mut self, h: usize, factors: &[f32]) -> Self {
        assert!(h < self.hidden_layers(), "hidden layer {h} does not exist");
        let n = self.layers[h].weight.dims()[1];
        assert_eq!(factors.len(), n, "one factor per unit");
        let dev = self.layers[h].weight.device();
        let f = Tensor::<B, 1>::from_data(TensorData::new(factors.to_vec(), [n]), &dev);
        let scale = |p: Param<Tensor<B, 2>>, by: Tensor<B, 2>, divide: bool| {
            p.map(|w| {
                let rg = w.is_require_grad();
                let w = w.detach();
                let out = if divide { w / by } else { w * by };
                out.detach().set_require_grad(rg)
            })
        };
        let layer = &mut self.layers[h];
        layer.weight = scale(layer.weight.clone(), f.clone().reshape([1, n]), false);
        if let Some(b) = layer.bias.take() {
            layer.bias = Some(b.map(|b| {
                let rg = b.is_require_grad();
                (b.detach() * f.clone()).detach().set_require_grad(rg)
            }));
        }
        let next = &mut self.layers[h + 1];
        next.weight = scale(next.weight.clone(), f.reshape([n, 1]), true);
        self
    }

    /// Rescales one unit by `c`.
    pub fn rescale_unit(self, h: usize, unit: usize, c: f32) -> Self {
        let n = self.layers[h].weight.dims()[1];
        let mut f = vec![1.0; n];
        f[unit] = c;
        self.rescale_units(h, &f)
    }

    /// Rescales every unit of hidden layer `h` by `c`: incoming `x c`, outgoing `/ c`.
    pub fn rescale_layer(self, h: usize, c: f32) -> Self {
        let n = self.layers[h].weight.dims()[1];
        self.rescale_units(h, &vec![c; n])
    }

    /// The paper's unbalanced init, applied to a (balanced) net: in each hidden layer of
    /// `n` units, `n / 2` units are drawn uniformly **with replacement** (2,000 per
    /// 4,000-unit layer) and each draw rescales its unit by `10 * c`, `c ~ LogNormal(0, 1)`
    /// (a unit drawn twice gets both factors). The function is unchanged; only the scale
    /// balance between layers is broken.
    pub fn unbalanced(self, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x756e_6261_6c61_6e63);
        let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
        let mut net = self;
        for h in 0..net.hidden_layers() {
            let n = net.layers[h].weight.dims()[1];
            let mut factors = vec![1.0f32; n];
            for _ in 0..n / 2 {
                let unit = rng.random_range(0..n);
                factors[unit] *= 10.0 * normal.sample(&mut rng).exp();
            }
            net = net.rescale_units(h, &factors);
        }
        net
    }
}
