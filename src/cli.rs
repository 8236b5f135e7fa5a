//! The shoal command line (native): the app by default, plus headless subcommands.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use shoal::boids::BoidParams;
use shoal::boids::bench::{BoidBench, run as run_boid_bench};
use shoal::scene::backend::BackendChoice;
use shoal::scene::{AppOptions, build_app};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "shoal",
    version,
    about = "A school of fish (Reynolds boids) in a 2D tank while neural networks train live"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open the tank (the default when no subcommand is given).
    Run(RunArgs),
    /// Headless benchmarks that print one JSON line.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Train one small net three ways (by hand, autodiff, module + optimizer); write CSV + PNG.
    Basics(BasicsArgs),
    /// The Path-SGD paper's Fig. 2: SGD, AdaGrad, Path-SGD on balanced and unbalanced nets.
    PathSgd(PathSgdArgs),
    /// Render the scene off-screen (no window) into an animated GIF or numbered PNGs.
    Record(RecordArgs),
    /// Open the tank (needs a display, e.g. Xvfb), run some frames, save one as PNG, exit.
    Screenshot(ScreenshotArgs),
    /// Train the seed's DCGAN; per epoch: CSV row, sample grid, interpolation strip, checkpoint.
    Dcgan(DcganArgs),
    /// Train the small MNIST CNN used for the DCGAN quality metrics; write its weights.
    Classifier(ClassifierArgs),
    /// Load a dataset (bundled MNIST, or IDX files from --data) and print a summary.
    Data(DataArgs),
}

#[derive(Args, Debug)]
struct DcganArgs {
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long)]
    emnist_split: Option<shoal::learn::data::EmnistSplit>,
    /// flex (CPU) or wgpu (GPU; needs a build with the `gpu` feature, on by default).
    #[arg(long, default_value = "flex")]
    backend: BackendChoice,
    #[arg(long, default_value = "sgd")]
    optimizer: shoal::learn::dcgan::OptimizerKind,
    /// Draw samples (grids, metrics) from a moving average of G's weights with this decay
    /// per iteration, e.g. 0.999; the CSV then also scores G's current weights.
    #[arg(long, value_parser = parse_decay)]
    ema: Option<f64>,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use only the first N training images.
    #[arg(long)]
    train_limit: Option<usize>,
    #[arg(long, default_value = "out/dcgan")]
    out: PathBuf,
    /// Continue from OUT/checkpoint.bin.
    #[arg(long)]
    resume: bool,
}

#[derive(Args, Debug)]
struct ClassifierArgs {
    /// The shipped classifier was trained with the defaults (12 epochs, seed 1).
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the weights (the shipped copy is assets/classifier.bin).
    #[arg(long, default_value = "out/classifier.bin")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// tank (the school) or training (the school with the trainings and the GAN poster).
    #[arg(long, default_value = "tank")]
    scene: shoal::scene::record::RecordScene,
    #[arg(long, default_value_t = 300)]
    fish: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 60)]
    frames: usize,
    #[arg(long, default_value_t = 20)]
    fps: u32,
    /// Frame size WxH.
    #[arg(long, default_value = "640x360")]
    size: String,
    /// Frames rendered before recording starts.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// FILE.gif, or DIR/ for frame_0000.png, frame_0001.png, ...
    #[arg(long)]
    out: String,
}

#[derive(Args, Debug)]
struct ScreenshotArgs {
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
    /// Frames to run before the capture.
    #[arg(long, default_value_t = 120)]
    frames: u32,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct BasicsArgs {
    #[arg(long, default_value_t = 1000)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory for basics.csv and basics.png.
    #[arg(long, default_value = "out/basics")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct DataArgs {
    /// A directory of MNIST / Fashion-MNIST / EMNIST IDX files (gzip or raw); default: the bundled digits.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Read EMNIST files of this split (byclass, bymerge, balanced, letters, digits, mnist).
    #[arg(long)]
    emnist_split: Option<shoal::learn::data::EmnistSplit>,
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Number of fish at start.
    #[arg(long, default_value_t = 300)]
    fish: usize,
    /// Seed for the school's random source.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Load all fish parameters from a TOML preset.
    #[arg(long)]
    preset: Option<PathBuf>,
    /// School steps per second (fixed timestep).
    #[arg(long, default_value_t = 60.0)]
    steps_per_second: f64,
    /// Trainings shown in the panels (comma-separated: basics, path-sgd, dcgan).
    #[arg(long, value_delimiter = ',', default_value = "basics,path-sgd,dcgan")]
    train: Vec<shoal::scene::JobKind>,
    /// No training panels at all.
    #[arg(long)]
    no_train: bool,
    /// Start the trainings right away.
    #[arg(long)]
    autostart: bool,
    /// Log frame-time percentiles as JSON lines (to FILE, or stdout without one).
    #[arg(long, num_args = 0..=1, value_name = "FILE")]
    diagnostics: Option<Option<PathBuf>>,
    /// Quit after this many seconds (prints a final frame-time summary).
    #[arg(long)]
    seconds: Option<f64>,
    /// Train DCGAN and Path-SGD on flex (CPU) or wgpu (the renderer's GPU; without a GPU the
    /// app falls back to flex and says so).
    #[arg(long, default_value = "flex")]
    backend: BackendChoice,
    /// With --backend wgpu: train on a device of burn's own on the renderer's GPU (own, the
    /// default) or on the renderer's device itself (shared: one device, but the frames wait on
    /// the training).
    #[arg(long)]
    gpu_device: Option<shoal::scene::backend::GpuDeviceChoice>,
    /// No window: render off-screen (1280x720) as fast as the work allows, to measure frame
    /// times where there is no display. Needs --seconds.
    #[arg(long)]
    headless: bool,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Step the fish school with no window and print timings as JSON.
    Boids(BoidBenchArgs),
    /// Path-SGD step time against SGD (784-H-H-10 MLP, CPU backend) as JSON.
    PathSgd(PathSgdBenchArgs),
    /// DCGAN iteration time (one G step + one D step) on Flex (or --backend wgpu) as JSON.
    Dcgan(DcganBenchArgs),
}

#[derive(Args, Debug)]
struct DcganBenchArgs {
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// flex (CPU) or wgpu (GPU).
    #[arg(long, default_value = "flex")]
    backend: BackendChoice,
    #[arg(long, default_value_t = 5)]
    iters: usize,
}

#[derive(Args, Debug)]
struct PathSgdBenchArgs {
    #[arg(long, default_value_t = 4000)]
    hidden: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 5)]
    iters: usize,
}

#[derive(Args, Debug)]
struct PathSgdArgs {
    /// Units per hidden layer (784-H-H-10).
    #[arg(long, default_value_t = 4000)]
    hidden: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Learning rates to choose from, per method (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,0.1,0.01,0.001")]
    lr_grid: Vec<f64>,
    /// Epochs of each trial run when choosing a learning rate.
    #[arg(long, default_value_t = 1)]
    select_epochs: usize,
    /// The p of the path norm.
    #[arg(long, default_value_t = 2.0)]
    p: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use only the first N training images (quick runs).
    #[arg(long)]
    train_limit: Option<usize>,
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value = "out/path-sgd")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct BoidBenchArgs {
    #[arg(long, default_value_t = 1000)]
    fish: usize,
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Untimed steps before timing.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Field width (default 1000, or the seed's density with --seed-density).
    #[arg(long)]
    width: Option<f32>,
    /// Field height (default 500, or the seed's density with --seed-density).
    #[arg(long)]
    height: Option<f32>,
    /// Size the field for the seed's density: 30 fish per 1000 x 500.
    #[arg(long, conflicts_with_all = ["width", "height"])]
    seed_density: bool,
    #[arg(long, default_value_t = 100.0)]
    vision: f32,
    #[arg(long, default_value_t = 20.0)]
    avoid: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads that step the fish (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Large tensors (tens of MB) are allocated and freed every training step. glibc serves
/// them with fresh mmaps whose pages fault in on first touch, which made elementwise ops
/// several times slower; keep such blocks on the heap instead.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

pub fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_app(&cli.run),
        Some(Command::Run(args)) => run_app(&args),
        Some(Command::Bench(BenchCommand::Boids(args))) => bench_boids(&args),
        Some(Command::Basics(args)) => basics(&args),
        Some(Command::Data(args)) => data(&args),
        Some(Command::Classifier(args)) => classifier(&args),
        Some(Command::Dcgan(args)) => dcgan(&args),
        Some(Command::Screenshot(args)) => screenshot(&args),
        Some(Command::Record(args)) => record(&args),
        Some(Command::PathSgd(args)) => path_sgd(&args),
        Some(Command::Bench(BenchCommand::Dcgan(args))) => bench_dcgan(&args),
        Some(Command::Bench(BenchCommand::PathSgd(args))) => {
            let r = shoal::learn::path_sgd::bench::run::<shoal::learn::CpuAutodiff>(
                args.hidden,
                args.batch,
                args.iters,
                &Default::default(),
            );
            r.and_then(|r| Ok(println!("{}", serde_json::to_string(&r)?)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn app_options(args: &RunArgs) -> Result<AppOptions> {
    let params = match &args.preset {
        Some(path) => BoidParams::load(path)?,
        None => BoidParams::default(),
    };
    anyhow::ensure!(
        args.steps_per_second.is_finite() && args.steps_per_second > 0.0,
        "--steps-per-second must be a positive number, got {}",
        args.steps_per_second
    );
    anyhow::ensure!(
        args.fish <= MAX_APP_FISH,
        "--fish must be at most {MAX_APP_FISH}, got {}",
        args.fish
    );
    if let Some(sec) = args.seconds {
        anyhow::ensure!(
            sec.is_finite() && sec > 0.0,
            "--seconds must be a positive number, got {sec}"
        );
    }
    anyhow::ensure!(
        args.gpu_device.is_none() || args.backend == BackendChoice::Wgpu,
        "--gpu-device applies to --backend wgpu only"
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
    })
}

fn run_app(args: &RunArgs) -> Result<()> {
    let opts = app_options(args)?;
    anyhow::ensure!(
        !args.headless || args.seconds.is_some(),
        "--headless needs --seconds (there is no window to close)"
    );
    exit_result(build_app(&opts).run())
}

fn exit_result(exit: bevy::app::AppExit) -> Result<()> {
    match exit {
        bevy::app::AppExit::Success => Ok(()),
        bevy::app::AppExit::Error(code) => anyhow::bail!("the app stopped with error code {code}"),
    }
}

fn screenshot(args: &ScreenshotArgs) -> Result<()> {
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
    let mut app = build_app(&opts);
    app.add_plugins(shoal::scene::capture::CapturePlugin {
        out: args.out.clone(),
        after_frames: args.frames,
    });
    exit_result(app.run())
}

/// Most fish the app will spawn (the panel allows 200,000).
const MAX_APP_FISH: usize = 2_000_000;
/// Most fish the headless benchmark will simulate.
const MAX_BENCH_FISH: usize = 20_000_000;

fn bench_boids(args: &BoidBenchArgs) -> Result<()> {
    anyhow::ensure!(args.fish > 0, "--fish must be at least 1");
    anyhow::ensure!(
        args.fish <= MAX_BENCH_FISH,
        "--fish must be at most {MAX_BENCH_FISH}, got {}",
        args.fish
    );
    let (width, height) = if args.seed_density {
        BoidParams::field_for_seed_density(args.fish)
    } else {
        (args.width.unwrap_or(1000.0), args.height.unwrap_or(500.0))
    };
    let params = BoidParams {
        width,
        height,
        vision: args.vision,
        avoid: args.avoid,
        ..BoidParams::default()
    };
    params.validate().context("invalid bench parameters")?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let bench = BoidBench {
        fish: args.fish,
        steps: args.steps,
        warmup: args.warmup,
        seed: args.seed,
        threads,
        params,
    };
    let result = run_boid_bench(&bench)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Prints a line above the progress bar, or plainly when the bar is hidden (no terminal).
fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}")
    } else {
        bar.println(line)
    }
}

fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed}}<{{eta}}]"
        ))
        .expect("valid template"),
    );
    bar
}

fn basics(args: &BasicsArgs) -> Result<()> {
    use shoal::learn::basics::{self, Method};
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    shoal::util::prepare_out_dir(&args.out)?;
    let bar = progress_bar(args.epochs as u64, "basics");
    let start = std::time::Instant::now();
    let dev = Default::default();
    let curves = basics::run::<shoal::learn::CpuAutodiff>(args.epochs, args.seed, &dev, |e, l| {
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

fn data(args: &DataArgs) -> Result<()> {
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

fn path_sgd(args: &PathSgdArgs) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    use shoal::learn::path_sgd::PathSgd;
    use shoal::learn::path_sgd::experiment::{self as ex, ExperimentConfig, Init, Progress};
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
    shoal::util::prepare_out_dir(&args.out)?;
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
    let dev = Default::default();
    eprintln!("choosing learning rates from {:?} on a held-out split ...", cfg.lr_grid);
    let lrs = ex::choose_learning_rates::<shoal::learn::CpuAutodiff>(&cfg, &train, &dev, &mut |p| match p {
        Progress::Trial {
            algo,
            init,
            lr,
            holdout_error,
            diverged,
        } => eprintln!(
            "  {:<8} {:<10} lr {lr:<6} held-out error {:.4}{}",
            algo.name(),
            init.name(),
            holdout_error,
            if diverged { " (diverged)" } else { "" }
        ),
        Progress::Chosen { algo, lr } => eprintln!("  -> {}: lr {lr}", algo.name()),
        _ => {}
    });
    let train = std::sync::Arc::new(train);
    let bar = progress_bar(0, "path-sgd");
    let rows = ex::train_runs::<shoal::learn::CpuAutodiff>(
        &cfg,
        &lrs,
        &Init::ALL,
        cfg.epochs,
        train.clone(),
        &train,
        &test,
        &dev,
        &mut |p| match p {
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
            Progress::Epoch(r) => say(
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
        },
    );
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

/// The training backend `--backend` names.
enum TrainBackend {
    Flex,
    #[cfg(feature = "gpu")]
    Wgpu(shoal::learn::gpu::WgpuDevice),
}

/// For `--backend wgpu`, opens the GPU (a clear error when there is none).
fn train_backend(choice: BackendChoice) -> Result<TrainBackend> {
    match choice {
        BackendChoice::Flex => Ok(TrainBackend::Flex),
        #[cfg(feature = "gpu")]
        BackendChoice::Wgpu => {
            use shoal::learn::gpu;
            let (dev, adapter) = gpu::standalone_device(gpu::software_allowed_by_env())?;
            eprintln!("training on the GPU: {adapter}");
            Ok(TrainBackend::Wgpu(dev))
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Wgpu => anyhow::bail!("this shoal was built without the `gpu` feature; use --backend flex"),
    }
}

fn dcgan(args: &DcganArgs) -> Result<()> {
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    match train_backend(args.backend)? {
        TrainBackend::Flex => dcgan_on::<shoal::learn::CpuAutodiff>(args, Default::default()),
        #[cfg(feature = "gpu")]
        TrainBackend::Wgpu(dev) => dcgan_on::<shoal::learn::gpu::GpuAutodiff>(args, dev),
    }
}

fn dcgan_on<B: burn::tensor::backend::AutodiffBackend>(args: &DcganArgs, dev: B::Device) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    use shoal::learn::dcgan::{DcganConfig, EpochMeter, Trainer, write_gif, write_grey_png};
    use std::io::Write;
    shoal::util::prepare_out_dir(&args.out)?;
    let mut train = Digits::load(args.data.as_deref(), Split::Train, args.emnist_split)?;
    if let Some(n) = args.train_limit {
        train.truncate(n);
    }
    let cfg = DcganConfig {
        z: 32,
        batch: args.batch,
        optimizer: args.optimizer,
        seed: args.seed,
        ema: args.ema,
    };
    let mut t = Trainer::<B>::new(cfg, std::sync::Arc::new(train), dev)?;
    let ckpt = args.out.join("checkpoint.bin");
    let csv_path = args.out.join("dcgan.csv");
    // score / frechet: the samples' generator (G's moving average with --ema, else G);
    // score_current / frechet_current: G's current weights, when they differ.
    const CSV_HEADER: &str = "epoch,g_loss,d_loss,d_real,d_fake,score,frechet,seconds,score_current,frechet_current";
    if args.resume {
        t.load_checkpoint(&ckpt)?;
        eprintln!("resumed from {} at epoch {}", ckpt.display(), t.epoch);
        upgrade_csv_header(&csv_path, CSV_HEADER)?;
    } else {
        std::fs::write(&csv_path, format!("{CSV_HEADER}\n"))
            .with_context(|| format!("cannot write {}", csv_path.display()))?;
        let (grid, w, h) = t.fixed_grid();
        write_grey_png(&args.out.join("grid_000.png"), &grid, w, h, 2)?;
    }
    // Quality metrics per epoch: classifier score and Fréchet distance of 1,000 samples
    // against the real test images, with the shipped classifier.
    let test = Digits::load(args.data.as_deref(), Split::Test, args.emnist_split)?;
    let judge = match (
        args.emnist_split,
        shoal::learn::metrics::Classifier::<shoal::learn::Cpu>::bundled(&Default::default()),
    ) {
        (None, Ok(c)) => Some(c),
        (Some(_), _) => {
            eprintln!("note: the shipped classifier knows only digits; metrics are skipped for EMNIST");
            None
        }
        (None, Err(e)) => {
            eprintln!("note: metrics skipped: {e}");
            None
        }
    };
    let metrics = |t: &Trainer<B>, averaged: bool| -> (f64, f64) {
        match &judge {
            Some(c) => shoal::learn::metrics::image_metrics(
                c,
                &t.sample_from(1000, 99, averaged),
                &test.images,
                &Default::default(),
            ),
            None => (f64::NAN, f64::NAN),
        }
    };
    let per_epoch = t.iters_per_epoch();
    let bar = progress_bar((args.epochs * per_epoch) as u64, "dcgan");
    bar.set_position((t.epoch * per_epoch) as u64);
    let mut meter = EpochMeter::default();
    let mut clock = std::time::Instant::now();
    while t.epoch < args.epochs {
        let r = t.step();
        meter.add(&r);
        bar.inc(1);
        bar.set_message(format!(
            "epoch {} G {:.3} D {:.3} D(x) {:.2} D(G(z)) {:.2}",
            t.epoch, r.g_loss, r.d_loss, r.d_real, r.d_fake
        ));
        anyhow::ensure!(
            r.g_loss.is_finite() && r.d_loss.is_finite(),
            "training diverged (loss is not finite)"
        );
        if r.epoch_done {
            let s = meter.finish(t.epoch, clock.elapsed().as_secs_f64());
            clock = std::time::Instant::now();
            let (grid, w, h) = t.fixed_grid();
            write_grey_png(&args.out.join(format!("grid_{:03}.png", t.epoch)), &grid, w, h, 2)?;
            let (strip, w, h) = t.interpolation_strip();
            write_grey_png(&args.out.join(format!("interp_{:03}.png", t.epoch)), &strip, w, h, 2)?;
            let (score, frechet) = metrics(&t, true);
            let current = if t.averaging() {
                let (s, f) = metrics(&t, false);
                format!("{s},{f}")
            } else {
                ",".into()
            };
            let mut f = std::fs::OpenOptions::new().append(true).open(&csv_path)?;
            writeln!(
                f,
                "{},{},{},{},{},{},{},{:.2},{current}",
                s.epoch, s.g_loss, s.d_loss, s.d_real, s.d_fake, score, frechet, s.seconds
            )?;
            t.save_checkpoint(&ckpt)?;
            say(
                &bar,
                format!(
                    "epoch {:>3}: G {:.4} D {:.4} D(x) {:.3} D(G(z)) {:.3} score {:.2} Frechet {:.2} ({:.1} s)",
                    s.epoch, s.g_loss, s.d_loss, s.d_real, s.d_fake, score, frechet, s.seconds
                ),
            );
        }
    }
    bar.finish_and_clear();
    // The seed's animation: the fixed-noise grid over the epochs.
    let mut frames = Vec::new();
    let (mut gw, mut gh) = (0, 0);
    for e in 0..=t.epoch {
        let p = args.out.join(format!("grid_{e:03}.png"));
        if let Ok(bytes) = std::fs::read(&p) {
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
            let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
            let info = reader.next_frame(&mut buf)?;
            (gw, gh) = (info.width, info.height);
            frames.push(
                buf[..info.buffer_size()]
                    .chunks_exact(3)
                    .map(|c| c[0])
                    .collect::<Vec<u8>>(),
            );
        }
    }
    let gif = args.out.join("grids.gif");
    write_gif(&gif, &frames, gw, gh, 40)?;
    println!(
        "wrote {} epochs of grids, {}, {} and {}",
        frames.len(),
        csv_path.display(),
        ckpt.display(),
        gif.display()
    );
    Ok(())
}

/// An EMA decay: a number in [0, 1).
fn parse_decay(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if (0.0..1.0).contains(&d) => Ok(d),
        _ => Err(format!("'{s}' is not a decay in [0, 1), e.g. 0.999")),
    }
}

/// Brings the header of a resumed run's CSV (possibly written by an older shoal, with fewer
/// columns) up to `header`; rows keep their values (missing trailing fields read as empty).
fn upgrade_csv_header(path: &std::path::Path, header: &str) -> Result<()> {
    if !path.exists() {
        return std::fs::write(path, format!("{header}\n")).with_context(|| format!("cannot write {}", path.display()));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    if first == header {
        return Ok(());
    }
    anyhow::ensure!(
        header.starts_with(first),
        "{} is not a shoal DCGAN log (header '{first}')",
        path.display()
    );
    shoal::util::write_atomic(path, format!("{header}\n{rest}").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn classifier(args: &ClassifierArgs) -> Result<()> {
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

fn bench_dcgan(args: &DcganBenchArgs) -> Result<()> {
    anyhow::ensure!(args.iters > 0, "--iters must be at least 1");
    match train_backend(args.backend)? {
        TrainBackend::Flex => bench_dcgan_on::<shoal::learn::CpuAutodiff>(args, Default::default()),
        #[cfg(feature = "gpu")]
        TrainBackend::Wgpu(dev) => bench_dcgan_on::<shoal::learn::gpu::GpuAutodiff>(args, dev),
    }
}

fn bench_dcgan_on<B: burn::tensor::backend::AutodiffBackend>(args: &DcganBenchArgs, dev: B::Device) -> Result<()> {
    use shoal::learn::data::{Digits, Split};
    use shoal::learn::dcgan::{DcganConfig, Trainer};
    let cfg = DcganConfig {
        batch: args.batch,
        ..DcganConfig::default()
    };
    let data = std::sync::Arc::new(Digits::bundled(Split::Train));
    let mut t = Trainer::<B>::new(cfg, data, dev)?;
    t.step();
    let mut times = Vec::new();
    for _ in 0..args.iters {
        let s = std::time::Instant::now();
        t.step();
        times.push(s.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let json = serde_json::json!({
        "bench": "dcgan",
        "backend": args.backend.name(),
        "batch": args.batch,
        "iters": args.iters,
        "ms_per_iter": times[times.len() / 2],
        "ms_per_iter_min": times[0],
    });
    println!("{json}");
    Ok(())
}

/// Turns Bevy's "no GPU" panic into a clear message (the panic is still caught as an error).
fn quiet_no_adapter_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.to_string();
        if msg.contains("Unable to find a GPU") || msg.contains("No possible adapter") {
            eprintln!(
                "shoal: error: no graphics adapter found. Install a Vulkan driver \
                 (on Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers)"
            );
        } else {
            default(info);
        }
    }));
}

fn record(args: &RecordArgs) -> Result<()> {
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
