//! Path-SGD: gammas and the path norm against brute force, rescaling invariance
//! (Theorem 4.1), and rejection of modules it cannot handle.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shoal_learn::data::{Digits, PIXELS, Split, batch_tensors};
use shoal_learn::path_sgd::experiment::{Algo, Feed, Init, Recipe, Run};
use shoal_learn::path_sgd::mlp::Mlp;
use shoal_learn::path_sgd::{LayerWeights, PathSgd, PathSgdError, edge_gammas, linear_chain, path_norm};
use shoal_learn::{Cpu, CpuAutodiff};
use std::sync::Arc;

fn vals<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

/// Weights of a random net with biases, as plain vectors: `w[l]` is `[in, out]` row-major.
fn random_net(sizes: &[usize], rng: &mut StdRng) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for w in sizes.windows(2) {
        ws.push((0..w[0] * w[1]).map(|_| rng.random_range(-1.5..1.5)).collect());
        bs.push((0..w[1]).map(|_| rng.random_range(-1.0..1.0)).collect());
    }
    (ws, bs)
}

fn as_layers(sizes: &[usize], ws: &[Vec<f64>], bs: &[Vec<f64>]) -> Vec<LayerWeights<Cpu>> {
    let dev = Default::default();
    sizes
        .windows(2)
        .enumerate()
        .map(|(l, s)| LayerWeights {
            w: Tensor::from_data(
                TensorData::new(ws[l].iter().map(|&x| x as f32).collect(), [s[0], s[1]]),
                &dev,
            ),
            b: Some(Tensor::from_data(
                TensorData::new(bs[l].iter().map(|&x| x as f32).collect(), [s[1]]),
                &dev,
            )),
            w_id: None,
            b_id: None,
        })
        .collect()
}

/// Every path (from an input unit or a bias) to an output, as a list of edges.
/// An edge is (layer, Some((u, v))) for a weight or (layer, None-with-v) for a bias.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Edge {
    W(usize, usize, usize),
    B(usize, usize),
}

fn all_paths(sizes: &[usize]) -> Vec<Vec<Edge>> {
    let layers = sizes.len() - 1;
    // Extend a partial path ending at unit `v` of layer-output `l` to the outputs.
    fn extend(sizes: &[usize], l: usize, v: usize, path: Vec<Edge>, out: &mut Vec<Vec<Edge>>) {
        if l + 1 == sizes.len() - 1 {
            out.push(path);
            return;
        }
        for k in 0..sizes[l + 2] {
            let mut p = path.clone();
            p.push(Edge::W(l + 1, v, k));
            extend(sizes, l + 1, k, p, out);
        }
    }
    let mut out = Vec::new();
    for u in 0..sizes[0] {
        for v in 0..sizes[1] {
            extend(sizes, 0, v, vec![Edge::W(0, u, v)], &mut out);
        }
    }
    for l in 0..layers {
        for v in 0..sizes[l + 1] {
            extend(sizes, l, v, vec![Edge::B(l, v)], &mut out);
        }
    }
    out
}

#[test]
fn gammas_and_path_norm_equal_brute_force() {
    let sizes = [3, 4, 3, 2];
    let mut rng = StdRng::seed_from_u64(3);
    let (ws, bs) = random_net(&sizes, &mut rng);
    let value = |e: Edge| match e {
        Edge::W(l, u, v) => ws[l][u * sizes[l + 1] + v],
        Edge::B(l, v) => bs[l][v],
    };
    let paths = all_paths(&sizes);
    // 3*4*3*2 input paths + bias paths 4*3*2 + 3*2 + 2.
    assert_eq!(paths.len(), 72 + 24 + 6 + 2);
    let layers = as_layers(&sizes, &ws, &bs);
    for p in [1.0f64, 2.0, 3.0] {
        let mut total = 0.0f64;
        let mut w_acc: Vec<Vec<f64>> = ws.iter().map(|w| vec![0.0; w.len()]).collect();
        let mut b_acc: Vec<Vec<f64>> = bs.iter().map(|b| vec![0.0; b.len()]).collect();
        for path in &paths {
            total += path.iter().map(|&e| value(e).abs().powf(p)).product::<f64>();
            for (k, &e) in path.iter().enumerate() {
                let others: f64 = path
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .map(|(_, &o)| value(o).abs().powf(p))
                    .product();
                match e {
                    Edge::W(l, u, v) => w_acc[l][u * sizes[l + 1] + v] += others,
                    Edge::B(l, v) => b_acc[l][v] += others,
                }
            }
        }
        let phi = total.powf(1.0 / p);
        let got = path_norm(&layers, p);
        assert!((got - phi).abs() / phi < 1e-5, "p={p}: phi {got} vs {phi}");
        let gammas = edge_gammas(&layers, p);
        for (l, (gw, gb)) in gammas.into_iter().enumerate() {
            let (gw, gb) = (vals(gw), vals(gb));
            for (k, &g) in gw.iter().enumerate() {
                let want = w_acc[l][k].powf(2.0 / p);
                assert!(
                    (g as f64 - want).abs() / want < 1e-4,
                    "p={p} layer {l} weight {k}: {g} vs {want}"
                );
            }
            for (k, &g) in gb.iter().enumerate() {
                let want = b_acc[l][k].powf(2.0 / p);
                assert!(
                    (g as f64 - want).abs() / want < 1e-4,
                    "p={p} layer {l} bias {k}: {g} vs {want}"
                );
            }
        }
    }
}

fn log_uniform_factors(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| 10f32.powf(rng.random_range(-2.0..2.0))).collect()
}

fn rescaled<B: Backend>(net: Mlp<B>, seed: u64) -> Mlp<B> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = net;
    for h in 0..net.hidden_layers() {
        let n = net.layers[h].weight.dims()[1];
        net = net.rescale_units(h, &log_uniform_factors(&mut rng, n));
    }
    net
}

fn chain_of(net: &Mlp<CpuAutodiff>) -> Vec<LayerWeights<Cpu>> {
    linear_chain::<CpuAutodiff, _>(net).unwrap()
}

#[test]
fn rescaling_keeps_the_function_and_the_path_norm() {
    let dev = Default::default();
    let net = Mlp::<CpuAutodiff>::balanced(&[20, 16, 12, 5], 1, &dev);
    let x = Tensor::<CpuAutodiff, 2>::from_data(
        TensorData::new(
            (0..60)
                .map(|k| ((k * 37 % 11) as f32 - 5.0) / 3.0)
                .collect::<Vec<f32>>(),
            [3, 20],
        ),
        &dev,
    );
    let before = vals(net.forward(x.clone()));
    let phis: Vec<f64> = [1.0, 2.0, 3.0].iter().map(|&p| path_norm(&chain_of(&net), p)).collect();
    let scaled = rescaled(net.clone(), 9).rescale_layer(1, 37.0).rescale_unit(0, 3, 0.02);
    let after = vals(scaled.forward(x));
    for (a, b) in after.iter().zip(&before) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    for (k, &p) in [1.0, 2.0, 3.0].iter().enumerate() {
        let phi = path_norm(&chain_of(&scaled), p);
        assert!((phi - phis[k]).abs() / phis[k] < 1e-4, "p={p}: {phi} vs {}", phis[k]);
    }
    // The weights themselves did change.
    let w0 = vals(net.layers[0].weight.val());
    let w1 = vals(scaled.layers[0].weight.val());
    assert!(w0.iter().zip(&w1).any(|(a, b)| (a - b).abs() > 1e-3));
}

/// Trains `net` for `steps` mini-batches with `algo`; returns outputs on a fixed held-out batch.
fn train_and_predict(net: Mlp<CpuAutodiff>, algo: Algo, lr: f64, steps: usize, data: &Arc<Digits>) -> Vec<f32> {
    let dev = Default::default();
    let recipe = Recipe {
        algo,
        init: Init::Balanced,
        lr,
        p: 2.0,
    };
    let feed = Feed {
        train: data.clone(),
        batch: 50,
        seed: 77,
    };
    let mut run = Run::<CpuAutodiff>::new(net, recipe, feed, dev).unwrap();
    for _ in 0..steps {
        let loss = run.step();
        assert!(loss.is_finite());
    }
    let test = Digits::bundled(Split::Test);
    let idx: Vec<usize> = (0..100).collect();
    let (x, _) = batch_tensors::<CpuAutodiff>(&test, &idx, &Default::default());
    vals(run.model().forward(x.reshape([100, PIXELS])))
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().map(|v| v.abs() as f64).fold(0.0, f64::max).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn path_sgd_is_invariant_to_rescaling_and_sgd_is_not() {
    let dev = Default::default();
    let mut train = Digits::bundled(Split::Train);
    train.truncate(2000);
    let data = Arc::new(train);
    let net = Mlp::<CpuAutodiff>::balanced(&[PIXELS, 32, 32, 10], 5, &dev);
    let twin = rescaled(net.clone(), 21);

    let a = train_and_predict(net.clone(), Algo::PathSgd, 0.05, 100, &data);
    let b = train_and_predict(twin.clone(), Algo::PathSgd, 0.05, 100, &data);
    let path_diff = max_rel_diff(&b, &a);
    let untrained = {
        let test = Digits::bundled(Split::Test);
        let idx: Vec<usize> = (0..100).collect();
        let (x, _) = batch_tensors::<CpuAutodiff>(&test, &idx, &dev);
        vals(net.forward(x.reshape([100, PIXELS])))
    };
    assert!(max_rel_diff(&a, &untrained) > 0.1, "training must change the outputs");
    assert!(path_diff <= 1e-4, "Path-SGD: rescaled twin differs by {path_diff:e}");

    let c = train_and_predict(net, Algo::Sgd, 0.05, 100, &data);
    let d = train_and_predict(twin, Algo::Sgd, 0.05, 100, &data);
    let sgd_diff = max_rel_diff(&d, &c);
    assert!(
        sgd_diff > 0.05,
        "SGD should depend on the scale, differs only by {sgd_diff:e}"
    );
    println!("max relative output difference after 100 steps: Path-SGD {path_diff:.2e}, SGD {sgd_diff:.2e}");
}

#[derive(Module, Debug)]
struct WithConv<B: Backend> {
    conv: Conv2d<B>,
    fc: Linear<B>,
}

#[derive(Module, Debug)]
struct Broken<B: Backend> {
    a: Linear<B>,
    b: Linear<B>,
}

#[test]
fn modules_that_are_not_linear_chains_are_rejected() {
    let dev = Default::default();
    // Seeded under the crate's init lock (burn's random source is shared by every thread).
    let conv = shoal_learn::seeded_init(&dev, 1, || WithConv::<CpuAutodiff> {
        conv: Conv2dConfig::new([1, 2], [3, 3]).init(&dev),
        fc: LinearConfig::new(8, 2).init(&dev),
    });
    let err = linear_chain::<CpuAutodiff, _>(&conv).unwrap_err();
    assert!(
        matches!(&err, PathSgdError::Unsupported(m) if m.contains("4-D")),
        "{err}"
    );
    let broken = shoal_learn::seeded_init(&dev, 2, || Broken::<CpuAutodiff> {
        a: LinearConfig::new(4, 5).init(&dev),
        b: LinearConfig::new(6, 2).init(&dev),
    });
    let err = linear_chain::<CpuAutodiff, _>(&broken).unwrap_err();
    assert!(err.to_string().contains("takes 6 inputs"), "{err}");
    // A valid chain goes through the optimizer; a bad one is refused, not mangled.
    let opt = PathSgd::new(2.0).unwrap();
    let grads = burn::optim::GradientsParams::new();
    assert!(opt.step::<CpuAutodiff, _>(0.1, broken, grads).is_err());
    assert_eq!(PathSgd::new(0.5).unwrap_err(), PathSgdError::BadP(0.5));
    assert!(PathSgd::new(f64::NAN).is_err());
}

#[test]
fn unbalanced_init_keeps_the_function_but_breaks_the_balance() {
    let dev = Default::default();
    let net = Mlp::<CpuAutodiff>::balanced(&[30, 40, 40, 10], 2, &dev);
    let unb = net.clone().unbalanced(2);
    let x = Tensor::<CpuAutodiff, 2>::from_data(
        TensorData::new((0..60).map(|k| (k % 7) as f32 / 7.0).collect::<Vec<f32>>(), [2, 30]),
        &dev,
    );
    let (a, b) = (vals(net.forward(x.clone())), vals(unb.forward(x)));
    assert!(max_rel_diff(&b, &a) < 1e-3);
    let norm = |m: &Mlp<CpuAutodiff>| vals(m.layers[0].weight.val()).iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(norm(&unb) > 5.0 * norm(&net), "incoming weights of picked units grow");
}

/// Gradients of the cross-entropy of `net` on a fixed batch of 40 digits.
fn grads_on_batch(net: &Mlp<CpuAutodiff>) -> burn::optim::GradientsParams {
    let test = Digits::bundled(Split::Test);
    let idx: Vec<usize> = (0..40).collect();
    let (x, y) = batch_tensors::<CpuAutodiff>(&test, &idx, &Default::default());
    let x = x.reshape([40, PIXELS]);
    let loss = burn::nn::loss::CrossEntropyLossConfig::new()
        .init(&Default::default())
        .forward(net.forward(x), y);
    burn::optim::GradientsParams::from_grads(loss.backward(), net)
}

#[test]
fn fused_step_equals_the_burn_ops_step() {
    let dev = Default::default();
    // The largest layer first, in the middle and last: each order of the fused passes.
    for sizes in [
        vec![PIXELS, 24, 16, 10],
        vec![PIXELS, 12, 40, 36, 10],
        vec![PIXELS, 8, 700],
    ] {
        for (p, lr) in [(1.0, 20.0), (2.0, 0.5), (3.0, 0.05)] {
            let net = Mlp::<CpuAutodiff>::balanced(&sizes, 4, &dev);
            let opt = PathSgd::new(p).unwrap();
            let fused = opt
                .step::<CpuAutodiff, _>(lr, net.clone(), grads_on_batch(&net))
                .unwrap();
            let plain = opt
                .step_unfused::<CpuAutodiff, _>(lr, net.clone(), grads_on_batch(&net))
                .unwrap();
            let params = |m: &Mlp<CpuAutodiff>, l: usize| {
                let mut v = vals(m.layers[l].weight.val());
                v.extend(vals(m.layers[l].bias.as_ref().unwrap().val()));
                v
            };
            for l in 0..sizes.len() - 1 {
                let before = params(&net, l);
                let (a, b) = (params(&fused, l), params(&plain, l));
                let step = |x: &[f32]| x.iter().zip(&before).map(|(x, w)| x - w).collect::<Vec<f32>>();
                let (sa, sb) = (step(&a), step(&b));
                let big = sb.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let w_max = before.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                // A real step (far above f32 rounding of the weights), and the same one.
                assert!(
                    big > 1e-4 * w_max,
                    "{sizes:?} p={p} layer {l}: step {big} vs weights {w_max}"
                );
                let d = sa.iter().zip(&sb).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    d <= 1e-3 * big + 4.0 * f32::EPSILON * w_max,
                    "{sizes:?} p={p} layer {l}: steps differ by {d} (largest step {big})"
                );
            }
        }
    }
}
