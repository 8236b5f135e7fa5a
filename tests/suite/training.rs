//! Training jobs on a headless App (no window): progress, pause, reset, divergence, images.

use bevy::prelude::*;
use shoal::learn::dcgan::DcganConfig;
use shoal::learn::live::{BasicsJob, Command, DcganJob, Deferred, Job, NotReady};
use shoal::training::{Factory, JobState, TrainingPlugin, Trainings};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn app_with(job: JobState) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::asset::AssetPlugin::default()))
        .init_asset::<Image>()
        .insert_resource(Trainings { jobs: vec![job] })
        .add_plugins(TrainingPlugin);
    app
}

fn job(app: &mut App) -> &mut JobState {
    &mut app.world_mut().resource_mut::<Trainings>().into_inner().jobs[0]
}

/// Updates the app until `done` holds (or the time runs out); returns whether it held.
fn update_until(app: &mut App, secs: f64, mut done: impl FnMut(&mut App) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        app.update();
        if done(app) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn basics(epochs: usize) -> Factory {
    Arc::new(move || Ok(Box::new(BasicsJob::new(0, epochs)) as Box<dyn Job>))
}

#[test]
fn threaded_job_progresses_pauses_and_resets() {
    let mut app = app_with(JobState::threaded("Tensor basics", basics(100_000)));
    job(&mut app).set_running(true);
    assert!(
        update_until(&mut app, 60.0, |a| job(a).steps >= 30),
        "the job must make progress"
    );
    let j = job(&mut app);
    assert_eq!(j.series.len(), 3);
    assert!(
        j.history
            .iter()
            .all(|h| !h.is_empty() && h.iter().all(|p| p[1].is_finite()))
    );
    let first = j.history[0][0][1];
    // Pause: after in-flight reports land, nothing moves.
    j.set_running(false);
    for _ in 0..20 {
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    let paused_at = job(&mut app).steps;
    for _ in 0..30 {
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(job(&mut app).steps, paused_at, "a paused job does not step");
    assert!(
        job(&mut app).history[0].last().unwrap()[1] < first,
        "the loss went down"
    );
    // Reset: back to the start, then it runs again from step 1.
    job(&mut app).reset();
    app.update();
    assert_eq!(job(&mut app).steps, 0);
    assert!(job(&mut app).history.iter().all(|h| h.is_empty()));
    job(&mut app).set_running(true);
    assert!(update_until(&mut app, 60.0, |a| job(a).steps >= 3));
    let h = &job(&mut app).history[0];
    assert_eq!(h[0][0], 1.0, "the history restarts at step 1");
    assert!(
        (h[0][1] - first).abs() <= 1e-6 * first.abs(),
        "the same initial loss after reset"
    );
}

#[test]
fn inline_job_steps_within_the_frame_budget() {
    let mut app = app_with(JobState::inline("Tensor basics", basics(50), Duration::from_millis(5)));
    job(&mut app).set_running(true);
    assert!(update_until(&mut app, 60.0, |a| job(a).finished), "runs to its end");
    let j = job(&mut app);
    assert_eq!(j.steps, 50);
    assert!(!j.running);
    assert_eq!(j.history[0].len(), 50);
}

#[test]
fn inline_job_waits_for_what_it_needs_and_then_trains() {
    // The browser's path: the first frames come before the digits (or the GPU device) do; the
    // job says what it waits for, is built on a later frame, and trains; a real failure after
    // that is an error.
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    let factory: Factory = Arc::new(move || {
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3 {
            Err(NotReady {
                what: "loading the MNIST digits…",
            }
            .into())
        } else {
            Ok(Box::new(BasicsJob::new(0, 5)) as Box<dyn Job>)
        }
    });
    let mut app = app_with(JobState::inline("Tensor basics", factory, Duration::from_millis(5)));
    job(&mut app).set_running(true);
    app.update();
    let j = job(&mut app);
    assert_eq!(j.waiting.as_deref(), Some("loading the MNIST digits…"));
    assert!(j.error.is_none(), "waiting is not an error: {:?}", j.error);
    assert_eq!(j.steps, 0);
    assert!(
        update_until(&mut app, 60.0, |a| job(a).finished),
        "built later, then runs to its end"
    );
    let j = job(&mut app);
    assert!(j.waiting.is_none() && j.error.is_none());
    assert_eq!((j.steps, calls.load(std::sync::atomic::Ordering::SeqCst)), (5, 4));

    let broken: Factory = Arc::new(|| Err(anyhow::anyhow!("cannot load the MNIST digits: HTTP 404")));
    let mut app = app_with(JobState::inline("Tensor basics", broken, Duration::from_millis(5)));
    app.update();
    let j = job(&mut app);
    assert!(j.waiting.is_none());
    assert_eq!(j.error.as_deref(), Some("cannot load the MNIST digits: HTTP 404"));
}

/// Basics whose every step takes at least 30 ms (longer than the frame budget); adds the
/// time it spends stepping to `spent` (microseconds).
struct Slow(BasicsJob, Arc<std::sync::atomic::AtomicU64>);

impl Job for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn step(&mut self) -> shoal::learn::live::Report {
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let r = self.0.step();
        let us = t.elapsed().as_micros() as u64;
        self.1.fetch_add(us, std::sync::atomic::Ordering::Relaxed);
        r
    }
    fn series(&self) -> Vec<&'static str> {
        self.0.series()
    }
}

#[test]
fn an_inline_job_slower_than_the_budget_leaves_frames_free() {
    let spent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = spent.clone();
    let slow: Factory =
        Arc::new(move || Ok(Box::new(Slow(BasicsJob::new(0, 100_000), counter.clone())) as Box<dyn Job>));
    let mut app = app_with(JobState::inline("slow", slow, Duration::from_millis(5)));
    app.update();
    job(&mut app).set_running(true);
    let start = Instant::now();
    let mut frames = 0u32;
    // At least 1.5 s and 8 steps (a loaded machine makes each step slower).
    while start.elapsed() < Duration::from_millis(1500) || (job(&mut app).steps < 8 && start.elapsed().as_secs() < 60) {
        app.update();
        frames += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let steps = job(&mut app).steps as f64;
    // Training got about its share of the time (not every frame, not never).
    let share = spent.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-6 / wall;
    assert!(steps >= 8.0, "only {steps} steps");
    assert!(
        share <= shoal::training::INLINE_SHARE + 0.15,
        "training took {share:.2} of the time"
    );
    assert!(frames as f64 > steps * 1.5, "{frames} frames for {steps} steps");
}

#[test]
fn a_diverging_run_is_reported_stops_and_the_app_keeps_running() {
    let mut app = app_with(JobState::threaded("Tensor basics", basics(100_000)));
    app.update();
    job(&mut app).command(Command::SetLr(1.0)); // absurd for this problem
    job(&mut app).set_running(true);
    assert!(
        update_until(&mut app, 60.0, |a| job(a).diverged),
        "divergence is reported"
    );
    assert!(!job(&mut app).running);
    // Start is refused until a reset; the app goes on updating.
    job(&mut app).set_running(true);
    assert!(!job(&mut app).running);
    for _ in 0..10 {
        app.update();
    }
    job(&mut app).reset();
    job(&mut app).set_running(true);
    assert!(update_until(&mut app, 60.0, |a| job(a).steps >= 2 && !job(a).diverged));
}

#[test]
fn dcgan_samples_land_in_an_image_asset_and_change() {
    let factory: Factory = Arc::new(|| {
        let cfg = DcganConfig {
            batch: 16,
            ..DcganConfig::default()
        };
        Ok(Box::new(DcganJob::new(cfg, 1)?) as Box<dyn Job>)
    });
    let mut app = app_with(JobState::threaded("DCGAN", factory));
    assert!(
        update_until(&mut app, 120.0, |a| job(a).image.is_some()),
        "the initial samples are shown"
    );
    let pixels = |app: &mut App| {
        let h = job(app).image.clone().unwrap();
        app.world()
            .resource::<Assets<Image>>()
            .get(&h)
            .unwrap()
            .data
            .clone()
            .unwrap()
    };
    let before = pixels(&mut app);
    job(&mut app).set_running(true);
    assert!(update_until(&mut app, 300.0, |a| job(a).steps >= 2), "the GAN steps");
    job(&mut app).set_running(false);
    app.update();
    let after = pixels(&mut app);
    assert_eq!(before.len(), after.len());
    assert_ne!(before, after, "the samples changed as the generator trained");
    assert!(job(&mut app).history.iter().all(|h| h.iter().all(|p| p[1].is_finite())));
}

/// A job whose steps report the given classifier scores, one per step.
struct Scored(Vec<f64>, u64);

impl Job for Scored {
    fn name(&self) -> &'static str {
        "scored"
    }
    fn step(&mut self) -> shoal::learn::live::Report {
        self.1 += 1;
        let score = self.0[(self.1 as usize - 1).min(self.0.len() - 1)];
        shoal::learn::live::Report {
            step: self.1,
            values: vec![("loss", 1.0 / self.1 as f64)],
            quality: Some(shoal::learn::live::Quality {
                step: self.1,
                score,
                frechet: 100.0 / score,
            }),
            ..Default::default()
        }
    }
    fn series(&self) -> Vec<&'static str> {
        vec!["loss"]
    }
}

/// The driver needs no engine (it lives in `learn`): stepped by hand, it keeps the curves and
/// the quality measurements, marks the first digits (score >= 5) once, and Reset clears them.
#[test]
fn the_runner_needs_no_engine_and_marks_the_first_digits_once() {
    use shoal::learn::live::{FIRST_DIGITS_SCORE, Runner};
    let scores = vec![2.0, 4.0, 6.0, 3.0, 8.0];
    let s = scores.clone();
    let factory: Factory = Arc::new(move || Ok(Box::new(Scored(s.clone(), 0)) as Box<dyn Job>));
    let mut run = Runner::stepped("scored", factory, 1.0);
    run.poll();
    assert_eq!(run.series, ["loss"]);
    run.set_running(true);
    for _ in 0..2 {
        run.poll();
    }
    assert_eq!(run.steps, 2);
    assert!(run.first_digits.is_none(), "no score reached {FIRST_DIGITS_SCORE} yet");
    std::thread::sleep(Duration::from_millis(20));
    run.poll();
    let first = run.first_digits.expect("the third score is 6");
    assert!(first >= Duration::from_millis(20), "{first:?}");
    for _ in 0..2 {
        run.poll();
    }
    assert_eq!(run.first_digits, Some(first), "set once, at the first time");
    let got: Vec<f64> = run.quality.iter().map(|q| q[1]).collect();
    assert_eq!(got, scores);
    assert_eq!(run.history[0].len(), 5);
    run.reset();
    assert!(run.quality.is_empty() && run.first_digits.is_none() && run.history[0].is_empty());
}

/// The live quality number: high on real digits, at the floor on noise.
#[test]
fn the_live_score_is_high_on_real_digits_and_low_on_noise() {
    use shoal::learn::data::{Digits, PIXELS, Split};
    use shoal::learn::live::{Judge, SCORE_SAMPLES};
    let judge = Judge::load().expect("native builds carry the classifier");
    let real = Digits::bundled(Split::Train);
    let good = judge.judge(1, &real.images[..SCORE_SAMPLES * PIXELS]);
    let mut r = shoal::learn::rng::Rng64::new(9);
    let noise: Vec<u8> = (0..SCORE_SAMPLES * PIXELS)
        .map(|_| (r.next_u64() & 0xff) as u8)
        .collect();
    let bad = judge.judge(1, &noise);
    assert!(good.score > 8.0, "real digits: {good:?}");
    assert!(bad.score < 3.0, "noise: {bad:?}");
    assert!(bad.frechet > 20.0 * good.frechet, "real {good:?} noise {bad:?}");
}

/// The DCGAN job measures its quality at its first step and every 20 steps after.
#[test]
fn the_dcgan_job_scores_fresh_samples_every_twenty_steps() {
    let mut job = DcganJob::new(
        DcganConfig {
            batch: 8,
            ..DcganConfig::default()
        },
        5,
    )
    .unwrap();
    let scored: Vec<u64> = (0..40)
        .filter_map(|_| {
            let r = job.step();
            r.quality.map(|q| {
                assert!((1.0..=10.0).contains(&q.score) && q.frechet.is_finite(), "{q:?}");
                r.step
            })
        })
        .collect();
    assert_eq!(scored, [1, 20, 40]);
}

/// The live score measured aside (the app's DCGAN: a helper thread at idle priority, or in
/// line while that is busy) gives each measurement the step it was taken at and the same
/// numbers as measuring in line; the driver keeps them in step order whatever order they
/// arrive in.
#[test]
fn the_dcgan_score_measured_aside_equals_the_in_line_one() {
    use shoal::learn::live::Runner;
    let cfg = DcganConfig {
        batch: 8,
        ..DcganConfig::default()
    };
    let mut aside = DcganJob::new(cfg.clone(), 5).unwrap().scoring_aside();
    let mut got = Vec::new();
    // Until the measurements of steps 1, 20 and 40 are in (the last may come a few steps late).
    let mut steps = 0;
    while steps < 400
        && ![1, 20, 40]
            .iter()
            .all(|s| got.iter().any(|q: &shoal::learn::live::Quality| q.step == *s))
    {
        got.extend(aside.step().quality);
        steps += 1;
        if steps >= 40 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(steps < 400, "the measurements of steps 1, 20, 40 arrived: {got:?}");
    let mut in_line = DcganJob::new(cfg, 5).unwrap();
    let want: Vec<_> = (0..steps).filter_map(|_| in_line.step().quality).collect();
    for q in &got {
        let w = want
            .iter()
            .find(|w| w.step == q.step)
            .expect("scored at the same steps");
        assert!((q.score - w.score).abs() <= 1e-6 * w.score, "{q:?} vs {w:?}");
        assert!((q.frechet - w.frechet).abs() <= 1e-6 * w.frechet, "{q:?} vs {w:?}");
    }
    // Arriving out of order (a late measurement from aside), they are kept in step order.
    let late: Vec<_> = got.iter().rev().copied().collect();
    let factory: Factory = Arc::new(move || Ok(Box::new(Replay(late.clone(), 0)) as Box<dyn Job>));
    let mut run = Runner::stepped("replay", factory, 1.0);
    run.set_running(true);
    for _ in 0..got.len() {
        run.poll();
    }
    let order: Vec<f64> = run.quality.iter().map(|q| q[0]).collect();
    let mut sorted = order.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(order.len(), got.len());
    assert_eq!(order, sorted);
}

/// A job that reports the given measurements, one per step.
struct Replay(Vec<shoal::learn::live::Quality>, u64);

impl Job for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }
    fn step(&mut self) -> shoal::learn::live::Report {
        self.1 += 1;
        shoal::learn::live::Report {
            step: self.1,
            values: vec![("loss", 1.0)],
            quality: self.0.get(self.1 as usize - 1).copied(),
            ..Default::default()
        }
    }
    fn series(&self) -> Vec<&'static str> {
        vec!["loss"]
    }
}

/// In halves (the browser's CPU path: G's step on one frame, D's on the next) the DCGAN job
/// makes the same iterations as whole steps: the same losses and pictures, one report per two
/// calls.
#[test]
fn a_dcgan_job_in_halves_makes_the_same_iterations_as_whole_steps() {
    let cfg = DcganConfig {
        batch: 8,
        ..DcganConfig::default()
    };
    let mut whole = DcganJob::new(cfg.clone(), 2).unwrap();
    let mut halves = DcganJob::new(cfg, 2).unwrap().in_halves();
    for step in 1..=3u64 {
        let want = whole.step();
        assert!(
            matches!(halves.step_deferred(), Deferred::Half),
            "step {step}: G's half gives no report"
        );
        let Deferred::Ready(got) = halves.step_deferred() else {
            panic!("step {step}: D's half gives the report");
        };
        assert_eq!(got.step, step);
        assert_eq!(got.step, want.step);
        assert_eq!(got.values, want.values, "step {step}");
        assert!(got.values.iter().all(|(_, v)| v.is_finite()), "{:?}", got.values);
        assert_eq!(got.image.is_some(), want.image.is_some(), "step {step}");
        assert_eq!(got.image, want.image, "step {step}");
    }
}

/// Read asynchronously (the browser's GPU path, in its training worker), the DCGAN job reports
/// what whole steps report: the same losses, pictures and live score (its fresh samples read
/// with the step's numbers and scored in `finish_deferred`), on the CPU backend here.
#[test]
fn a_dcgan_job_read_asynchronously_reports_and_scores_as_whole_steps() {
    let cfg = DcganConfig {
        batch: 8,
        ..DcganConfig::default()
    };
    let mut whole = DcganJob::new(cfg.clone(), 2).unwrap();
    let mut deferred = DcganJob::new(cfg, 2).unwrap().reading_async();
    for step in 1..=2u64 {
        let want = whole.step();
        let Deferred::Reading(mut read) = deferred.step_deferred() else {
            panic!("step {step}: an asynchronous read");
        };
        // Flex's data is at hand: the read is done at its first poll.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(mut got) = read.as_mut().poll(&mut cx) else {
            panic!("step {step}: the read on the CPU is ready at once");
        };
        deferred.finish_deferred(&mut got);
        assert_eq!(got.step, want.step);
        assert_eq!(got.values, want.values, "step {step}");
        assert_eq!(got.image, want.image, "step {step}");
        // Scored at the first step, as the whole steps are (with the shipped classifier).
        assert_eq!(got.quality.is_some(), step == 1, "step {step}");
        assert_eq!(got.quality, want.quality, "step {step}");
    }
}

/// The two-core split (one rasterizer thread, one tensor-kernel thread) applies only where it
/// was measured to help: at most two cores, trainings started with the app, a share above 0.
#[test]
fn the_two_core_split_applies_only_to_small_machines_training_from_the_start() {
    use shoal::learn::live::share::split_two_cores;
    assert!(split_two_cores(2, true, 0.5));
    assert!(split_two_cores(1, true, 0.9));
    assert!(!split_two_cores(4, true, 0.5), "more cores: both pools keep every core");
    assert!(
        !split_two_cores(2, false, 0.5),
        "no training at start: frames keep both rasterizer threads"
    );
    assert!(!split_two_cores(2, true, 0.0), "share 0: frames first");
    let opts = shoal::app::AppOptions {
        autostart: true,
        ..Default::default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(opts.split_two_cores(), cores <= 2 && !opts.jobs.is_empty());
    let no_jobs = shoal::app::AppOptions {
        autostart: true,
        jobs: Vec::new(),
        ..Default::default()
    };
    assert!(!no_jobs.split_two_cores());
}

/// With one tensor-kernel thread (the two-core split), a job's thread runs the kernels'
/// parallel loops itself instead of handing each to the pool's thread and sleeping.
#[test]
fn a_job_thread_runs_a_one_thread_kernel_pool_itself() {
    use burn::tensor::Tensor;
    use rayon::prelude::*;
    use shoal::learn::live::share::kernels_here;
    std::thread::spawn(|| {
        assert!(kernels_here(2).is_none(), "several kernel threads stay shared");
        let me = std::thread::current().id();
        let _pool = kernels_here(1).expect("one kernel thread: this thread runs the kernels");
        assert_eq!(rayon::current_num_threads(), 1);
        assert_eq!(rayon::current_thread_index(), Some(0));
        let (a, b) = rayon::join(|| std::thread::current().id(), || std::thread::current().id());
        assert_eq!((a, b), (me, me));
        let ids: Vec<_> = (0..64).into_par_iter().map(|_| std::thread::current().id()).collect();
        assert!(ids.iter().all(|&id| id == me), "a parallel loop ran on another thread");
        assert!(kernels_here(1).is_none(), "already the pool's thread");
        // The tensor kernels (burn Flex) run here and give the right numbers.
        let dev = Default::default();
        let x = Tensor::<shoal::learn::Cpu, 2>::ones([128, 256], &dev);
        let y = Tensor::<shoal::learn::Cpu, 2>::ones([256, 64], &dev);
        let total: f32 = x.matmul(y).sum().into_scalar();
        assert_eq!(total, (128 * 64 * 256) as f32);
    })
    .join()
    .expect("the job thread");
}

#[test]
fn a_long_curve_is_drawn_as_its_envelope_with_its_spikes_and_its_end() {
    use shoal::learn::plot::envelope;
    // 4,000 steps of a wobbling, falling loss with one spike and one dip.
    let mut pts: Vec<[f64; 2]> = (0..4000)
        .map(|i| {
            [
                i as f64,
                2.0 / (1.0 + i as f64 / 500.0) + 0.05 * ((i * 7919 % 13) as f64 / 13.0),
            ]
        })
        .collect();
    pts[1234][1] = 9.0;
    pts[3001][1] = -1.0;
    pts[77][1] = f64::NAN;
    let thin = envelope(&pts, 200);
    assert!(thin.len() <= 401, "{} points", thin.len());
    assert!(thin.len() >= 200, "{} points", thin.len());
    assert!(thin.windows(2).all(|w| w[0][0] < w[1][0]), "steps stay in order");
    assert!(thin.contains(&[1234.0, 9.0]), "the spike is kept");
    assert!(thin.contains(&[3001.0, -1.0]), "the dip is kept");
    assert!(thin.iter().all(|p| p[1].is_finite()), "a NaN never wins over numbers");
    assert_eq!(thin.last(), pts.last(), "the curve ends where the training is");
    // Each kept point is one of the curve's, and each run's extremes are there.
    for p in &thin {
        assert!(pts.contains(p));
    }
    let run = &pts[20..40]; // run 1 of 200 (20 points each)
    let max = run.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
    assert!(thin.iter().any(|p| p[1] == max && (20.0..40.0).contains(&p[0])));
    // A short curve comes back whole.
    assert_eq!(envelope(&pts[1000..1300], 200), pts[1000..1300].to_vec());
}

/// The frame pacer's sleep must happen on the main thread: on a task-pool thread (a two-core
/// machine has one) it would hold up the render world's systems that run on that pool, and the
/// frame would wait for the sleep and the drawing one after the other.
#[test]
fn the_frame_pacer_sleeps_on_the_main_thread() {
    let mut world = World::new();
    let mut pace = IntoSystem::into_system(shoal::app::pacing::pace);
    pace.initialize(&mut world);
    assert!(!pace.is_send(), "the pacer may run on a task-pool thread");
}
