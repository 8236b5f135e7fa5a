//! Clicking in the tank: on a fish it watches that fish (vision circle, velocity
//! line, a bounded trail); on open water it adds a fish at the cursor.

use crate::boids::BoidParams;
use crate::boids::plugin::{
    Fish, Position, SchoolControl, SchoolRng, SchoolSystems, Velocity, field_to_world, spawn_fish_at, world_to_field,
};
use crate::tank::{TankCamera, TankSettings};
use bevy::ecs::system::SystemParam;
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
        app.add_message::<PickRequest>()
            .add_systems(Update, (click, draw_watched))
            .add_systems(FixedUpdate, record_trail.after(SchoolSystems::Integrate));
    }
}

/// The pointer over the tank: its buttons and keys, where it is in field coordinates, and
/// whether egui has it (the clicks and keys of the watch and the playground).
#[derive(SystemParam)]
pub struct TankPointer<'w, 's> {
    pub buttons: Res<'w, ButtonInput<MouseButton>>,
    pub keys: Res<'w, ButtonInput<KeyCode>>,
    egui: Option<Res<'w, EguiWantsInput>>,
    docking: Option<Res<'w, crate::ui::layout::Docking>>,
    windows: Query<'w, 's, &'static Window>,
    camera: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<TankCamera>>,
}

impl TankPointer<'_, '_> {
    /// The window (the app has one).
    pub fn window(&self) -> Option<&Window> {
        self.windows.iter().next()
    }

    /// The cursor's position in field coordinates, if it is over the window.
    pub fn field_pos(&self, params: &BoidParams) -> Option<Vec2> {
        let cursor = self.window()?.cursor_position()?;
        let (camera, transform) = self.camera.iter().next()?;
        let world = camera.viewport_to_world_2d(transform, cursor).ok()?;
        Some(world_to_field(world, params))
    }

    /// Whether egui takes the keyboard (a text field has focus).
    pub fn typing(&self) -> bool {
        self.egui.as_ref().is_some_and(|e| e.wants_keyboard_input())
    }

    /// Whether the pointer is over one of egui's areas or egui takes it.
    pub fn over_ui(&self) -> bool {
        self.egui
            .as_ref()
            .is_some_and(|e| e.is_pointer_over_area() || e.wants_pointer_input())
    }

    /// Whether the pointer is over a docked panel (egui does not count those as its areas).
    pub fn over_panel(&self) -> bool {
        let (Some(w), Some(d)) = (self.window(), self.docking.as_ref()) else {
            return false;
        };
        let Some(c) = w.cursor_position() else {
            return false;
        };
        let (from, to) = d.free();
        let x = c.x / w.width().max(1.0);
        d.show && (x < from || x > to)
    }
}

/// A click on open water while the GPU school runs: its fish are not entities, so the GPU
/// school looks for the fish within `radius` of `at` (and watches it, or adds one there).
#[derive(Message, Clone, Copy, Debug)]
pub struct PickRequest {
    pub at: Vec2,
    pub radius: f32,
}

/// What adding a fish at the pointer changes: the school's random source and requested size.
#[derive(SystemParam)]
pub struct NewFish<'w> {
    pub params: Res<'w, BoidParams>,
    pub settings: ResMut<'w, TankSettings>,
    pub rng: ResMut<'w, SchoolRng>,
}

fn click(
    mut commands: Commands,
    pointer: TankPointer,
    new: NewFish,
    fish: Query<(Entity, &Position), With<Fish>>,
    watched: Query<Entity, With<Watched>>,
    control: Res<SchoolControl>,
    mut picks: MessageWriter<PickRequest>,
) {
    let NewFish {
        params,
        mut settings,
        mut rng,
    } = new;
    // R + drag places a rock instead (tank::playground).
    if !pointer.buttons.just_pressed(MouseButton::Left) || pointer.keys.pressed(KeyCode::KeyR) {
        return;
    }
    if pointer.over_ui() {
        return;
    }
    // A click on a docked panel is not the tank's.
    if pointer.over_panel() {
        return;
    }
    let Some(at) = pointer.field_pos(&params) else {
        return;
    };
    let pick = settings.fish_size * 1.2;
    if control.gpu {
        picks.write(PickRequest { at, radius: pick });
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
