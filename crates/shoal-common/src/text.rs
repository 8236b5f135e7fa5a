//! Numbers as people read them in messages and panels.

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
    if scientific(v) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// [`number`] for an `f32`, with the digits an `f32` holds (`1e30`, not the `f64` it widens to).
pub fn number32(v: f32) -> String {
    if scientific(v as f64) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn scientific(v: f64) -> bool {
    v != 0.0 && v.is_finite() && !(1e-4..1e7).contains(&v.abs())
}
