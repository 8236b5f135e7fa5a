//! The seed's DCGAN generator and discriminator (PyTorch-default initialisation, which
//! burn's defaults match).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;

/// z -> Linear(z,1024) BN ReLU -> Linear(1024, 5*5*256) BN ReLU -> 256x5x5 ->
/// ConvT(256->128, k3 s1 p0) BN ReLU (7x7) -> ConvT(128->64, k4 s2 p1) BN ReLU (14x14) ->
/// ConvT(64->1, k4 s2 p1) (28x28) -> sigmoid.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    fc1: Linear<B>,
    bn1: BatchNorm<B>,
    fc2: Linear<B>,
    bn2: BatchNorm<B>,
    up1: ConvTranspose2d<B>,
    bn3: BatchNorm<B>,
    up2: ConvTranspose2d<B>,
    bn4: BatchNorm<B>,
    up3: ConvTranspose2d<B>,
}

impl<B: Backend> Generator<B> {
    pub fn new(z: usize, dev: &B::Device) -> Self {
        Self {
            fc1: LinearConfig::new(z, 1024).init(dev),
            bn1: BatchNormConfig::new(1024).init(dev),
            fc2: LinearConfig::new(1024, 5 * 5 * 256).init(dev),
            bn2: BatchNormConfig::new(5 * 5 * 256).init(dev),
            up1: ConvTranspose2dConfig::new([256, 128], [3, 3]).init(dev),
            bn3: BatchNormConfig::new(128).init(dev),
            up2: ConvTranspose2dConfig::new([128, 64], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(dev),
            bn4: BatchNormConfig::new(64).init(dev),
            up3: ConvTranspose2dConfig::new([64, 1], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(dev),
        }
    }

    /// `z: [n, z]` -> images `[n, 1, 28, 28]` in `(0, 1)`.
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 4> {
        let n = z.dims()[0];
        let h = norm_act(&self.bn1, linear(&self.fc1, z), Act::Relu, Next::BurnLayout);
        let h = norm_act(&self.bn2, linear(&self.fc2, h), Act::Relu, Next::BurnLayout);
        let h = h.reshape([n, 256, 5, 5]);
        let h = norm_act(
            &self.bn3,
            conv_transpose(&self.up1, h, Next::Fused),
            Act::Relu,
            Next::Fused,
        );
        let h = norm_act(
            &self.bn4,
            conv_transpose(&self.up2, h, Next::Fused),
            Act::Relu,
            Next::Fused,
        );
        sigmoid(conv_transpose(&self.up3, h, Next::BurnLayout))
    }
}

/// Conv(1->64, k4 s2 p1) ReLU (14x14) -> Conv(64->128, k4 s2 p1) BN ReLU (7x7) ->
/// Conv(128->256, k3 s1 p0) BN ReLU (5x5) -> flatten 6400 -> Linear 1024 BN LeakyReLU(0.2)
/// -> Linear 1 -> sigmoid.
#[derive(Module, Debug)]
pub struct Discriminator<B: Backend> {
    c1: Conv2d<B>,
    c2: Conv2d<B>,
    bn2: BatchNorm<B>,
    c3: Conv2d<B>,
    bn3: BatchNorm<B>,
    fc1: Linear<B>,
    bn4: BatchNorm<B>,
    fc2: Linear<B>,
}

impl<B: Backend> Discriminator<B> {
    pub fn new(dev: &B::Device) -> Self {
        let pad1 = PaddingConfig2d::Explicit(1, 1, 1, 1);
        Self {
            c1: Conv2dConfig::new([1, 64], [4, 4])
                .with_stride([2, 2])
                .with_padding(pad1.clone())
                .init(dev),
            c2: Conv2dConfig::new([64, 128], [4, 4])
                .with_stride([2, 2])
                .with_padding(pad1)
                .init(dev),
            bn2: BatchNormConfig::new(128).init(dev),
            c3: Conv2dConfig::new([128, 256], [3, 3]).init(dev),
            bn3: BatchNormConfig::new(256).init(dev),
            fc1: LinearConfig::new(6400, 1024).init(dev),
            bn4: BatchNormConfig::new(1024).init(dev),
            fc2: LinearConfig::new(1024, 1).init(dev),
        }
    }

    /// Images `[n, 1, 28, 28]` -> probability of "real", `[n, 1]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let h = conv(&self.c1, x, Act::Relu, Next::Fused);
        let h = norm_act(
            &self.bn2,
            conv(&self.c2, h, Act::Identity, Next::Fused),
            Act::Relu,
            Next::Fused,
        );
        let h = norm_act(
            &self.bn3,
            conv(&self.c3, h, Act::Identity, Next::Fused),
            Act::Relu,
            Next::BurnLayout,
        );
        let h = h.reshape([n, 6400]);
        let h = norm_act(&self.bn4, linear(&self.fc1, h), Act::Leaky(0.2), Next::BurnLayout);
        sigmoid(linear(&self.fc2, h))
    }
}

pub use super::act::{Act, Next};

/// `act(batch_norm(bn, x))`; on the CPU backend one fused op (see `bn_flex`), in training
/// and in eval mode.
pub fn norm_act<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>, act: Act, next: Next) -> Tensor<B, D> {
    if B::ad_enabled(&x.device()) && D >= 2 {
        match crate::cast::<B, crate::CpuAutodiff, D>(x) {
            Ok(x) => batch_norm_flex(bn, x, act, next),
            Err(x) => act.tensor(batch_norm(bn, x)),
        }
    } else if D >= 2 {
        match crate::cast::<B, crate::Cpu, D>(x) {
            Ok(x) => batch_norm_eval_flex(bn, x, act, next),
            Err(x) => act.tensor(batch_norm(bn, x)),
        }
    } else {
        act.tensor(batch_norm(bn, x))
    }
}

/// [`norm_act`] in eval mode on the CPU backend: one pass (see `bn_flex::batch_norm_eval`).
fn batch_norm_eval_flex<B: Backend, const D: usize>(
    bn: &BatchNorm<B>,
    x: Tensor<crate::Cpu, D>,
    act: Act,
    next: Next,
) -> Tensor<B, D> {
    use burn::tensor::TensorPrimitive;
    let v = |t: Tensor<B, 1>| t.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default();
    let [mean, var, gamma, beta] = [
        v(bn.running_mean.value()),
        v(bn.running_var.value()),
        v(bn.gamma.val()),
        v(bn.beta.val()),
    ];
    let y = super::bn_flex::batch_norm_eval(
        x.into_primitive().tensor(),
        [&mean, &var, &gamma, &beta],
        bn.epsilon,
        act,
        next == Next::Fused,
    );
    crate::cast::<crate::Cpu, B, D>(Tensor::from_primitive(TensorPrimitive::Float(y))).expect("B is the CPU backend")
}

/// burn's `BatchNorm::forward` (same parameters, running statistics and results), computed
/// without its transposes: in training mode burn swaps the batch and channel axes and copies
/// the whole activation twice per layer (once for the mean, once for the variance); without
/// them a CPU iteration takes about a quarter less time. Here the per-channel statistics reduce the contiguous
/// `[n, c, h*w]` view along its last axis, then over the batch; the normalisation is one
/// scale and one shift per channel. Eval mode (`valid()`) is burn's own. The CPU backend
/// takes the fused op of [`norm_act`] instead.
fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) || D < 2 {
        return bn.forward(x);
    }
    let dims = x.dims();
    let (n, c) = (dims[0], dims[1]);
    let rest: usize = dims[2..].iter().product();
    let mut shape = [1; D];
    shape[1] = c;
    // Per-channel mean over batch and space, as [1, c, 1...].
    let channel_mean = |t: Tensor<B, D>| -> Tensor<B, D> {
        let per_sample = if rest == 1 {
            t.reshape([n, c])
        } else {
            t.reshape([n, c, rest]).mean_dim(2).reshape([n, c])
        };
        per_sample.mean_dim(0).reshape(shape)
    };
    let mean = channel_mean(x.clone());
    let centred = x.sub(mean.clone());
    let var = channel_mean(centred.clone().square());
    update_running_stats(bn, mean.clone().reshape([c]), var.clone().reshape([c]));
    let scale = var
        .add_scalar(bn.epsilon)
        .sqrt()
        .recip()
        .mul(bn.gamma.val().reshape(shape));
    centred.mul(scale).add(bn.beta.val().reshape(shape))
}

/// [`norm_act`] on the CPU backend, as one fused autodiff op.
fn batch_norm_flex<B: Backend, const D: usize>(
    bn: &BatchNorm<B>,
    x: Tensor<crate::CpuAutodiff, D>,
    act: Act,
    next: Next,
) -> Tensor<B, D> {
    let device = bn.gamma.val().device();
    let (y, mean, var) = super::bn_flex::batch_norm_train(
        x.into_primitive().tensor(),
        param(&bn.gamma.val()),
        param(&bn.beta.val()),
        bn.epsilon,
        act,
        next == Next::Fused,
    );
    update_running_stats(
        bn,
        Tensor::<B, 1>::from_floats(mean.as_slice(), &device),
        Tensor::<B, 1>::from_floats(var.as_slice(), &device),
    );
    from_flex(y)
}

/// `layer.forward(x)`; on the CPU backend (training or eval), one op (see `linear_flex`).
pub fn linear<B: Backend>(layer: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let Some(bias) = &layer.bias else {
        return layer.forward(x);
    };
    match to_flex(x) {
        Ok(x) => from_flex(super::linear_flex::linear(
            x,
            param(&layer.weight.val()),
            param(&bias.val()),
        )),
        Err(x) => layer.forward(x),
    }
}

/// `act(layer.forward(x))`; on the CPU backend (training or eval), one batch-wide op (see
/// `conv_flex`) whose output layout suits `next`.
pub fn conv<B: Backend>(layer: &Conv2d<B>, x: Tensor<B, 4>, act: Act, next: Next) -> Tensor<B, 4> {
    let plain = |x: Tensor<B, 4>| act.tensor(layer.forward(x));
    let pad = match layer.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => [top, left],
        PaddingConfig2d::Valid => [0, 0],
        _ => return plain(x),
    };
    let Some(bias) = &layer.bias else {
        return plain(x);
    };
    let [_, _, h, w] = x.dims();
    let k = layer.kernel_size[0];
    let fits = h + 2 * pad[0] >= k && w + 2 * pad[0] >= k;
    if !fits || !super::conv_flex::supported(layer.kernel_size, layer.stride, pad, layer.dilation, layer.groups) {
        return plain(x);
    }
    match flex_args(x, &layer.weight.val(), &bias.val()) {
        Ok((x, w, b)) => from_flex(super::conv_flex::conv2d(
            x,
            w,
            b,
            layer.stride[0],
            pad[0],
            act,
            next == Next::Fused,
        )),
        Err(x) => plain(x),
    }
}

/// `layer.forward(x)`; on the CPU backend (training or eval), one batch-wide op (see `conv_flex`)
/// whose output layout suits `next`.
pub fn conv_transpose<B: Backend>(layer: &ConvTranspose2d<B>, x: Tensor<B, 4>, next: Next) -> Tensor<B, 4> {
    let Some(bias) = &layer.bias else {
        return layer.forward(x);
    };
    let [_, _, h, w] = x.dims();
    let grows = |side: usize| side > 0 && (side - 1) * layer.stride[0] + layer.kernel_size[0] > 2 * layer.padding[0];
    let ok = layer.padding_out == [0, 0]
        && grows(h)
        && grows(w)
        && super::conv_flex::supported(
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
        );
    if !ok {
        return layer.forward(x);
    }
    match flex_args(x, &layer.weight.val(), &bias.val()) {
        Ok((x, w, b)) => from_flex(super::conv_flex::conv_transpose2d(
            x,
            w,
            b,
            layer.stride[0],
            layer.padding[0],
            next == Next::Fused,
        )),
        Err(x) => layer.forward(x),
    }
}

type FlexAd = burn::tensor::ops::FloatTensor<crate::CpuAutodiff>;

/// `t` as a CPU-autodiff primitive when `B` is a CPU backend: itself on the autodiff one
/// (training: the op joins the graph), an untracked leaf around it on the plain one (eval
/// mode: the same batch-wide ops, forward only); else `t` back.
fn to_flex<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<FlexAd, Tensor<B, D>> {
    use crate::{Cpu, CpuAutodiff, cast};
    let t = match cast::<B, CpuAutodiff, D>(t) {
        Ok(t) => return Ok(t.into_primitive().tensor()),
        Err(t) => t,
    };
    cast::<B, Cpu, D>(t).map(|t| Tensor::<CpuAutodiff, D>::from_inner(t).into_primitive().tensor())
}

/// The input, weight and bias as CPU-autodiff primitives (see [`to_flex`]), else the input
/// back.
fn flex_args<B: Backend>(
    x: Tensor<B, 4>,
    w: &Tensor<B, 4>,
    b: &Tensor<B, 1>,
) -> Result<(FlexAd, FlexAd, FlexAd), Tensor<B, 4>> {
    let x = to_flex(x)?;
    Ok((x, param(w), param(b)))
}

/// A parameter of a layer whose input [`to_flex`] took.
fn param<B: Backend, const D: usize>(t: &Tensor<B, D>) -> FlexAd {
    to_flex(t.clone()).expect("the same backend as the input")
}

/// The inverse of [`to_flex`]: only called when `B` is a CPU backend.
fn from_flex<B: Backend, const D: usize>(y: FlexAd) -> Tensor<B, D> {
    use crate::{Cpu, CpuAutodiff, cast};
    use burn::tensor::TensorPrimitive;
    match cast::<CpuAutodiff, B, D>(Tensor::from_primitive(TensorPrimitive::Float(y))) {
        Ok(y) => y,
        Err(y) => cast::<Cpu, B, D>(y.inner()).expect("B is a CPU backend"),
    }
}

/// burn's running estimates: `(1 - momentum) * running + momentum * batch`, with the
/// batch's biased variance as burn uses.
fn update_running_stats<B: Backend>(bn: &BatchNorm<B>, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
    let momentum = bn.momentum;
    let device = mean.device();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - momentum)
            .add(mean.detach().mul_scalar(momentum))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - momentum)
            .add(var.detach().mul_scalar(momentum))
            .detach(),
    );
}

/// Binary cross-entropy of probabilities against a constant target, mean over the batch;
/// logs are clamped at -100 as PyTorch's `BCELoss` does.
pub fn bce<B: Backend>(p: Tensor<B, 2>, target: f32) -> Tensor<B, 1> {
    let log_p = p.clone().log().clamp_min(-100.0);
    let log_q = p.neg().add_scalar(1.0).log().clamp_min(-100.0);
    (log_p.mul_scalar(target) + log_q.mul_scalar(1.0 - target)).neg().mean()
}
