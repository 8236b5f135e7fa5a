//! Clicking in the tank: on a fish it watches that fish (vision circle, velocity
//! line, a bounded trail); on open water it adds a fish at the cursor.

use crate::boids::BoidParams;
use crate::boids::plugin::{
    Fish, Position, SchoolRng, SchoolSystems, Velocity, field_to_world, spawn_fish_at, world_to_field,
};
use crate::scene::tank::{TankCamera, TankSettings};
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use std::collections::VecDeque;

/// Points kept in a watched fish's trail.
pub const TRAIL_LEN: usize = 240;

/// The fish being watched, with its recent positions (oldest first).
#[derive(Component, Default, Debug)]
pub struct Watched {
    pub trail: VecDeque<Vec2>,
}

pub struct WatchPlugin;

impl Plugin for WatchPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, (click, draw_watched))
            .add_systems(FixedUpdate, record_trail.after(SchoolSystems::Integrate));
    }
}

/// The cursor's position in field coordinates, if it is over the window.
pub fn cursor_field_pos(
    windows: &Query<&Window>,
    camera: &Query<(&Camera, &GlobalTransform), With<TankCamera>>,
    params: &BoidParams,
) -> Option<Vec2> {
    let cursor = windows.iter().next()?.cursor_position()?;
    let (camera, transform) = camera.iter().next()?;
    let world = camera.viewport_to_world_2d(transform, cursor).ok()?;
    Some(world_to_field(world, params))
}

#[allow(clippy::too_many_arguments)]
fn click(
    mut commands: Commands,
    buttons: Res<ButtonInput<MouseButton>>,
    egui: Option<Res<EguiWantsInput>>,
    windows: Query<&Window>,
    camera: Query<(&Camera, &GlobalTransform), With<TankCamera>>,
    params: Res<BoidParams>,
    mut settings: ResMut<TankSettings>,
    mut rng: ResMut<SchoolRng>,
    fish: Query<(Entity, &Position), With<Fish>>,
    watched: Query<Entity, With<Watched>>,
    docking: Option<Res<crate::scene::layout::Docking>>,
    keys: Res<ButtonInput<KeyCode>>,
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))] gpu: Option<Res<crate::scene::gpu_school::GpuLink>>,
) {
    // R + drag places a rock instead (scene::playground).
    if !buttons.just_pressed(MouseButton::Left) || keys.pressed(KeyCode::KeyR) {
        return;
    }
    if egui.is_some_and(|e| e.wants_pointer_input() || e.is_pointer_over_area()) {
        return;
    }
    // A click on a docked panel (egui does not count those as its areas) is not the tank's.
    let over_panel = |w: &Window| {
        let (Some(c), Some(d)) = (w.cursor_position(), docking.as_ref()) else {
            return false;
        };
        let (from, to) = d.free();
        let x = c.x / w.width().max(1.0);
        d.show && (x < from || x > to)
    };
    if windows.iter().next().is_some_and(over_panel) {
        return;
    }
    let Some(at) = cursor_field_pos(&windows, &camera, &params) else {
        return;
    };
    let pick = settings.fish_size * 1.2;
    // The GPU school answers with the fish under the pointer (scene::gpu_school::picked).
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    if let Some(link) = gpu {
        link.lock()
            .commands
            .push(crate::scene::gpu_school::Command::Pick(at, pick));
        return;
    }
    let nearest = fish
        .iter()
        .map(|(e, p)| (e, p.0.distance_squared(at)))
        .filter(|&(_, d2)| d2 <= pick * pick)
        .min_by(|a, b| a.1.total_cmp(&b.1));
    for e in &watched {
        commands.entity(e).remove::<Watched>();
    }
    match nearest {
        Some((e, _)) => {
            commands.entity(e).insert(Watched::default());
        }
        None if settings.fish >= crate::boids::MAX_FISH => {}
        None => {
            spawn_fish_at(&mut commands, &mut rng, &params, at);
            // Keep the requested count in step so the new fish is not removed again.
            settings.fish += 1;
        }
    }
}

fn record_trail(mut watched: Query<(&Position, &mut Watched)>) {
    for (p, mut w) in &mut watched {
        if w.trail.len() == TRAIL_LEN {
            w.trail.pop_front();
        }
        w.trail.push_back(p.0);
    }
}

fn draw_watched(mut gizmos: Gizmos, params: Res<BoidParams>, watched: Query<(&Position, &Velocity, &Watched)>) {
    for (p, v, w) in &watched {
        let at = field_to_world(p.0, &params);
        gizmos.circle_2d(
            Isometry2d::from_translation(at),
            params.vision,
            Color::srgba(1.0, 1.0, 0.6, 0.7),
        );
        gizmos.circle_2d(
            Isometry2d::from_translation(at),
            params.avoid,
            Color::srgba(1.0, 0.4, 0.3, 0.8),
        );
        // The field of view: its edges and arc at the vision distance.
        if let Some(dir) = Vec2::new(v.0.x, -v.0.y).try_normalize()
            && params.fov < 360.0
        {
            let half = 0.5 * params.fov.to_radians();
            let arc = (0..=32).map(|k| {
                let a = -half + 2.0 * half * k as f32 / 32.0;
                at + Vec2::from_angle(a).rotate(dir) * params.vision
            });
            let colour = Color::srgba(0.6, 1.0, 0.7, 0.8);
            gizmos.linestrip_2d(std::iter::once(at).chain(arc).chain(std::iter::once(at)), colour);
        }
        let dir = Vec2::new(v.0.x, -v.0.y) * 10.0;
        gizmos.line_2d(at, at + dir, Color::srgb(1.0, 0.9, 0.2));
        gizmos.linestrip_2d(
            w.trail.iter().map(|&q| field_to_world(q, &params)),
            Color::srgba(0.9, 0.95, 1.0, 0.5),
        );
    }
}
