//! A whole DCGAN run as a library call: epochs of training, and per epoch a CSV row (losses,
//! D outputs, classifier score, Fréchet distance, seconds), the fixed-noise grid, the
//! interpolation strip and a checkpoint; at the end the GIF of the grids. `shoal dcgan` is
//! this plus a progress bar; anything else can call it with its own progress callback.
//!
//! Crash safety: an epoch's CSV row is written before its checkpoint, and a resumed run drops
//! the rows of epochs after the checkpoint's, so a crash between the two never leaves a
//! duplicated row. Resuming refuses a checkpoint made with another seed, batch or data.

use super::{DcganConfig, EpochMeter, EpochStats, IterReport, Trainer, write_gif, write_grey_png};
use crate::data::{Digits, EmnistSplit, Split};
use burn::tensor::backend::AutodiffBackend;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The CSV's columns. `score`/`frechet` belong to the generator the samples come from (G's
/// moving average with `ema`, else G); `score_current`/`frechet_current` to G's own weights
/// when they differ.
pub const CSV_HEADER: &str = "epoch,g_loss,d_loss,d_real,d_fake,score,frechet,seconds,score_current,frechet_current";

/// What a run does.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub cfg: DcganConfig,
    /// Train until this many epochs are done (counting those of a resumed checkpoint).
    pub epochs: usize,
    /// IDX files to train on (`None`: the bundled digits).
    pub data: Option<PathBuf>,
    pub emnist: Option<EmnistSplit>,
    /// Use only the first N training images.
    pub train_limit: Option<usize>,
    /// Where the CSV, images, checkpoint and GIF go.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.bin`.
    pub resume: bool,
}

/// What the run tells its caller as it goes.
pub enum Progress<'a> {
    /// Before the first step: iterations in the whole run, and how many are already done.
    Start { total: u64, done: u64 },
    /// One iteration (in epoch `epoch`, 0-based).
    Iteration { report: &'a IterReport, epoch: usize },
    /// An epoch ended and its files are written.
    Epoch {
        stats: &'a EpochStats,
        score: f64,
        frechet: f64,
    },
    /// Something worth a line (resumed, metrics skipped, ...).
    Note(String),
}

/// What a finished run wrote.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub epochs: usize,
    pub csv: PathBuf,
    pub checkpoint: PathBuf,
    pub gif: PathBuf,
    /// Frames in the GIF (one per epoch, plus the initial grid).
    pub frames: usize,
}

/// Runs the DCGAN on `dev` as `opts` says, calling `progress` along the way.
pub fn run<B: AutodiffBackend>(
    opts: &RunOptions,
    dev: B::Device,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<RunSummary> {
    anyhow::ensure!(opts.epochs > 0, "--epochs must be at least 1");
    shoal_common::fs::prepare_out_dir(&opts.out)?;
    let mut train = Digits::load(opts.data.as_deref(), Split::Train, opts.emnist)?;
    if let Some(n) = opts.train_limit {
        train.truncate(n);
    }
    let mut t = Trainer::<B>::new(opts.cfg.clone(), Arc::new(train), dev)?;
    let ckpt = opts.out.join("checkpoint.bin");
    let csv = opts.out.join("dcgan.csv");
    // The grids of this run, in memory (as the PNGs: twice the size), for the GIF; a resumed
    // run starts from the grids its earlier epochs left in `out`.
    let mut grids: Vec<Vec<u8>> = Vec::new();
    let doubled = |(grey, w, h): (Vec<u8>, u32, u32)| -> (Vec<u8>, u32, u32) {
        let (rgb, w, h) = super::grey_to_rgb(&grey, w, h, 2);
        (rgb.into_iter().step_by(3).collect(), w, h)
    };
    if opts.resume {
        t.load_checkpoint(&ckpt)?;
        progress(Progress::Note(format!(
            "resumed from {} at epoch {}",
            ckpt.display(),
            t.epoch
        )));
        resume_csv(&csv, t.epoch)?;
        grids = earlier_grids(&opts.out, t.epoch);
    } else {
        std::fs::write(&csv, format!("{CSV_HEADER}\n"))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", csv.display()))?;
    }
    if !opts.resume {
        let (grid, w, h) = t.fixed_grid();
        write_grey_png(&opts.out.join("grid_000.png"), &grid, w, h, 2)?;
        grids.push(doubled((grid, w, h)).0);
    }
    // Quality metrics per epoch: classifier score and Fréchet distance of 1,000 samples
    // against the real test images, with the shipped classifier.
    let test = Digits::load(opts.data.as_deref(), Split::Test, opts.emnist)?;
    let judge = match (
        opts.emnist,
        crate::metrics::Classifier::<crate::Cpu>::bundled(&Default::default()),
    ) {
        (None, Ok(c)) => Some(c),
        (Some(_), _) => {
            progress(Progress::Note(
                "note: the shipped classifier knows only digits; metrics are skipped for EMNIST".into(),
            ));
            None
        }
        (None, Err(e)) => {
            progress(Progress::Note(format!("note: metrics skipped: {e}")));
            None
        }
    };
    let metrics = |t: &Trainer<B>, averaged: bool| -> (f64, f64) {
        match &judge {
            Some(c) => {
                crate::metrics::image_metrics(c, &t.sample_from(1000, 99, averaged), &test.images, &Default::default())
            }
            None => (f64::NAN, f64::NAN),
        }
    };
    let per_epoch = t.iters_per_epoch() as u64;
    progress(Progress::Start {
        total: opts.epochs as u64 * per_epoch,
        done: t.epoch as u64 * per_epoch,
    });
    let mut meter = EpochMeter::default();
    let mut clock = std::time::Instant::now();
    while t.epoch < opts.epochs {
        let r = t.step();
        meter.add(&r);
        progress(Progress::Iteration {
            report: &r,
            epoch: t.epoch - usize::from(r.epoch_done),
        });
        anyhow::ensure!(
            r.g_loss.is_finite() && r.d_loss.is_finite(),
            "training diverged (loss is not finite)"
        );
        if !r.epoch_done {
            continue;
        }
        let stats = meter.finish(t.epoch, clock.elapsed().as_secs_f64());
        clock = std::time::Instant::now();
        let (grid, w, h) = t.fixed_grid();
        write_grey_png(&opts.out.join(format!("grid_{:03}.png", t.epoch)), &grid, w, h, 2)?;
        grids.push(doubled((grid, w, h)).0);
        let (strip, sw, sh) = t.interpolation_strip();
        write_grey_png(&opts.out.join(format!("interp_{:03}.png", t.epoch)), &strip, sw, sh, 2)?;
        let (score, frechet) = metrics(&t, true);
        let current = if t.averaging() {
            let (s, f) = metrics(&t, false);
            format!("{s},{f}")
        } else {
            ",".into()
        };
        // The row first, then the checkpoint: a resume drops rows past the checkpoint's epoch.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&csv)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", csv.display()))?;
        writeln!(
            f,
            "{},{},{},{},{},{},{},{:.2},{current}",
            stats.epoch, stats.g_loss, stats.d_loss, stats.d_real, stats.d_fake, score, frechet, stats.seconds
        )?;
        t.save_checkpoint(&ckpt)?;
        progress(Progress::Epoch {
            stats: &stats,
            score,
            frechet,
        });
    }
    // The seed's animation: the fixed-noise grid over the epochs.
    let gif = opts.out.join("grids.gif");
    // Every grid is 8 x 8 tiles of (28 + 2 px gap) + 2, doubled.
    let side = 2 * (8 * (super::SIDE as u32 + 2) + 2);
    let (gw, gh) = (side, side);
    // Frames from an older run of another size cannot join the animation.
    grids.retain(|g| g.len() == (gw * gh) as usize);
    write_gif(&gif, &grids, gw, gh, 40)?;
    Ok(RunSummary {
        epochs: t.epoch,
        csv,
        checkpoint: ckpt,
        gif,
        frames: grids.len(),
    })
}

/// Brings a resumed run's CSV up to date: the current header (an older shoal wrote fewer
/// columns; rows keep their values), and only the rows of epochs the checkpoint holds (rows
/// written after it, before a crash, would otherwise appear twice).
fn resume_csv(path: &Path, epochs_done: usize) -> anyhow::Result<()> {
    if !path.exists() {
        return std::fs::write(path, format!("{CSV_HEADER}\n"))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    anyhow::ensure!(
        CSV_HEADER.starts_with(first) && first.starts_with("epoch,"),
        "{} is not a shoal DCGAN log (header '{first}')",
        path.display()
    );
    let mut out = format!("{CSV_HEADER}\n");
    for line in lines {
        let epoch = line.split(',').next().and_then(|e| e.parse::<usize>().ok());
        if epoch.is_some_and(|e| e <= epochs_done) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out != text {
        shoal_common::fs::write_atomic(path, out.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The grids an earlier part of a resumed run wrote (`grid_000.png` .. epoch `upto`), as grey
/// pixels; missing or unreadable ones are skipped.
fn earlier_grids(dir: &Path, upto: usize) -> Vec<Vec<u8>> {
    (0..=upto)
        .filter_map(|e| {
            let bytes = std::fs::read(dir.join(format!("grid_{e:03}.png"))).ok()?;
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().ok()?;
            let mut buf = vec![0; reader.output_buffer_size()?];
            let info = reader.next_frame(&mut buf).ok()?;
            // Grey written as RGB: one channel of each pixel.
            let channels = info.color_type.samples();
            Some(buf[..info.buffer_size()].iter().step_by(channels).copied().collect())
        })
        .collect()
}
