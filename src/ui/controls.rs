//! The fish-tank control panel (egui): run/stop, fish count, rule sliders, reset, presets.

use crate::boids::plugin::{Fish, SchoolControl};
use crate::boids::{BoidParams, MAX_FISH, SpawnMode};
use crate::tank::watch::Watched;
use crate::tank::{ResetSchool, TankSettings};
use crate::ui::layout::{Docking, Replay, Side, docked_panel};
use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use std::path::PathBuf;

/// State of the panel itself: the preset path and the last message.
#[derive(Resource)]
pub struct PanelState {
    pub preset_path: String,
    pub message: Option<(bool, String)>,
    pub reset_seed: u64,
}

impl Default for PanelState {
    fn default() -> Self {
        Self {
            preset_path: "shoal-preset.toml".into(),
            message: None,
            reset_seed: 1,
        }
    }
}

pub struct ControlsPlugin;

impl Plugin for ControlsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PanelState>()
            .add_systems(EguiPrimaryContextPass, tank_panel)
            .add_systems(Update, flat_panels);
    }
}

/// Panels without drop shadows: a shadow is a blurred rectangle as large as its window, drawn
/// under it, which on a software renderer (lavapipe) nearly doubles what the panels cost.
fn flat_panels(mut contexts: Query<&mut bevy_egui::EguiContext, Added<bevy_egui::EguiContext>>) {
    for mut ctx in &mut contexts {
        ctx.get_mut().all_styles_mut(|style| {
            style.visuals.window_shadow = egui::epaint::Shadow::NONE;
            style.visuals.popup_shadow = egui::epaint::Shadow::NONE;
        });
    }
}

/// Applies `candidate` only if it is valid; otherwise reports why and keeps the old values.
pub fn apply_params(current: &mut BoidParams, candidate: BoidParams) -> Result<(), String> {
    candidate.validate().map_err(|e| e.to_string())?;
    *current = candidate;
    Ok(())
}

/// The school as the panel sees and changes it.
#[derive(SystemParam)]
struct SchoolState<'w, 's> {
    params: ResMut<'w, BoidParams>,
    control: ResMut<'w, SchoolControl>,
    settings: ResMut<'w, TankSettings>,
    fixed: ResMut<'w, Time<Fixed>>,
    resets: MessageWriter<'w, ResetSchool>,
    playground: ResMut<'w, crate::boids::plugin::Playground>,
    sharks: ResMut<'w, crate::tank::playground::SharkCount>,
    mode: Option<Res<'w, crate::app::SchoolMode>>,
    fish: Query<'w, 's, (), With<Fish>>,
    watched: Query<
        'w,
        's,
        (
            &'static crate::boids::plugin::Position,
            &'static crate::boids::plugin::Velocity,
        ),
        With<Watched>,
    >,
}

/// The panel's own state and what it shows beside the school: frame times, the training
/// share, its docking.
#[derive(SystemParam)]
struct PanelView<'w> {
    panel: ResMut<'w, PanelState>,
    diagnostics: Option<Res<'w, DiagnosticsStore>>,
    share: Option<ResMut<'w, crate::app::pacing::TrainShare>>,
    docking: ResMut<'w, Docking>,
    replay: Option<Res<'w, Replay>>,
}

fn tank_panel(mut contexts: EguiContexts, school: SchoolState, view: PanelView) -> Result {
    let SchoolState {
        mut params,
        mut control,
        mut settings,
        mut fixed,
        mut resets,
        mut playground,
        mut sharks,
        mode,
        fish,
        watched,
    } = school;
    let PanelView {
        mut panel,
        diagnostics,
        mut share,
        mut docking,
        replay,
    } = view;
    let ctx = contexts.ctx_mut()?;
    if !docking.show {
        docking.left = 0.0;
        return Ok(());
    }
    let mut p = *params;
    let mut open = docking.left_open;
    let width = docked_panel(ctx, Side::Left, "Fish tank", 250.0, &mut open, |ui| {
        ui.horizontal(|ui| {
            let label = if control.running { "Stop" } else { "Start" };
            if ui.button(label).clicked() {
                control.running = !control.running;
            }
            if ui
                .add_enabled(settings.fish < MAX_FISH, egui::Button::new("Add fish"))
                .clicked()
            {
                settings.fish += 1;
            }
            // From the median of the last frames' times (Bevy keeps 20), not Bevy's smoothed
            // FPS (an average of 1/dt, which the odd near-zero interval in the page inflates)
            // nor its smoothed frame time (an average over a tenth of a second, too short).
            let fps = diagnostics
                .as_ref()
                .filter(|_| replay.is_none())
                .and_then(|d| d.get(&FrameTimeDiagnosticsPlugin::FRAME_TIME))
                .and_then(|d| shoal_common::stats::frames_per_second(d.values().copied()));
            // The GPU school's fish are not entities: its count is the one asked for.
            let count = if control.gpu { settings.fish } else { fish.iter().len() };
            ui.label(format!("{count} fish"));
            if let Some(fps) = fps {
                ui.label(format!("{fps:.0} fps"));
            }
        });
        if let Some(mode) = &mode {
            ui.label(egui::RichText::new(&mode.note).small());
        }
        ui.horizontal(|ui| {
            ui.label("Fish");
            ui.add(egui::DragValue::new(&mut settings.fish).range(0..=MAX_FISH).speed(10));
            if settings.fish >= MAX_FISH {
                ui.weak(format!("(the most: {MAX_FISH})"));
            }
            ui.label("Steps/s");
            let mut hz = fixed.timestep().as_secs_f64().recip();
            if ui
                .add(egui::DragValue::new(&mut hz).range(1.0..=480.0).speed(1.0))
                .changed()
            {
                fixed.set_timestep_hz(hz);
            }
        });
        if let Some(share) = share.as_mut() {
            // The trainings' share of the machine while they run (see `app::pacing`).
            let mut s = share.0;
            ui.horizontal(|ui| {
                ui.label("frames");
                ui.add(egui::Slider::new(&mut s, 0.0..=crate::learn::live::share::MAX_TRAIN_SHARE).show_value(false));
                ui.label("training");
                match crate::app::pacing::frame_cap_fps(s) {
                    Some(fps) => ui.weak(format!("(≤ {fps:.0} fps while training)")),
                    None => ui.weak("(training only in idle time)"),
                };
            });
            if s != share.0 {
                share.0 = s;
            }
        }
        ui.separator();
        ui.add(egui::Slider::new(&mut p.vision, 1.0..=300.0).text("vision"));
        let max_avoid = p.vision.max(1.0);
        ui.add(egui::Slider::new(&mut p.avoid, 1.0..=max_avoid).text("avoid"));
        ui.add(egui::Slider::new(&mut p.cohesion, 0.0..=5.0).text("cohesion"));
        ui.add(egui::Slider::new(&mut p.alignment, 0.0..=5.0).text("alignment"));
        ui.add(egui::Slider::new(&mut p.separation, 0.0..=20.0).text("separation"));
        ui.add(egui::Slider::new(&mut p.max_speed, 0.1..=20.0).text("max speed"));
        ui.add(
            egui::Slider::new(&mut p.max_accel, 0.001..=1.0)
                .logarithmic(true)
                .text("max accel"),
        );
        ui.add(egui::Slider::new(&mut p.boundary_push, 0.0..=5.0).text("boundary push"));
        egui::CollapsingHeader::new("Playground").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label("Sharks");
                ui.add(egui::DragValue::new(&mut sharks.0).range(0..=crate::tank::playground::MAX_SHARKS));
                ui.label(format!("{} rocks", playground.rocks.len()));
                if ui
                    .add_enabled(!playground.rocks.is_empty(), egui::Button::new("Clear rocks"))
                    .clicked()
                {
                    playground.rocks.clear();
                }
            });
            ui.add(egui::Slider::new(&mut p.flee, 0.0..=20.0).text("flee"));
            ui.add(egui::Slider::new(&mut p.flee_radius, 0.0..=400.0).text("flee radius"));
            ui.add(egui::Slider::new(&mut p.shark_speed, 0.5..=20.0).text("shark speed"));
            ui.add(egui::Slider::new(&mut p.fov, 10.0..=360.0).text("field of view °"));
            let reach = p.max_speed;
            ui.add(egui::Slider::new(&mut p.current_x, -reach..=reach).text("current →"));
            ui.add(egui::Slider::new(&mut p.current_y, -reach..=reach).text("current ↓"));
            ui.weak("Hold Space: the pointer is a shark. Hold R and drag: a rock; right-click a rock: remove it.");
        });
        ui.horizontal(|ui| {
            ui.label("Field");
            ui.add(egui::DragValue::new(&mut p.width).range(50.0..=1.0e6).speed(10.0));
            ui.label("x");
            ui.add(egui::DragValue::new(&mut p.height).range(50.0..=1.0e6).speed(10.0));
        });
        ui.horizontal(|ui| {
            ui.label("New fish");
            ui.radio_value(&mut p.spawn, SpawnMode::Seed, "seed (U(0,1)²)");
            ui.radio_value(&mut p.spawn, SpawnMode::RandomDirection, "random heading");
        });
        if ui.button("Seed defaults").clicked() {
            p = BoidParams::default();
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut panel.reset_seed));
            if ui.button("Reset").clicked() {
                settings.seed = panel.reset_seed;
                resets.write(ResetSchool);
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Preset");
            ui.text_edit_singleline(&mut panel.preset_path);
        });
        ui.horizontal(|ui| {
            let path = PathBuf::from(panel.preset_path.trim());
            if ui.button("Save").clicked() {
                panel.message = Some(match p.save_with_rocks(&playground.rocks, &path) {
                    Ok(()) => (true, format!("saved {}", path.display())),
                    Err(e) => (false, e.to_string()),
                });
            }
            if ui.button("Load").clicked() {
                panel.message = Some(match BoidParams::load_with_rocks(&path) {
                    Ok((loaded, rocks)) => {
                        p = loaded;
                        playground.rocks = rocks;
                        (true, format!("loaded {}", path.display()))
                    }
                    Err(e) => (false, format!("{e}; nothing changed")),
                });
            }
        });
        if let Some((ok, msg)) = &panel.message {
            let color = if *ok {
                egui::Color32::LIGHT_GREEN
            } else {
                egui::Color32::from_rgb(255, 120, 100)
            };
            ui.colored_label(color, msg);
        }
        if let Some((pos, vel)) = watched.iter().next() {
            ui.separator();
            ui.label(format!(
                "watched fish: at ({:.0}, {:.0}), speed {:.2}",
                pos.0.x,
                pos.0.y,
                vel.0.length()
            ));
        } else {
            ui.weak("Click a fish to watch it; click open water to add one.");
        }
    });
    if (docking.left, docking.left_open) != (width, open) {
        (docking.left, docking.left_open) = (width, open);
    }
    if p != *params
        && let Err(e) = apply_params(&mut params, p)
    {
        panel.message = Some((false, format!("{e}; nothing changed")));
    }
    Ok(())
}
