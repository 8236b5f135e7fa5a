//! Tensor basics: hand-written gradients equal autodiff; every method learns.

use burn::tensor::{Tensor, TensorData};
use shoal_learn::basics::{self, D_IN, D_OUT, HIDDEN, Method, N, Problem, autodiff_gradients, hand_gradients};
use shoal_learn::{Cpu, CpuAutodiff};

fn t<B: burn::tensor::backend::Backend>(v: &[f32], shape: [usize; 2]) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    num / den
}

#[test]
fn hand_written_gradients_equal_autodiff() {
    for seed in [0, 1, 2] {
        let p = Problem::new(seed);
        // Also at weights after a few steps, where some ReLUs have switched.
        let (loss_h, g1h, g2h) = hand_gradients::<Cpu>(
            &t(&p.x, [N, D_IN]),
            &t(&p.y, [N, D_OUT]),
            &t(&p.w1, [D_IN, HIDDEN]),
            &t(&p.w2, [HIDDEN, D_OUT]),
        );
        let (loss_a, g1a, g2a) = autodiff_gradients::<CpuAutodiff>(
            &t(&p.x, [N, D_IN]),
            &t(&p.y, [N, D_OUT]),
            &t(&p.w1, [D_IN, HIDDEN]),
            &t(&p.w2, [HIDDEN, D_OUT]),
        );
        assert!(((loss_h - loss_a) / loss_a).abs() < 1e-5, "{loss_h} vs {loss_a}");
        let v = |x: Tensor<Cpu, 2>| x.into_data().to_vec::<f32>().unwrap();
        let (g1h, g2h, g1a, g2a) = (v(g1h), v(g2h), v(g1a), v(g2a));
        assert!(g1h.iter().any(|&g| g != 0.0) && g2h.iter().any(|&g| g != 0.0));
        let (e1, e2) = (rel_err(&g1h, &g1a), rel_err(&g2h, &g2a));
        assert!(e1 <= 1e-4 && e2 <= 1e-4, "seed {seed}: relative errors {e1:e} {e2:e}");
    }
}

#[test]
fn trainers_agree_step_by_step() {
    // By hand and autodiff at the same lr follow the same trajectory.
    let p = Problem::new(4);
    let dev = Default::default();
    let mut hand = basics::ByHand::<Cpu>::new(&p, 1e-6, &dev);
    let mut auto = basics::ByAutodiff::<CpuAutodiff>::new(&p, 1e-6, &dev);
    for _ in 0..20 {
        let (a, b) = (hand.step(), auto.step());
        assert!(((a - b) / b).abs() < 1e-3, "{a} vs {b}");
    }
}

#[test]
fn every_method_lowers_its_loss_by_an_order_of_magnitude() {
    let dev = Default::default();
    let curves = basics::run::<CpuAutodiff>(1000, 0, &dev, |_, _| {});
    assert_eq!(curves.losses.len(), 1000);
    for m in Method::ALL {
        let (first, last) = (curves.at(0, m), curves.at(999, m));
        assert!(first.is_finite() && last.is_finite(), "{m:?}");
        println!("{}: {first:.4e} -> {last:.4e} (x{:.1e})", m.name(), first / last);
        assert!(last * 10.0 <= first, "{m:?}: {first} -> {last}");
    }
    // The CSV and PNG are written and parse.
    let dir = tempfile::tempdir().unwrap();
    let (csv, png) = curves.write(dir.path()).unwrap();
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("epoch,method,loss"));
    let rows: Vec<(usize, String, f32)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 3000);
    assert_eq!(
        rows[3 * 999 + 2],
        (999, "module+optimizer".to_string(), curves.at(999, Method::Module))
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(png).unwrap()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (900, 560));
}

#[test]
fn bad_out_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = shoal_common::fs::prepare_out_dir(&file.join("sub")).unwrap_err();
    assert!(err.to_string().contains("cannot create output directory"), "{err}");
    assert!(shoal_common::fs::prepare_out_dir(&dir.path().join("new/nested")).is_ok());
}
