//! The trainings' fair share of the machine against the renderer: while any training runs,
//! the frames are capped at a rate that falls as the share rises (60 fps x (1 - share)), so
//! drawing leaves CPU time to the trainings, whose threads run at normal priority (at share
//! 0 they run under `SCHED_IDLE` and the frames are not capped: frames first, as before).
//! With no training running the frames get everything.

use crate::learn::live::share::{self, DEFAULT_TRAIN_SHARE};
use crate::training::Trainings;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use std::time::Duration;

/// The trainings' share, `[0, share::MAX_TRAIN_SHARE]` (`--train-share`, the tank panel's
/// "frames ↔ training" slider).
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct TrainShare(pub f64);

impl Default for TrainShare {
    fn default() -> Self {
        Self(DEFAULT_TRAIN_SHARE)
    }
}

/// The frame rate the frames are held to while trainings run at `share`.
pub fn frame_cap_fps(share: f64) -> Option<f64> {
    (share > 0.0).then(|| 60.0 * (1.0 - share.min(share::MAX_TRAIN_SHARE)))
}

pub struct PacingPlugin;

impl Plugin for PacingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TrainShare>().add_systems(Last, pace);
    }
}

/// Sleeps out the rest of the frame's period. It runs on the main thread (`NonSendMarker`):
/// a system may otherwise run on one of Bevy's task-pool threads (on two cores there is one),
/// and a sleep there holds up the render world's systems, which run on the same pool beside
/// the main world's update — the frame then waits for the sleep and the drawing one after the
/// other.
pub fn pace(
    _on_main: bevy::ecs::system::NonSendMarker,
    share: Res<TrainShare>,
    trainings: Option<Res<Trainings>>,
    mut last: Local<Option<Instant>>,
) {
    if share.is_changed() {
        share::set_train_share(share.0);
    }
    let training = trainings.is_some_and(|t| t.jobs.iter().any(|j| j.running));
    if let (true, Some(fps), Some(prev)) = (training, frame_cap_fps(share.0), *last) {
        let min = Duration::from_secs_f64(1.0 / fps);
        let spent = prev.elapsed();
        // No clock to sleep on in the browser (its frames are paced by the page).
        #[cfg(not(target_arch = "wasm32"))]
        if spent < min {
            std::thread::sleep(min - spent);
        }
        #[cfg(target_arch = "wasm32")]
        let _ = (min, spent);
    }
    *last = Some(Instant::now());
}
