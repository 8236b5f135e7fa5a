//! The wgpu adapter that GPU work on native opens when it has no renderer's to share.

/// The high-performance adapter of the platform's primary graphics API (a software one, such
/// as Mesa's lavapipe, where there is no GPU), with its instance. `missing` completes the
/// error when there is none ("no graphics adapter for …"): what needs it and how to get one.
pub fn high_performance_adapter(missing: &str) -> anyhow::Result<(wgpu::Instance, wgpu::Adapter)> {
    use anyhow::Context;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = futures_lite::future::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
    }))
    .with_context(|| format!("no graphics adapter for {missing}"))?;
    Ok((instance, adapter))
}
