//! The tank: camera, water, fish sprites, and keeping the school at the requested size.

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub mod gpu_school;
pub mod playground;
pub mod watch;

use crate::boids::BoidParams;
use crate::boids::plugin::{Fish, SchoolRng, field_to_world, spawn_school};
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

/// How many fish the user asked for, and the seed of the last reset.
#[derive(Resource, Clone, Debug)]
pub struct TankSettings {
    pub fish: usize,
    pub seed: u64,
    /// Fish sprite length in field units.
    pub fish_size: f32,
}

impl Default for TankSettings {
    fn default() -> Self {
        Self {
            fish: 300,
            seed: 1,
            fish_size: 14.0,
        }
    }
}

/// Ask for a fresh school (all fish despawned, the random source reseeded).
#[derive(Message, Clone, Copy, Debug)]
pub struct ResetSchool;

/// Handle to the generated fish image.
#[derive(Resource, Clone)]
pub struct TankArt {
    pub fish: Handle<Image>,
}

/// The water's colour: the clear colour of the frame, so it costs no drawing (a full-frame
/// water sprite is a full-frame pass more, dear on a software rasterizer).
pub const WATER: Color = Color::srgb(0.07, 0.30, 0.45);
/// The sandy floor: a strip along the bottom 3.5 % of the field.
const SAND: Color = Color::srgb(0.55, 0.47, 0.32);
const SAND_FRACTION: f32 = 0.035;

/// The sandy floor's sprite.
#[derive(Component)]
pub struct Sand;

#[derive(Component)]
pub struct TankCamera;

pub struct TankPlugin;

impl Plugin for TankPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TankSettings>()
            .add_message::<ResetSchool>()
            .insert_resource(ClearColor(WATER))
            .add_systems(Startup, setup)
            .add_systems(
                Update,
                (
                    (reset_school, match_fish_count, dress_new_fish).run_if(cpu_school),
                    fit_tank,
                    draw_walls,
                )
                    .chain(),
            );
    }
}

/// Whether the CPU school runs (the GPU school keeps its fish off the ECS).
pub fn cpu_school(control: Res<crate::boids::plugin::SchoolControl>) -> bool {
    !control.gpu
}

/// Render the tank into this image instead of a window (the headless recorder).
#[derive(Resource, Clone)]
pub struct TankTarget(pub Handle<Image>);

fn setup(mut commands: Commands, mut images: ResMut<Assets<Image>>, target: Option<Res<TankTarget>>) {
    let art = TankArt {
        fish: images.add(fish_image()),
    };
    // No multisampling: the fish are textured sprites whose edges the texture's alpha already
    // smooths, and 4x MSAA is most of the cost of a frame on a software renderer (lavapipe).
    let camera = commands
        .spawn((Camera2d, TankCamera, bevy::render::view::Msaa::Off))
        .id();
    if let Some(t) = target {
        commands
            .entity(camera)
            .insert(bevy::camera::RenderTarget::from(t.0.clone()));
    }
    commands.spawn((
        Sand,
        Sprite::from_color(SAND, Vec2::ONE),
        Transform::from_xyz(0.0, 0.0, -10.0),
    ));
    commands.insert_resource(art);
}

/// Scales the sandy floor to the field (the camera follows in [`crate::ui::layout`]).
fn fit_tank(params: Res<BoidParams>, mut sand: Query<(&mut Sprite, &mut Transform), With<Sand>>) {
    if !params.is_changed() {
        return;
    }
    let size = Vec2::new(params.width, params.height);
    for (mut sprite, mut at) in &mut sand {
        sprite.custom_size = Some(Vec2::new(size.x, SAND_FRACTION * size.y));
        at.translation.y = -0.5 * size.y * (1.0 - SAND_FRACTION);
    }
}

/// The field's walls (where the boundary push starts) as a thin outline.
fn draw_walls(mut gizmos: Gizmos, params: Res<BoidParams>) {
    let size = Vec2::new(params.width, params.height);
    gizmos.rect_2d(Isometry2d::IDENTITY, size, Color::srgba(0.75, 0.9, 1.0, 0.5));
}

fn reset_school(
    mut commands: Commands,
    mut events: MessageReader<ResetSchool>,
    settings: Res<TankSettings>,
    mut rng: ResMut<SchoolRng>,
    fish: Query<Entity, With<Fish>>,
) {
    if events.read().count() == 0 {
        return;
    }
    for e in &fish {
        commands.entity(e).despawn();
    }
    *rng = SchoolRng::seeded(settings.seed);
}

/// Spawns or despawns fish until the school has the requested size.
fn match_fish_count(
    mut commands: Commands,
    mut settings: ResMut<TankSettings>,
    params: Res<BoidParams>,
    mut rng: ResMut<SchoolRng>,
    fish: Query<Entity, With<Fish>>,
    mut resets: MessageReader<ResetSchool>,
) {
    // Right after a reset the despawns are queued: the school counts as empty.
    let have = if resets.read().count() > 0 {
        0
    } else {
        fish.iter().len()
    };
    let want = settings.fish.min(crate::boids::MAX_FISH);
    if want > have {
        spawn_school(&mut commands, &mut rng, &params, want - have);
    } else if want < have {
        // The last fish in the table (usually the newest) leave first.
        let all: Vec<Entity> = fish.iter().collect();
        for e in all.into_iter().rev().take(have - want) {
            commands.entity(e).despawn();
        }
    }
    settings.bypass_change_detection();
}

/// Gives every new fish its sprite, tinted by a hash of its birth place so the school is not uniform.
fn dress_new_fish(
    mut commands: Commands,
    art: Res<TankArt>,
    settings: Res<TankSettings>,
    params: Res<BoidParams>,
    new_fish: Query<(Entity, &crate::boids::plugin::Position), Added<Fish>>,
) {
    let size = Vec2::new(settings.fish_size, settings.fish_size * 0.5);
    for (e, p) in &new_fish {
        // From where the fish was born (the school's seeded random source), not from its
        // entity id: the same school looks the same whatever else the app has spawned.
        let bits = p.0.x.to_bits() ^ p.0.y.to_bits().rotate_left(16);
        let h = (bits.wrapping_mul(2654435761) >> 8) as f32 / (1u32 << 24) as f32;
        let color = Color::hsl(190.0 + 50.0 * h, 0.65, 0.55 + 0.2 * h);
        let w = field_to_world(p.0, &params);
        commands.entity(e).insert((
            Sprite {
                image: art.fish.clone(),
                custom_size: Some(size),
                color,
                ..default()
            },
            Transform::from_xyz(w.x, w.y, 1.0 + h * 0.01),
        ));
    }
}

/// A 32 x 16 white fish facing +x (body ellipse, forked tail, an eye), tinted per fish.
pub fn fish_image() -> Image {
    let (w, h) = (32usize, 16usize);
    let mut data = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5 - h as f32 / 2.0);
            // Body: ellipse centred at x = 19, semi-axes 12 x 6.5.
            let body = ((fx - 19.0) / 12.0).powi(2) + (fy / 6.5).powi(2);
            // Tail: a triangle from x = 0..9, widening towards the left.
            let tail = fx < 10.0 && fy.abs() < (10.0 - fx) * 0.75 + 0.5 && fy.abs() > (10.0 - fx) * 0.2 - 1.5;
            let eye = ((fx - 26.0).powi(2) + (fy + 1.5).powi(2)) < 2.0;
            let (mut r, mut g, mut b, mut a) = (0u8, 0u8, 0u8, 0u8);
            if body <= 1.0 || tail {
                // Lighter belly, darker back.
                let shade = (200.0 + 55.0 * (fy / 6.5).clamp(-1.0, 1.0)) as u8;
                (r, g, b, a) = (shade, shade, shade, 255);
                if body > 0.8 && body <= 1.0 {
                    a = 200;
                }
            }
            if eye {
                (r, g, b, a) = (20, 20, 30, 255);
            }
            let i = (y * w + x) * 4;
            data[i..i + 4].copy_from_slice(&[r, g, b, a]);
        }
    }
    rgba_image(w as u32, h as u32, data)
}

/// A linear-filtered sRGB RGBA image living on the GPU only.
pub(crate) fn rgba_image(w: u32, h: u32, data: Vec<u8>) -> Image {
    let mut image = Image::new(
        Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.sampler = ImageSampler::linear();
    image
}
