//! burn's wgpu backend (`--backend wgpu`, cargo feature `gpu`): a device of its own for the
//! command line, or an existing wgpu device (the app's: on the renderer's adapter, or Bevy's
//! own device). In the browser a WebGPU device of burn's own in a Web Worker
//! ([`browser_device`]); the page itself draws with WebGL2.
//!
//! A software adapter (Mesa's lavapipe, "llvmpipe") is refused unless the caller allows it:
//! it runs the kernels on the CPU, far slower than Flex. `SHOAL_WGPU_SOFTWARE=1` allows it
//! (functional checks on machines without a GPU).

#[cfg(not(target_arch = "wasm32"))]
use anyhow::Context as _;
pub use burn_wgpu::WgpuDevice;
use burn_wgpu::{RuntimeOptions, WgpuSetup, init_device};

/// burn's wgpu backend (no fusion, no autotune).
pub type Gpu = burn_wgpu::Wgpu<f32, i32, u32>;
/// The wgpu backend with autodiff.
pub type GpuAutodiff = burn::backend::Autodiff<Gpu>;

/// The environment variable that lets training run on a software (CPU) wgpu adapter.
pub const ALLOW_SOFTWARE_ENV: &str = "SHOAL_WGPU_SOFTWARE";

/// Whether `SHOAL_WGPU_SOFTWARE=1` is set.
#[cfg(not(target_arch = "wasm32"))]
pub fn software_allowed_by_env() -> bool {
    std::env::var(ALLOW_SOFTWARE_ENV).is_ok_and(|v| v == "1")
}

/// What burn trains on: the adapter's name, kind and graphics API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub kind: wgpu::DeviceType,
    pub api: wgpu::Backend,
}

impl AdapterSummary {
    pub fn of(info: &wgpu::AdapterInfo) -> Self {
        Self {
            name: info.name.clone(),
            kind: info.device_type,
            api: info.backend,
        }
    }

    /// A CPU adapter (lavapipe, SwiftShader, WARP): no GPU behind it.
    pub fn is_software(&self) -> bool {
        self.kind == wgpu::DeviceType::Cpu
    }

    /// burn's kernels are compute shaders; only these graphics APIs run them here.
    pub fn runs_compute(&self) -> bool {
        matches!(
            self.api,
            wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 | wgpu::Backend::BrowserWebGpu
        )
    }

    /// Why burn should not train on this adapter, if it should not.
    pub fn refusal(&self, allow_software: bool) -> Option<String> {
        if !self.runs_compute() {
            Some(format!(
                "the graphics adapter {self} uses {:?}, which cannot run burn's compute kernels",
                self.api
            ))
        } else if self.is_software() && !allow_software {
            Some(format!(
                "no GPU: the only graphics adapter is {self}, a software renderer on the CPU \
                 (set {ALLOW_SOFTWARE_ENV}=1 to train on it anyway)"
            ))
        } else {
            None
        }
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "CPU",
            wgpu::DeviceType::Other => "unknown kind",
        };
        write!(f, "'{}' ({kind}, {:?})", self.name, self.api)
    }
}

/// burn on an existing wgpu device (e.g. the renderer's): one device for drawing and training.
/// Call once per device.
pub fn share_device(
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
) -> WgpuDevice {
    let backend = adapter.get_info().backend;
    init_device(
        WgpuSetup {
            instance,
            adapter,
            device,
            queue,
            backend,
        },
        RuntimeOptions::default(),
    )
}

/// A wgpu device of burn's own (the command line): the high-performance adapter of the
/// platform's primary graphics API. A clear error when there is none, or when it is a
/// software renderer and `allow_software` is false.
#[cfg(not(target_arch = "wasm32"))]
pub fn standalone_device(allow_software: bool) -> anyhow::Result<(WgpuDevice, AdapterSummary)> {
    let (instance, adapter) = shoal_common::gpu::high_performance_adapter(
        "--backend wgpu (install a Vulkan driver, e.g. apt-get install libvulkan1 mesa-vulkan-drivers, or use --backend flex)",
    )?;
    device_on(&adapter, instance, allow_software)
}

/// A wgpu device of burn's own on `adapter` (which may also serve a renderer: a second
/// device, with its own queue).
#[cfg(not(target_arch = "wasm32"))]
pub fn device_on(
    adapter: &wgpu::Adapter,
    instance: wgpu::Instance,
    allow_software: bool,
) -> anyhow::Result<(WgpuDevice, AdapterSummary)> {
    let summary = AdapterSummary::of(&adapter.get_info());
    if let Some(why) = summary.refusal(allow_software) {
        anyhow::bail!("{why}; use --backend flex");
    }
    // Everything the adapter offers, as burn's own device request asks for, but its
    // experimental features (mesh shaders, cooperative matrices: NVIDIA's Vulkan driver lists
    // them), which wgpu refuses unless unsafely enabled and burn's kernels here do not need.
    let features =
        adapter.features() - (wgpu::Features::MAPPABLE_PRIMARY_BUFFERS | wgpu::Features::all_experimental_mask());
    let (device, queue) = futures_lite::future::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("shoal training"),
        required_features: features,
        required_limits: adapter.limits(),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        ..Default::default()
    }))
    .with_context(|| format!("cannot open the graphics adapter {summary}"))?;
    Ok((share_device(instance, adapter.clone(), device, queue), summary))
}

/// A WebGPU device of burn's own in the browser (the page draws with WebGL2; this device only
/// trains). A clear error when the browser offers no WebGPU adapter.
#[cfg(target_arch = "wasm32")]
pub async fn browser_device() -> anyhow::Result<(WgpuDevice, AdapterSummary)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("this browser offers no WebGPU ({e})"))?;
    let summary = AdapterSummary::of(&adapter.get_info());
    anyhow::ensure!(
        summary.api == wgpu::Backend::BrowserWebGpu,
        "this browser offers no WebGPU (only {:?})",
        summary.api
    );
    let features =
        adapter.features() - (wgpu::Features::MAPPABLE_PRIMARY_BUFFERS | wgpu::Features::all_experimental_mask());
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("shoal training"),
            required_features: features,
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the browser's WebGPU device: {e}"))?;
    Ok((share_device(instance, adapter, device, queue), summary))
}
