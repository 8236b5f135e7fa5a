//! Applies a script's due steps to the scene (the recorder hands them over frame by frame).

use super::{Action, Target, set_param};
use crate::app::JobKind;
use crate::boids::BoidParams;
use crate::boids::plugin::{Fish, Position, field_to_world};
use crate::learn::live::Command;
use crate::tank::TankSettings;
use crate::tank::watch::Watched;
use crate::training::Trainings;
use crate::ui::layout::{CameraView, Caption, Docking};
use crate::ui::train_ui::TrainUi;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

/// The steps due in this frame, applied by [`apply_due`] before anything else updates.
#[derive(Resource, Default)]
pub struct DueSteps(pub Vec<Action>);

pub struct ScriptPlugin;

impl Plugin for ScriptPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DueSteps>().add_systems(PreUpdate, apply_due);
    }
}

/// What a script's steps act on: the trainings and their panel, the school, the panels' layout
/// and the camera, the fish.
#[derive(SystemParam)]
struct Stage<'w, 's> {
    trainings: Option<ResMut<'w, Trainings>>,
    train_ui: Option<ResMut<'w, TrainUi>>,
    params: ResMut<'w, BoidParams>,
    tank: ResMut<'w, TankSettings>,
    docking: ResMut<'w, Docking>,
    view: ResMut<'w, CameraView>,
    caption: ResMut<'w, Caption>,
    fish: Query<'w, 's, (Entity, &'static Position), With<Fish>>,
    watched: Query<'w, 's, Entity, With<Watched>>,
}

fn apply_due(mut commands: Commands, mut due: ResMut<DueSteps>, time: Res<Time>, stage: Stage) {
    let Stage {
        mut trainings,
        mut train_ui,
        mut params,
        mut tank,
        mut docking,
        mut view,
        mut caption,
        fish,
        watched,
    } = stage;
    for action in std::mem::take(&mut due.0) {
        let mut each = |target: &Target, f: &mut dyn FnMut(&mut crate::training::JobState)| {
            if let Some(t) = trainings.as_mut() {
                for job in t.jobs.iter_mut() {
                    if matches!(target, Target::All) || matches!(target, Target::One(k) if k.name() == job.name) {
                        f(job);
                    }
                }
            }
        };
        match action {
            Action::Start(t) => each(&t, &mut |j| j.set_running(true)),
            Action::Pause(t) => each(&t, &mut |j| j.set_running(false)),
            Action::Reset(t) => each(&t, &mut |j| j.reset()),
            Action::Rescale { layer, c } => each(&Target::One(JobKind::PathSgd), &mut |j| {
                j.command(Command::Rescale { layer, c })
            }),
            Action::Set { param, value } => match set_param(&params, &param, &value) {
                Ok(p) => *params = p,
                // Checked in order when the script was read; the panel may not have changed
                // anything since (recordings have no pointer), so this is a rule combination.
                Err(e) => warn!("script: {e}; nothing changed"),
            },
            Action::AddFish(n) => tank.fish = (tank.fish + n).min(crate::boids::MAX_FISH),
            Action::Watch(near) => {
                let nearest = fish
                    .iter()
                    .min_by(|a, b| a.1.0.distance_squared(near).total_cmp(&b.1.0.distance_squared(near)));
                for e in &watched {
                    commands.entity(e).remove::<Watched>();
                }
                if let Some((e, _)) = nearest {
                    commands.entity(e).insert(Watched::default());
                }
            }
            Action::Camera { zoom, center, over } => {
                let c = center.map_or(view.center, |c| field_to_world(c, &params));
                view.move_to(zoom, c, over);
            }
            Action::Panels { show, open } => {
                if let Some(s) = show {
                    docking.show = s;
                }
                if let (Some(k), Some(ui)) = (open, train_ui.as_mut()) {
                    ui.open = Some(k.name().to_string());
                }
            }
            Action::Caption { text, seconds } => {
                *caption = Caption {
                    text,
                    until: seconds.map(|s| time.elapsed_secs_f64() + s),
                };
            }
        }
    }
}
