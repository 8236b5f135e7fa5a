//! `shoal data`: load a dataset and summarise it.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct DataArgs {
    /// A directory of MNIST / Fashion-MNIST / EMNIST IDX files (gzip or raw); default: the bundled digits.
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// Read EMNIST files of this split (byclass, bymerge, balanced, letters, digits, mnist).
    #[arg(long)]
    pub(super) emnist_split: Option<shoal::learn::data::EmnistSplit>,
}

pub(super) fn data(args: &DataArgs) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    for split in [Split::Train, Split::Test] {
        let t = std::time::Instant::now();
        let d = Digits::load(args.data.as_deref(), split, args.emnist_split)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let counts: Vec<String> = d
            .class_counts()
            .iter()
            .zip(&d.charset)
            .map(|(n, c)| format!("{c}:{n}"))
            .collect();
        println!(
            "{}: {} images, {} classes, loaded in {ms:.0} ms",
            d.source,
            d.len(),
            d.classes()
        );
        println!("  per class: {}", counts.join(" "));
    }
    Ok(())
}
