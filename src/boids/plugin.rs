//! The school as Bevy ECS systems on fish entities.
//!
//! On the fixed timestep, in this order: rebuild grid -> steer (separation,
//! alignment, cohesion) -> boundaries -> integrate -> sync `Transform`. Each
//! system calls the plain functions of [`super::rules`] and [`super::grid`], so
//! the headless benchmark, the tests and the app run the same code. This plugin
//! draws nothing; the tank's visuals live in `scene`.

use super::grid::Grid;
use super::params::BoidParams;
use super::rules;
use super::school::{spawn_fish, spawn_velocity};
use bevy::ecs::batching::BatchingStrategy;
use bevy::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Marks a fish. Inserting it adds the simulation components.
#[derive(Component, Default, Clone, Copy)]
#[require(Position, Velocity, Acceleration, Slot, Transform)]
pub struct Fish;

/// Position in field coordinates (x right, y down, as the seed's canvas).
#[derive(Component, Default, Clone, Copy, Debug, PartialEq, Deref, DerefMut)]
pub struct Position(pub Vec2);

/// Velocity in field units per step.
#[derive(Component, Default, Clone, Copy, Debug, PartialEq, Deref, DerefMut)]
pub struct Velocity(pub Vec2);

/// This step's acceleration (flocking, then plus the boundary push).
#[derive(Component, Default, Clone, Copy, Debug, PartialEq, Deref, DerefMut)]
pub struct Acceleration(pub Vec2);

/// The fish's index in this step's snapshot (written by the grid rebuild).
#[derive(Component, Default, Clone, Copy, Debug)]
pub struct Slot(pub u32);

/// The snapshot of all fish the steering of one step reads.
#[derive(Resource, Default, Deref)]
pub struct FishGrid(pub Grid);

/// Whether the school moves, and how parallel its systems run.
#[derive(Resource, Clone, Debug)]
pub struct SchoolControl {
    pub running: bool,
    /// Fish per parallel batch; `None` lets Bevy choose, `Some(usize::MAX)` runs on one thread.
    pub batch_size: Option<usize>,
}

impl Default for SchoolControl {
    fn default() -> Self {
        Self {
            running: true,
            batch_size: None,
        }
    }
}

impl SchoolControl {
    fn strategy(&self) -> BatchingStrategy {
        match self.batch_size {
            Some(n) => BatchingStrategy::fixed(n.max(1)),
            None => BatchingStrategy::new(),
        }
    }
}

/// The random source for new fish (reset with a seed).
#[derive(Resource)]
pub struct SchoolRng(pub StdRng);

impl SchoolRng {
    pub fn seeded(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }
}

/// The step's systems, in their fixed order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchoolSystems {
    RebuildGrid,
    Steer,
    Boundary,
    Integrate,
    SyncTransform,
}

/// Maps field coordinates (y down, origin top-left) to world coordinates (y up, origin centre).
#[inline]
pub fn field_to_world(p: Vec2, params: &BoidParams) -> Vec2 {
    Vec2::new(p.x - 0.5 * params.width, 0.5 * params.height - p.y)
}

/// The inverse of [`field_to_world`].
#[inline]
pub fn world_to_field(w: Vec2, params: &BoidParams) -> Vec2 {
    Vec2::new(w.x + 0.5 * params.width, 0.5 * params.height - w.y)
}

/// The school on the fixed timestep. Needs `BoidParams` (inserted with defaults if absent).
pub struct BoidsPlugin {
    pub seed: u64,
}

impl Default for BoidsPlugin {
    fn default() -> Self {
        Self { seed: 1 }
    }
}

impl Plugin for BoidsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BoidParams>()
            .init_resource::<FishGrid>()
            .init_resource::<SchoolControl>()
            .insert_resource(SchoolRng::seeded(self.seed))
            .configure_sets(
                FixedUpdate,
                (
                    SchoolSystems::RebuildGrid,
                    SchoolSystems::Steer,
                    SchoolSystems::Boundary,
                    SchoolSystems::Integrate,
                    SchoolSystems::SyncTransform,
                )
                    .chain()
                    .run_if(|c: Res<SchoolControl>| c.running),
            )
            .add_systems(
                FixedUpdate,
                (
                    rebuild_grid.in_set(SchoolSystems::RebuildGrid),
                    steer.in_set(SchoolSystems::Steer),
                    boundaries.in_set(SchoolSystems::Boundary),
                    integrate.in_set(SchoolSystems::Integrate),
                    sync_transform.in_set(SchoolSystems::SyncTransform),
                ),
            );
    }
}

/// Copies every fish into the sorted snapshot and records its slot.
pub fn rebuild_grid(
    mut grid: ResMut<FishGrid>,
    params: Res<BoidParams>,
    mut fish: Query<(&Position, &Velocity, &mut Slot), With<Fish>>,
) {
    let mut next = 0u32;
    let pairs = fish.iter_mut().map(|(p, v, mut slot)| {
        slot.0 = next;
        next += 1;
        (p.0, v.0)
    });
    grid.0.rebuild_from(pairs, &params);
}

/// Separation, alignment and cohesion from the snapshot, normalised to `max_accel`.
pub fn steer(
    grid: Res<FishGrid>,
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    mut fish: Query<(&Slot, &Velocity, &mut Acceleration), With<Fish>>,
) {
    let (grid, params) = (&grid.0, &*params);
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(slot, v, mut a)| {
            // A fish spawned after this step's rebuild has no slot yet: it waits a step.
            a.0 = if (slot.0 as usize) < grid.len() {
                rules::steer(v.0, &grid.sums(slot.0 as usize, params), params)
            } else {
                Vec2::ZERO
            };
        });
}

/// Adds the push back into the field, after the normalisation.
pub fn boundaries(
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    mut fish: Query<(&Position, &mut Acceleration), With<Fish>>,
) {
    let params = &*params;
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(p, mut a)| {
            a.0 += rules::boundary(p.0, params);
        });
}

/// `v += a`, clamp the speed, `p += v`.
pub fn integrate(
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    mut fish: Query<(&mut Position, &mut Velocity, &Acceleration), With<Fish>>,
) {
    let params = &*params;
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(mut p, mut v, a)| {
            (p.0, v.0) = rules::integrate(p.0, v.0, a.0, params);
        });
}

/// Places each fish's `Transform` at its position, facing along its velocity.
pub fn sync_transform(
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    mut fish: Query<(&Position, &Velocity, &mut Transform), With<Fish>>,
) {
    let params = &*params;
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(p, v, mut t)| {
            let w = field_to_world(p.0, params);
            t.translation.x = w.x;
            t.translation.y = w.y;
            if v.0 != Vec2::ZERO {
                // Field y points down, world y up.
                t.rotation = Quat::from_rotation_z((-v.0.y).atan2(v.0.x));
            }
        });
}

/// The components of `n` new fish drawn from the school's random source.
pub fn fish_bundles(
    rng: &mut SchoolRng,
    params: &BoidParams,
    n: usize,
) -> Vec<(Fish, Position, Velocity, Transform)> {
    (0..n)
        .map(|_| {
            let (p, v) = spawn_fish(&mut rng.0, params);
            (Fish, Position(p), Velocity(v), transform_for(p, v, params))
        })
        .collect()
}

/// Spawns `n` fish from the school's random source.
pub fn spawn_school(commands: &mut Commands, rng: &mut SchoolRng, params: &BoidParams, n: usize) {
    commands.spawn_batch(fish_bundles(rng, params, n));
}

/// Spawns one fish at field position `p`.
pub fn spawn_fish_at(
    commands: &mut Commands,
    rng: &mut SchoolRng,
    params: &BoidParams,
    p: Vec2,
) -> Entity {
    let v = spawn_velocity(&mut rng.0, params);
    commands
        .spawn((Fish, Position(p), Velocity(v), transform_for(p, v, params)))
        .id()
}

fn transform_for(p: Vec2, v: Vec2, params: &BoidParams) -> Transform {
    let w = field_to_world(p, params);
    Transform::from_xyz(w.x, w.y, 1.0).with_rotation(Quat::from_rotation_z((-v.y).atan2(v.x)))
}
