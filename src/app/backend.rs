//! Which burn backend the app's trainings run on. With `--backend wgpu` (cargo feature `gpu`)
//! the DCGAN and Path-SGD jobs train on the GPU Bevy renders with: on a wgpu device of their own
//! on the renderer's adapter (default), or on Bevy's own device and queue (`--gpu-device
//! shared`: one device draws and trains, but the frames then wait on the training, see
//! [`GpuDeviceChoice`]). Without a usable GPU (no renderer, a software adapter such as lavapipe,
//! or a graphics API without compute) they train on the CPU (burn Flex) and the app says why.

use crate::learn::live::NotReady;
use bevy::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
#[cfg(not(target_arch = "wasm32"))]
use std::time::Duration;

/// Which backend the app was asked to train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// burn wgpu when the renderer's adapter is a real GPU; burn Flex when it is a CPU
    /// (software) adapter such as lavapipe, or there is none. The app's default.
    #[default]
    Auto,
    /// burn Flex on the CPU.
    Flex,
    /// burn wgpu on the renderer's device when it is a GPU, else Flex (said as a warning:
    /// the GPU was asked for).
    Wgpu,
}

impl BackendChoice {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "flex" => Ok(Self::Flex),
            "wgpu" => Ok(Self::Wgpu),
            _ => Err(format!("unknown backend '{s}'; use auto, flex or wgpu")),
        }
    }
}

/// With `--backend wgpu`: train on a device of burn's own on the renderer's adapter, or on
/// the renderer's device itself.
///
/// Sharing stalls the frames: wgpu-core holds the device's fence lock for the whole of a
/// blocking `poll(Wait)`, and burn's wgpu runtime (cubecl) waits that way on its own
/// submissions (its poll thread, its submission pacing), so the renderer's `queue.submit`
/// waits for the training's GPU work (the frame times of both: docs/performance.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GpuDeviceChoice {
    /// A second device on the renderer's adapter (same GPU, its own queue and fence).
    #[default]
    Own,
    /// Bevy's device and queue: one device draws and trains.
    Shared,
}

impl std::str::FromStr for GpuDeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shared" => Ok(Self::Shared),
            "own" => Ok(Self::Own),
            _ => Err(format!("unknown GPU device '{s}'; use shared or own")),
        }
    }
}

/// Why a build without the cargo feature `gpu` trains on the CPU.
#[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
pub(crate) const NO_GPU_BUILD: &str = "this build has no GPU training (cargo feature `gpu`)";

/// The device the jobs train on.
#[derive(Clone, Debug)]
pub enum TrainDevice {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu(crate::learn::gpu::WgpuDevice),
    /// In the browser: the browser's WebGPU, in a training worker of the GPU trainer bundle
    /// (which opens the device there); the page itself holds no GPU device.
    #[cfg(target_arch = "wasm32")]
    BrowserGpu,
}

impl TrainDevice {
    /// The device for a job built here (not in a browser worker).
    pub fn for_learn(self) -> anyhow::Result<crate::learn::live::spec::Device> {
        use crate::learn::live::spec::Device;
        match self {
            TrainDevice::Cpu => Ok(Device::Cpu),
            #[cfg(feature = "gpu")]
            TrainDevice::Gpu(dev) => Ok(Device::Gpu(dev)),
            #[cfg(target_arch = "wasm32")]
            TrainDevice::BrowserGpu => anyhow::bail!("the browser's GPU trains in a Web Worker only"),
        }
    }
}

/// The panel's name for training on the CPU. In the browser each CPU training runs in a Web
/// Worker of its own (`web::browser_factory`).
const CPU: &str = if cfg!(target_arch = "wasm32") {
    "CPU (burn Flex, a Web Worker each)"
} else {
    "CPU (burn Flex)"
};

/// The device, and a line for the panel that says what it is (and why, on a fallback).
#[derive(Clone, Debug)]
pub struct BackendState {
    pub device: TrainDevice,
    pub label: String,
    /// The GPU was asked for but is not used: why.
    pub fallback: Option<String>,
}

impl BackendState {
    pub fn cpu() -> Self {
        Self {
            device: TrainDevice::Cpu,
            label: CPU.into(),
            fallback: None,
        }
    }

    /// The CPU, because the GPU was asked for but cannot be used: `why`.
    pub fn cpu_because(why: String) -> Self {
        Self {
            label: format!("{CPU}: {why}"),
            fallback: Some(why),
            ..Self::cpu()
        }
    }

    /// `--backend auto`'s reading of this state: a CPU fallback is the expected choice, so it
    /// is no warning; the label says why the CPU.
    pub fn chosen_automatically(self) -> Self {
        match self.fallback {
            Some(why) => Self {
                label: format!("{CPU}, chosen by --backend auto: {why}"),
                fallback: None,
                device: self.device,
            },
            None => self,
        }
    }

    pub fn on_gpu(&self) -> bool {
        !matches!(self.device, TrainDevice::Cpu)
    }
}

/// The backend, shared with the jobs' threads. A job asks for it when it is built; with
/// `--backend wgpu` that waits until the renderer exists ([`GpuTrainingPlugin`]'s `finish`).
#[derive(Resource, Clone)]
pub struct SharedBackend(Arc<(Mutex<Option<BackendState>>, Condvar)>);

/// How long a job waits for the renderer before it trains on the CPU.
#[cfg(not(target_arch = "wasm32"))]
const WAIT_FOR_RENDERER: Duration = Duration::from_secs(60);

impl SharedBackend {
    pub fn cpu() -> Self {
        Self::resolved(BackendState::cpu())
    }

    /// Known from the start.
    pub fn resolved(state: BackendState) -> Self {
        Self(Arc::new((Mutex::new(Some(state)), Condvar::new())))
    }

    /// Not known yet: set by [`GpuTrainingPlugin`].
    pub fn pending() -> Self {
        Self(Arc::new((Mutex::new(None), Condvar::new())))
    }

    pub fn set(&self, state: BackendState) {
        let (slot, cv) = &*self.0;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
        cv.notify_all();
    }

    /// The browser's CPU trainings run on the page's thread after all (it gave no Web Worker):
    /// the panel's line says so.
    #[cfg(target_arch = "wasm32")]
    pub fn cpu_on_page_thread(&self) {
        if let Some(state) = self.get().filter(|s| !s.on_gpu()) {
            let label = state.label.replacen(CPU, "CPU (burn Flex, on the page's thread)", 1);
            self.set(BackendState { label, ..state });
        }
    }

    /// The state, if known.
    pub fn get(&self) -> Option<BackendState> {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The state for a job being built: on native, waiting for it if needed (at most
    /// [`WAIT_FOR_RENDERER`], then the CPU); in the browser, where the page's one thread must
    /// never block (and has no clock for a timed wait), [`NotReady`] until it is known,
    /// and the job is built on a later frame.
    pub fn for_job(&self) -> Result<BackendState, NotReady> {
        if let Some(state) = self.get() {
            return Ok(state);
        }
        #[cfg(target_arch = "wasm32")]
        return Err(NotReady {
            what: "waiting for the GPU device…",
        });
        #[cfg(not(target_arch = "wasm32"))]
        Ok(self.wait())
    }

    /// The state, waiting for it if needed (at most [`WAIT_FOR_RENDERER`], then the CPU).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&self) -> BackendState {
        let (slot, cv) = &*self.0;
        let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, WAIT_FOR_RENDERER, |s| s.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard
            .clone()
            .unwrap_or_else(|| BackendState::cpu_because("the renderer did not start".into()))
    }
}

/// Gives burn the renderer's GPU once the renderer exists — a device of its own on Bevy's
/// adapter, or Bevy's device itself (add it after `DefaultPlugins`, or the headless render
/// plugins). Falls back to the CPU, with the reason, when there is no
/// renderer, no compute-capable API, or only a software adapter (unless `allow_software`).
pub struct GpuTrainingPlugin {
    pub allow_software: bool,
    pub device: GpuDeviceChoice,
    /// Chosen by `--backend auto`: the CPU on a machine without a GPU is the expected choice,
    /// said plainly, not as a warning.
    pub auto: bool,
}

impl GpuTrainingPlugin {
    /// A software adapter (lavapipe) is allowed when `SHOAL_WGPU_SOFTWARE=1`, for checks on
    /// machines without a GPU.
    pub fn from_env(device: GpuDeviceChoice, auto: bool) -> Self {
        #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
        let allow_software = crate::learn::gpu::software_allowed_by_env();
        #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
        let allow_software = false;
        Self {
            allow_software,
            device,
            auto,
        }
    }
}

impl Plugin for GpuTrainingPlugin {
    fn build(&self, app: &mut App) {
        if !app.world().contains_resource::<SharedBackend>() {
            app.insert_resource(SharedBackend::pending());
        }
    }

    fn finish(&self, app: &mut App) {
        let mut state = renderer_device(app, self.allow_software, self.device);
        if self.auto {
            state = state.chosen_automatically();
        }
        match &state.fallback {
            Some(why) => warn!("training on the CPU (burn Flex): {why}"),
            None => info!("training on {}", state.label),
        }
        app.world().resource::<SharedBackend>().set(state);
    }
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
fn renderer_device(app: &App, allow_software: bool, choice: GpuDeviceChoice) -> BackendState {
    use crate::learn::gpu::{AdapterSummary, share_device};
    use bevy::render::RenderApp;
    use bevy::render::renderer::{RenderAdapter, RenderDevice, RenderInstance, RenderQueue};
    let world = app.world();
    let (Some(device), Some(queue), Some(adapter)) = (
        world.get_resource::<RenderDevice>(),
        world.get_resource::<RenderQueue>(),
        world.get_resource::<RenderAdapter>(),
    ) else {
        return BackendState::cpu_because("no renderer in this app".into());
    };
    let Some(instance) = app
        .get_sub_app(RenderApp)
        .and_then(|r| r.world().get_resource::<RenderInstance>())
    else {
        return BackendState::cpu_because("no render instance in this app".into());
    };
    let summary = AdapterSummary::of(&adapter.0.get_info());
    if let Some(why) = summary.refusal(allow_software) {
        return BackendState::cpu_because(why);
    }
    if choice == GpuDeviceChoice::Own {
        return match crate::learn::gpu::device_on(&adapter.0, (**instance.0).clone(), allow_software) {
            Ok((dev, own)) => BackendState {
                device: TrainDevice::Gpu(dev),
                label: format!(
                    "{} {own} (burn wgpu, a device of its own beside the renderer's)",
                    if own.is_software() {
                        "the software adapter"
                    } else {
                        "GPU"
                    }
                ),
                fallback: None,
            },
            Err(e) => BackendState::cpu_because(format!("{e:#}")),
        };
    }
    let dev = share_device(
        (**instance.0).clone(),
        (**adapter.0).clone(),
        device.wgpu_device().clone(),
        (**queue.0).clone(),
    );
    BackendState {
        device: TrainDevice::Gpu(dev),
        label: format!(
            "{} {summary} (burn wgpu, the renderer's device)",
            if summary.is_software() {
                "the software adapter"
            } else {
                "GPU"
            }
        ),
        fallback: None,
    }
}

#[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
fn renderer_device(_app: &App, _allow_software: bool, _choice: GpuDeviceChoice) -> BackendState {
    BackendState::cpu_because(NO_GPU_BUILD.into())
}
