//! `shoal record`: the app's scene rendered off-screen (no window) into an image, read back
//! frame by frame on a fixed timestep, written as an animated GIF or numbered PNGs.
//! The same seed and flags give the same frames: the school steps on virtual time advanced
//! by exactly one frame per update, and trainings step a fixed number of times per frame.

use crate::scene::tank::TankTarget;
use crate::scene::training::{JobState, TrainingPlugin, Trainings};
use crate::scene::{AppOptions, JobKind, add_tank};
use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::time::TimeUpdateStrategy;
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordScene {
    /// The school only.
    Tank,
    /// The school with the trainings running (the DCGAN poster on the wall).
    Training,
}

impl std::str::FromStr for RecordScene {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tank" => Ok(Self::Tank),
            "training" => Ok(Self::Training),
            _ => Err(format!("unknown scene '{s}'; use tank or training")),
        }
    }
}

/// Where the frames go.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Gif(PathBuf),
    PngDir(PathBuf),
}

impl Output {
    /// `FILE.gif`, or a directory (an existing one, or a path ending in `/`).
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let p = PathBuf::from(s);
        if s.ends_with('/') || p.is_dir() {
            return Ok(Output::PngDir(p));
        }
        match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("gif") => Ok(Output::Gif(p)),
            _ => anyhow::bail!("--out must be FILE.gif or a directory (DIR/), got {s}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub scene: RecordScene,
    pub fish: usize,
    pub seed: u64,
    pub frames: usize,
    pub fps: u32,
    pub size: (u32, u32),
    pub out: Output,
    /// Frames rendered before recording starts (pipelines warm up, fish spread).
    pub warmup: usize,
    /// The DCGAN starts from this checkpoint (`--dcgan-from`) instead of from scratch.
    pub dcgan_from: Option<std::sync::Arc<Vec<u8>>>,
}

/// Parses `WxH`.
pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("--size must look like 640x360, got {s}"))?;
    let (w, h): (u32, u32) = (w.trim().parse()?, h.trim().parse()?);
    anyhow::ensure!(
        (16..=4096).contains(&w) && (16..=4096).contains(&h),
        "--size must be 16..4096 on each side, got {w}x{h}"
    );
    Ok((w, h))
}

impl RecordOptions {
    /// Checks everything that can be checked before rendering, including that the output
    /// location is writable, so a bad flag never leaves a partial file.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=10_000).contains(&self.frames),
            "--frames must be 1..10000, got {}",
            self.frames
        );
        anyhow::ensure!((1..=60).contains(&self.fps), "--fps must be 1..60, got {}", self.fps);
        let (w, h) = self.size;
        anyhow::ensure!(
            (16..=4096).contains(&w) && (16..=4096).contains(&h),
            "--size must be 16..4096 on each side"
        );
        let dir = match &self.out {
            Output::Gif(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            Output::PngDir(d) => d.clone(),
        };
        // A GIF goes into an existing folder; a frame folder is created.
        if matches!(self.out, Output::Gif(_)) {
            anyhow::ensure!(dir.is_dir(), "the folder for --out does not exist: {}", dir.display());
        }
        crate::util::prepare_out_dir(&dir)?;
        Ok(())
    }
}

#[derive(Resource, Clone, Default)]
struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

/// An app with Bevy's renderer but no window (no display needed; lavapipe works), updated by
/// hand.
pub fn headless_render_app() -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                ..default()
            })
            .disable::<WinitPlugin>(),
    )
    .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO));
    app
}

/// Renders the frames; returns them as tightly packed RGBA rows.
pub fn render_frames(opts: &RecordOptions, mut progress: impl FnMut(usize)) -> anyhow::Result<Vec<Vec<u8>>> {
    opts.validate()?;
    let (w, h) = opts.size;
    let mut app = headless_render_app();
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / opts.fps as f64,
    )));
    let app_opts = AppOptions {
        fish: opts.fish,
        seed: opts.seed,
        ..AppOptions::default()
    };
    add_tank(&mut app, &app_opts);
    if opts.scene == RecordScene::Training {
        // Fixed steps per frame: basics an epoch, Path-SGD a batch, the GAN one step every
        // fourth frame (batch 32) so its poster changes while the fish swim.
        let settings = crate::scene::SharedSettings::default();
        {
            let mut s = settings.0.lock().unwrap_or_else(|e| e.into_inner());
            s.dcgan_batch = 32;
            s.dcgan_grid_every = 1;
            s.dcgan_from = opts.dcgan_from.clone();
        }
        let mut t = Trainings::default();
        for (kind, per_frame) in [(JobKind::Basics, 1.0), (JobKind::PathSgd, 1.0), (JobKind::Dcgan, 0.25)] {
            let factory = kind.factory(settings.clone(), crate::scene::backend::SharedBackend::cpu());
            let mut job = JobState::stepped(kind.name(), factory, per_frame);
            job.set_running(true);
            t.jobs.push(job);
        }
        app.insert_resource(t)
            .add_plugins((TrainingPlugin, crate::scene::train_ui::PosterPlugin));
    }
    let mut target = Image::new_target_texture(w, h, TextureFormat::Rgba8UnormSrgb, None);
    target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
    app.insert_resource(TankTarget(handle.clone()));
    let sink = Sink::default();
    let frames = sink.0.clone();
    app.insert_resource(sink);
    app.add_systems(Startup, move |mut commands: Commands| {
        commands
            .spawn(Readback::texture(handle.clone()))
            .observe(|ev: On<ReadbackComplete>, sink: Res<Sink>| {
                sink.0.lock().expect("frame sink").push(ev.data.clone());
            });
    });
    app.finish();
    app.cleanup();
    // Each frame: one update that advances virtual time by 1/fps (the school steps, the
    // trainings step), then frozen updates until a read-back image that surely shows this
    // state arrives. Read-backs lag a frame or two behind; waiting makes frames exact.
    let dt = Duration::from_secs_f64(1.0 / opts.fps as f64);
    let set_clock = |app: &mut App, advance: bool| {
        app.insert_resource(TimeUpdateStrategy::ManualDuration(if advance {
            dt
        } else {
            Duration::ZERO
        }));
        app.insert_resource(crate::scene::training::FreezeTraining(!advance));
    };
    let mut raw = Vec::with_capacity(opts.frames);
    for k in 0..opts.warmup + opts.frames {
        set_clock(&mut app, true);
        app.update();
        set_clock(&mut app, false);
        for _ in 0..3 {
            app.update();
        }
        let seen = frames.lock().expect("frame sink").len();
        let mut tries = 0;
        while frames.lock().expect("frame sink").len() == seen {
            app.update();
            tries += 1;
            anyhow::ensure!(
                tries < 200,
                "the renderer delivered no frames (is a graphics adapter available?)"
            );
        }
        let last = frames
            .lock()
            .expect("frame sink")
            .drain(..)
            .last()
            .expect("a frame arrived");
        if k >= opts.warmup {
            raw.push(last);
            progress(raw.len());
        }
    }
    // Rows are padded to 256 bytes in the readback buffer.
    let row = (w * 4) as usize;
    let padded = row.div_ceil(256) * 256;
    Ok(raw
        .into_iter()
        .map(|f| {
            if padded == row {
                f
            } else {
                f.chunks(padded).flat_map(|r| r[..row].to_vec()).collect()
            }
        })
        .collect())
}

/// Writes the frames as the options ask (GIF, or `frame_0000.png`...), each file atomically.
pub fn write_frames(opts: &RecordOptions, frames: &[Vec<u8>]) -> anyhow::Result<Vec<PathBuf>> {
    let (w, h) = opts.size;
    match &opts.out {
        Output::Gif(path) => {
            let mut bytes = Vec::new();
            {
                let mut enc = gif::Encoder::new(&mut bytes, w as u16, h as u16, &[])?;
                enc.set_repeat(gif::Repeat::Infinite)?;
                for f in frames {
                    let mut rgba = f.clone();
                    let mut frame = gif::Frame::from_rgba_speed(w as u16, h as u16, &mut rgba, 10);
                    frame.delay = (100 / opts.fps).max(1) as u16;
                    enc.write_frame(&frame)?;
                }
            }
            crate::util::write_atomic(path, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(vec![path.clone()])
        }
        Output::PngDir(dir) => {
            let mut out = Vec::new();
            for (k, f) in frames.iter().enumerate() {
                let p = dir.join(format!("frame_{k:04}.png"));
                let png = crate::learn::plot::encode_png(f, w, h, true)?;
                crate::util::write_atomic(&p, &png)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
                out.push(p);
            }
            Ok(out)
        }
    }
}
