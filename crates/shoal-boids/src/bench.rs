//! `shoal bench boids`: the ECS step systems on a headless App, timed.

use super::BoidParams;
use super::plugin::{BoidsPlugin, SchoolControl, SchoolRng, fish_bundles};
use bevy_app::prelude::*;
use bevy_app::{TaskPoolOptions, TaskPoolPlugin};
use std::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct BoidBench {
    pub fish: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
    /// Compute-pool threads that step the fish (1 = one batch, no parallel split).
    pub threads: usize,
    pub params: BoidParams,
    /// Autonomous sharks and rocks in the tank (placed from `seed`).
    pub sharks: usize,
    pub rocks: usize,
}

/// Timings of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoidBenchResult {
    pub bench: &'static str,
    pub fish: usize,
    pub steps: usize,
    pub warmup: usize,
    pub threads: usize,
    pub width: f32,
    pub height: f32,
    pub vision: f32,
    pub avoid: f32,
    pub seed: u64,
    /// Mean wall time per step over the timed steps.
    pub ms_per_step: f64,
    /// Median of the per-step times.
    pub ms_per_step_median: f64,
    pub ms_per_step_min: f64,
    /// `fish / mean seconds per step`.
    pub fish_updates_per_s: f64,
    /// Mean neighbours per fish in the last step (the work the grid does).
    pub mean_neighbours: f64,
    pub sharks: usize,
    pub rocks: usize,
    /// With sharks or rocks: `ms_per_step` over that of the same school without them (run
    /// just before, in the same process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_plain: Option<f64>,
}

/// A headless App that runs exactly the app's step systems.
pub fn headless_school(fish: usize, seed: u64, threads: usize, params: BoidParams) -> App {
    let threads = threads.max(1);
    // The compute pool runs the systems and their parallel work: T threads.
    let mut options = TaskPoolOptions::default();
    options.compute.min_threads = threads;
    options.compute.max_threads = threads;
    options.io.max_threads = 1;
    options.async_compute.max_threads = 1;
    options.min_total_threads = threads + 2;
    options.max_total_threads = threads + 2;
    let mut app = App::new();
    app.add_plugins(TaskPoolPlugin {
        task_pool_options: options,
    })
    .insert_resource(params)
    .add_plugins(BoidsPlugin { seed });
    app.world_mut().resource_mut::<SchoolControl>().batch_size = (threads == 1).then_some(usize::MAX);
    let bundles = {
        let world = app.world_mut();
        let mut rng = world
            .remove_resource::<SchoolRng>()
            .expect("BoidsPlugin inserts SchoolRng");
        let b = fish_bundles(&mut rng, &params, fish);
        world.insert_resource(rng);
        b
    };
    app.world_mut().spawn_batch(bundles);
    app
}

/// One step of the school: the FixedUpdate systems, run once.
pub fn step(app: &mut App) {
    app.world_mut().run_schedule(FixedUpdate);
}

pub fn run(b: &BoidBench) -> anyhow::Result<BoidBenchResult> {
    b.params.validate()?;
    anyhow::ensure!(b.fish > 0, "--fish must be at least 1");
    anyhow::ensure!(b.steps > 0, "--steps must be at least 1");
    anyhow::ensure!(b.threads > 0, "--threads must be at least 1");
    let mut app = headless_school(b.fish, b.seed, b.threads, b.params);
    app.insert_resource(playground(b));
    for _ in 0..b.warmup {
        step(&mut app);
    }
    let mut times = Vec::with_capacity(b.steps);
    for _ in 0..b.steps {
        let t = Instant::now();
        step(&mut app);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let sorted = shoal_common::stats::sorted(times.clone());
    let grid = &app.world().resource::<super::plugin::FishGrid>().grid;
    Ok(BoidBenchResult {
        bench: "boids",
        fish: b.fish,
        steps: b.steps,
        warmup: b.warmup,
        threads: b.threads,
        width: b.params.width,
        height: b.params.height,
        vision: b.params.vision,
        avoid: b.params.avoid,
        seed: b.seed,
        ms_per_step: mean,
        ms_per_step_median: shoal_common::stats::percentile(&sorted, 50.0),
        ms_per_step_min: sorted[0],
        fish_updates_per_s: b.fish as f64 / (mean / 1e3),
        mean_neighbours: sampled_mean_neighbours(grid, &b.params),
        sharks: b.sharks,
        rocks: b.rocks,
        ratio_to_plain: None,
    })
}

/// `b.sharks` sharks and `b.rocks` rocks placed from `b.seed` ([`super::playground::scatter`]).
pub fn playground(b: &BoidBench) -> super::plugin::Playground {
    let (sharks, rocks) = super::playground::scatter(b.sharks, b.rocks, b.seed, &b.params);
    super::plugin::Playground {
        sharks,
        pointer: None,
        rocks,
    }
}

/// The bench with its sharks and rocks, and the same school without them just before; the
/// second result carries the ratio of the two.
pub fn run_with_plain(b: &BoidBench) -> anyhow::Result<(BoidBenchResult, BoidBenchResult)> {
    let plain = run(&BoidBench {
        sharks: 0,
        rocks: 0,
        ..b.clone()
    })?;
    let mut with = run(b)?;
    with.ratio_to_plain = Some(with.ms_per_step / plain.ms_per_step);
    Ok((plain, with))
}

/// Mean neighbours per fish over up to 2,000 fish spread evenly through the grid's table (the
/// work the grid does; both benchmarks report it).
pub(crate) fn sampled_mean_neighbours(grid: &crate::Grid, params: &crate::BoidParams) -> f64 {
    let sample = grid.len().min(2000);
    let stride = (grid.len() / sample.max(1)).max(1);
    let neighbours: usize = (0..sample).map(|k| grid.sums(k * stride, params).count as usize).sum();
    neighbours as f64 / sample.max(1) as f64
}
