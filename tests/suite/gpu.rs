//! burn's wgpu backend (`--backend wgpu`). On a machine without a GPU these run on Mesa's
//! lavapipe (the Vulkan driver the README's set-up installs); `SHOAL_WGPU_SOFTWARE=1` is
//! implied here.

use shoal::learn::CpuAutodiff;
use shoal::learn::data::{Digits, Split};
use shoal::learn::dcgan::{DcganConfig, Trainer};
use shoal::learn::gpu::{AdapterSummary, GpuAutodiff, WgpuDevice, standalone_device};
use std::sync::{Arc, OnceLock};

/// One wgpu device for all tests of this binary (burn keeps a device's runtime for the
/// whole process).
fn device() -> WgpuDevice {
    static DEV: OnceLock<WgpuDevice> = OnceLock::new();
    DEV.get_or_init(|| match standalone_device(true) {
        Ok((dev, adapter)) => {
            eprintln!("wgpu tests on {adapter}");
            dev
        }
        Err(e) => panic!("the wgpu tests need a Vulkan driver (mesa-vulkan-drivers gives lavapipe): {e:#}"),
    })
    .clone()
}

fn summary(kind: wgpu::DeviceType, api: wgpu::Backend) -> AdapterSummary {
    AdapterSummary {
        name: "test adapter".into(),
        kind,
        api,
    }
}

#[test]
fn software_and_non_compute_adapters_are_refused_with_a_reason() {
    use wgpu::{Backend, DeviceType};
    assert_eq!(summary(DeviceType::DiscreteGpu, Backend::Vulkan).refusal(false), None);
    assert_eq!(summary(DeviceType::IntegratedGpu, Backend::Metal).refusal(false), None);
    let lavapipe = summary(DeviceType::Cpu, Backend::Vulkan);
    let why = lavapipe
        .refusal(false)
        .expect("a software adapter is refused by default");
    assert!(
        why.contains("software") && why.contains("SHOAL_WGPU_SOFTWARE=1"),
        "{why}"
    );
    assert_eq!(lavapipe.refusal(true), None, "allowed on request");
    let gl = summary(DeviceType::DiscreteGpu, Backend::Gl);
    assert!(gl.refusal(true).expect("GL cannot run the kernels").contains("compute"));
}

/// The same DCGAN iterations on Flex and on wgpu, from the same weights, optimiser state and
/// random state (a Flex checkpoint loaded into the wgpu trainer): the same losses and images.
#[test]
fn a_wgpu_dcgan_run_matches_the_flex_run_from_the_same_checkpoint() {
    let mut data = Digits::bundled(Split::Train);
    data.truncate(256);
    let data = Arc::new(data);
    let cfg = DcganConfig {
        batch: 16,
        ..DcganConfig::default()
    };
    let mut cpu = Trainer::<CpuAutodiff>::new(cfg.clone(), data.clone(), Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("start.bin");
    cpu.save_checkpoint(&ckpt).unwrap();
    let mut gpu = Trainer::<GpuAutodiff>::new(cfg.clone(), data.clone(), device()).unwrap();
    // Without the checkpoint (other initial weights) the first iteration differs clearly:
    // the tolerances below tell the runs apart.
    let mut other = Trainer::<GpuAutodiff>::new(cfg, data, device()).unwrap();
    let unloaded = other.step();
    gpu.load_checkpoint(&ckpt).unwrap();
    let (max, mean) = grid_diff(&cpu, &gpu);
    assert!(
        max <= 2 && mean < 0.1,
        "the same weights draw the same grid: max {max}, mean {mean}"
    );

    for it in 0..3 {
        let (a, b) = (cpu.step(), gpu.step());
        if it == 0 {
            assert!(
                (a.g_loss - unloaded.g_loss).abs() > 2e-2 || (a.d_loss - unloaded.d_loss).abs() > 2e-2,
                "other weights, other losses: {a:?} vs {unloaded:?}"
            );
        }
        for (name, x, y) in [
            ("G loss", a.g_loss, b.g_loss),
            ("D loss", a.d_loss, b.d_loss),
            ("D(x)", a.d_real, b.d_real),
            ("D(G(z))", a.d_fake, b.d_fake),
        ] {
            assert!(x.is_finite() && y.is_finite(), "iteration {it}: {name} {x} vs {y}");
            assert!(
                (x - y).abs() <= 2e-3 * (1.0 + x.abs()),
                "iteration {it}: {name} flex {x} wgpu {y}"
            );
        }
    }
    let (max, mean) = grid_diff(&cpu, &gpu);
    assert!(
        mean < 0.5 && max <= 8,
        "grids differ after training: mean {mean}, max {max}"
    );
    // And the images are not trivially equal (e.g. all black): the generator draws something.
    let (grid, _, _) = cpu.fixed_grid();
    let distinct = grid.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert!(distinct > 20, "the grid has only {distinct} grey levels");
}

/// Largest and mean difference (grey levels) between the two trainers' fixed-noise grids.
fn grid_diff(a: &Trainer<CpuAutodiff>, b: &Trainer<GpuAutodiff>) -> (u8, f64) {
    let (ga, w, h) = a.fixed_grid();
    let (gb, w2, h2) = b.fixed_grid();
    assert_eq!((w, h), (w2, h2));
    let max = ga.iter().zip(&gb).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    let mean = ga.iter().zip(&gb).map(|(x, y)| x.abs_diff(*y) as f64).sum::<f64>() / ga.len() as f64;
    (max, mean)
}

/// The app's path: burn on the renderer's own wgpu device (Bevy's RenderDevice/Queue/
/// Adapter/Instance), a DCGAN job training there while frames render.
#[cfg(feature = "app")]
#[test]
fn the_app_trains_the_dcgan_on_the_renderers_device() {
    let label = dcgan_in_app(shoal::app::backend::GpuDeviceChoice::Shared);
    assert!(label.contains("the renderer's device"), "{label}");
}

/// `--gpu-device own`: a second wgpu device on the renderer's adapter.
#[cfg(feature = "app")]
#[test]
fn the_app_trains_the_dcgan_on_a_device_of_its_own() {
    let label = dcgan_in_app(shoal::app::backend::GpuDeviceChoice::Own);
    assert!(label.contains("a device of its own"), "{label}");
}

/// Trains a DCGAN job for a few frames in a headless render app on the chosen GPU device;
/// returns the backend's label.
#[cfg(feature = "app")]
fn dcgan_in_app(device: shoal::app::backend::GpuDeviceChoice) -> String {
    use shoal::app::backend::{GpuTrainingPlugin, SharedBackend};
    use shoal::app::{Host, JobKind, SharedSettings, job_factory};
    use shoal::record::headless_render_app;
    use shoal::training::{JobState, TrainingPlugin, Trainings};

    let mut app = headless_render_app();
    app.add_plugins(GpuTrainingPlugin {
        allow_software: true,
        device,
        auto: false,
    });
    let backend = app.world().resource::<SharedBackend>().clone();
    assert!(backend.get().is_none(), "unknown until the renderer exists");
    let settings = SharedSettings::default();
    settings.0.lock().unwrap().dcgan_batch = 8;
    let mut job = JobState::stepped(
        "DCGAN",
        job_factory(JobKind::Dcgan, settings, backend.clone(), Host::InOrder),
        1.0,
    );
    job.set_running(true);
    app.insert_resource(Trainings { jobs: vec![job] })
        .add_plugins(TrainingPlugin);
    app.finish();
    app.cleanup();
    let state = backend.get().expect("set in finish");
    assert!(state.on_gpu(), "trains on the GPU: {}", state.label);
    for _ in 0..4 {
        app.update();
    }
    let t = app.world().resource::<Trainings>();
    let j = &t.jobs[0];
    assert_eq!(j.error, None);
    assert!(j.steps >= 3, "the job stepped on the GPU: {} steps", j.steps);
    assert!(
        j.history
            .iter()
            .all(|h| !h.is_empty() && h.iter().all(|p| p[1].is_finite()))
    );
    assert!(j.last_image.is_some(), "the sample grid came back from the GPU");
    state.label
}

/// `--backend wgpu` in an app without a renderer: the trainings fall back to the CPU and the
/// reason is there for the panel.
#[cfg(feature = "app")]
#[test]
fn without_a_renderer_the_app_trains_on_the_cpu_and_says_why() {
    use bevy::prelude::*;
    use shoal::app::backend::{GpuTrainingPlugin, SharedBackend};
    for auto in [false, true] {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_plugins(GpuTrainingPlugin {
            allow_software: true,
            device: shoal::app::backend::GpuDeviceChoice::Shared,
            auto,
        });
        app.finish();
        let state = app.world().resource::<SharedBackend>().wait();
        assert!(!state.on_gpu());
        assert!(state.label.starts_with("CPU"), "{}", state.label);
        assert!(state.label.contains("no renderer"), "{}", state.label);
        // Asked for the GPU: a warning with the reason; chosen by auto: said plainly.
        assert_eq!(state.fallback.is_some(), !auto, "{}", state.label);
        assert_eq!(state.label.contains("--backend auto"), auto, "{}", state.label);
    }
}

/// `--backend auto` (the app's default) on a machine whose renderer runs on a CPU adapter
/// (lavapipe here) trains on the CPU and says why; on a real GPU it trains there.
#[cfg(feature = "app")]
#[test]
fn auto_backend_picks_the_gpu_only_when_the_renderer_has_a_real_one() {
    use shoal::app::backend::{GpuTrainingPlugin, SharedBackend};
    let mut app = shoal::record::headless_render_app();
    app.add_plugins(GpuTrainingPlugin {
        allow_software: false,
        device: shoal::app::backend::GpuDeviceChoice::Own,
        auto: true,
    });
    app.finish();
    app.cleanup();
    let state = app.world().resource::<SharedBackend>().wait();
    let adapter = app
        .world()
        .resource::<bevy::render::renderer::RenderAdapter>()
        .0
        .get_info();
    let software = adapter.device_type == wgpu::DeviceType::Cpu;
    assert_eq!(state.on_gpu(), !software, "{adapter:?}: {}", state.label);
    if software {
        assert!(state.label.contains("chosen by --backend auto"), "{}", state.label);
        assert!(state.fallback.is_none(), "not a warning: {}", state.label);
    }
}
