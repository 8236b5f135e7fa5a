//! The tank as a playground (Bevy glue for [`crate::boids::playground`]): sharks and rocks
//! drawn, the pointer as a shark while Space is held, rocks placed by holding R and dragging
//! (right-click a rock to remove it), and the number of autonomous sharks kept as asked.

use crate::boids::plugin::{Playground, field_to_world};
use crate::boids::{BoidParams, Rock, Shark};
use crate::tank::rgba_image;
use crate::tank::watch::TankPointer;
use bevy::prelude::*;

/// How many autonomous sharks the user asked for (`--sharks`, the panel).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct SharkCount(pub usize);

/// Most autonomous sharks.
pub const MAX_SHARKS: usize = 64;

#[derive(Resource, Clone)]
struct PlaygroundArt {
    shark: Handle<Image>,
    rock: Handle<Image>,
}

#[derive(Component)]
struct SharkSprite(usize);

#[derive(Component)]
struct RockSprite;

/// A rock being placed: its centre (field coordinates).
#[derive(Resource, Default)]
struct Placing(Option<Vec2>);

pub struct PlaygroundPlugin;

impl Plugin for PlaygroundPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SharkCount>()
            .init_resource::<Placing>()
            .add_systems(Startup, setup)
            .add_systems(
                Update,
                (pointer_and_rocks, match_shark_count, draw_sharks, draw_rocks).chain(),
            );
    }
}

fn setup(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    commands.insert_resource(PlaygroundArt {
        shark: images.add(shark_image()),
        rock: images.add(rock_image()),
    });
}

/// Adds or removes autonomous sharks (new ones at random places, at rest) to match the count.
fn match_shark_count(
    count: Res<SharkCount>,
    params: Res<BoidParams>,
    mut playground: ResMut<Playground>,
    mut seed: Local<u64>,
) {
    let want = count.0.min(MAX_SHARKS);
    if playground.sharks.len() == want {
        return;
    }
    if playground.sharks.len() > want {
        playground.sharks.truncate(want);
        return;
    }
    // Places drawn from a counter: the same sequence of requests gives the same sharks.
    while playground.sharks.len() < want {
        *seed += 1;
        let h = |k: u64| {
            let x = (*seed ^ k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((x >> 40) as f32) / (1u64 << 24) as f32
        };
        let pos = Vec2::new(params.width * h(1), params.height * h(2));
        let (pos, _) = crate::boids::playground::keep_out(pos, Vec2::ZERO, &playground.rocks);
        playground.sharks.push(Shark { pos, vel: Vec2::ZERO });
    }
}

fn pointer_and_rocks(
    pointer_in: TankPointer,
    params: Res<BoidParams>,
    mut playground: ResMut<Playground>,
    mut placing: ResMut<Placing>,
    mut gizmos: Gizmos,
) {
    let (keys, buttons) = (&pointer_in.keys, &pointer_in.buttons);
    let typing = pointer_in.typing();
    let at = pointer_in.field_pos(&params);
    // Space: the pointer is a shark.
    let pointer = at.filter(|_| !typing && keys.pressed(KeyCode::Space));
    if playground.pointer != pointer {
        playground.pointer = pointer;
    }
    let over_ui = pointer_in.over_ui();
    // R + drag: a rock from the press (centre) to the release (edge).
    if !typing && keys.pressed(KeyCode::KeyR) && buttons.just_pressed(MouseButton::Left) && !over_ui {
        placing.0 = at;
    }
    if let Some(c) = placing.0 {
        let r = at.map_or(0.0, |a| a.distance(c));
        gizmos.circle_2d(
            Isometry2d::from_translation(field_to_world(c, &params)),
            r.max(2.0),
            Color::srgba(0.9, 0.85, 0.7, 0.8),
        );
        if buttons.just_released(MouseButton::Left) || !buttons.pressed(MouseButton::Left) {
            placing.0 = None;
            if r >= 4.0 {
                playground.rocks.push(Rock {
                    x: c.x,
                    y: c.y,
                    radius: r,
                });
            }
        }
    }
    // Right-click on a rock removes it.
    if buttons.just_pressed(MouseButton::Right)
        && !over_ui
        && let Some(a) = at
        && let Some(k) = playground.rocks.iter().position(|r| r.contains(a))
    {
        playground.rocks.remove(k);
    }
}

fn draw_sharks(
    mut commands: Commands,
    art: Res<PlaygroundArt>,
    params: Res<BoidParams>,
    playground: Res<Playground>,
    mut sprites: Query<(Entity, &SharkSprite, &mut Transform, &mut Visibility)>,
) {
    // The autonomous sharks, then the pointer's.
    let all: Vec<(Vec2, Vec2)> = playground
        .sharks
        .iter()
        .map(|s| (s.pos, s.vel))
        .chain(playground.pointer.map(|p| (p, Vec2::X)))
        .collect();
    let mut have = vec![false; all.len()];
    for (e, SharkSprite(k), mut t, mut vis) in &mut sprites {
        match all.get(*k) {
            Some(&(p, v)) => {
                have[*k] = true;
                let w = field_to_world(p, &params);
                t.translation = w.extend(3.0);
                if let Some(q) = crate::boids::plugin::heading(v) {
                    t.rotation = q;
                }
                *vis = Visibility::Inherited;
            }
            None => {
                commands.entity(e).despawn();
            }
        }
    }
    for (k, _) in have.iter().enumerate().filter(|(_, h)| !**h) {
        let (p, _) = all[k];
        commands.spawn((
            SharkSprite(k),
            Sprite {
                image: art.shark.clone(),
                custom_size: Some(Vec2::new(44.0, 18.0)),
                ..default()
            },
            Transform::from_translation(field_to_world(p, &params).extend(3.0)),
        ));
    }
}

fn draw_rocks(
    mut commands: Commands,
    art: Res<PlaygroundArt>,
    params: Res<BoidParams>,
    playground: Res<Playground>,
    sprites: Query<Entity, With<RockSprite>>,
    mut shown: Local<Vec<Rock>>,
) {
    if *shown == playground.rocks && !params.is_changed() {
        return;
    }
    shown.clone_from(&playground.rocks);
    for e in &sprites {
        commands.entity(e).despawn();
    }
    for r in &playground.rocks {
        commands.spawn((
            RockSprite,
            Sprite {
                image: art.rock.clone(),
                custom_size: Some(Vec2::splat(2.0 * r.radius)),
                ..default()
            },
            Transform::from_translation(field_to_world(r.center(), &params).extend(0.5)),
        ));
    }
}

/// A dark grey shark facing +x: a long body, a dorsal fin, a tail.
fn shark_image() -> Image {
    let (w, h) = (64usize, 26usize);
    let mut data = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5 - h as f32 / 2.0);
            let body = ((fx - 36.0) / 26.0).powi(2) + (fy / 6.0).powi(2) <= 1.0;
            let tail = fx < 14.0 && fy.abs() < (14.0 - fx) * 0.9 + 1.0 && fy.abs() > (14.0 - fx) * 0.3 - 2.0;
            let fin = (28.0..42.0).contains(&fx) && fy < -4.0 && fy > -4.0 - (fx - 28.0) * 0.6;
            let eye = ((fx - 54.0).powi(2) + (fy + 1.5).powi(2)) < 2.0;
            let i = (y * w + x) * 4;
            if eye {
                data[i..i + 4].copy_from_slice(&[10, 10, 10, 255]);
            } else if body || tail || fin {
                let belly = (fy / 6.0).clamp(-1.0, 1.0);
                let v = (95.0 + 60.0 * belly.max(0.0)) as u8;
                data[i..i + 4].copy_from_slice(&[v, v + 8, v + 16, 255]);
            }
        }
    }
    rgba_image(w as u32, h as u32, data)
}

/// A round grey-brown rock with a lighter top.
fn rock_image() -> Image {
    let n = 64usize;
    let mut data = vec![0u8; n * n * 4];
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (
                (x as f32 + 0.5) / n as f32 * 2.0 - 1.0,
                (y as f32 + 0.5) / n as f32 * 2.0 - 1.0,
            );
            let r2 = fx * fx + fy * fy;
            if r2 <= 1.0 {
                let light = (0.75 - 0.35 * fy - 0.25 * r2).clamp(0.3, 1.0);
                let i = (y * n + x) * 4;
                let a = if r2 > 0.92 { 200 } else { 255 };
                data[i..i + 4].copy_from_slice(&[
                    (120.0 * light) as u8,
                    (110.0 * light) as u8,
                    (95.0 * light) as u8,
                    a,
                ]);
            }
        }
    }
    rgba_image(n as u32, n as u32, data)
}
