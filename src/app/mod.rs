//! The app assembled: its options, the window (or none), the school and its visuals, the
//! panels, the trainings, frame pacing and diagnostics; the browser's entry is in [`web`].

pub mod backend;
#[cfg(target_arch = "wasm32")]
mod console_log;
pub mod diagnostics;
pub mod options;
pub mod pacing;
pub mod web;

use crate::boids::BoidParams;
use crate::boids::plugin::BoidsPlugin;
use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::prelude::*;
use bevy_egui::EguiPlugin;

pub use crate::learn::live::spec::{Host, JobKind, JobSettings, LIVE_ADAM_LR};

/// Job `kind` as a factory (it is built on the job's own thread, and again on reset, with the
/// settings of that moment): DCGAN and Path-SGD on `backend`'s device, the basics (a net of a
/// few hundred weights) always on the CPU, stepped as `host` says. In the browser this builds
/// only the fallback for a page that gives no Web Worker (`web::browser_factory`): the job then
/// trains on the page's thread.
pub fn job_factory(
    kind: JobKind,
    settings: SharedSettings,
    backend: backend::SharedBackend,
    host: Host,
) -> crate::training::Factory {
    use crate::learn::live::spec::{Device, build};
    std::sync::Arc::new(move || {
        let s = settings.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let device = match kind {
            JobKind::Basics => Device::Cpu,
            _ => backend.for_job()?.device.for_learn()?,
        };
        build(kind, &s, &device, host)
    })
}

/// The settings, shared between the panels and the jobs' threads.
#[derive(Resource, Clone, Default)]
pub struct SharedSettings(pub std::sync::Arc<std::sync::Mutex<JobSettings>>);

/// How the app starts.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub fish: usize,
    pub seed: u64,
    pub params: BoidParams,
    /// Fixed-timestep rate of the school (steps per second).
    pub steps_per_second: f64,
    /// Training jobs shown in the panels.
    pub jobs: Vec<JobKind>,
    /// Start the jobs right away.
    pub autostart: bool,
    /// `--diagnostics`: frame-time report (to this file, or stdout for `Some(None)`).
    pub diagnostics: Option<Option<std::path::PathBuf>>,
    /// Exit after this many seconds.
    pub seconds: Option<f64>,
    /// The backend the trainings run on (`--backend`).
    pub backend: backend::BackendChoice,
    /// With `--backend wgpu`: a device of burn's own on the renderer's GPU, or the renderer's
    /// device itself (`--gpu-device`).
    pub gpu_device: backend::GpuDeviceChoice,
    /// `--headless`: render the tank (and its panels) off-screen at 1280x720 with no window
    /// and no frame pacing, so frame times measure the work alone (machines without a display).
    pub headless: bool,
    /// `--train-share`: the trainings' share of the machine against the frames.
    pub train_share: f64,
    /// `--dcgan-from`: the DCGAN starts from this checkpoint's bytes instead of from scratch.
    pub dcgan_from: Option<std::sync::Arc<Vec<u8>>>,
    /// `--sharks`: autonomous sharks in the tank.
    pub sharks: usize,
    /// Rocks (from a preset).
    pub rocks: Vec<crate::boids::Rock>,
    /// `--school`: the CPU school (the default) or the GPU's compute shaders.
    pub school: crate::boids::SchoolKind,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            fish: 300,
            seed: 1,
            params: BoidParams::default(),
            steps_per_second: 60.0,
            jobs: vec![JobKind::Basics, JobKind::PathSgd, JobKind::Dcgan],
            autostart: false,
            diagnostics: None,
            seconds: None,
            // The GPU where there is a real one (in the browser: WebGPU), else the CPU.
            backend: backend::BackendChoice::Auto,
            gpu_device: backend::GpuDeviceChoice::Own,
            headless: false,
            train_share: crate::learn::live::share::DEFAULT_TRAIN_SHARE,
            dcgan_from: None,
            sharks: 0,
            rocks: Vec::new(),
            school: crate::boids::SchoolKind::Cpu,
        }
    }
}

impl AppOptions {
    /// [`crate::learn::live::share::split_two_cores`] on this machine with these options.
    pub fn split_two_cores(&self) -> bool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        crate::learn::live::share::split_two_cores(cores, self.autostart && !self.jobs.is_empty(), self.train_share)
    }
}

/// The interactive app: a window with the tank, its panels and the training jobs.
pub fn build_app(opts: &AppOptions) -> App {
    let mut app = if opts.headless { headless_app() } else { windowed_app() };
    if opts.backend != backend::BackendChoice::Flex {
        // After DefaultPlugins: its `finish` runs once the renderer's device exists.
        #[cfg(not(target_arch = "wasm32"))]
        app.add_plugins(backend::GpuTrainingPlugin::from_env(
            opts.gpu_device,
            opts.backend == backend::BackendChoice::Auto,
        ));
    }
    #[cfg(target_arch = "wasm32")]
    app.insert_resource(backend::SharedBackend::resolved(web::browser_backend(opts.backend)));
    add_tank(&mut app, opts);
    app.add_systems(First, cap_catch_up);
    add_training(&mut app, opts);
    app.add_plugins((
        FrameTimeDiagnosticsPlugin::default(),
        EguiPlugin::default(),
        crate::ui::fonts::UiFontsPlugin,
        crate::ui::controls::ControlsPlugin,
        crate::ui::train_ui::TrainUiPlugin,
        crate::ui::layout::OverlayPlugin,
    ))
    .insert_resource(pacing::TrainShare(opts.train_share))
    .add_plugins(pacing::PacingPlugin);
    if let Some(out) = &opts.diagnostics {
        app.add_plugins(diagnostics::DiagnosticsPlugin {
            out: out.clone(),
            every: 5.0,
        });
    }
    if let Some(s) = opts.seconds {
        app.insert_resource(diagnostics::RunFor(
            std::time::Duration::from_secs_f64(s),
            bevy::platform::time::Instant::now(),
        ));
        if opts.diagnostics.is_none() {
            app.add_plugins(diagnostics::DiagnosticsPlugin { out: None, every: 1e9 });
        }
    }
    app
}

/// Most school steps one frame runs to catch up with the clock. When steps cost more than
/// real time allows (a huge school on a small machine), the school swims in slow motion
/// instead of each frame running ever more steps and the app freezing.
pub const MAX_STEPS_PER_FRAME: f64 = 4.0;

fn cap_catch_up(fixed: Res<Time<Fixed>>, mut virt: ResMut<Time<Virtual>>) {
    let cap = fixed.timestep().mul_f64(MAX_STEPS_PER_FRAME);
    if virt.max_delta() != cap {
        virt.set_max_delta(cap);
    }
}

/// The app's window: 1280x720 (in the browser, the page's canvas).
fn windowed_app() -> App {
    let mut app = App::new();
    // In the browser a small console log of shoal's own instead of Bevy's LogPlugin (its
    // filter is a regex engine; see console_log.rs).
    #[cfg(target_arch = "wasm32")]
    console_log::install();
    let plugins = DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "shoal — a fish school and live neural-network training".into(),
            resolution: (1280, 720).into(),
            // In the browser: draw into the page's canvas and follow its size.
            #[cfg(target_arch = "wasm32")]
            canvas: Some(web::CANVAS.into()),
            #[cfg(target_arch = "wasm32")]
            fit_canvas_to_parent: true,
            ..default()
        }),
        ..default()
    });
    #[cfg(target_arch = "wasm32")]
    let plugins = plugins.disable::<bevy::log::LogPlugin>();
    app.add_plugins(plugins);
    app
}

/// No window: the tank camera draws into a 1280x720 image that nothing presents, and the
/// loop runs as fast as the work allows.
fn headless_app() -> App {
    use bevy::render::render_resource::TextureFormat;
    let mut app = crate::record::headless_render_app();
    let target = Image::new_target_texture(1280, 720, TextureFormat::Rgba8UnormSrgb, None);
    let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
    app.insert_resource(crate::tank::TankTarget(handle));
    app
}

/// The school, its visuals and the click-to-watch behaviour (no panels).
pub fn add_tank(app: &mut App, opts: &AppOptions) {
    app.insert_resource(opts.params)
        .insert_resource(Time::<Fixed>::from_hz(opts.steps_per_second))
        .insert_resource(crate::tank::TankSettings {
            fish: opts.fish,
            seed: opts.seed,
            ..default()
        })
        .insert_resource(crate::tank::playground::SharkCount(opts.sharks))
        .insert_resource(crate::boids::plugin::Playground {
            rocks: opts.rocks.clone(),
            ..default()
        })
        .add_plugins((
            BoidsPlugin { seed: opts.seed },
            crate::tank::TankPlugin,
            crate::ui::layout::LayoutPlugin,
            crate::tank::watch::WatchPlugin,
            crate::tank::playground::PlaygroundPlugin,
        ));
    match opts.school {
        crate::boids::SchoolKind::Cpu => {
            app.init_resource::<SchoolMode>();
        }
        #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
        crate::boids::SchoolKind::Gpu => {
            app.add_plugins(crate::tank::gpu_school::GpuSchoolPlugin);
        }
        #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
        crate::boids::SchoolKind::Gpu => {
            app.insert_resource(SchoolMode {
                kind: crate::boids::SchoolKind::Cpu,
                note: "CPU school (this build has no GPU school)".into(),
            });
        }
    }
}

/// Which school runs, and a line about it for the panel.
#[derive(Resource, Clone, Debug)]
pub struct SchoolMode {
    pub kind: crate::boids::SchoolKind,
    pub note: String,
}

impl Default for SchoolMode {
    fn default() -> Self {
        Self {
            kind: crate::boids::SchoolKind::Cpu,
            note: "CPU school".into(),
        }
    }
}

/// The training jobs (each on its own worker thread) and the system that drains them.
pub fn add_training(app: &mut App, opts: &AppOptions) {
    let settings = SharedSettings::default();
    settings.0.lock().unwrap_or_else(|e| e.into_inner()).dcgan_from = opts.dcgan_from.clone();
    let backend = app
        .world()
        .get_resource::<backend::SharedBackend>()
        .cloned()
        .unwrap_or_else(backend::SharedBackend::cpu);
    let mut t = crate::training::Trainings::default();
    // The tensor kernels' threads, named so that their priority follows the training share.
    #[cfg(not(target_arch = "wasm32"))]
    crate::learn::live::share::start_training_pool(opts.split_two_cores().then_some(1));
    for &k in &opts.jobs {
        #[cfg(not(target_arch = "wasm32"))]
        let mut job = crate::training::JobState::threaded(
            k.name(),
            job_factory(k, settings.clone(), backend.clone(), Host::OwnThread),
        );
        // In the browser the page drives each job from its frames: the job trains in a Web
        // Worker (on the CPU or the browser's GPU), or, where the page gives no worker, on the
        // page's thread in a per-frame budget (see `web::browser_factory`).
        #[cfg(target_arch = "wasm32")]
        let mut job = crate::training::JobState::inline(
            k.name(),
            web::browser_factory(k, settings.clone(), backend.clone()),
            web::TRAIN_BUDGET,
        );
        if opts.autostart {
            job.set_running(true);
        }
        t.jobs.push(job);
    }
    app.insert_resource(t)
        .insert_resource(settings)
        .insert_resource(backend)
        .add_plugins(crate::training::TrainingPlugin);
}
