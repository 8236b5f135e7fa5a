//! Where things sit on the screen: the panels docked at the left and right edges (each
//! collapsible to a thin strip), the tank's camera fitted to the free area between them (so no
//! fish swims under a panel), the camera's zoom and pan (recordings' scripts move it), captions
//! drawn over the tank, and the UI's size in off-screen frames.

use crate::boids::BoidParams;
use crate::tank::TankCamera;
use bevy::camera::ScalingMode;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

/// The docked panels: shown at all, expanded or collapsed, and how wide they were in the last
/// UI pass (fractions of the screen's width, so they hold at any resolution and UI zoom).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct Docking {
    /// `false`: no panels at all (`shoal record --no-panels`, a script's `panels` step).
    pub show: bool,
    pub left_open: bool,
    pub right_open: bool,
    /// Width of the left panel in the last pass, as a fraction of the screen's width.
    pub left: f32,
    /// Width of the right panel in the last pass, as a fraction of the screen's width.
    pub right: f32,
}

impl Default for Docking {
    fn default() -> Self {
        Self {
            show: true,
            left_open: true,
            right_open: true,
            left: 0.0,
            right: 0.0,
        }
    }
}

impl Docking {
    /// The free area between the panels, `[from, to]` as fractions of the screen's width.
    pub fn free(&self) -> (f32, f32) {
        let (l, r) = (self.left.clamp(0.0, 0.45), self.right.clamp(0.0, 0.45));
        (l, 1.0 - r)
    }
}

/// Which edge a panel docks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// Width of a collapsed panel (points): room for its expand button.
const COLLAPSED: f32 = 26.0;

/// Shows a panel docked at `side` (or, when `open` is false, a thin strip with a button that
/// expands it), full height, its contents in a vertical scroll area. Returns its width as a
/// fraction of the screen's width.
pub fn docked_panel(
    ctx: &egui::Context,
    side: Side,
    title: &str,
    default_width: f32,
    open: &mut bool,
    contents: impl FnOnce(&mut egui::Ui),
) -> f32 {
    let screen = ctx.content_rect();
    let mut root = egui::Ui::new(
        ctx.clone(),
        egui::Id::new(("dock", title)),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(screen),
    );
    let make = |id: String| match side {
        Side::Left => egui::Panel::left(id),
        Side::Right => egui::Panel::right(id),
    };
    // The button points to where the panel goes: outwards to collapse, inwards to expand.
    let (collapse, expand) = match side {
        Side::Left => ("«", "»"),
        Side::Right => ("»", "«"),
    };
    let width = if *open {
        make(format!("{title}-panel"))
            .resizable(true)
            .default_size(default_width)
            .min_size(160.0)
            .show(&mut root, |ui| {
                ui.horizontal(|ui| {
                    if ui.small_button(collapse).on_hover_text("collapse").clicked() {
                        *open = false;
                    }
                    ui.strong(title);
                });
                ui.separator();
                egui::ScrollArea::vertical().id_salt((title, "scroll")).show(ui, |ui| {
                    contents(ui);
                    // Fill the width even when the contents are narrow.
                    ui.allocate_space(egui::vec2(ui.available_width(), 0.0));
                });
            })
            .response
            .rect
            .width()
    } else {
        make(format!("{title}-strip"))
            .resizable(false)
            .exact_size(COLLAPSED)
            .show(&mut root, |ui| {
                if ui.small_button(expand).on_hover_text(title).clicked() {
                    *open = true;
                }
            })
            .response
            .rect
            .width()
    };
    (width / screen.width().max(1.0)).clamp(0.0, 1.0)
}

/// Zoom and pan of the tank's camera (1 and the field's centre: the whole field fits the free
/// area), with an optional smooth move to a new view over some seconds of virtual time.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct CameraView {
    pub zoom: f32,
    /// The world point at the centre of the free area.
    pub center: Vec2,
    motion: Option<Motion>,
}

#[derive(Clone, Debug, PartialEq)]
struct Motion {
    from: (f32, Vec2),
    to: (f32, Vec2),
    over: f32,
    done: f32,
}

impl Default for CameraView {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            center: Vec2::ZERO,
            motion: None,
        }
    }
}

impl CameraView {
    /// Moves to `zoom` at `center` over `over` seconds (at once when 0).
    pub fn move_to(&mut self, zoom: f32, center: Vec2, over: f32) {
        if over <= 0.0 {
            (self.zoom, self.center, self.motion) = (zoom, center, None);
        } else {
            self.motion = Some(Motion {
                from: (self.zoom, self.center),
                to: (zoom, center),
                over,
                done: 0.0,
            });
        }
    }

    /// Advances a move by `dt` seconds (smoothstep easing; the zoom moves geometrically).
    pub fn advance(&mut self, dt: f32) {
        let Some(m) = &mut self.motion else { return };
        m.done = (m.done + dt).min(m.over);
        let t = m.done / m.over;
        let s = t * t * (3.0 - 2.0 * t);
        self.zoom = m.from.0 * (m.to.0 / m.from.0).powf(s);
        self.center = m.from.1.lerp(m.to.1, s);
        if m.done >= m.over {
            (self.zoom, self.center) = m.to;
            self.motion = None;
        }
    }
}

/// A line of text drawn over the tank (recordings' scripts), until a virtual time or for good.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct Caption {
    pub text: String,
    /// Hidden from this `Time<Virtual>` elapsed time on (seconds); `None`: until replaced.
    pub until: Option<f64>,
}

/// Frames that must depend on the scene's state alone (recordings): the panels leave out
/// wall-clock numbers (frame rate, seconds, steps per second).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct Replay;

/// The UI's zoom in off-screen frames (a recording at 1080p shows the panels as a 720p window
/// does, scaled up); `None` in the app (the window's scale factor rules).
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct UiZoom(pub f32);

/// The camera projection for a field of `field` world units shown in a target of `target`
/// logical pixels whose free area spans `free` (fractions of the width), at `view`'s zoom and
/// centre: the vertical extent in world units and the camera's position.
pub fn fit(field: Vec2, target: Vec2, free: (f32, f32), view: &CameraView) -> (f32, Vec2) {
    let free_w = (target.x * (free.1 - free.0)).max(1.0);
    // World height shown: the field with a small margin fits both the free width and the height.
    let height = (field.y * 1.08).max(field.x * 1.04 * target.y / free_w) / view.zoom.max(1e-3);
    let per_px = height / target.y.max(1.0);
    // The free area's centre sits `offset` pixels right of the target's centre.
    let offset = target.x * (0.5 * (free.0 + free.1) - 0.5);
    (height, Vec2::new(view.center.x - offset * per_px, view.center.y))
}

/// The camera's fit to the free area (every tank has it, with or without panels).
pub struct LayoutPlugin;

impl Plugin for LayoutPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Docking>()
            .init_resource::<CameraView>()
            .init_resource::<Caption>()
            .add_systems(Update, fit_camera);
    }
}

/// What egui draws besides the panels: captions, and the UI zoom of off-screen frames.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, (ui_zoom, caption));
    }
}

/// Keeps the field in the free area between the panels, at the view's zoom and centre.
fn fit_camera(
    params: Res<BoidParams>,
    docking: Res<Docking>,
    time: Res<Time>,
    mut view: ResMut<CameraView>,
    mut camera: Query<(&Camera, &mut Projection, &mut Transform), With<TankCamera>>,
) {
    view.advance(time.delta_secs());
    let field = Vec2::new(params.width, params.height);
    let free = if docking.show { docking.free() } else { (0.0, 1.0) };
    for (cam, mut projection, mut at) in &mut camera {
        let Some(target) = cam.logical_viewport_size() else {
            continue;
        };
        let (height, pos) = fit(field, target, free, &view);
        if let Projection::Orthographic(ortho) = &*projection {
            let same = matches!(ortho.scaling_mode, ScalingMode::FixedVertical { viewport_height } if viewport_height == height);
            if !same && let Projection::Orthographic(ortho) = &mut *projection {
                ortho.scaling_mode = ScalingMode::FixedVertical {
                    viewport_height: height,
                };
            }
        }
        if at.translation.truncate() != pos {
            at.translation.x = pos.x;
            at.translation.y = pos.y;
        }
    }
}

/// Off-screen frames: the UI at the asked zoom, and no animations (frames depend on the
/// scene's state alone, not on how fast they were rendered).
fn ui_zoom(mut contexts: EguiContexts, zoom: Option<Res<UiZoom>>) -> Result {
    let Some(zoom) = zoom else { return Ok(()) };
    let ctx = contexts.ctx_mut()?;
    if ctx.zoom_factor() != zoom.0 {
        ctx.set_zoom_factor(zoom.0);
        ctx.all_styles_mut(|style| style.animation_time = 0.0);
    }
    Ok(())
}

/// The caption, large, centred low over the free area.
fn caption(mut contexts: EguiContexts, caption: Res<Caption>, docking: Res<Docking>, time: Res<Time>) -> Result {
    if caption.text.is_empty() || caption.until.is_some_and(|t| time.elapsed_secs_f64() >= t) {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let screen = ctx.content_rect();
    let (l, r) = if docking.show { docking.free() } else { (0.0, 1.0) };
    let centre_x = screen.left() + screen.width() * 0.5 * (l + r);
    // Long captions wrap within the free area.
    let max_width = (0.85 * screen.width() * (r - l)).max(120.0);
    egui::Area::new(egui::Id::new("caption"))
        .order(egui::Order::Foreground)
        .interactable(false)
        .pivot(egui::Align2::CENTER_BOTTOM)
        .fixed_pos(egui::pos2(centre_x, screen.bottom() - 0.06 * screen.height()))
        .show(ctx, |ui| {
            egui::Frame::new()
                .fill(egui::Color32::from_black_alpha(170))
                .corner_radius(6.0)
                .inner_margin(egui::Margin::symmetric(14, 8))
                .show(ui, |ui| {
                    ui.set_max_width(max_width);
                    ui.label(
                        egui::RichText::new(&caption.text)
                            .size(24.0)
                            .color(egui::Color32::from_rgb(250, 250, 235)),
                    );
                });
        });
    Ok(())
}
