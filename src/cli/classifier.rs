//! `shoal classifier`: trains the MNIST CNN behind the DCGAN metrics.

use super::progress_bar;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct ClassifierArgs {
    #[command(subcommand)]
    pub(super) command: Option<ClassifierCommand>,
    /// The shipped classifier was trained with the defaults (12 epochs, seed 1).
    #[arg(long, default_value_t = 12)]
    pub(super) epochs: usize,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Where to write the weights (the shipped copy is assets/classifier.bin).
    #[arg(long, default_value = "out/classifier.bin")]
    pub(super) out: PathBuf,
}

#[derive(Subcommand, Debug)]
pub(super) enum ClassifierCommand {
    /// Score an IDX file of 28x28 digits (e.g. from `shoal dcgan sample`): the classifier score,
    /// the Fréchet distance to the held-out real digits and the class histogram, as one JSON line.
    Score(ScoreArgs),
}

#[derive(Args, Debug)]
pub(super) struct ScoreArgs {
    /// An IDX file of unsigned bytes, n x 28 x 28 (raw or gzip).
    pub(super) file: PathBuf,
}

pub(super) fn classifier(args: &ClassifierArgs) -> Result<()> {
    if let Some(ClassifierCommand::Score(s)) = &args.command {
        return score(s);
    }
    use shoal::learn::data::{Digits, Split};

    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (train, test) = (Digits::bundled(Split::Train), Digits::bundled(Split::Test));
    let bar = progress_bar((args.epochs * (train.len() / 64)) as u64, "classifier");
    let trained = shoal::learn::tasks::train_classifier(&train, &test, args.epochs, args.seed, &mut |e, _, loss| {
        bar.inc(1);
        bar.set_message(format!("epoch {} loss {loss:.4}", e + 1));
    })?;
    bar.finish_and_clear();
    for (e, a) in trained.accuracies.iter().enumerate() {
        println!("epoch {}: test accuracy {:.4}", e + 1, a);
    }
    println!(
        "classifier score of the real test images: {:.3} (max 10)",
        trained.real_score
    );
    let bytes = trained.bytes;
    shoal_common::fs::write_atomic(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

/// `shoal classifier score FILE`.
fn score(args: &ScoreArgs) -> Result<()> {
    use shoal::learn::data::idx::{self, IdxType};
    use shoal::learn::data::{Digits, Split};

    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let arr = idx::parse(&bytes).with_context(|| format!("{} is not an IDX file", args.file.display()))?;
    anyhow::ensure!(
        arr.dtype == IdxType::U8 && arr.dims.len() == 3 && arr.dims[1] == 28 && arr.dims[2] == 28 && arr.dims[0] > 0,
        "{} holds {:?} values of shape {:?}; scoring needs unsigned bytes of shape n x 28 x 28 with n >= 1",
        args.file.display(),
        arr.dtype,
        arr.dims
    );
    let real = Digits::bundled(Split::Test);
    let s = shoal::learn::tasks::score_with_bundled(&arr.data, &real.images)?;
    let line = serde_json::json!({
        "file": args.file.display().to_string(),
        "images": s.images,
        "score": s.score,
        "frechet": s.frechet,
        "frechet_reference": format!("{} held-out real MNIST digits (the bundled test split)", real.len()),
        "classes": s.classes,
    });
    println!("{line}");
    Ok(())
}
