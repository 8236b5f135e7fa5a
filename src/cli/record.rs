//! `shoal record`: the scene rendered off-screen into a GIF, PNG frames or a video.

use super::{progress_bar, quiet_no_adapter_panics};
use anyhow::Result;
use clap::Args;
use shoal::record::script::Script;
use shoal::record::{Output, RecordOptions, RecordScene, parse_size};

/// Flags left out fall back to the script's settings (`--script`), then to the defaults shown.
#[derive(Args, Debug)]
pub(super) struct RecordArgs {
    /// tank (the school) or training (the school with the trainings and the GAN poster)
    /// [default: tank].
    #[arg(long)]
    pub(super) scene: Option<RecordScene>,
    /// [default: 300]
    #[arg(long, value_parser = |s: &str| shoal::app::options::parse_count("fish", s, shoal::app::options::fish))]
    pub(super) fish: Option<usize>,
    /// [default: 1]
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Frames to record [default: 60, or the script's `seconds` x fps].
    #[arg(long)]
    pub(super) frames: Option<usize>,
    /// [default: 20]
    #[arg(long)]
    pub(super) fps: Option<u32>,
    /// Frame size WxH; the panels are drawn as a 1280x720 window shows them, scaled to the
    /// height [default: 1280x720].
    #[arg(long)]
    pub(super) size: Option<String>,
    /// Frames rendered before recording starts [default: 20].
    #[arg(long)]
    pub(super) warmup: Option<usize>,
    /// FILE.gif, FILE.mp4 (H.264), FILE.webm (VP9), or DIR/ for frame_0000.png, ... (videos
    /// need ffmpeg).
    #[arg(long)]
    pub(super) out: String,
    /// With --scene training: the DCGAN starts from a `shoal dcgan` checkpoint (its folder or
    /// file) instead of from scratch.
    #[arg(long)]
    pub(super) dcgan_from: Option<std::path::PathBuf>,
    /// The bare tank: no panels in the frames.
    #[arg(long)]
    pub(super) no_panels: bool,
    /// A timeline of actions (TOML; see assets/demos/): trainings, rescales, boid parameters,
    /// fish, the camera, panels and captions at given seconds.
    #[arg(long)]
    pub(super) script: Option<std::path::PathBuf>,
    /// Which school steps the fish: cpu (the default) or gpu (compute shaders).
    #[arg(long, default_value_t = shoal::boids::SchoolKind::Cpu)]
    pub(super) school: shoal::boids::SchoolKind,
}

fn options(args: &RecordArgs) -> Result<RecordOptions> {
    let script = args.script.as_deref().map(Script::load).transpose()?;
    let header = script.as_ref().map(|s| s.header.clone()).unwrap_or_default();
    let defaults = RecordOptions::default();
    let fish = args.fish.or(header.fish).unwrap_or(defaults.fish);
    let fps = args.fps.or(header.fps).unwrap_or(defaults.fps);
    let frames = match (args.frames, header.frames, header.seconds) {
        (Some(n), _, _) | (None, Some(n), _) => n,
        (None, None, Some(s)) => (s * fps as f64).round().max(1.0) as usize,
        (None, None, None) => defaults.frames,
    };
    let size = match &args.size {
        Some(s) => parse_size(s)?,
        None => header.size.unwrap_or(defaults.size),
    };
    Ok(RecordOptions {
        scene: args.scene.or(header.scene).unwrap_or(defaults.scene),
        trainings: header.trainings.clone().unwrap_or(defaults.trainings),
        fish,
        seed: args.seed.or(header.seed).unwrap_or(defaults.seed),
        frames,
        fps,
        size,
        out: Output::parse(&args.out)?,
        warmup: args.warmup.or(header.warmup).unwrap_or(defaults.warmup),
        dcgan_from: args
            .dcgan_from
            .as_deref()
            .map(super::app::read_dcgan_checkpoint)
            .transpose()?,
        panels: !args.no_panels,
        dcgan_per_frame: header.dcgan_per_frame.unwrap_or(defaults.dcgan_per_frame),
        dcgan_batch: header.dcgan_batch.unwrap_or(defaults.dcgan_batch),
        script,
        school: args.school,
    })
}

pub(super) fn record(args: &RecordArgs) -> Result<()> {
    // `record` validates the options (ffmpeg included) before any work.
    let opts = options(args)?;
    quiet_no_adapter_panics();
    let bar = progress_bar(opts.frames as u64, "record");
    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shoal::record::record(&opts, |n| bar.set_position(n as u64))
    }))
    .map_err(|_| anyhow::anyhow!("rendering failed (see the message above)"))??;
    bar.finish_and_clear();
    let peak = shoal::record::peak_resident_mb()
        .map(|mb| format!(" (peak memory {mb:.0} MB)"))
        .unwrap_or_default();
    println!(
        "wrote {} frame(s) to {}{peak}",
        recorded.frames,
        recorded
            .written
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    Ok(())
}
