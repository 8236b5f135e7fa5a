//! `--diagnostics`: frame-time percentiles (and training progress) every few seconds and at
//! exit, as JSON lines on stdout or in a file; `--seconds` ends a measured run.

use crate::boids::plugin::Fish;
use crate::training::Trainings;
use bevy::ecs::system::SystemParam;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use shoal_common::stats::percentile;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub struct DiagnosticsPlugin {
    /// Where to append the JSON lines (stdout when `None`).
    pub out: Option<PathBuf>,
    /// Seconds between reports.
    pub every: f64,
}

#[derive(Resource)]
struct FrameLog {
    out: Option<PathBuf>,
    every: Duration,
    /// Frame times (ms) since the last report, and over the whole run.
    window: Vec<f64>,
    all: Vec<f64>,
    last: Instant,
    started: Instant,
}

/// Exits the app after this long (for measured, unattended runs).
#[derive(Resource)]
pub struct RunFor(pub Duration, pub Instant);

impl Plugin for DiagnosticsPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(FrameLog {
            out: self.out.clone(),
            every: Duration::from_secs_f64(self.every.max(0.5)),
            window: Vec::new(),
            all: Vec::new(),
            last: Instant::now(),
            started: Instant::now(),
        })
        .add_systems(Last, (record, report).chain());
        // SHOAL_RENDER_PASSES=1: the render passes' GPU times (timestamp queries) join the
        // final line as "passes" (mean ms per frame), to see where a frame's drawing goes.
        if std::env::var_os("SHOAL_RENDER_PASSES").is_some_and(|v| v == "1") {
            app.add_plugins(bevy::render::diagnostic::RenderDiagnosticsPlugin);
        }
    }
}

/// Mean GPU and CPU milliseconds per render pass (`RenderDiagnosticsPlugin`'s), when it runs.
fn pass_times(store: &bevy::diagnostic::DiagnosticsStore) -> serde_json::Map<String, serde_json::Value> {
    store
        .iter()
        .filter(|d| d.path().as_str().starts_with("render/"))
        .filter_map(|d| Some((d.path().as_str().to_string(), serde_json::json!(d.average()?))))
        .collect()
}

fn summary(times: &[f64]) -> serde_json::Value {
    let s = shoal_common::stats::sorted(times.to_vec());
    serde_json::json!({
        "frames": s.len(),
        "p50_ms": percentile(&s, 50.0),
        "p95_ms": percentile(&s, 95.0),
        "p99_ms": percentile(&s, 99.0),
        "max_ms": s.last().copied().unwrap_or(f64::NAN),
    })
}

fn record(time: Res<Time<Real>>, mut log: ResMut<FrameLog>, frames: Res<bevy::diagnostic::FrameCount>) {
    // The first frames include start-up work (pipelines, fonts): skip them.
    if frames.0 > 10 {
        let ms = time.delta_secs_f64() * 1e3;
        log.window.push(ms);
        log.all.push(ms);
    }
}

fn emit(log: &FrameLog, line: &serde_json::Value) {
    match &log.out {
        Some(path) => {
            let ok = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = ok {
                error!("cannot write diagnostics to {}: {e}", path.display());
            }
        }
        None => super::web::print_line(&line.to_string()),
    }
}

/// What a report line tells besides the frame times: the school, the trainings and where they
/// run, Bevy's diagnostics.
#[derive(SystemParam)]
struct Observed<'w, 's> {
    fish: Query<'w, 's, (), With<Fish>>,
    trainings: Option<Res<'w, Trainings>>,
    backend: Option<Res<'w, crate::app::backend::SharedBackend>>,
    settings: Option<Res<'w, crate::app::SharedSettings>>,
    store: Option<Res<'w, bevy::diagnostic::DiagnosticsStore>>,
}

fn report(
    mut log: ResMut<FrameLog>,
    observed: Observed,
    run_for: Option<Res<RunFor>>,
    mut exit: MessageWriter<AppExit>,
) {
    let Observed {
        fish,
        trainings,
        backend,
        settings,
        store,
    } = observed;
    let ending = run_for.as_ref().is_some_and(|r| r.1.elapsed() >= r.0);
    if log.last.elapsed() < log.every && !ending {
        return;
    }
    log.last = Instant::now();
    let dcgan = trainings.as_ref().and_then(|t| t.find("DCGAN")).map(|j| {
        serde_json::json!({
            "dcgan_score": j.quality.last().map(|q| q[1]),
            "dcgan_steps_per_s": j.steps_per_second(),
            "first_digits_s": j.first_digits.map(|d| d.as_secs_f64()),
        })
    });
    let steps: serde_json::Map<String, serde_json::Value> = trainings
        .map(|t| {
            t.jobs
                .iter()
                .map(|j| (j.name.clone(), serde_json::json!(j.steps)))
                .collect()
        })
        .unwrap_or_default();
    let mut line = summary(&log.window);
    line["kind"] = serde_json::json!(if ending { "final" } else { "window" });
    line["seconds"] = serde_json::json!(log.started.elapsed().as_secs_f64());
    line["fish"] = serde_json::json!(fish.iter().len());
    line["train_steps"] = serde_json::Value::Object(steps);
    if let Some(serde_json::Value::Object(d)) = dcgan {
        for (k, v) in d {
            line[k] = v;
        }
        if let Some(s) = settings {
            line["dcgan_batch"] = serde_json::json!(s.0.lock().unwrap_or_else(|e| e.into_inner()).dcgan_batch);
        }
    }
    if let Some(state) = backend.and_then(|b| b.get()) {
        line["train_backend"] = serde_json::json!(state.label);
    }
    if ending {
        let all = summary(&log.all);
        line["run"] = all;
        let passes = store.map(|s| pass_times(&s)).unwrap_or_default();
        if !passes.is_empty() {
            line["passes"] = serde_json::Value::Object(passes);
        }
    }
    emit(&log, &line);
    log.window.clear();
    if ending {
        exit.write(AppExit::Success);
    }
}
