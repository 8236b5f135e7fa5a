//! `shoal screenshot`: run the tank for some frames, save one frame as PNG, exit.

use bevy::diagnostic::FrameCount;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Takes a screenshot of the primary window (or, headless, of the tank's render target) after
/// `after_frames` frames, writes it atomically to `out`, then exits (with an error exit code if
/// saving failed).
pub struct CapturePlugin {
    pub out: PathBuf,
    pub after_frames: u32,
}

type Outcome = Arc<Mutex<Option<Result<(), String>>>>;

#[derive(Resource)]
struct CaptureState {
    out: PathBuf,
    after: u32,
    requested: bool,
    outcome: Outcome,
}

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(CaptureState {
            out: self.out.clone(),
            after: self.after_frames,
            requested: false,
            outcome: Arc::default(),
        })
        .add_systems(Last, capture);
    }
}

/// Encodes a captured frame as an RGB PNG and writes it atomically.
pub fn save_png(image: &Image, out: &Path) -> Result<(), String> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| format!("cannot convert the frame: {e}"))?
        .to_rgb8();
    let (w, h) = (rgb.width(), rgb.height());
    let png = crate::learn::plot::encode_png(rgb.as_raw(), w, h, false).map_err(|e| e.to_string())?;
    shoal_common::fs::write_atomic(out, &png).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn capture(
    mut commands: Commands,
    frames: Res<FrameCount>,
    mut state: ResMut<CaptureState>,
    target: Option<Res<crate::tank::TankTarget>>,
    mut exit: MessageWriter<AppExit>,
) {
    if !state.requested && frames.0 >= state.after {
        state.requested = true;
        let (out, slot) = (state.out.clone(), state.outcome.clone());
        let shot = match target {
            Some(t) => Screenshot::image(t.0.clone()),
            None => Screenshot::primary_window(),
        };
        commands.spawn(shot).observe(move |ev: On<ScreenshotCaptured>| {
            let result = save_png(&ev.image, &out);
            *slot.lock().expect("capture lock") = Some(result);
        });
    }
    let done = state.outcome.lock().expect("capture lock").take();
    match done {
        Some(Ok(())) => {
            info!("saved {}", state.out.display());
            exit.write(AppExit::Success);
        }
        Some(Err(e)) => {
            error!("{e}");
            exit.write(AppExit::error());
        }
        None => {}
    }
}
