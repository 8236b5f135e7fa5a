//! `shoal record`: the app's scene (the tank and, unless `--no-panels`, its panels as the
//! window shows them) rendered off-screen (no window) into an image, read back frame by frame
//! on a fixed timestep and streamed to an animated GIF, numbered PNGs or a video (ffmpeg).
//! A script (`--script`) drives the scene on the recording's timeline.
//! The same seed and flags give the same frames: the school steps on virtual time advanced
//! by exactly one frame per update, and trainings step a fixed number of times per frame.

pub mod capture;
pub mod script;
pub mod settings;
pub mod sink;

pub use settings::{RecordScene, parse_size};

use crate::app::{AppOptions, JobKind, add_tank};
use crate::record::script::Script;
use crate::tank::TankTarget;
use crate::training::{JobState, TrainingPlugin, Trainings};
use crate::ui::layout::{Docking, Replay, UiZoom};
use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::time::TimeUpdateStrategy;
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use sink::{FrameSink, Video};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the frames go.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Gif(PathBuf),
    PngDir(PathBuf),
    /// FILE.mp4 (H.264) or FILE.webm (VP9), encoded by ffmpeg.
    Video(PathBuf, Video),
}

impl Output {
    /// `FILE.gif`, `FILE.mp4`, `FILE.webm`, or a directory (an existing one, or a path ending
    /// in `/`).
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
            Some("mp4") => Ok(Output::Video(p, Video::Mp4)),
            Some("webm") => Ok(Output::Video(p, Video::Webm)),
            _ => anyhow::bail!("--out must be FILE.gif, FILE.mp4, FILE.webm or a directory (DIR/), got {s}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub scene: RecordScene,
    /// The trainings in a training scene (panel order).
    pub trainings: Vec<JobKind>,
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
    /// The panels drawn into the frames, as the window shows them (`--no-panels`: the bare tank).
    pub panels: bool,
    /// A timeline of actions (`--script`); without one the trainings run from the start.
    pub script: Option<Script>,
    /// DCGAN steps per frame (and its batch) in a training scene.
    pub dcgan_per_frame: f64,
    pub dcgan_batch: usize,
    /// The CPU school (the default) or the GPU's (`--school gpu`).
    pub school: crate::boids::SchoolKind,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            scene: RecordScene::Tank,
            trainings: vec![JobKind::Basics, JobKind::PathSgd, JobKind::Dcgan],
            fish: 300,
            seed: 1,
            frames: 60,
            fps: 20,
            size: (1280, 720),
            out: Output::Gif(PathBuf::from("shoal.gif")),
            warmup: 20,
            dcgan_from: None,
            panels: true,
            script: None,
            dcgan_per_frame: 0.25,
            dcgan_batch: 32,
            school: crate::boids::SchoolKind::Cpu,
        }
    }
}

impl RecordOptions {
    /// Checks everything that can be checked before rendering (including that the output
    /// location is writable and, for a video, that ffmpeg can encode it), so a bad flag never
    /// leaves a partial file.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=100_000).contains(&self.frames),
            "--frames must be 1..100000, got {}",
            self.frames
        );
        anyhow::ensure!((1..=60).contains(&self.fps), "--fps must be 1..60, got {}", self.fps);
        let (w, h) = self.size;
        anyhow::ensure!(
            (16..=4096).contains(&w) && (16..=4096).contains(&h),
            "--size must be 16..4096 on each side"
        );
        anyhow::ensure!(
            self.dcgan_per_frame.is_finite() && (0.0..=8.0).contains(&self.dcgan_per_frame),
            "DCGAN steps per frame must be 0..8, got {}",
            self.dcgan_per_frame
        );
        if let Some(script) = &self.script {
            let trainings = if self.scene == RecordScene::Training {
                self.trainings.as_slice()
            } else {
                &[]
            };
            script
                .check(self.frames as f64 / self.fps as f64, trainings)
                .map_err(|e| anyhow::anyhow!("script, {e}"))?;
        }
        let file_dir = |p: &Path| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        };
        let dir = match &self.out {
            Output::Gif(p) | Output::Video(p, _) => file_dir(p),
            Output::PngDir(d) => file_dir(&d.join("x")),
        };
        if let Output::Video(_, video) = &self.out {
            anyhow::ensure!(
                w % 2 == 0 && h % 2 == 0,
                "--size must be even on both sides for a video (yuv420p), got {w}x{h}"
            );
            sink::check_ffmpeg(*video)?;
        }
        // A file goes into an existing folder; a frame folder is created (inside an existing one).
        let parent = match &self.out {
            Output::PngDir(d) => d.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf),
            _ => Some(dir.clone()),
        };
        if let Some(parent) = parent {
            anyhow::ensure!(
                parent.is_dir(),
                "the folder for --out does not exist: {}",
                parent.display()
            );
        }
        if dir.is_dir() {
            let probe = dir.join(format!(".shoal-write-test-{}", std::process::id()));
            std::fs::write(&probe, b"").map_err(|e| anyhow::anyhow!("cannot write into {}: {e}", dir.display()))?;
            let _ = std::fs::remove_file(probe);
        }
        Ok(())
    }

    fn sink(&self) -> anyhow::Result<Box<dyn FrameSink>> {
        Ok(match &self.out {
            Output::Gif(p) => Box::new(sink::GifSink::create(p, self.size, self.fps)?),
            Output::PngDir(d) => Box::new(sink::PngSink::create(d, self.size)?),
            Output::Video(p, v) => Box::new(sink::VideoSink::create(p, *v, self.size, self.fps)?),
        })
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

/// What a recording wrote.
#[derive(Debug)]
pub struct Recorded {
    pub frames: usize,
    pub written: Vec<PathBuf>,
}

/// Renders the frames and streams each, as it arrives, to the output (`progress` hears the
/// count). On any error nothing of the output is left.
pub fn record(opts: &RecordOptions, mut progress: impl FnMut(usize)) -> anyhow::Result<Recorded> {
    opts.validate()?;
    let (w, h) = opts.size;
    let mut app = headless_render_app();
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / opts.fps as f64,
    )));
    let app_opts = AppOptions {
        fish: opts.fish,
        seed: opts.seed,
        school: opts.school,
        ..AppOptions::default()
    };
    add_tank(&mut app, &app_opts);
    let training = opts.scene == RecordScene::Training && !opts.trainings.is_empty();
    if training {
        // Fixed steps per frame: basics an epoch, Path-SGD a batch, the GAN one step every
        // fourth frame by default (batch 32) so its poster changes while the fish swim.
        let settings = crate::app::SharedSettings::default();
        {
            let mut s = settings.0.lock().unwrap_or_else(|e| e.into_inner());
            s.dcgan_batch = opts.dcgan_batch;
            s.dcgan_grid_every = 1;
            s.dcgan_from = opts.dcgan_from.clone();
        }
        let mut t = Trainings::default();
        for &kind in &opts.trainings {
            let per_frame = if kind == JobKind::Dcgan {
                opts.dcgan_per_frame
            } else {
                1.0
            };
            let factory = crate::app::job_factory(
                kind,
                settings.clone(),
                crate::app::backend::SharedBackend::cpu(),
                crate::app::Host::InOrder,
            );
            let mut job = JobState::stepped(kind.name(), factory, per_frame);
            // With a script the trainings wait for its `start` steps.
            job.set_running(opts.script.is_none());
            t.jobs.push(job);
        }
        app.insert_resource(t)
            .insert_resource(settings)
            .insert_resource(crate::app::backend::SharedBackend::cpu())
            .add_plugins(TrainingPlugin);
        if !opts.panels {
            app.add_plugins(crate::ui::train_ui::PosterPlugin);
        }
    }
    if opts.panels {
        // The panels as a 1280x720 window shows them, scaled to the frame's height.
        let zoom = (h as f32 / 720.0).clamp(0.25, 4.0);
        app.insert_resource(UiZoom(zoom)).insert_resource(Replay).add_plugins((
            bevy_egui::EguiPlugin::default(),
            crate::ui::fonts::UiFontsPlugin,
            crate::ui::controls::ControlsPlugin,
            crate::ui::layout::OverlayPlugin,
        ));
        if training {
            app.add_plugins(crate::ui::train_ui::TrainUiPlugin);
        }
    } else {
        app.insert_resource(Docking {
            show: false,
            ..default()
        });
    }
    if opts.script.is_some() {
        app.add_plugins(crate::record::script::ScriptPlugin);
    }
    let mut target = Image::new_target_texture(w, h, TextureFormat::Rgba8UnormSrgb, None);
    target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
    app.insert_resource(TankTarget(handle.clone()));
    let arrived = Sink::default();
    let frames = arrived.0.clone();
    app.insert_resource(arrived);
    app.add_systems(Startup, move |mut commands: Commands| {
        commands
            .spawn(Readback::texture(handle.clone()))
            .observe(|ev: On<ReadbackComplete>, sink: Res<Sink>| {
                let mut frames = sink.0.lock().expect("frame sink");
                // Only the newest read-back matters: older ones are dropped at once.
                frames.clear();
                frames.push(ev.data.clone());
            });
    });
    app.finish();
    app.cleanup();
    let mut out = opts.sink()?;
    let steps = opts.script.as_ref().map(|s| s.steps.as_slice()).unwrap_or(&[]);
    let mut next_step = 0;
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
        app.insert_resource(crate::training::FreezeTraining(!advance));
    };
    // Rows are padded to 256 bytes in the read-back buffer.
    let row = (w * 4) as usize;
    let padded = row.div_ceil(256) * 256;
    let mut tight = Vec::with_capacity(row * h as usize);
    let mut done = 0;
    for k in 0..opts.warmup + opts.frames {
        // The script's steps due by this frame's time (0 at the first recorded frame).
        if k >= opts.warmup {
            let t = (k - opts.warmup) as f64 / opts.fps as f64;
            let mut due = Vec::new();
            while next_step < steps.len() && steps[next_step].at <= t + 1e-9 {
                due.push(steps[next_step].action.clone());
                next_step += 1;
            }
            if !due.is_empty() {
                app.world_mut()
                    .resource_mut::<crate::record::script::DueSteps>()
                    .0
                    .extend(due);
            }
        }
        set_clock(&mut app, true);
        app.update();
        set_clock(&mut app, false);
        for _ in 0..3 {
            app.update();
        }
        frames.lock().expect("frame sink").clear();
        let mut tries = 0;
        let last = loop {
            app.update();
            if let Some(f) = frames.lock().expect("frame sink").pop() {
                break f;
            }
            tries += 1;
            anyhow::ensure!(
                tries < 200,
                "the renderer delivered no frames (is a graphics adapter available?)"
            );
        };
        if k >= opts.warmup {
            tight.clear();
            if padded == row {
                tight.extend_from_slice(&last);
            } else {
                for r in last.chunks(padded) {
                    tight.extend_from_slice(&r[..row]);
                }
            }
            out.push(&tight)?;
            done += 1;
            progress(done);
        }
    }
    let written = out.finish()?;
    if let Some(mut t) = app.world_mut().get_resource_mut::<Trainings>() {
        t.shutdown();
    }
    Ok(Recorded { frames: done, written })
}

/// The most memory this process has held (resident, MB), where the system tells (Linux).
pub fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
