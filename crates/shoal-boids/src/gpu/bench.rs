//! `shoal bench boids --school gpu`: the GPU school stepped headless, timed by GPU timestamps
//! (wall clock where the adapter has none), optionally checked against the CPU school.

use super::{GpuContext, GpuSchool, max_deviation};
use crate::params::BoidParams;
use crate::school::School;
use std::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct GpuBench {
    pub fish: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
    pub params: BoidParams,
    pub sharks: usize,
    pub rocks: usize,
    /// After the warm-up, step the CPU school once from the same state and report the largest
    /// per-fish relative deviation.
    pub check: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct GpuBenchResult {
    pub bench: &'static str,
    pub school: &'static str,
    /// The adapter and its kind (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu").
    pub adapter: String,
    pub adapter_kind: String,
    pub fish: usize,
    pub steps: usize,
    pub warmup: usize,
    pub width: f32,
    pub height: f32,
    pub vision: f32,
    pub avoid: f32,
    pub seed: u64,
    /// "gpu-timestamps" (the step's compute pass, on the GPU) or "wall" (submit to done).
    pub timing: &'static str,
    pub ms_per_step: f64,
    pub ms_per_step_median: f64,
    pub ms_per_step_min: f64,
    /// Wall time per step over the timed steps (submission included).
    pub wall_ms_per_step: f64,
    pub fish_updates_per_s: f64,
    /// Mean neighbours per fish after the last step (of up to 2,000 fish, on the CPU grid).
    pub mean_neighbours: f64,
    pub sharks: usize,
    pub rocks: usize,
    /// With `--check`: the largest per-fish relative deviation of one GPU step from the CPU
    /// school's (positions relative to the position, velocities to the speed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_deviation: Option<f64>,
}

pub fn run(ctx: &GpuContext, b: &GpuBench) -> anyhow::Result<GpuBenchResult> {
    b.params.validate()?;
    anyhow::ensure!(b.fish > 0, "--fish must be at least 1");
    anyhow::ensure!(b.steps > 0, "--steps must be at least 1");
    let mut cpu = School::new(b.fish, b.seed, &b.params);
    (cpu.sharks, cpu.rocks) = crate::playground::scatter(b.sharks, b.rocks, b.seed, &b.params);
    let mut gpu = GpuSchool::from_school(ctx, &cpu, &b.params)?;
    for _ in 0..b.warmup {
        gpu.step(&b.params)?;
    }
    let max_deviation = if b.check {
        let (pos, vel, sharks) = gpu.read()?;
        (cpu.pos, cpu.vel, cpu.sharks) = (pos, vel, sharks);
        cpu.step(&b.params);
        gpu.step(&b.params)?;
        let (pos, vel, _) = gpu.read()?;
        Some(max_deviation((&cpu.pos, &cpu.vel), (&pos, &vel), &b.params))
    } else {
        None
    };
    gpu.finish();
    let timed = gpu.time_steps(b.steps as u32);
    let t = Instant::now();
    for _ in 0..b.steps {
        gpu.step(&b.params)?;
        if !timed {
            gpu.finish();
        }
    }
    gpu.finish();
    let wall = t.elapsed().as_secs_f64() * 1e3 / b.steps as f64;
    let times = if timed {
        gpu.step_times_ms().unwrap_or_default()
    } else {
        Vec::new()
    };
    let (timing, times) = if times.len() == b.steps {
        ("gpu-timestamps", times)
    } else {
        ("wall", vec![wall; b.steps])
    };
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let sorted = shoal_common::stats::sorted(times);
    let (pos, vel, _) = gpu.read()?;
    let mut grid = crate::Grid::new();
    grid.rebuild(&pos, &vel, &b.params);
    Ok(GpuBenchResult {
        bench: "boids",
        school: "gpu",
        adapter: ctx.info.name.clone(),
        adapter_kind: format!("{:?}", ctx.info.device_type),
        fish: b.fish,
        steps: b.steps,
        warmup: b.warmup,
        width: b.params.width,
        height: b.params.height,
        vision: b.params.vision,
        avoid: b.params.avoid,
        seed: b.seed,
        timing,
        ms_per_step: mean,
        ms_per_step_median: shoal_common::stats::percentile(&sorted, 50.0),
        ms_per_step_min: sorted[0],
        wall_ms_per_step: wall,
        fish_updates_per_s: b.fish as f64 / (mean / 1e3),
        mean_neighbours: crate::bench::sampled_mean_neighbours(&grid, &b.params),
        sharks: b.sharks,
        rocks: b.rocks,
        max_deviation,
    })
}
