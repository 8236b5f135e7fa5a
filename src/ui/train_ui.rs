//! Panels for the training jobs (egui + egui_plot) and the DCGAN poster in the tank.

use crate::boids::BoidParams;
use crate::learn::live::Command;
use crate::training::Trainings;
use crate::ui::layout::{Docking, Replay, Side, docked_panel};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, EguiTextureHandle, egui};
use egui_plot::{HLine, Legend, Line, Plot, PlotPoints};

/// Runs per curve when a plot draws it (each keeps its lowest and highest point): about 400
/// points for a plot about 300 pixels wide.
const PLOT_BUCKETS: usize = 200;

/// UI state of the training panels.
#[derive(Resource)]
pub struct TrainUi {
    pub rescale_layer: usize,
    pub rescale_c: f32,
    pub lr_scale: f64,
    /// Open this training's section (and close the others) in the next pass.
    pub open: Option<String>,
}

impl Default for TrainUi {
    fn default() -> Self {
        Self {
            rescale_layer: 0,
            rescale_c: 100.0,
            lr_scale: 1.0,
            open: None,
        }
    }
}

/// The DCGAN's fixed-noise samples on the tank wall.
#[derive(Component)]
pub struct Poster;

pub struct TrainUiPlugin;

impl Plugin for TrainUiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TrainUi>()
            .add_systems(EguiPrimaryContextPass, training_panels)
            .add_plugins(PosterPlugin);
    }
}

/// Only the DCGAN poster (no panels): used by the recorder.
pub struct PosterPlugin;

impl Plugin for PosterPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, poster);
    }
}

fn settings_ui(ui: &mut egui::Ui, name: &str, settings: &crate::app::SharedSettings) {
    let mut s = settings.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let before = s.clone();
    match name {
        "Path-SGD" => {
            ui.horizontal(|ui| {
                ui.label("p");
                ui.add(egui::DragValue::new(&mut s.path_sgd_p).range(1.0..=8.0).speed(0.1));
                ui.label("batch");
                ui.add(egui::DragValue::new(&mut s.path_sgd_batch).range(2..=1000));
                ui.label("hidden");
                ui.add(egui::DragValue::new(&mut s.path_sgd_hidden).range(8..=4000));
                ui.weak("(on Reset)");
            });
        }
        "DCGAN" => {
            ui.horizontal(|ui| {
                ui.label("batch");
                ui.add(egui::DragValue::new(&mut s.dcgan_batch).range(2..=512));
                ui.radio_value(&mut s.dcgan_optimizer, crate::learn::dcgan::OptimizerKind::Sgd, "SGD");
                ui.radio_value(&mut s.dcgan_optimizer, crate::learn::dcgan::OptimizerKind::Adam, "Adam");
                ui.weak("(on Reset)");
            });
        }
        _ => {}
    }
    if s != before {
        *settings.0.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }
}

fn training_panels(
    mut contexts: EguiContexts,
    mut trainings: ResMut<Trainings>,
    mut ui_state: ResMut<TrainUi>,
    settings: Option<Res<crate::app::SharedSettings>>,
    backend: Option<Res<crate::app::backend::SharedBackend>>,
    (mut docking, replay): (ResMut<Docking>, Option<Res<Replay>>),
) -> Result {
    // Texture ids for job images first (needs `contexts` mutably).
    let textures: Vec<Option<egui::TextureId>> = trainings
        .jobs
        .iter()
        .map(|j| {
            j.image
                .as_ref()
                .map(|h| contexts.add_image(EguiTextureHandle::Weak(h.id())))
        })
        .collect();
    let ctx = contexts.ctx_mut()?;
    if trainings.jobs.is_empty() || !docking.show {
        docking.right = 0.0;
        return Ok(());
    }
    let replay = replay.is_some();
    let mut open = docking.right_open;
    let width = docked_panel(ctx, Side::Right, "Training", 340.0, &mut open, |ui| {
        // Where the trainings run (and why not on the GPU, when it was asked for).
        match backend.as_ref().map(|b| b.get()) {
            Some(Some(b)) if b.fallback.is_some() => {
                ui.colored_label(
                    egui::Color32::from_rgb(255, 200, 90),
                    format!("Training on {}", b.label),
                );
            }
            Some(Some(b)) if b.on_gpu() => {
                ui.label(format!("Training on {} (basics: CPU)", b.label));
            }
            Some(Some(b)) => {
                ui.label(format!("Training on {}", b.label));
            }
            _ => {
                ui.label("Training backend: waiting for the renderer");
            }
        }
        // A script's `panels` step may open one section (and close the others) once.
        let force = ui_state.open.take();
        for (k, job) in trainings.jobs.iter_mut().enumerate() {
            egui::CollapsingHeader::new(job.name.clone())
                .default_open(k == 0)
                .open(force.as_ref().map(|name| *name == job.name))
                .show(ui, |ui| {
                    if let Some(s) = &settings {
                        settings_ui(ui, &job.name, s);
                    }
                    job_panel(ui, job, textures.get(k).copied().flatten(), &mut ui_state, replay);
                });
        }
    });
    if (docking.right, docking.right_open) != (width, open) {
        (docking.right, docking.right_open) = (width, open);
    }
    Ok(())
}

/// One job's controls, samples and curves.
fn job_panel(
    ui: &mut egui::Ui,
    job: &mut crate::training::JobState,
    texture: Option<egui::TextureId>,
    ui_state: &mut TrainUi,
    replay: bool,
) {
    ui.horizontal(|ui| {
        let label = if job.running { "Pause" } else { "Start" };
        let can_start = job.running || !(job.diverged || job.finished);
        if ui.add_enabled(can_start, egui::Button::new(label)).clicked() {
            let run = !job.running;
            job.set_running(run);
        }
        if ui.button("Reset").clicked() {
            job.reset();
        }
        if replay {
            ui.label(format!("step {}", job.steps));
        } else {
            ui.label(format!(
                "step {}  {:.0} s  {}",
                job.steps,
                job.elapsed_now().as_secs_f64(),
                shoal_common::text::rate_label(job.steps_per_second())
            ));
        }
    });
    if job.diverged {
        ui.colored_label(
            egui::Color32::from_rgb(255, 120, 100),
            "diverged: stopped (Reset to start over)",
        );
    }
    if job.finished {
        ui.colored_label(egui::Color32::LIGHT_GREEN, "finished");
    }
    if let Some(e) = &job.error {
        ui.colored_label(egui::Color32::from_rgb(255, 120, 100), e);
    }
    if let Some(w) = &job.waiting {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(w);
        });
    }
    if job.name == "Path-SGD" {
        ui.horizontal(|ui| {
            ui.label("Rescale hidden layer");
            ui.radio_value(&mut ui_state.rescale_layer, 0, "1");
            ui.radio_value(&mut ui_state.rescale_layer, 1, "2");
            ui.add(
                egui::Slider::new(&mut ui_state.rescale_c, 1e-3..=1e3)
                    .logarithmic(true)
                    .text("c"),
            );
            if ui.button("Rescale").clicked() {
                job.command(Command::Rescale {
                    layer: ui_state.rescale_layer,
                    c: ui_state.rescale_c,
                });
            }
        });
        ui.weak("Incoming weights x c, outgoing / c: the same function. SGD and AdaGrad jump; Path-SGD does not.");
    }
    if job.name == "Path-SGD" || job.name == "Tensor basics" {
        ui.horizontal(|ui| {
            ui.label("learning rate x");
            let r = ui.add(egui::Slider::new(&mut ui_state.lr_scale, 1e-2..=1e3).logarithmic(true));
            if r.drag_stopped() || r.lost_focus() {
                let scale = ui_state.lr_scale;
                let lr = if job.name == "Tensor basics" {
                    crate::learn::basics::LR_BY_HAND * scale
                } else {
                    scale
                };
                job.command(Command::SetLr(lr));
            }
        });
    }
    // The DCGAN's quality number first: it says when the samples became digits.
    if job.name == "DCGAN" {
        quality_panel(ui, job, replay);
    }
    if let Some(tex) = texture {
        ui.image(egui::load::SizedTexture::new(tex, [150.0, 150.0]));
    }
    let log = job.log_scale;
    Plot::new(format!("plot-{}", job.name))
        .height(120.0)
        .legend(Legend::default())
        .y_axis_label(if log { "log10 value" } else { "value" })
        .show(ui, |plot| {
            for (name, points) in job.series.iter().zip(&job.history) {
                let pts: Vec<[f64; 2]> = points
                    .iter()
                    .filter(|p| p[1].is_finite() && (!log || p[1] > 0.0))
                    .map(|p| [p[0], if log { p[1].log10() } else { p[1] }])
                    .collect();
                // A few hundred pixels wide: its envelope, not thousands of segments a frame.
                let pts = crate::learn::plot::envelope(&pts, PLOT_BUCKETS);
                plot.line(Line::new(*name, PlotPoints::from(pts)));
            }
        });
}

/// `m:ss`.
pub fn minutes_seconds(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// The DCGAN's live quality number: the classifier score of fresh samples over the steps, and
/// when the samples first counted as digits.
fn quality_panel(ui: &mut egui::Ui, job: &crate::training::JobState, replay: bool) {
    use crate::learn::live::{FIRST_DIGITS_SCORE, SCORE_SAMPLES};
    let line = match (job.quality.last(), job.first_digits) {
        // In the browser the training's Web Worker fetches the classifier before it starts;
        // without it (a failed download) the DCGAN trains unscored.
        (None, _) if cfg!(target_arch = "wasm32") && job.steps > 1 => {
            "classifier score: none (the classifier could not be loaded; see the console)".to_string()
        }
        (None, _) => "classifier score: after the first step".to_string(),
        (Some(q), None) => format!(
            "classifier score {:.2} of {SCORE_SAMPLES} samples (Fréchet {:.0}); digits from {FIRST_DIGITS_SCORE:.0}",
            q[1], q[2]
        ),
        (Some(q), Some(t)) => format!(
            "classifier score {:.2} (Fréchet {:.0}); first digits at {}",
            q[1],
            q[2],
            if replay {
                // The first step whose score reached the mark.
                let step = job
                    .quality
                    .iter()
                    .find(|q| q[1] >= FIRST_DIGITS_SCORE)
                    .map_or(0.0, |q| q[0]);
                format!("step {step:.0}")
            } else {
                minutes_seconds(t)
            }
        ),
    };
    ui.label(line);
    if job.quality.is_empty() {
        return;
    }
    Plot::new(format!("quality-{}", job.name))
        .height(70.0)
        .include_y(1.0)
        .include_y(10.0)
        .y_axis_label("score")
        .show(ui, |plot| {
            let pts: Vec<[f64; 2]> = job.quality.iter().map(|q| [q[0], q[1]]).collect();
            plot.line(Line::new("classifier score", PlotPoints::from(pts)));
            plot.hline(HLine::new("digits", FIRST_DIGITS_SCORE));
        });
}

/// Keeps a poster of the DCGAN's latest samples on the tank's back wall (top right).
fn poster(
    mut commands: Commands,
    trainings: Res<Trainings>,
    params: Res<BoidParams>,
    mut posters: Query<(Entity, &mut Sprite, &mut Transform), With<Poster>>,
) {
    let Some(handle) = trainings.find("DCGAN").and_then(|j| j.image.clone()) else {
        return;
    };
    // Top centre of the back wall, behind the fish.
    let size = 0.36 * params.height;
    let at = Vec3::new(0.0, 0.5 * params.height - 0.55 * size, -5.0);
    match posters.iter_mut().next() {
        Some((_, mut sprite, mut t)) => {
            if sprite.image != handle {
                sprite.image = handle;
            }
            sprite.custom_size = Some(Vec2::splat(size));
            t.translation = at;
        }
        None => {
            commands.spawn((
                Poster,
                Sprite {
                    image: handle,
                    custom_size: Some(Vec2::splat(size)),
                    color: Color::srgba(1.0, 1.0, 1.0, 0.85),
                    ..default()
                },
                Transform::from_translation(at),
            ));
        }
    }
}
