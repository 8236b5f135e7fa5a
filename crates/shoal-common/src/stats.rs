//! Percentiles of timings.

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
