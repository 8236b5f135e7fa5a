//! Line plots as PNG files (plotters into a pixel buffer, encoded with `png`).

use plotters::prelude::*;
#[cfg(not(target_arch = "wasm32"))]
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

#[cfg(not(target_arch = "wasm32"))]
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font for plot text (plotters' ab_glyph text; on wasm plotters draws
/// text through the browser instead and has no registry).
fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is valid; if registration ever failed, text would be skipped.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One named line.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
    /// Drawn thinner (e.g. the second of a pair).
    pub thin: bool,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One chart: a title, axis labels and its lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series<'a>],
    /// Log-scale y axis; non-positive values are skipped.
    pub log_y: bool,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let log_y = panel.log_y;
    let keep = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in panel.series.iter().flat_map(|s| s.points.iter()).filter(|p| keep(p)) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 1.0, 10.0);
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = if log_y { y0 * 10.0 } else { y0 + 1.0 };
    }
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(panel.x_label)
                .y_desc(panel.y_label)
                .x_label_formatter(&|x| format!("{x}"))
                .y_label_formatter(&|y| if log_y { format!("{y:.0e}") } else { format!("{y:.3}") })
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(err)?;
            for (k, s) in panel.series.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let style = if s.thin {
                    color.stroke_width(1)
                } else {
                    color.stroke_width(2)
                };
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied().filter(|p| keep(p)), style))
                    .map_err(err)?
                    .label(s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(err)?;
        }};
    }
    if log_y {
        finish!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(err)?);
    } else {
        finish!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?);
    }
    Ok(())
}

/// Renders panels side by side into RGB pixels (`w * h * 3`).
pub fn render_panels(panels: &[Panel<'_>], (w, h): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    register_font();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// Renders panels and writes the PNG atomically.
pub fn write_panels(path: &Path, panels: &[Panel<'_>], size: (u32, u32)) -> anyhow::Result<()> {
    let pixels = render_panels(panels, size)?;
    let png = encode_png(&pixels, size.0, size.1, false)?;
    shoal_common::fs::write_atomic(path, &png).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Encodes 8-bit RGB or RGBA pixels as PNG bytes.
pub fn encode_png(pixels: &[u8], w: u32, h: u32, rgba: bool) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(if rgba {
            png::ColorType::Rgba
        } else {
            png::ColorType::Rgb
        });
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(pixels)?;
    }
    Ok(out)
}

/// Renders and writes a one-panel line plot PNG (900 x 560) atomically.
pub fn write_line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_y: bool,
) -> anyhow::Result<()> {
    write_panels(
        path,
        &[Panel {
            title,
            x_label,
            y_label,
            series,
            log_y,
        }],
        (900, 560),
    )
}

/// A curve thinned for drawing at most about `2 * buckets` points: the points are cut into
/// `buckets` runs of equal length and each run keeps its lowest and highest point (in their
/// order), so spikes and the curve's envelope survive while a plot a few hundred pixels wide
/// no longer tessellates thousands of segments every frame. Shorter curves come back whole.
pub fn envelope(points: &[[f64; 2]], buckets: usize) -> Vec<[f64; 2]> {
    let buckets = buckets.max(1);
    if points.len() <= 2 * buckets {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(2 * buckets + 1);
    for b in 0..buckets {
        let run = &points[b * points.len() / buckets..(b + 1) * points.len() / buckets];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in run.iter().enumerate() {
            // NaN never wins a comparison, so it is never kept over a number.
            if p[1] < run[lo][1] || run[lo][1].is_nan() {
                lo = i;
            }
            if p[1] > run[hi][1] || run[hi][1].is_nan() {
                hi = i;
            }
        }
        out.push(run[lo.min(hi)]);
        if lo != hi {
            out.push(run[lo.max(hi)]);
        }
    }
    // The latest point is always drawn (the curve ends where the training is).
    if out.last() != points.last() {
        out.push(points[points.len() - 1]);
    }
    out
}
