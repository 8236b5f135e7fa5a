//! Applies a script's due steps to the scene (the recorder hands them over frame by frame).

use super::{Action, Target, set_param};
use crate::boids::BoidParams;
use crate::boids::plugin::{Fish, Position, field_to_world};
use crate::learn::live::Command;
use crate::scene::JobKind;
use crate::scene::layout::{CameraView, Caption, Docking};
use crate::scene::tank::TankSettings;
use crate::scene::train_ui::TrainUi;
use crate::scene::training::Trainings;
use crate::scene::watch::Watched;
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

#[allow(clippy::too_many_arguments)]
fn apply_due(
    mut commands: Commands,
    mut due: ResMut<DueSteps>,
    mut trainings: Option<ResMut<Trainings>>,
    mut train_ui: Option<ResMut<TrainUi>>,
    (mut params, mut tank, mut docking, mut view, mut caption): (
        ResMut<BoidParams>,
        ResMut<TankSettings>,
        ResMut<Docking>,
        ResMut<CameraView>,
        ResMut<Caption>,
    ),
    time: Res<Time>,
    fish: Query<(Entity, &Position), With<Fish>>,
    watched: Query<Entity, With<Watched>>,
) {
    for action in std::mem::take(&mut due.0) {
        let mut each = |target: &Target, f: &mut dyn FnMut(&mut crate::scene::training::JobState)| {
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
