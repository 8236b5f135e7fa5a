//! `shoal path-sgd`: the Path-SGD paper's Fig. 2.

use super::{print_above, progress_bar};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct PathSgdArgs {
    /// Units per hidden layer (784-H-H-10).
    #[arg(long, default_value_t = 4000)]
    pub(super) hidden: usize,
    #[arg(long, default_value_t = 10)]
    pub(super) epochs: usize,
    #[arg(long, default_value_t = 100)]
    pub(super) batch: usize,
    /// Learning rates to choose from, per method (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,0.1,0.01,0.001")]
    pub(super) lr_grid: Vec<f64>,
    /// Epochs of each trial run when choosing a learning rate.
    #[arg(long, default_value_t = 1)]
    pub(super) select_epochs: usize,
    /// The p of the path norm.
    #[arg(long, default_value_t = 2.0)]
    pub(super) p: f64,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Use only the first N training images (quick runs).
    #[arg(long)]
    pub(super) train_limit: Option<usize>,
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    #[arg(long, default_value = "out/path-sgd")]
    pub(super) out: PathBuf,
}

pub(super) fn path_sgd(args: &PathSgdArgs) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    use shoal::learn::path_sgd::PathSgd;
    use shoal::learn::path_sgd::experiment::{self as ex, ExperimentConfig, Progress};
    anyhow::ensure!(args.hidden > 0, "--hidden must be at least 1");
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(!args.lr_grid.is_empty(), "--lr-grid needs at least one learning rate");
    for &lr in &args.lr_grid {
        anyhow::ensure!(
            lr.is_finite() && lr > 0.0,
            "learning rates must be positive numbers, got {lr}"
        );
    }
    PathSgd::new(args.p)?;
    shoal_common::fs::prepare_out_dir(&args.out)?;
    let mut train = Digits::load(args.data.as_deref(), Split::Train, None)?;
    if let Some(n) = args.train_limit {
        anyhow::ensure!(n >= 2 * args.batch, "--train-limit must be at least twice the batch");
        train.truncate(n);
    }
    let test = Digits::load(args.data.as_deref(), Split::Test, None)?;
    anyhow::ensure!(
        train.len() >= 2 * args.batch,
        "need at least two batches of training images"
    );
    let cfg = ExperimentConfig {
        hidden: args.hidden,
        epochs: args.epochs,
        batch: args.batch,
        lr_grid: args.lr_grid.clone(),
        p: args.p,
        seed: args.seed,
        select_epochs: args.select_epochs,
        holdout: (train.len() / 8).max(args.batch),
    };
    eprintln!("choosing learning rates from {:?} on a held-out split ...", cfg.lr_grid);
    let bar = progress_bar(0, "path-sgd");
    let mut choose = |p: Progress<'_>| match p {
        Progress::Trial {
            algo,
            init,
            lr,
            holdout_error,
            diverged,
        } => print_above(
            &bar,
            format!(
                "  {:<8} {:<10} lr {lr:<6} held-out error {:.4}{}",
                algo.name(),
                init.name(),
                holdout_error,
                if diverged { " (diverged)" } else { "" }
            ),
        ),
        Progress::Chosen { algo, lr } => print_above(&bar, format!("  -> {}: lr {lr}", algo.name())),
        _ => {}
    };
    let rows = shoal::learn::tasks::path_sgd_experiment(&cfg, train, &test, &mut choose, &mut |p| match p {
        Progress::Step {
            run,
            runs,
            step,
            steps,
            loss,
        } => {
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
            bar.set_message(format!("run {}/{runs} loss {loss:.4}", run + 1));
        }
        Progress::Epoch(r) => print_above(
            &bar,
            format!(
                "{:<8} {:<10} epoch {:>3}: train CE {:.4} train err {:.4} test err {:.4}{}",
                r.algo.name(),
                r.init.name(),
                r.epoch,
                r.train.cross_entropy,
                r.train.error,
                r.test.error,
                if r.diverged { " (diverged)" } else { "" }
            ),
        ),
        _ => {}
    });
    bar.finish_and_clear();
    let (csv, png) = ex::write_outputs(&rows, &args.out)?;
    println!("final epoch:");
    println!(
        "{:<9} {:<11} {:>8} {:>9} {:>10} {:>9}",
        "method", "init", "lr", "train CE", "train err", "test err"
    );
    for r in rows.iter().filter(|r| r.epoch == cfg.epochs || r.diverged) {
        println!(
            "{:<9} {:<11} {:>8} {:>9.4} {:>10.4} {:>9.4}{}",
            r.algo.name(),
            r.init.name(),
            r.lr,
            r.train.cross_entropy,
            r.train.error,
            r.test.error,
            if r.diverged { " diverged" } else { "" }
        );
    }
    println!("wrote {} and {}", csv.display(), png.display());
    Ok(())
}
