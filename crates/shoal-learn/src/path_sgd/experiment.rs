//! The paper's Fig. 2 experiment: SGD, AdaGrad and Path-SGD on balanced and
//! unbalanced initialisations of a 784-H-H-10 ReLU net on MNIST.
//!
//! Every run is a steppable object: [`Run::step`] trains one mini-batch and returns its
//! loss; [`Run::evaluate`] measures cross-entropy and 0/1 error.

use super::mlp::Mlp;
pub use super::run::{Algo, Eval, Feed, Init, Recipe, Run, evaluate};
use crate::data::{Digits, PIXELS};
use burn::tensor::backend::{AutodiffBackend, Backend};
use std::sync::Arc;

/// The initial net of an experiment: `balanced` from `seed`, optionally unbalanced.
pub fn initial_net<B: Backend>(sizes: &[usize], init: Init, seed: u64, dev: &B::Device) -> Mlp<B> {
    let net = Mlp::balanced(sizes, seed, dev);
    match init {
        Init::Balanced => net,
        Init::Unbalanced => net.unbalanced(seed),
    }
}

/// One row of the experiment's log.
#[derive(Clone, Debug)]
pub struct EpochRow {
    pub epoch: usize,
    pub algo: Algo,
    pub init: Init,
    pub lr: f64,
    pub train: Eval,
    pub test: Eval,
    pub diverged: bool,
}

/// Settings of the Fig. 2 experiment.
#[derive(Clone, Debug)]
pub struct ExperimentConfig {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr_grid: Vec<f64>,
    pub p: f64,
    pub seed: u64,
    /// Epochs of each trial run when choosing the learning rate.
    pub select_epochs: usize,
    /// Training images held out for choosing the learning rate.
    pub holdout: usize,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            hidden: 4000,
            epochs: 10,
            batch: 100,
            lr_grid: vec![1.0, 0.1, 0.01, 0.001],
            p: 2.0,
            seed: 1,
            select_epochs: 1,
            holdout: 1000,
        }
    }
}

/// Splits off the last `n` images as a held-out set.
pub fn split_holdout(data: &Digits, n: usize) -> (Digits, Digits) {
    let n = n.min(data.len() / 2);
    let cut = data.len() - n;
    let mut fit = data.clone();
    fit.truncate(cut);
    let hold = Digits {
        images: data.images[cut * PIXELS..].to_vec(),
        labels: data.labels[cut..].to_vec(),
        charset: data.charset.clone(),
        source: format!("{} (held out)", data.source),
    };
    (fit, hold)
}

/// What the experiment reports while it runs.
pub enum Progress<'a> {
    /// A trial run for the learning-rate choice finished.
    Trial {
        algo: Algo,
        init: Init,
        lr: f64,
        holdout_error: f64,
        diverged: bool,
    },
    /// The chosen learning rate of an algorithm.
    Chosen { algo: Algo, lr: f64 },
    /// One mini-batch of a main run.
    Step {
        run: usize,
        runs: usize,
        step: usize,
        steps: usize,
        loss: f64,
    },
    /// A main run finished an epoch.
    Epoch(&'a EpochRow),
}

/// The digits a set of runs trains on, and the two sets each epoch is evaluated on.
pub struct RunData<'a> {
    pub train: Arc<Digits>,
    pub eval_train: &'a Digits,
    pub eval_test: &'a Digits,
}

/// Trains every (algo, init) pair for `epochs` epochs from the same initial nets;
/// calls `progress`, and returns the log rows (epoch 0 is before training).
pub fn train_runs<B: AutodiffBackend>(
    cfg: &ExperimentConfig,
    lrs: &[(Algo, f64)],
    inits: &[Init],
    epochs: usize,
    data: &RunData<'_>,
    dev: &B::Device,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Vec<EpochRow> {
    let RunData {
        train,
        eval_train,
        eval_test,
    } = data;
    let sizes = [PIXELS, cfg.hidden, cfg.hidden, 10];
    let mut rows = Vec::new();
    let total = lrs.len() * inits.len();
    let mut k = 0;
    for &init in inits {
        for &(algo, lr) in lrs {
            let model = initial_net::<B>(&sizes, init, cfg.seed, dev);
            let mut run = Run::new(
                model,
                Recipe {
                    algo,
                    init,
                    lr,
                    p: cfg.p,
                },
                Feed {
                    train: train.clone(),
                    batch: cfg.batch,
                    seed: cfg.seed,
                },
                dev.clone(),
            )
            .expect("p was validated");
            let log = |run: &Run<B>, epoch: usize, rows: &mut Vec<EpochRow>, progress: &mut dyn FnMut(Progress<'_>)| {
                let (tr, te) = if run.diverged {
                    let bad = Eval {
                        cross_entropy: f64::INFINITY,
                        error: 0.9,
                    };
                    (bad, bad)
                } else {
                    (run.evaluate(eval_train), run.evaluate(eval_test))
                };
                let row = EpochRow {
                    epoch,
                    algo,
                    init,
                    lr,
                    train: tr,
                    test: te,
                    diverged: run.diverged,
                };
                progress(Progress::Epoch(&row));
                rows.push(row);
            };
            log(&run, 0, &mut rows, progress);
            let steps = run.steps_per_epoch();
            for epoch in 1..=epochs {
                for s in 0..steps {
                    let loss = run.step();
                    progress(Progress::Step {
                        run: k,
                        runs: total,
                        step: (epoch - 1) * steps + s + 1,
                        steps: epochs * steps,
                        loss,
                    });
                    if run.diverged {
                        break;
                    }
                }
                log(&run, epoch, &mut rows, progress);
                if run.diverged {
                    break;
                }
            }
            k += 1;
        }
    }
    rows
}

/// Chooses each algorithm's learning rate from `cfg.lr_grid`: trial runs on the training
/// images minus a held-out set, on both inits, for `cfg.select_epochs`; the rate with the
/// lowest mean held-out error wins (diverged trials count as 100 % error).
pub fn choose_learning_rates<B: AutodiffBackend>(
    cfg: &ExperimentConfig,
    train: &Digits,
    dev: &B::Device,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Vec<(Algo, f64)> {
    let (fit, hold) = split_holdout(train, cfg.holdout);
    let fit = Arc::new(fit);
    let mut chosen = Vec::new();
    for algo in Algo::ALL {
        let mut best = (f64::INFINITY, cfg.lr_grid[0]);
        for &lr in &cfg.lr_grid {
            let mut total = 0.0;
            for init in Init::ALL {
                let rows = train_runs::<B>(
                    cfg,
                    &[(algo, lr)],
                    &[init],
                    cfg.select_epochs,
                    &RunData {
                        train: fit.clone(),
                        eval_train: &hold,
                        eval_test: &hold,
                    },
                    dev,
                    &mut |_| {},
                );
                let last = rows.last().expect("at least the epoch-0 row");
                let err = if last.diverged { 1.0 } else { last.test.error };
                progress(Progress::Trial {
                    algo,
                    init,
                    lr,
                    holdout_error: err,
                    diverged: last.diverged,
                });
                total += err;
            }
            if total < best.0 {
                best = (total, lr);
            }
        }
        progress(Progress::Chosen { algo, lr: best.1 });
        chosen.push((algo, best.1));
    }
    chosen
}

/// The log as CSV: `epoch,method,init,lr,train_ce,train_error,test_error,diverged`.
pub fn rows_to_csv(rows: &[EpochRow]) -> String {
    let mut s = String::from("epoch,method,init,lr,train_ce,train_error,test_error,diverged\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.epoch,
            r.algo.name(),
            r.init.name(),
            r.lr,
            r.train.cross_entropy,
            r.train.error,
            r.test.error,
            r.diverged
        ));
    }
    s
}

/// Writes `path_sgd.csv` and `path_sgd.png` (three panels like the paper's Fig. 2).
pub fn write_outputs(
    rows: &[EpochRow],
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    use crate::plot::{Panel, Series, write_panels};
    let csv = dir.join("path_sgd.csv");
    let png = dir.join("path_sgd.png");
    shoal_common::fs::write_atomic(&csv, rows_to_csv(rows).as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", csv.display()))?;
    let mut keys: Vec<(Algo, Init)> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.algo, r.init)) {
            keys.push((r.algo, r.init));
        }
    }
    let names: Vec<String> = keys
        .iter()
        .map(|(a, i)| format!("{} ({})", a.name(), i.name()))
        .collect();
    let curve = |f: &dyn Fn(&EpochRow) -> f64| -> Vec<Vec<(f64, f64)>> {
        keys.iter()
            .map(|&(a, i)| {
                rows.iter()
                    .filter(|r| r.algo == a && r.init == i)
                    .map(|r| (r.epoch as f64, f(r)))
                    .collect()
            })
            .collect()
    };
    let ce = curve(&|r| r.train.cross_entropy);
    let tr = curve(&|r| r.train.error);
    let te = curve(&|r| r.test.error);
    fn series<'a>(keys: &[(Algo, Init)], names: &'a [String], c: &'a [Vec<(f64, f64)>]) -> Vec<Series<'a>> {
        keys.iter()
            .zip(names)
            .zip(c)
            .map(|((&(_, init), name), pts)| Series {
                name,
                points: pts,
                thin: init == Init::Balanced,
            })
            .collect()
    }
    let (s1, s2, s3) = (
        series(&keys, &names, &ce),
        series(&keys, &names, &tr),
        series(&keys, &names, &te),
    );
    write_panels(
        &png,
        &[
            Panel {
                title: "Train cross-entropy",
                x_label: "epoch",
                y_label: "cross-entropy",
                series: &s1,
                log_y: true,
            },
            Panel {
                title: "Train 0/1 error",
                x_label: "epoch",
                y_label: "error",
                series: &s2,
                log_y: true,
            },
            Panel {
                title: "Test 0/1 error",
                x_label: "epoch",
                y_label: "error",
                series: &s3,
                log_y: true,
            },
        ],
        (1500, 520),
    )?;
    Ok((csv, png))
}
