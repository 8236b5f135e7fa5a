//! Small shared helpers.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
/// On error the destination is untouched and the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes sure `dir` exists (creating it) and is writable before a long run starts.
pub fn prepare_out_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create output directory {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".shoal-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("output directory {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// CRC-32 (IEEE) of `parts` one after another: the checksum of checkpoints and shipped weights.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = flate2::Crc::new();
    for p in parts {
        c.update(p);
    }
    c.sum()
}

/// The `p`-th percentile (0..=100) of `sorted` (ascending) by nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Frames per second for a label, from the last frames' times in ms: 1000 over their median,
/// which neither the odd near-zero interval (two updates in one browser frame) nor one long
/// frame (a training step) moves; `None` without a positive median.
pub fn frames_per_second(frame_ms: impl Iterator<Item = f64>) -> Option<f64> {
    let ms = percentile(&sorted(frame_ms.collect()), 50.0);
    (ms > 0.0).then(|| 1000.0 / ms)
}

/// `values` sorted ascending (NaN last), for [`percentile`].
pub fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// The high-performance adapter of the platform's primary graphics API (a software one, such
/// as Mesa's lavapipe, where there is no GPU), with its instance. `missing` completes the
/// error when there is none ("no graphics adapter for …"): what needs it and how to get one.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
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

/// A training's speed for its panel: "2.4 steps/s", or, below a tenth of a step a second (a
/// DCGAN on a software GPU takes a minute a step), the time a step takes: "77 s a step", not
/// "0.0 steps/s". No step yet (or no time): "0.0 steps/s".
pub fn rate_label(steps_per_s: f64) -> String {
    if !(steps_per_s.is_finite() && steps_per_s > 0.0) {
        "0.0 steps/s".into()
    } else if steps_per_s < 0.1 {
        format!("{:.0} s a step", 1.0 / steps_per_s)
    } else {
        format!("{steps_per_s:.1} steps/s")
    }
}

/// A number for an error message: as written for ordinary sizes (`2.5`, `1000`), in scientific
/// notation when very large or very small (`1e308`, not its 309 digits).
pub fn number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e7).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}
