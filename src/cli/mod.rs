//! The shoal command line (native): the app by default, plus headless subcommands. The
//! arguments and work of each subcommand live in a file of their own; this file parses, picks
//! the subcommand and holds the helpers they share.

mod app;
mod basics;
mod bench;
mod classifier;
mod data;
mod dcgan;
mod path_sgd;
mod record;

use anyhow::Result;
use app::{RunArgs, ScreenshotArgs, run_app, screenshot};
use basics::{BasicsArgs, basics};
use bench::{BenchCommand, bench_boids, bench_dcgan, bench_path_sgd};
use clap::{Parser, Subcommand};
use classifier::{ClassifierArgs, classifier};
use data::{DataArgs, data};
use dcgan::{DcganArgs, dcgan};
use path_sgd::{PathSgdArgs, path_sgd};
use record::{RecordArgs, record};
use shoal::app::backend::BackendChoice;
use shoal::learn::Device;
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
    /// Render the scene off-screen (no window) into an MP4 or WebM video, an animated GIF or numbered PNGs.
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

/// Large tensors (tens of MB) are allocated and freed every training step. glibc serves
/// them with fresh mmaps whose pages fault in on first touch, which made elementwise ops
/// several times slower; keep such blocks on the heap instead.
pub(super) fn tune_allocator() {
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
        Some(Command::Bench(BenchCommand::PathSgd(args))) => bench_path_sgd(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(super) fn exit_result(exit: bevy::app::AppExit) -> Result<()> {
    match exit {
        bevy::app::AppExit::Success => Ok(()),
        bevy::app::AppExit::Error(code) => anyhow::bail!("the app stopped with error code {code}"),
    }
}

/// Prints a line above the progress bar, or plainly when the bar is hidden (no terminal).
pub(super) fn print_above(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}")
    } else {
        bar.println(line)
    }
}

pub(super) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed}}<{{eta}}]"
        ))
        .expect("valid template"),
    );
    bar
}

/// The device `--backend` names; for `--backend wgpu` it opens the GPU (a clear error when
/// there is none).
pub(super) fn train_device(choice: BackendChoice) -> Result<Device> {
    match choice {
        BackendChoice::Flex => Ok(Device::Cpu),
        #[cfg(feature = "gpu")]
        BackendChoice::Wgpu => {
            use shoal::learn::gpu;
            let (dev, adapter) = gpu::standalone_device(gpu::software_allowed_by_env())?;
            eprintln!("training on the GPU: {adapter}");
            Ok(Device::Gpu(dev))
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Wgpu => anyhow::bail!("this shoal was built without the `gpu` feature; use --backend flex"),
        // A real GPU if there is one, else the CPU (said on stderr).
        #[cfg(feature = "gpu")]
        BackendChoice::Auto => {
            use shoal::learn::gpu;
            match gpu::standalone_device(gpu::software_allowed_by_env()) {
                Ok((dev, adapter)) => {
                    eprintln!("training on the GPU: {adapter}");
                    Ok(Device::Gpu(dev))
                }
                Err(e) => {
                    eprintln!("training on the CPU (burn Flex), chosen by --backend auto: {e:#}");
                    Ok(Device::Cpu)
                }
            }
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Auto => Ok(Device::Cpu),
    }
}

/// Turns Bevy's "no GPU" panic into a clear message (the panic is still caught as an error).
pub(super) fn quiet_no_adapter_panics() {
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
