//! DCGAN: shapes, a D step lowers D's loss, checkpoints round-trip and resume exactly,
//! corrupt checkpoints are refused; the quality metrics behave on real data and noise.

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use shoal_learn::data::{Digits, PIXELS, Split, batch_tensors};
use shoal_learn::dcgan::checkpoint::CheckpointError;
use shoal_learn::dcgan::model::{Discriminator, Generator, bce};
use shoal_learn::dcgan::{DcganConfig, Trainer};
use shoal_learn::metrics::{Classifier, FEATURES, classifier_score, distorted, frechet_distance, probs_and_features};
use shoal_learn::{Cpu, CpuAutodiff};
use std::sync::Arc;

/// The autodiff backend with another checkpointing strategy: a different type, so the DCGAN's
/// CPU fast paths do not apply and its burn-ops maths runs.
type Generic = burn::backend::Autodiff<Cpu, burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing>;

fn small_data(n: usize) -> Arc<Digits> {
    let mut d = Digits::bundled(Split::Train);
    d.truncate(n);
    Arc::new(d)
}

#[test]
fn generator_and_discriminator_shapes() {
    let dev = Default::default();
    let g = Generator::<CpuAutodiff>::new(32, &dev);
    let d = Discriminator::<CpuAutodiff>::new(&dev);
    let z = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(vec![0.3f32; 4 * 32], [4, 32]), &dev);
    let x = g.forward(z);
    assert_eq!(x.dims(), [4, 1, 28, 28]);
    let v = x.clone().into_data().to_vec::<f32>().unwrap();
    assert!(v.iter().all(|p| *p > 0.0 && *p < 1.0));
    let p = d.forward(x);
    assert_eq!(p.dims(), [4, 1]);
    // Eval mode works on the inner backend too.
    let g = g.valid();
    let z = Tensor::<Cpu, 2>::from_data(TensorData::new(vec![-0.5f32; 2 * 32], [2, 32]), &dev);
    assert_eq!(g.forward(z).dims(), [2, 1, 28, 28]);
}

#[test]
fn one_discriminator_step_lowers_its_loss_on_a_fixed_batch() {
    let dev = Default::default();
    let data = small_data(64);
    let idx: Vec<usize> = (0..64).collect();
    let (x, _) = batch_tensors::<CpuAutodiff>(&data, &idx, &dev);
    let g = Generator::<CpuAutodiff>::new(32, &dev).valid();
    let z = Tensor::<Cpu, 2>::from_data(
        TensorData::new(
            (0..64 * 32)
                .map(|k| ((k * 37 % 200) as f32 / 100.0) - 1.0)
                .collect::<Vec<f32>>(),
            [64, 32],
        ),
        &dev,
    );
    let fake = Tensor::<CpuAutodiff, 4>::from_inner(g.forward(z));
    let d = Discriminator::<CpuAutodiff>::new(&dev);
    let loss_of = |d: &Discriminator<CpuAutodiff>| bce(d.forward(fake.clone()), 0.0) + bce(d.forward(x.clone()), 1.0);
    let before = loss_of(&d);
    let b: f32 = before.clone().into_scalar().elem();
    let mut opt = SgdConfig::new().init();
    let grads = GradientsParams::from_grads(before.backward(), &d);
    let d = opt.step(1e-2, d, grads);
    let a: f32 = loss_of(&d).into_scalar().elem();
    assert!(a < b, "D loss {b} -> {a}");
}

fn trainer(data: &Arc<Digits>) -> Trainer<CpuAutodiff> {
    let cfg = DcganConfig {
        batch: 32,
        ..DcganConfig::default()
    };
    Trainer::new(cfg, data.clone(), Default::default()).unwrap()
}

fn run_epoch(t: &mut Trainer<CpuAutodiff>) -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    loop {
        let r = t.step();
        out.push((r.g_loss, r.d_loss));
        if r.epoch_done {
            return out;
        }
    }
}

#[test]
fn checkpoints_round_trip_and_resume_identically() {
    let data = small_data(96); // 3 iterations per epoch
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("c.bin");

    // One epoch, a checkpoint, then the same trainer goes on uninterrupted ...
    let mut b = trainer(&data);
    run_epoch(&mut b);
    b.save_checkpoint(&ckpt).unwrap();
    let b_grid = b.fixed_grid();
    let b_weights = b.weights_bytes().unwrap();
    // The generator alone, read from the checkpoint without data or trainer, draws the same
    // digits as the trainer for the same seed (more than one chunk of them).
    let (g, cfg, epoch) =
        shoal_learn::dcgan::checkpoint::load_generator::<Cpu>(&std::fs::read(&ckpt).unwrap(), &Default::default())
            .unwrap();
    assert_eq!((cfg.z, epoch), (32, 1));
    let alone = shoal_learn::dcgan::sample_generator(&g, cfg.z, 300, 9, &Default::default());
    assert_eq!(alone, b.sample(300, 9));
    assert_ne!(alone, b.sample(300, 10));
    let b_second = run_epoch(&mut b);
    // ... while a fresh trainer (its own initial weights) loads the checkpoint and goes on.
    let mut c = trainer(&data);
    c.load_checkpoint(&ckpt).unwrap();
    assert_eq!(c.epoch, 1);
    assert_eq!(c.iteration, 3);
    assert_eq!(c.weights_bytes().unwrap(), b_weights, "weights round-trip bit for bit");
    assert_eq!(c.fixed_grid(), b_grid);
    let c_second = run_epoch(&mut c);
    assert_eq!(c_second, b_second, "resume must continue exactly");
    assert_eq!(c.fixed_grid(), b.fixed_grid());
    let again = dir.path().join("again.bin");
    c.save_checkpoint(&again).unwrap();
    // Only the checkpoint files are in the folder (atomic writes leave no temp files).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn corrupt_or_truncated_checkpoints_are_refused_and_change_nothing() {
    let data = small_data(64);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("c.bin");
    let mut t = trainer(&data);
    run_epoch(&mut t);
    t.save_checkpoint(&ckpt).unwrap();
    let good = std::fs::read(&ckpt).unwrap();
    let mut fresh = trainer(&data);
    let grid = fresh.fixed_grid();

    let mut flipped = good.clone();
    let k = good.len() - 100;
    flipped[k] ^= 0x40;
    assert!(matches!(
        fresh.load_checkpoint_bytes(&flipped),
        Err(CheckpointError::Crc(_))
    ));
    assert!(matches!(
        fresh.load_checkpoint_bytes(&good[..good.len() / 2]),
        Err(CheckpointError::Truncated(_))
    ));
    assert!(matches!(
        fresh.load_checkpoint_bytes(&good[..5]),
        Err(CheckpointError::Truncated(_))
    ));
    assert!(matches!(
        fresh.load_checkpoint_bytes(b"PK\x03\x04 not a checkpoint at all"),
        Err(CheckpointError::BadMagic)
    ));
    let mut bad_header = good.clone();
    bad_header[16] = b'!';
    assert!(fresh.load_checkpoint_bytes(&bad_header).is_err());
    let err = fresh.load_checkpoint(&dir.path().join("missing.bin")).unwrap_err();
    assert!(err.to_string().contains("cannot read checkpoint"), "{err}");
    // Nothing changed in the trainer.
    assert_eq!(fresh.fixed_grid(), grid);
    assert_eq!(fresh.epoch, 0);
    assert!(fresh.load_checkpoint_bytes(&good).is_ok());
    assert_eq!(fresh.epoch, 1);
}

#[test]
fn metrics_separate_real_digits_from_noise() {
    let dev = Default::default();
    let c = Classifier::<Cpu>::bundled(&dev).expect("the shipped classifier loads");
    let test = Digits::bundled(Split::Test);
    let (probs, feats) = probs_and_features(&c, &test.images, &dev);
    let score = classifier_score(&probs);
    assert!(score > 9.0, "real test digits score {score}");
    let half = 1000 * FEATURES;
    let real_real = frechet_distance(&feats[..half], &feats[half..], FEATURES);
    // Uniform noise images.
    let mut r = shoal_learn::rng::Rng64::new(3);
    let noise: Vec<u8> = (0..1000 * PIXELS).map(|_| (r.next_u64() & 0xff) as u8).collect();
    let (pn, fnoise) = probs_and_features(&c, &noise, &dev);
    let noise_real = frechet_distance(&fnoise, &feats[..half], FEATURES);
    println!(
        "score real {score:.3} noise {:.3}; Frechet real/real {real_real:.3} noise/real {noise_real:.1}",
        classifier_score(&pn)
    );
    assert!(classifier_score(&pn) < 3.0);
    // Logit distances scale with the classifier's confidence: for the shipped classifier two
    // real halves are about 2 apart, noise about 450 from real digits.
    assert!(real_real < 4.0, "two halves of the real test set: {real_real}");
    assert!(noise_real > 50.0 * real_real.max(0.1), "noise vs real: {noise_real}");
    // The Fréchet distance of a set to itself is ~0.
    assert!(frechet_distance(&feats[..half], &feats[..half], FEATURES) < 1e-3);
}

/// `Q diag(w) Q^T` for a random orthogonal `Q` (a product of Givens rotations), row-major.
fn rotated_diagonal(w: &[f64], seed: u64) -> Vec<f64> {
    let d = w.len();
    let mut q: Vec<f64> = (0..d * d).map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 }).collect();
    let mut r = shoal_learn::rng::Rng64::new(seed);
    for _ in 0..4 * d * d {
        let (i, j) = (r.below(d as u64) as usize, r.below(d as u64) as usize);
        if i == j {
            continue;
        }
        let t = r.uniform(0.0, std::f32::consts::TAU) as f64;
        for row in 0..d {
            let (a, b) = (q[row * d + i], q[row * d + j]);
            q[row * d + i] = t.cos() * a - t.sin() * b;
            q[row * d + j] = t.sin() * a + t.cos() * b;
        }
    }
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| q[i * d + k] * w[k] * q[j * d + k]).sum();
        }
    }
    out
}

#[test]
fn the_eigensolver_finds_known_eigenvalues() {
    use shoal_learn::metrics::symmetric_eigenvalues;
    let mut r = shoal_learn::rng::Rng64::new(11);
    for (trial, d) in [2usize, 5, 16, 64].into_iter().enumerate() {
        // Distinct, repeated, zero and negative eigenvalues.
        let mut w: Vec<f64> = (0..d).map(|_| r.uniform(-3.0, 10.0) as f64).collect();
        w[0] = 0.0;
        w[d - 1] = w[d / 2];
        let a = rotated_diagonal(&w, 100 + trial as u64);
        assert!(
            (0..d).any(|i| (0..d).any(|j| i != j && a[i * d + j].abs() > 1e-3)),
            "the test matrix is not already diagonal"
        );
        let got = symmetric_eigenvalues(&a, d);
        w.sort_by(f64::total_cmp);
        for (g, e) in got.iter().zip(&w) {
            assert!((g - e).abs() < 1e-9 * (1.0 + e.abs()), "d {d}: eigenvalue {g} != {e}");
        }
    }
}

#[test]
fn frechet_distance_matches_the_closed_form_for_gaussians_with_shared_axes() {
    // Two point sets whose sample means and covariances are known exactly: the corners of a
    // box (sides 2a, 2b) and of one shifted by `shift` and scaled by `k`. With commuting
    // covariances the distance is |m1 - m2|^2 + sum (sqrt(v1) - sqrt(v2))^2.
    let (a, b, k, shift) = (1.0f64, 2.0f64, 2.0f64, [3.0f64, -1.0]);
    let corners = [[a, b], [a, -b], [-a, b], [-a, -b]];
    let n = corners.len() as f64;
    let (va, vb) = (a * a * n / (n - 1.0), b * b * n / (n - 1.0));
    let expect = shift[0].powi(2)
        + shift[1].powi(2)
        + (va.sqrt() - (k * k * va).sqrt()).powi(2)
        + (vb.sqrt() - (k * k * vb).sqrt()).powi(2);
    // The same, with both sets turned by one rotation: the distance does not change, but the
    // covariances are no longer diagonal (the matrix square roots do the work).
    for angle in [0.0f64, 0.3, 1.1] {
        let turn = |p: [f64; 2]| {
            [
                angle.cos() * p[0] - angle.sin() * p[1],
                angle.sin() * p[0] + angle.cos() * p[1],
            ]
        };
        let x: Vec<f32> = corners.iter().flat_map(|&p| turn(p)).map(|v| v as f32).collect();
        let y: Vec<f32> = corners
            .iter()
            .flat_map(|&p| turn([k * p[0] + shift[0], k * p[1] + shift[1]]))
            .map(|v| v as f32)
            .collect();
        let got = frechet_distance(&x, &y, 2);
        assert!((got - expect).abs() < 1e-4 * expect, "angle {angle}: {got} != {expect}");
    }
}

#[test]
fn distortion_is_identity_at_zero_and_keeps_the_digit_otherwise() {
    let test = Digits::bundled(Split::Test);
    let images = &test.images[..20 * PIXELS];
    let mut rng = shoal_learn::rng::Rng64::new(3);
    assert_eq!(distorted(images, &mut rng, 0.0, 0.0, 0.0), images);
    let moved = distorted(images, &mut rng, 0.2, 0.1, 2.0);
    let mut changed = 0;
    for (a, b) in images.chunks(PIXELS).zip(moved.chunks(PIXELS)) {
        let ink = |x: &[u8]| x.iter().map(|&v| v as f64).sum::<f64>();
        // Scaling by 0.9..1.1 changes the area by at most about 21 %; bilinear blur a little more.
        let ratio = ink(b) / ink(a);
        assert!((0.7..1.35).contains(&ratio), "ink ratio {ratio}");
        changed += (a != b) as usize;
    }
    assert!(changed >= 18, "only {changed} of 20 images changed");
}

/// The DCGAN's own batch norm, with the activation that follows it, computes what burn's
/// `BatchNorm` and activations compute: outputs, gradients of input, gamma and beta, and the
/// running statistics it leaves — both its fused op on the CPU backend and its burn-ops maths
/// for other backends (reached here through an autodiff backend with another checkpointing
/// strategy, a different type).
#[test]
fn the_dcgan_batch_norm_equals_burns_batch_norm() {
    use burn::nn::BatchNormConfig;
    use burn::tensor::activation::{leaky_relu, relu};
    use burn::tensor::backend::AutodiffBackend;
    use shoal_learn::dcgan::model::{Act, Next, norm_act};
    fn burn_act<B: burn::tensor::backend::Backend, const D: usize>(act: Act, y: Tensor<B, D>) -> Tensor<B, D> {
        match act {
            Act::Identity => y,
            Act::Relu => relu(y),
            Act::Leaky(s) => leaky_relu(y, s as f64),
        }
    }
    fn check<B: AutodiffBackend, const D: usize>(shape: [usize; D], act: Act) {
        let dev = Default::default();
        let c = shape[1];
        let len: usize = shape.iter().product();
        let mut r = shoal_learn::rng::Rng64::new(7 + D as u64);
        let vals: Vec<f32> = (0..len).map(|_| r.uniform(-2.0, 3.0)).collect();
        // gamma, beta and the running statistics away from their defaults.
        // Two separate modules: clones would share their running statistics.
        let make = || {
            let mut bn = BatchNormConfig::new(c).init::<B>(&dev);
            let g: Vec<f32> = (0..c).map(|k| 0.5 + k as f32 * 0.1).collect();
            let b: Vec<f32> = (0..c).map(|k| k as f32 * -0.2).collect();
            bn.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(g, [c]), &dev));
            bn.beta = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(b, [c]), &dev));
            bn
        };
        let (bn, ours) = (make(), make());
        let mut outs = Vec::new();
        for (k, which) in [&bn, &ours].into_iter().enumerate() {
            let x = Tensor::<B, D>::from_data(TensorData::new(vals.clone(), shape), &dev).require_grad();
            let y = if k == 0 {
                burn_act(act, which.forward(x.clone()))
            } else {
                norm_act(which, x.clone(), act, Next::BurnLayout)
            };
            // A loss that weighs the outputs unevenly, so every gradient term matters.
            let w = Tensor::<B, D>::from_data(
                TensorData::new(
                    (0..len).map(|i| ((i * 37 % 11) as f32) - 5.0).collect::<Vec<_>>(),
                    shape,
                ),
                &dev,
            );
            let loss = (y.clone() * w).sum();
            let grads = loss.backward();
            let v = |t: Tensor<B::InnerBackend, 1>| t.into_data().to_vec::<f32>().unwrap();
            outs.push([
                y.into_data().to_vec::<f32>().unwrap(),
                x.grad(&grads)
                    .unwrap()
                    .flatten::<1>(0, D - 1)
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap(),
                v(which.gamma.val().grad(&grads).unwrap()),
                v(which.beta.val().grad(&grads).unwrap()),
                v(which.running_mean.value_sync().inner()),
                v(which.running_var.value_sync().inner()),
            ]);
        }
        let names = [
            "output",
            "input grad",
            "gamma grad",
            "beta grad",
            "running mean",
            "running var",
        ];
        let same = |name: &str, a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "{shape:?} {act:?} {name}: differs by {worst} (scale {scale})"
            );
        };
        for (k, name) in names.iter().enumerate() {
            same(name, &outs[0][k], &outs[1][k]);
        }
        // The running statistics moved away from (0, 1): the comparison above is not vacuous.
        assert!(outs[1][4].iter().any(|m| m.abs() > 0.01));
        // Eval mode (`valid()`: the running statistics; on the CPU backend the one-pass op).
        let x = Tensor::<B::InnerBackend, D>::from_data(TensorData::new(vals.clone(), shape), &dev);
        let burns = burn_act(act, bn.valid().forward(x.clone()));
        let fused = norm_act(&ours.valid(), x, act, Next::BurnLayout);
        let v = |t: Tensor<B::InnerBackend, D>| t.into_data().to_vec::<f32>().unwrap();
        let (burns, fused) = (v(burns), v(fused));
        same("eval output", &burns, &fused);
        // Not the training output: eval mode really used the running statistics.
        assert!(fused.iter().zip(&outs[1][0]).any(|(p, q)| (p - q).abs() > 0.01));
        // The activation cut some values and kept others.
        if act != Act::Identity {
            let y = &outs[1][0];
            assert!(y.iter().any(|&v| v > 0.1) && y.iter().any(|&v| v <= 0.0), "{act:?}");
        }
    }
    for act in [Act::Identity, Act::Relu, Act::Leaky(0.2)] {
        check::<CpuAutodiff, 2>([16, 6], act);
        check::<CpuAutodiff, 4>([8, 5, 4, 3], act);
        // Rows longer than one SIMD block, plus a remainder.
        check::<CpuAutodiff, 4>([4, 3, 5, 7], act);
        check::<Generic, 2>([16, 6], act);
        check::<Generic, 4>([8, 5, 4, 3], act);
    }
}

/// The DCGAN's batch-wide convolutions and fully connected layers on the CPU backend compute
/// what burn's `Conv2d`, `ConvTranspose2d` and `Linear` compute: outputs and the gradients of
/// input, weight and bias, for the model's own layers and a few other shapes; with an input
/// that needs no gradient too; and in eval mode, on the plain CPU backend, the outputs.
#[test]
fn the_dcgan_layers_equal_burns() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::tensor::backend::Backend;
    use shoal_learn::dcgan::model::{Act, Next, conv, conv_transpose, linear};
    type B = CpuAutodiff;
    type Layer<'a> = &'a dyn Fn(Tensor<B, 4>) -> Tensor<B, 4>;
    fn values<BB: Backend, const D: usize>(t: Tensor<BB, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }
    fn close(name: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{name}");
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst <= 2e-5 * scale, "{name}: differs by {worst} (scale {scale})");
    }
    /// Input (when it needs one), weight and bias gradients agree between two backward passes.
    fn grads_agree<const D: usize, const DW: usize>(
        name: &str,
        x: &Tensor<B, D>,
        w: &Tensor<B, DW>,
        b: &Tensor<B, 1>,
        [ga, gb]: [&<B as burn::tensor::backend::AutodiffBackend>::Gradients; 2],
    ) {
        match (x.grad(ga), x.grad(gb)) {
            (Some(a), Some(b)) => close(&format!("{name} input grad"), &values(a), &values(b)),
            (None, None) => assert!(!x.is_require_grad(), "{name}: no input grad"),
            _ => panic!("{name}: only one side has an input gradient"),
        }
        close(
            &format!("{name} weight grad"),
            &values(w.grad(ga).unwrap()),
            &values(w.grad(gb).unwrap()),
        );
        close(
            &format!("{name} bias grad"),
            &values(b.grad(ga).unwrap()),
            &values(b.grad(gb).unwrap()),
        );
    }
    let dev = Default::default();
    let mut r = shoal_learn::rng::Rng64::new(11);
    let mut rand = |shape: [usize; 4]| {
        let v: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| r.uniform(-1.0, 1.0))
            .collect();
        Tensor::<B, 4>::from_data(TensorData::new(v, shape), &dev)
    };
    // Runs ours and burn's on the same input and parameters; compares output and gradients.
    let compare = |name: String, x: Tensor<B, 4>, ours: Layer, burns: Layer, w: Tensor<B, 4>, b: Tensor<B, 1>| {
        let (ya, yb) = (ours(x.clone()), burns(x.clone()));
        assert_eq!(ya.dims(), yb.dims(), "{name}");
        // A loss that weighs the outputs unevenly, so every gradient term matters.
        let len = ya.dims().iter().product::<usize>();
        let uneven: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let weights = Tensor::<B, 4>::from_data(TensorData::new(uneven, ya.dims()), &dev);
        close(&format!("{name} output"), &values(ya.clone()), &values(yb.clone()));
        let ga = (ya * weights.clone()).sum().backward();
        let gb = (yb * weights).sum().backward();
        grads_agree(&name, &x, &w, &b, [&ga, &gb]);
    };
    // (channels in, out, kernel, stride, pad, input side); the first input needs no gradient.
    let convs = [
        (1, 64, 4, 2, 1, 28),
        (64, 128, 4, 2, 1, 14),
        (128, 256, 3, 1, 0, 7),
        (3, 5, 3, 2, 1, 9),
        (2, 4, 5, 3, 2, 11),
    ];
    for (k, &(ci, co, ks, s, p, side)) in convs.iter().enumerate() {
        // Seeded under the crate's init lock: burn's random source is shared by every thread,
        // so other tests' models stay as seeded.
        let l = shoal_learn::seeded_init::<B, _>(&dev, k as u64, || {
            Conv2dConfig::new([ci, co], [ks, ks])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init::<B>(&dev)
        });
        let x = rand([3, ci, side, side]);
        let x = if k == 0 { x } else { x.require_grad() };
        let (w, b) = (l.weight.val(), l.bias.as_ref().unwrap().val());
        // Odd layers leave their output stored for a next fused op (the same values); two
        // apply a ReLU.
        let next = if k % 2 == 1 { Next::Fused } else { Next::BurnLayout };
        let act = if k == 0 || k == 3 { Act::Relu } else { Act::Identity };
        let reference = |x: Tensor<B, 4>| match act {
            Act::Relu => burn::tensor::activation::relu(l.forward(x)),
            _ => l.forward(x),
        };
        // Eval mode on the plain CPU backend (the poster's and the score's samples): the same.
        let (lv, xv) = (l.valid(), x.clone().inner());
        let eval = match act {
            Act::Relu => burn::tensor::activation::relu(lv.forward(xv.clone())),
            _ => lv.forward(xv.clone()),
        };
        close(
            &format!("conv {k} eval"),
            &values(conv(&lv, xv, act, next)),
            &values(eval),
        );
        compare(format!("conv {k}"), x, &|x| conv(&l, x, act, next), &reference, w, b);
    }
    let ups = [
        (256, 128, 3, 1, 0, 5),
        (128, 64, 4, 2, 1, 7),
        (64, 1, 4, 2, 1, 14),
        (3, 5, 3, 2, 1, 4),
        (2, 4, 5, 3, 2, 3),
    ];
    for (k, &(ci, co, ks, s, p, side)) in ups.iter().enumerate() {
        let l = shoal_learn::seeded_init::<B, _>(&dev, k as u64, || {
            ConvTranspose2dConfig::new([ci, co], [ks, ks])
                .with_stride([s, s])
                .with_padding([p, p])
                .init::<B>(&dev)
        });
        let x = rand([3, ci, side, side]);
        let x = if k == 0 { x } else { x.require_grad() };
        let (w, b) = (l.weight.val(), l.bias.as_ref().unwrap().val());
        let next = if k % 2 == 1 { Next::Fused } else { Next::BurnLayout };
        let (lv, xv) = (l.valid(), x.clone().inner());
        close(
            &format!("conv transpose {k} eval"),
            &values(conv_transpose(&lv, xv.clone(), next)),
            &values(lv.forward(xv)),
        );
        compare(
            format!("conv transpose {k}"),
            x,
            &|x| conv_transpose(&l, x, next),
            &|x| l.forward(x),
            w,
            b,
        );
    }
    // (inputs, outputs, batch); the first input needs no gradient.
    let fcs = [(32, 1024, 5), (1024, 6400, 3), (6400, 1024, 4), (1024, 1, 6), (7, 3, 2)];
    for (k, &(d_in, d_out, n)) in fcs.iter().enumerate() {
        let l = shoal_learn::seeded_init::<B, _>(&dev, k as u64, || {
            burn::nn::LinearConfig::new(d_in, d_out).init::<B>(&dev)
        });
        let x: Tensor<B, 2> = rand([n, d_in, 1, 1]).flatten(1, 3);
        let x = if k == 0 { x } else { x.require_grad() };
        let (ya, yb) = (linear(&l, x.clone()), l.forward(x.clone()));
        let name = format!("linear {k}");
        let (lv, xv) = (l.valid(), x.clone().inner());
        close(
            &format!("{name} eval"),
            &values(linear(&lv, xv.clone())),
            &values(lv.forward(xv)),
        );
        close(&format!("{name} output"), &values(ya.clone()), &values(yb.clone()));
        let uneven: Vec<f32> = (0..n * d_out).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let weights = Tensor::<B, 2>::from_data(TensorData::new(uneven, [n, d_out]), &dev);
        let ga = (ya * weights.clone()).sum().backward();
        let gb = (yb * weights).sum().backward();
        let (w, b) = (l.weight.val(), l.bias.as_ref().unwrap().val());
        grads_agree(&name, &x, &w, &b, [&ga, &gb]);
    }
}

/// The moving average: `avg <- d * avg + (1 - d) * current` for every tensor (weights and
/// batch-norm statistics), with a warm-up decay for young averages.
#[test]
fn the_generator_average_blends_every_tensor() {
    use burn::module::Module;
    use shoal_learn::dcgan::ema;
    assert!((ema::decay_at(0.999, 0) - 0.1).abs() < 1e-12);
    assert!((ema::decay_at(0.999, 90) - 0.91).abs() < 1e-12);
    assert_eq!(ema::decay_at(0.999, 1_000_000), 0.999);
    let dev = Default::default();
    let a = shoal_learn::seeded_init::<Cpu, _>(&dev, 1, || Generator::<Cpu>::new(4, &dev));
    let b = shoal_learn::seeded_init::<Cpu, _>(&dev, 2, || Generator::<Cpu>::new(4, &dev));
    // Every float tensor of the module, in visiting order.
    let flat = |g: &Generator<Cpu>| -> Vec<f32> {
        let mut out = Vec::new();
        struct V<'a>(&'a mut Vec<f32>);
        impl burn::module::ModuleVisitor<Cpu> for V<'_> {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<Cpu, D>>) {
                self.0.extend(p.val().into_data().to_vec::<f32>().unwrap());
            }
        }
        g.visit(&mut V(&mut out));
        out
    };
    let (va, vb) = (flat(&a), flat(&b));
    assert_ne!(va, vb);
    let avg = ema::update(a, &b, 0.75);
    let got = flat(&avg);
    assert_eq!(got.len(), va.len());
    // Batch-norm running variances start at 1 in both: they stay 1; everything else blends.
    for ((g, x), y) in got.iter().zip(&va).zip(&vb) {
        let want = 0.75 * x + 0.25 * y;
        assert!((g - want).abs() <= 1e-6 * (1.0 + want.abs()), "{g} vs {want}");
    }
}

/// A run that averages G checkpoints its average and resumes it exactly; an averaging run can
/// start from a checkpoint without one; a checkpoint with an average is refused by a run
/// without averaging (it would be lost).
#[test]
fn checkpoints_keep_the_generator_average() {
    let data = small_data(96);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("c.bin");
    let with_ema = |ema: Option<f64>| {
        let cfg = DcganConfig {
            batch: 32,
            ema,
            ..DcganConfig::default()
        };
        Trainer::<CpuAutodiff>::new(cfg, data.clone(), Default::default()).unwrap()
    };
    let mut a = with_ema(Some(0.9));
    assert!(a.averaging());
    run_epoch(&mut a);
    // After a few steps the average and the current weights give different samples.
    assert_ne!(a.sample_from(8, 5, true), a.sample_from(8, 5, false));
    a.save_checkpoint(&ckpt).unwrap();
    let second = run_epoch(&mut a);
    let mut b = with_ema(Some(0.9));
    b.load_checkpoint(&ckpt).unwrap();
    assert_eq!(run_epoch(&mut b), second);
    assert_eq!(
        b.weights_bytes().unwrap(),
        a.weights_bytes().unwrap(),
        "average included"
    );
    assert_eq!(b.fixed_grid(), a.fixed_grid());

    let mut plain = with_ema(None);
    match plain.load_checkpoint(&ckpt) {
        Err(CheckpointError::Mismatch(m)) => assert!(m.contains("--ema"), "{m}"),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert_eq!(plain.epoch, 0, "nothing changed");
    run_epoch(&mut plain);
    plain.save_checkpoint(&ckpt).unwrap();
    let mut c = with_ema(Some(0.9));
    c.load_checkpoint(&ckpt).unwrap();
    // The average starts from the loaded G.
    assert_eq!(c.sample_from(8, 5, true), plain.sample_from(8, 5, false));
}

/// The whole generator and discriminator on the CPU backend (its fused ops, with activations
/// kept channel-major between them) compute what the same models compute from burn's own
/// layers (an autodiff backend with another checkpointing strategy, a different type):
/// generated images, D's outputs, the gradient reaching the images and every parameter's
/// gradient of both models.
#[test]
fn the_dcgan_models_equal_burns_layers() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::backend::AutodiffBackend;
    struct Grads<'a, B: AutodiffBackend>(&'a B::Gradients, Vec<Vec<f32>>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Grads<'_, B> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            // Batch-norm running statistics are not trained.
            if p.val().is_require_grad() {
                let g = p.val().grad(self.0).expect("every trained parameter has a gradient");
                self.1.push(g.into_data().to_vec::<f32>().unwrap());
            }
        }
    }
    // One set of weights for both backends (through bytes: the backends' records are
    // different types), drawn from a fixed seed under the crate's init lock. Unseeded, they
    // came from the backend's shared random source, which other tests in the suite draw from
    // too, so each run compared other weights. Batch norm over a small batch divides each
    // channel by its spread over the batch, so the two implementations' different summation
    // orders are amplified where a channel is nearly constant: of 40 seeds tried, 39 stay
    // within a fifth of the bound below, and one (34) has a channel of the third batch norm
    // so flat that every gradient through it differs by up to 221 times the bound. The bound
    // holds for weights without such a channel; these seeds' have none, and fixed weights and
    // one thread make both runs the same computation every time.
    type Rec = burn::record::BinBytesRecorder<burn::record::FullPrecisionSettings>;
    let weights = {
        use burn::record::Recorder;
        let dev = Default::default();
        let g = shoal_learn::seeded_init::<CpuAutodiff, _>(&dev, 11, || Generator::<CpuAutodiff>::new(8, &dev));
        let d = shoal_learn::seeded_init::<CpuAutodiff, _>(&dev, 12, || Discriminator::<CpuAutodiff>::new(&dev));
        (
            Rec::default().record(g.into_record(), ()).unwrap(),
            Rec::default().record(d.into_record(), ()).unwrap(),
        )
    };
    let run = |backend: u8| -> Vec<(String, Vec<f32>)> {
        if backend == 0 {
            run_on::<CpuAutodiff>(&weights)
        } else {
            run_on::<Generic>(&weights)
        }
    };
    fn run_on<B: AutodiffBackend>(weights: &(Vec<u8>, Vec<u8>)) -> Vec<(String, Vec<f32>)> {
        use burn::record::Recorder;
        let dev = Default::default();
        let g = Generator::<B>::new(8, &dev).load_record(Rec::default().load(weights.0.clone(), &dev).unwrap());
        let d = Discriminator::<B>::new(&dev).load_record(Rec::default().load(weights.1.clone(), &dev).unwrap());
        let mut r = shoal_learn::rng::Rng64::new(3);
        let z: Vec<f32> = (0..6 * 8).map(|_| r.uniform(-1.0, 1.0)).collect();
        let z = Tensor::<B, 2>::from_data(TensorData::new(z, [6, 8]), &dev);
        let x = g.forward(z);
        let p = d.forward(x.clone());
        let grads = bce(p.clone(), 1.0).backward();
        let values = |t: Tensor<B, 4>| t.into_data().to_vec::<f32>().unwrap();
        let mut out = vec![
            ("images".to_string(), values(x.clone())),
            ("D(G(z))".to_string(), p.into_data().to_vec::<f32>().unwrap()),
        ];
        let mut v = Grads::<B>(&grads, Vec::new());
        g.visit(&mut v);
        d.visit(&mut v);
        out.extend(
            v.1.into_iter()
                .enumerate()
                .map(|(k, g)| (format!("parameter {k} grad"), g)),
        );
        // The gradient reaching the images, through D (a second backward pass).
        let x = x.detach().require_grad();
        let grads = bce(d.forward(x.clone()), 1.0).backward();
        let dx = x.grad(&grads).expect("the images get a gradient");
        out.push(("image grad".to_string(), dx.into_data().to_vec::<f32>().unwrap()));
        out
    }
    // On one thread: the batch norms over 6 samples amplify rounding, and a parallel
    // reduction's order follows the thread pool's work stealing (under load the comparison
    // once drifted past the bound); one thread gives both runs a fixed order.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let (ours, burns) = pool.install(|| (run(0), run(1)));
    assert_eq!(ours.len(), burns.len());
    assert!(ours.len() > 20, "parameters of both models");
    // Not vacuous: the images and most gradients are far from zero.
    let big = burns.iter().filter(|(_, v)| v.iter().any(|x| x.abs() > 1e-4)).count();
    assert!(big > 20, "only {big} of {} results are not tiny", burns.len());
    for ((name, a), (_, b)) in ours.iter().zip(&burns) {
        assert_eq!(a.len(), b.len(), "{name}");
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        // Biases followed by batch norm get no gradient in exact arithmetic (rounding noise).
        assert!(
            worst <= 2e-4 * scale + 1e-6,
            "{name}: differs by {worst} (scale {scale})"
        );
    }
}

/// A 7 -> 5 linear layer with fixed weights and parameter ids (an optimiser's state is keyed
/// by them).
fn fixed_linear<B: burn::tensor::backend::Backend>() -> burn::nn::Linear<B> {
    use burn::module::{Param, ParamId};
    let dev = Default::default();
    let mut r = shoal_learn::rng::Rng64::new(9);
    let mut lin: burn::nn::Linear<B> = burn::nn::LinearConfig::new(7, 5).init(&dev);
    let w: Vec<f32> = (0..35).map(|_| r.uniform(-1.0, 1.0)).collect();
    lin.weight = Param::initialized(
        ParamId::from(1),
        Tensor::from_data(TensorData::new(w, [7, 5]), &dev).require_grad(),
    );
    let b: Vec<f32> = (0..5).map(|_| r.uniform(-1.0, 1.0)).collect();
    lin.bias = Some(Param::initialized(
        ParamId::from(2),
        Tensor::from_data(TensorData::new(b, [5]), &dev).require_grad(),
    ));
    lin
}

/// The layer's weight and bias after each of `steps` of `opt` (on a loss that changes each
/// step), and the layer at the end.
fn fused_steps<B: burn::tensor::backend::AutodiffBackend, O: Optimizer<burn::nn::Linear<B>, B>>(
    opt: &mut O,
    steps: std::ops::Range<usize>,
    mut lin: burn::nn::Linear<B>,
) -> (Vec<Vec<f32>>, burn::nn::Linear<B>) {
    let mut r = shoal_learn::rng::Rng64::new(10);
    let x: Vec<f32> = (0..4 * 7).map(|_| r.uniform(-1.0, 1.0)).collect();
    let x = Tensor::<B, 2>::from_data(TensorData::new(x, [4, 7]), &Default::default());
    let mut out = Vec::new();
    for step in steps {
        let loss = (lin.forward(x.clone()) * (step as f32 + 1.0)).powf_scalar(2.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &lin);
        lin = opt.step(0.05, lin, grads);
        out.push(lin.weight.val().into_data().to_vec::<f32>().unwrap());
        out.push(lin.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap());
    }
    (out, lin)
}

/// Four steps from [`fixed_linear`].
fn four_steps<B: burn::tensor::backend::AutodiffBackend, O: Optimizer<burn::nn::Linear<B>, B>>(
    mut opt: O,
) -> Vec<Vec<f32>> {
    fused_steps(&mut opt, 0..4, fixed_linear()).0
}

/// `fused` and `burns` ([`fused_steps`]) agree to `tol` (relative), and the weights moved.
fn assert_same_steps(fused: &[Vec<f32>], burns: &[Vec<f32>], tol: f32) {
    assert_eq!(fused.len(), burns.len());
    for (k, (x, y)) in fused.iter().zip(burns).enumerate() {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() <= tol * (1.0 + q.abs()), "tensor {k}: {p} vs {q}");
        }
    }
    // The weights moved: the comparison is not vacuous.
    assert!(fused[0].iter().zip(&fused[6]).any(|(p, q)| (p - q).abs() > 1e-3));
}

/// The DCGAN's fused SGD (one pass per parameter on the CPU backend) computes what burn's SGD
/// with the seed's momentum computes, step after step (the first step has no velocity yet),
/// on the CPU backend and through burn's tensor ops on another.
#[test]
fn the_fused_sgd_equals_burns_sgd() {
    use burn::optim::adaptor::OptimizerAdaptor;
    use shoal_learn::optim::FusedSgd;
    let m = shoal_learn::basics::seed_momentum();
    let burns = || SgdConfig::new().with_momentum(Some(m.clone()));
    assert_same_steps(
        &four_steps::<CpuAutodiff, _>(OptimizerAdaptor::from(FusedSgd::new(&m))),
        &four_steps::<CpuAutodiff, _>(burns().init()),
        1e-6,
    );
    assert_same_steps(
        &four_steps::<Generic, _>(OptimizerAdaptor::from(FusedSgd::new(&m))),
        &four_steps::<Generic, _>(burns().init()),
        1e-6,
    );
}

/// The DCGAN's fused Adam computes what burn's Adam with the same betas and epsilon computes,
/// step after step (the first step has no moments yet), on the CPU backend and through burn's
/// tensor ops on another; and its state is burn's: a record of burn's Adam (what `shoal dcgan`
/// checkpoints held before) loads into it and the steps continue as burn's would.
#[test]
fn the_fused_adam_equals_burns_adam() {
    use burn::nn::Linear;
    use burn::optim::AdamConfig;
    use burn::optim::adaptor::OptimizerAdaptor;
    use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
    use shoal_learn::optim::FusedAdam;
    let burns = || AdamConfig::new().with_beta_1(0.5).with_beta_2(0.999).with_epsilon(1e-8);
    fn ours<B: burn::tensor::backend::AutodiffBackend>() -> OptimizerAdaptor<FusedAdam, Linear<B>, B> {
        OptimizerAdaptor::from(FusedAdam::new(0.5, 0.999, 1e-8))
    }
    assert_same_steps(
        &four_steps::<CpuAutodiff, _>(ours()),
        &four_steps::<CpuAutodiff, _>(burns().init()),
        1e-6,
    );
    assert_same_steps(
        &four_steps::<Generic, _>(ours()),
        &four_steps::<Generic, _>(burns().init()),
        1e-6,
    );

    // burn's Adam's state after two steps (what `shoal dcgan` checkpoints held before) loads
    // into the fused one, and both continue from it alike; a fresh one would not.
    let mut first = burns().init();
    let (_, lin) = fused_steps::<CpuAutodiff, _>(&mut first, 0..2, fixed_linear());
    let rec = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = rec.record(first.to_record(), ()).unwrap();
    let dev = Default::default();
    let mut as_ours: OptimizerAdaptor<FusedAdam, Linear<CpuAutodiff>, CpuAutodiff> =
        ours().load_record(rec.load(bytes.clone(), &dev).unwrap());
    let mut as_burns = burns().init().load_record(rec.load(bytes, &dev).unwrap());
    let (resumed, _) = fused_steps(&mut as_ours, 2..6, lin.clone());
    assert_same_steps(&resumed, &fused_steps(&mut as_burns, 2..6, lin.clone()).0, 1e-6);
    let (fresh, _) = fused_steps(&mut ours(), 2..6, lin);
    assert!(resumed[0].iter().zip(&fresh[0]).any(|(p, q)| (p - q).abs() > 1e-4));
}
