//! `shoal classifier`: trains the MNIST CNN behind the DCGAN metrics.

use super::progress_bar;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct ClassifierArgs {
    /// The shipped classifier was trained with the defaults (12 epochs, seed 1).
    #[arg(long, default_value_t = 12)]
    pub(super) epochs: usize,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Where to write the weights (the shipped copy is assets/classifier.bin).
    #[arg(long, default_value = "out/classifier.bin")]
    pub(super) out: PathBuf,
}

pub(super) fn classifier(args: &ClassifierArgs) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    use shoal::learn::metrics::{self, classifier_score, probs_and_features};
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (train, test) = (Digits::bundled(Split::Train), Digits::bundled(Split::Test));
    let dev = Default::default();
    let bar = progress_bar((args.epochs * (train.len() / 64)) as u64, "classifier");
    let (model, accs) = metrics::train_classifier::<shoal::learn::CpuAutodiff>(
        &train,
        &test,
        args.epochs,
        args.seed,
        &dev,
        |e, _, loss| {
            bar.inc(1);
            bar.set_message(format!("epoch {} loss {loss:.4}", e + 1));
        },
    );
    bar.finish_and_clear();
    for (e, a) in accs.iter().enumerate() {
        println!("epoch {}: test accuracy {:.4}", e + 1, a);
    }
    let (probs, _) = probs_and_features(&model, &test.images, &dev);
    println!(
        "classifier score of the real test images: {:.3} (max 10)",
        classifier_score(&probs)
    );
    let bytes = model.to_bytes()?;
    shoal::util::write_atomic(&args.out, &bytes).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}
