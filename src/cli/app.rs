//! The tank: `shoal` / `shoal run`, and `shoal screenshot`.

use super::exit_result;
use anyhow::Result;
use clap::Args;
use shoal::app::backend::BackendChoice;
use shoal::app::{AppOptions, build_app, options};
use shoal::boids::BoidParams;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub(super) struct RunArgs {
    /// Number of fish at start.
    #[arg(long, default_value_t = AppOptions::default().fish, value_parser = |s: &str| options::parse_count("fish", s, options::fish))]
    pub(super) fish: usize,
    /// Seed for the school's random source.
    #[arg(long, default_value_t = AppOptions::default().seed)]
    pub(super) seed: u64,
    /// Load all fish parameters from a TOML preset.
    #[arg(long)]
    pub(super) preset: Option<PathBuf>,
    /// School steps per second (fixed timestep).
    #[arg(long, default_value_t = AppOptions::default().steps_per_second, value_parser = |s: &str| options::parse_number("steps_per_second", s, options::steps_per_second))]
    pub(super) steps_per_second: f64,
    /// Trainings shown in the panels (comma-separated: basics, path-sgd, dcgan).
    #[arg(long, value_delimiter = ',', default_value = "basics,path-sgd,dcgan")]
    pub(super) train: Vec<shoal::app::JobKind>,
    /// No training panels at all.
    #[arg(long)]
    pub(super) no_train: bool,
    /// Start the trainings right away.
    #[arg(long)]
    pub(super) autostart: bool,
    /// Log frame-time percentiles as JSON lines (to FILE, or stdout without one).
    #[arg(long, num_args = 0..=1, value_name = "FILE")]
    pub(super) diagnostics: Option<Option<PathBuf>>,
    /// Quit after this many seconds (prints a final frame-time summary).
    #[arg(long, value_parser = |s: &str| options::parse_number("seconds", s, options::seconds))]
    pub(super) seconds: Option<f64>,
    /// Train DCGAN and Path-SGD on auto (the renderer's GPU when it is a real one, else the
    /// CPU; the panel says which and why), flex (CPU) or wgpu (the renderer's GPU; without one
    /// the app falls back to flex and warns).
    #[arg(long, default_value = "auto")]
    pub(super) backend: BackendChoice,
    /// With --backend wgpu: train on a device of burn's own on the renderer's GPU (own, the
    /// default) or on the renderer's device itself (shared: one device, but the frames wait on
    /// the training).
    #[arg(long)]
    pub(super) gpu_device: Option<shoal::app::backend::GpuDeviceChoice>,
    /// No window: render off-screen (1280x720) as fast as the work allows, to measure frame
    /// times where there is no display. Needs --seconds.
    #[arg(long)]
    pub(super) headless: bool,
    /// The trainings' share of the machine against the frames, 0 to 0.9: while trainings run
    /// the frames are capped at 60 x (1 - share) fps and the trainings run at normal priority;
    /// 0 gives the frames everything (the trainings use only idle CPU time).
    #[arg(long, default_value_t = shoal::learn::live::share::DEFAULT_TRAIN_SHARE, value_parser = parse_share)]
    pub(super) train_share: f64,
    /// Start the DCGAN from a `shoal dcgan` checkpoint (its folder or file) instead of from
    /// scratch: its settings, weights and epoch.
    #[arg(long)]
    pub(super) dcgan_from: Option<PathBuf>,
    /// Autonomous sharks that chase the fish (0 to 64).
    #[arg(long, default_value_t = AppOptions::default().sharks, value_parser = |s: &str| options::parse_count("sharks", s, options::sharks))]
    pub(super) sharks: usize,
    /// Which school steps the fish: cpu (the default, the reference) or gpu (compute shaders
    /// on the renderer's device, drawn straight from the GPU's buffer).
    #[arg(long, default_value_t = shoal::boids::SchoolKind::Cpu)]
    pub(super) school: shoal::boids::SchoolKind,
}

/// The checkpoint a `--dcgan-from`/`--from` argument names: `DIR/checkpoint.bin` for a
/// `shoal dcgan --out` folder, else the file itself.
pub(super) fn checkpoint_file(path: &std::path::Path) -> PathBuf {
    if path.is_dir() {
        path.join("checkpoint.bin")
    } else {
        path.to_path_buf()
    }
}

/// Reads a `shoal dcgan` checkpoint (`DIR/checkpoint.bin` for a folder) and checks its header.
pub(super) fn read_dcgan_checkpoint(path: &std::path::Path) -> Result<std::sync::Arc<Vec<u8>>> {
    use anyhow::Context;
    let file = checkpoint_file(path);
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read the DCGAN checkpoint {}", file.display()))?;
    shoal::learn::dcgan::checkpoint::read_config(&bytes)
        .with_context(|| format!("{} is not a usable DCGAN checkpoint", file.display()))?;
    Ok(std::sync::Arc::new(bytes))
}

fn parse_share(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| {
        format!(
            "'{s}' is not a number (0 to {})",
            shoal::learn::live::share::MAX_TRAIN_SHARE
        )
    })?;
    shoal::learn::live::share::check_train_share(v)
}

#[derive(Args, Debug)]
pub(super) struct ScreenshotArgs {
    /// Where to write the PNG.
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Frames to run before the capture.
    #[arg(long, default_value_t = 120)]
    pub(super) frames: u32,
    #[command(flatten)]
    pub(super) run: RunArgs,
}

pub(super) fn app_options(args: &RunArgs) -> Result<AppOptions> {
    let (params, rocks) = match &args.preset {
        Some(path) => BoidParams::load_with_rocks(path)?,
        None => (BoidParams::default(), Vec::new()),
    };
    anyhow::ensure!(
        args.gpu_device.is_none() || args.backend != BackendChoice::Flex,
        "--gpu-device applies to --backend wgpu or auto, not flex"
    );
    Ok(AppOptions {
        fish: args.fish,
        seed: args.seed,
        params,
        steps_per_second: args.steps_per_second,
        jobs: if args.no_train { Vec::new() } else { args.train.clone() },
        autostart: args.autostart,
        diagnostics: args.diagnostics.clone(),
        seconds: args.seconds,
        backend: args.backend,
        gpu_device: args.gpu_device.unwrap_or_default(),
        headless: args.headless,
        train_share: args.train_share,
        dcgan_from: args.dcgan_from.as_deref().map(read_dcgan_checkpoint).transpose()?,
        sharks: args.sharks,
        rocks,
        school: args.school,
    })
}

pub(super) fn run_app(args: &RunArgs) -> Result<()> {
    let opts = app_options(args)?;
    anyhow::ensure!(
        !args.headless || args.seconds.is_some(),
        "--headless needs --seconds (there is no window to close)"
    );
    split_rasterizer(&opts);
    exit_result(build_app(&opts).run())
}

/// One rasterizer thread for Mesa's lavapipe when the app splits a two-core machine between
/// drawing and training (`AppOptions::split_two_cores`), unless `LP_NUM_THREADS` is set.
/// Runs before the app (and any of its threads) starts.
fn split_rasterizer(opts: &shoal::app::AppOptions) {
    if opts.split_two_cores() && std::env::var_os("LP_NUM_THREADS").is_none() {
        // SAFETY: called from `main`'s thread before the app spawns any thread.
        unsafe { std::env::set_var("LP_NUM_THREADS", "1") };
    }
}

pub(super) fn screenshot(args: &ScreenshotArgs) -> Result<()> {
    anyhow::ensure!(args.frames > 0, "--frames must be at least 1");
    anyhow::ensure!(
        args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")),
        "--out must name a .png file, got {}",
        args.out.display()
    );
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        anyhow::ensure!(dir.is_dir(), "the folder of --out does not exist: {}", dir.display());
    }
    let opts = app_options(&args.run)?;
    split_rasterizer(&opts);
    let mut app = build_app(&opts);
    app.add_plugins(shoal::record::capture::CapturePlugin {
        out: args.out.clone(),
        after_frames: args.frames,
    });
    exit_result(app.run())
}
