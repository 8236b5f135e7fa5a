//! `shoal record`: the scene rendered off-screen into a GIF or PNG frames.

use super::{MAX_APP_FISH, progress_bar, quiet_no_adapter_panics};
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub(super) struct RecordArgs {
    /// tank (the school) or training (the school with the trainings and the GAN poster).
    #[arg(long, default_value = "tank")]
    pub(super) scene: shoal::scene::record::RecordScene,
    #[arg(long, default_value_t = 300)]
    pub(super) fish: usize,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    #[arg(long, default_value_t = 60)]
    pub(super) frames: usize,
    #[arg(long, default_value_t = 20)]
    pub(super) fps: u32,
    /// Frame size WxH.
    #[arg(long, default_value = "640x360")]
    pub(super) size: String,
    /// Frames rendered before recording starts.
    #[arg(long, default_value_t = 20)]
    pub(super) warmup: usize,
    /// FILE.gif, or DIR/ for frame_0000.png, frame_0001.png, ...
    #[arg(long)]
    pub(super) out: String,
    /// With --scene training: the DCGAN starts from a `shoal dcgan` checkpoint (its folder or
    /// file) instead of from scratch.
    #[arg(long)]
    pub(super) dcgan_from: Option<std::path::PathBuf>,
}

pub(super) fn record(args: &RecordArgs) -> Result<()> {
    use shoal::scene::record::{Output, RecordOptions, parse_size, render_frames, write_frames};
    anyhow::ensure!(
        args.fish <= MAX_APP_FISH,
        "--fish must be at most {MAX_APP_FISH}, got {}",
        args.fish
    );
    let opts = RecordOptions {
        scene: args.scene,
        fish: args.fish,
        seed: args.seed,
        frames: args.frames,
        fps: args.fps,
        size: parse_size(&args.size)?,
        out: Output::parse(&args.out)?,
        warmup: args.warmup,
        dcgan_from: args
            .dcgan_from
            .as_deref()
            .map(super::app::read_dcgan_checkpoint)
            .transpose()?,
    };
    opts.validate()?;
    quiet_no_adapter_panics();
    let bar = progress_bar(opts.frames as u64, "record");
    let frames = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        render_frames(&opts, |n| bar.set_position(n as u64))
    }))
    .map_err(|_| anyhow::anyhow!("rendering failed (see the message above)"))??;
    bar.finish_and_clear();
    let written = write_frames(&opts, &frames)?;
    println!(
        "wrote {} frame(s) to {}",
        frames.len(),
        written.first().map(|p| p.display().to_string()).unwrap_or_default()
    );
    Ok(())
}
