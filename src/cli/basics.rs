//! `shoal basics`: one small net trained three ways.

use super::progress_bar;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct BasicsArgs {
    #[arg(long, default_value_t = 1000)]
    pub(super) epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Output directory for basics.csv and basics.png.
    #[arg(long, default_value = "out/basics")]
    pub(super) out: PathBuf,
}

pub(super) fn basics(args: &BasicsArgs) -> Result<()> {
    use shoal::learn::basics::Method;
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    shoal_common::fs::prepare_out_dir(&args.out)?;
    let bar = progress_bar(args.epochs as u64, "basics");
    let start = std::time::Instant::now();
    let curves = shoal::learn::tasks::basics(args.epochs, args.seed, &mut |e, l| {
        bar.set_position(e as u64 + 1);
        bar.set_message(format!("hand {:.3e}  autodiff {:.3e}  module {:.3e}", l[0], l[1], l[2]));
    });
    bar.finish();
    let secs = start.elapsed().as_secs_f64();
    let (csv, png) = curves.write(&args.out)?;
    let last = args.epochs - 1;
    for m in Method::ALL {
        let marks: Vec<String> = [0, 200.min(last), last]
            .iter()
            .map(|&e| format!("epoch {e}: {:.4e}", curves.at(e, m)))
            .collect();
        println!("{:<17} {}", m.name(), marks.join("  "));
    }
    println!(
        "{:.2} ms per epoch for all three methods ({:.1} s); wrote {} and {}",
        secs * 1e3 / args.epochs as f64,
        secs,
        csv.display(),
        png.display()
    );
    Ok(())
}
