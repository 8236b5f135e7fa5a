//! `shoal bench ...`: headless benchmarks, one JSON line each.

use super::train_device;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use shoal::app::backend::BackendChoice;
use shoal::boids::bench::{BoidBench, run as run_boid_bench};
use shoal::boids::{BoidParams, SchoolKind};

#[derive(Subcommand, Debug)]
pub(super) enum BenchCommand {
    /// Step the fish school with no window and print timings as JSON.
    Boids(BoidBenchArgs),
    /// Path-SGD step time against SGD (784-H-H-10 MLP, CPU backend) as JSON.
    PathSgd(PathSgdBenchArgs),
    /// DCGAN iteration time (one G step + one D step) on Flex (or --backend wgpu) as JSON.
    Dcgan(DcganBenchArgs),
}

#[derive(Args, Debug)]
pub(super) struct BoidBenchArgs {
    #[arg(long, default_value_t = 1000)]
    pub(super) fish: usize,
    #[arg(long, default_value_t = 200)]
    pub(super) steps: usize,
    /// Untimed steps before timing.
    #[arg(long, default_value_t = 10)]
    pub(super) warmup: usize,
    /// Field width (default 1000, or the seed's density with --seed-density).
    #[arg(long)]
    pub(super) width: Option<f32>,
    /// Field height (default 500, or the seed's density with --seed-density).
    #[arg(long)]
    pub(super) height: Option<f32>,
    /// Size the field for the seed's density: 30 fish per 1000 x 500.
    #[arg(long, conflicts_with_all = ["width", "height"])]
    pub(super) seed_density: bool,
    #[arg(long, default_value_t = 100.0)]
    pub(super) vision: f32,
    #[arg(long, default_value_t = 20.0)]
    pub(super) avoid: f32,
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Threads that step the fish (default: all cores).
    #[arg(long)]
    pub(super) threads: Option<usize>,
    /// Autonomous sharks in the tank (with --sharks or --rocks two lines are printed: the
    /// school without them, then with them and `ratio_to_plain`).
    #[arg(long, default_value_t = 0)]
    pub(super) sharks: usize,
    /// Rocks in the tank (radius 2 % of the field's smaller side).
    #[arg(long, default_value_t = 0)]
    pub(super) rocks: usize,
    /// cpu (the ECS systems, the default) or gpu (compute shaders; timed by GPU timestamps).
    #[arg(long, default_value_t = SchoolKind::Cpu)]
    pub(super) school: SchoolKind,
    /// With --school gpu: also step the CPU school once from the same state and print
    /// `max_deviation`, the largest per-fish relative deviation.
    #[arg(long)]
    pub(super) check: bool,
}

#[derive(Args, Debug)]
pub(super) struct PathSgdBenchArgs {
    #[arg(long, default_value_t = 4000)]
    pub(super) hidden: usize,
    #[arg(long, default_value_t = 100)]
    pub(super) batch: usize,
    #[arg(long, default_value_t = 5)]
    pub(super) iters: usize,
}

#[derive(Args, Debug)]
pub(super) struct DcganBenchArgs {
    #[arg(long, default_value_t = 128)]
    pub(super) batch: usize,
    /// flex (CPU) or wgpu (GPU).
    #[arg(long, default_value = "flex")]
    pub(super) backend: BackendChoice,
    #[arg(long, default_value_t = 5)]
    pub(super) iters: usize,
}

/// Most fish the headless benchmark will simulate.
pub(super) const MAX_BENCH_FISH: usize = 20_000_000;

pub(super) fn bench_boids(args: &BoidBenchArgs) -> Result<()> {
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
        sharks: args.sharks,
        rocks: args.rocks,
    };
    anyhow::ensure!(
        args.sharks <= 10_000 && args.rocks <= 10_000,
        "--sharks and --rocks must be at most 10000"
    );
    anyhow::ensure!(
        !args.check || args.school == SchoolKind::Gpu,
        "--check compares the GPU school with the CPU school: add --school gpu"
    );
    if args.school == SchoolKind::Gpu {
        return bench_gpu_school(&bench, args.check);
    }
    if args.sharks > 0 || args.rocks > 0 {
        let (plain, with) = shoal::boids::bench::run_with_plain(&bench)?;
        println!("{}", serde_json::to_string(&plain)?);
        println!("{}", serde_json::to_string(&with)?);
    } else {
        let result = run_boid_bench(&bench)?;
        println!("{}", serde_json::to_string(&result)?);
    }
    Ok(())
}

#[cfg(feature = "gpu")]
fn bench_gpu_school(b: &BoidBench, check: bool) -> Result<()> {
    use shoal::boids::gpu::{GpuContext, bench};
    let ctx = GpuContext::standalone()?;
    let result = bench::run(
        &ctx,
        &bench::GpuBench {
            fish: b.fish,
            steps: b.steps,
            warmup: b.warmup,
            seed: b.seed,
            params: b.params,
            sharks: b.sharks,
            rocks: b.rocks,
            check,
        },
    )?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[cfg(not(feature = "gpu"))]
fn bench_gpu_school(_: &BoidBench, _: bool) -> Result<()> {
    anyhow::bail!("--school gpu needs shoal built with the `gpu` feature (a default one)")
}

pub(super) fn bench_path_sgd(args: &PathSgdBenchArgs) -> Result<()> {
    let r = shoal::learn::tasks::path_sgd_bench(args.hidden, args.batch, args.iters)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

pub(super) fn bench_dcgan(args: &DcganBenchArgs) -> Result<()> {
    anyhow::ensure!(args.iters > 0, "--iters must be at least 1");
    let device = train_device(args.backend)?;
    let cfg = shoal::learn::dcgan::DcganConfig {
        batch: args.batch,
        ..Default::default()
    };
    let times = shoal::learn::tasks::dcgan_iteration_ms(cfg, &device, args.iters)?;
    let times = shoal_common::stats::sorted(times);
    let json = serde_json::json!({
        "bench": "dcgan",
        "backend": args.backend.name(),
        "batch": args.batch,
        "iters": args.iters,
        "ms_per_iter": shoal_common::stats::percentile(&times, 50.0),
        "ms_per_iter_min": times[0],
    });
    println!("{json}");
    Ok(())
}
