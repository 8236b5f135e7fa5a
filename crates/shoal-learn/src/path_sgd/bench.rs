//! `shoal bench path-sgd`: step time of Path-SGD against plain SGD on the same net.

use super::experiment::{Algo, Feed, Init, Recipe, Run};
use super::mlp::Mlp;
use crate::data::{Digits, PIXELS, Split};
use burn::tensor::backend::AutodiffBackend;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, serde::Serialize)]
pub struct PathSgdBench {
    pub bench: &'static str,
    pub sizes: Vec<usize>,
    pub batch: usize,
    pub iters: usize,
    /// Median ms of one SGD step (batch to tensors, forward, backward, update).
    pub sgd_ms: f64,
    /// Median ms of one Path-SGD step (the same plus the gamma passes).
    pub path_sgd_ms: f64,
    pub ratio: f64,
}

fn median(v: Vec<f64>) -> f64 {
    shoal_common::stats::percentile(&shoal_common::stats::sorted(v), 50.0)
}

/// Times `iters` steps of each (after one warm-up step), interleaved.
pub fn run<B: AutodiffBackend>(
    hidden: usize,
    batch: usize,
    iters: usize,
    dev: &B::Device,
) -> anyhow::Result<PathSgdBench> {
    anyhow::ensure!(
        hidden > 0 && batch > 0 && iters > 0,
        "--hidden, --batch and --iters must be at least 1"
    );
    let data = Arc::new(Digits::bundled(Split::Train));
    anyhow::ensure!(batch <= data.len(), "--batch must be at most {}", data.len());
    let sizes = vec![PIXELS, hidden, hidden, 10];
    let net = Mlp::<B>::balanced(&sizes, 1, dev);
    let recipe = |algo| Recipe {
        algo,
        init: Init::Balanced,
        lr: 1e-3,
        p: 2.0,
    };
    let feed = Feed {
        train: data,
        batch,
        seed: 1,
    };
    let mut sgd = Run::new(net.clone(), recipe(Algo::Sgd), feed.clone(), dev.clone())?;
    let mut path = Run::new(net, recipe(Algo::PathSgd), feed, dev.clone())?;
    sgd.step();
    path.step();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let t = Instant::now();
        sgd.step();
        a.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        path.step();
        b.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (sgd_ms, path_sgd_ms) = (median(a), median(b));
    Ok(PathSgdBench {
        bench: "path-sgd",
        sizes,
        batch,
        iters,
        sgd_ms,
        path_sgd_ms,
        ratio: path_sgd_ms / sgd_ms,
    })
}
