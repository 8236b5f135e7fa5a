//! `shoal dcgan`: the seed's DCGAN run (the loop itself is `learn::dcgan::run`).

use super::{print_above, progress_bar, train_device};
use anyhow::Result;
use clap::{Args, Subcommand};
use shoal::app::backend::BackendChoice;
use std::path::Path;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct DcganArgs {
    #[command(subcommand)]
    pub(super) command: Option<DcganCommand>,
    #[arg(long, default_value_t = 20)]
    pub(super) epochs: usize,
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    #[arg(long)]
    pub(super) emnist_split: Option<shoal::learn::data::EmnistSplit>,
    /// flex (CPU) or wgpu (GPU; needs a build with the `gpu` feature, on by default).
    #[arg(long, default_value = "flex")]
    pub(super) backend: BackendChoice,
    #[arg(long, default_value = "sgd")]
    pub(super) optimizer: shoal::learn::dcgan::OptimizerKind,
    /// Draw samples (grids, metrics) from a moving average of G's weights with this decay
    /// per iteration, e.g. 0.999; the CSV then also scores G's current weights.
    #[arg(long, value_parser = parse_decay)]
    pub(super) ema: Option<f64>,
    /// Learning rate instead of the recipe's (SGD 1e-3 with its decay, Adam 2e-4); 1e-6 to 0.1.
    #[arg(long, value_parser = parse_lr)]
    pub(super) lr: Option<f64>,
    #[arg(long, default_value_t = 128)]
    pub(super) batch: usize,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Use only the first N training images.
    #[arg(long)]
    pub(super) train_limit: Option<usize>,
    #[arg(long, default_value = "out/dcgan")]
    pub(super) out: PathBuf,
    /// Continue from OUT/checkpoint.bin.
    #[arg(long)]
    pub(super) resume: bool,
}

#[derive(Subcommand, Debug)]
pub(super) enum DcganCommand {
    /// Write N digits drawn from a checkpoint as an IDX file (gzip if FILE ends in .gz), for
    /// `shoal classifier score` or any other tool that reads MNIST files.
    Sample(SampleArgs),
}

/// Most digits one `shoal dcgan sample` writes (784 bytes each).
const MAX_SAMPLES: usize = 200_000;

#[derive(Args, Debug)]
pub(super) struct SampleArgs {
    /// A `shoal dcgan --out` folder (its checkpoint.bin is read) or a checkpoint file.
    #[arg(long)]
    pub(super) from: PathBuf,
    /// How many digits (1 to 200000).
    #[arg(long, default_value_t = 1000)]
    pub(super) n: usize,
    /// The IDX file to write (n x 28 x 28 bytes); gzip-compressed when it ends in .gz.
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Also write the first 64 digits as an 8x8 grid PNG.
    #[arg(long)]
    pub(super) grid: Option<PathBuf>,
    /// Seed of the noise the digits are drawn from.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
}

pub(super) fn dcgan(args: &DcganArgs) -> Result<()> {
    if let Some(DcganCommand::Sample(s)) = &args.command {
        return sample(s);
    }
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    let device = train_device(args.backend)?;
    use shoal::learn::dcgan::DcganConfig;
    use shoal::learn::dcgan::run::{Progress, RunOptions};
    let opts = RunOptions {
        cfg: DcganConfig {
            z: 32,
            batch: args.batch,
            optimizer: args.optimizer,
            seed: args.seed,
            ema: args.ema,
            base_lr: args.lr,
        },
        epochs: args.epochs,
        data: args.data.clone(),
        emnist: args.emnist_split,
        train_limit: args.train_limit,
        out: args.out.clone(),
        resume: args.resume,
    };
    let bar = progress_bar(0, "dcgan");
    let done = shoal::learn::tasks::dcgan(&opts, &device, &mut |p| match p {
        Progress::Start { total, done } => {
            bar.set_length(total);
            bar.set_position(done);
        }
        Progress::Iteration { report: r, epoch } => {
            bar.inc(1);
            bar.set_message(format!(
                "epoch {epoch} G {:.3} D {:.3} D(x) {:.2} D(G(z)) {:.2}",
                r.g_loss, r.d_loss, r.d_real, r.d_fake
            ));
        }
        Progress::Epoch {
            stats: s,
            score,
            frechet,
        } => print_above(
            &bar,
            format!(
                "epoch {:>3}: G {:.4} D {:.4} D(x) {:.3} D(G(z)) {:.3} score {score:.2} Frechet {frechet:.2} ({:.1} s)",
                s.epoch, s.g_loss, s.d_loss, s.d_real, s.d_fake, s.seconds
            ),
        ),
        Progress::Note(line) => print_above(&bar, line),
    });
    bar.finish_and_clear();
    let done = done?;
    println!(
        "wrote {} epochs of grids, {}, {} and {}",
        done.frames,
        done.csv.display(),
        done.checkpoint.display(),
        done.gif.display()
    );
    Ok(())
}

/// An EMA decay: a number in [0, 1).
pub(super) fn parse_decay(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if (0.0..1.0).contains(&d) => Ok(d),
        _ => Err(format!("'{s}' is not a decay in [0, 1), e.g. 0.999")),
    }
}

/// `shoal dcgan sample`: digits from a checkpoint's generator (its moving average if the run
/// kept one), as an IDX file and optionally a grid; written only when all are made.
fn sample(args: &SampleArgs) -> Result<()> {
    use anyhow::Context;
    use shoal::learn::dcgan::{tile, write_grey_png};
    anyhow::ensure!(
        (1..=MAX_SAMPLES).contains(&args.n),
        "--n must be between 1 and {MAX_SAMPLES}, got {}",
        args.n
    );
    let file = super::app::checkpoint_file(&args.from);
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
    let (images, cfg, epoch) = shoal::learn::tasks::dcgan_sample(&bytes, args.n, args.seed)
        .with_context(|| format!("{} is not a usable DCGAN checkpoint", file.display()))?;
    let idx = shoal::learn::data::idx::encode(shoal::learn::data::idx::IdxType::U8, &[args.n as u32, 28, 28], &images);
    let body = if has_gz_extension(&args.out) {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&idx)?;
        z.finish()?
    } else {
        idx
    };
    if let Some(grid) = &args.grid {
        let (grey, w, h) = tile(&images, 8, 8);
        write_grey_png(grid, &grey, w, h, 2)?;
    }
    shoal_common::fs::write_atomic(&args.out, &body).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} digits from {} (epoch {epoch}{}) to {}",
        args.n,
        file.display(),
        if cfg.ema.is_some() { ", G's moving average" } else { "" },
        args.out.display()
    );
    Ok(())
}

fn has_gz_extension(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

fn parse_lr(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (1e-6..=0.1).contains(&v) {
        Ok(v)
    } else {
        Err(format!("the learning rate must be between 1e-6 and 0.1, got {s}"))
    }
}
