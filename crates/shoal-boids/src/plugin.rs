//! The school as Bevy ECS systems on fish entities.
//!
//! On the fixed timestep, in this order: rebuild grid -> steer (separation,
//! alignment, cohesion) -> boundaries -> integrate -> sync `Transform`. Each
//! system calls the plain functions of [`super::rules`] and [`super::grid`], so
//! the headless benchmark, the tests and the app run the same code. This plugin
//! draws nothing; the tank's visuals live in the app (`tank`).

use super::grid::Grid;
use super::params::BoidParams;
use super::playground::{self, Rock, Shark};
use super::rules;
use super::school::{spawn_fish, spawn_velocity};
use bevy_app::prelude::*;
use bevy_derive::{Deref, DerefMut};
use bevy_ecs::batching::BatchingStrategy;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_math::{Quat, Vec2};
use bevy_tasks::{ComputeTaskPool, TaskPool};
use bevy_transform::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Marks a fish. Inserting it adds the simulation components.
#[derive(Component, Default, Clone, Copy)]
#[require(Position, Velocity, Acceleration, SnapshotIndex, Transform)]
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

/// The fish's index in this step's snapshot (written by the grid rebuild; `u32::MAX` until then).
/// The grid maps it to the fish's slot in cell order.
#[derive(Component, Clone, Copy, Debug)]
pub struct SnapshotIndex(pub u32);

impl Default for SnapshotIndex {
    fn default() -> Self {
        Self(u32::MAX)
    }
}

/// The snapshot of all fish the steering of one step reads, and the flocking
/// accelerations computed from it (in the snapshot's slot order).
#[derive(Resource, Default)]
pub struct FishGrid {
    pub grid: Grid,
    pub accel: Vec<Vec2>,
}

/// Whether the school moves, and how parallel its systems run.
#[derive(Resource, Clone, Debug)]
pub struct SchoolControl {
    pub running: bool,
    /// The GPU school steps the fish (`--school gpu`): these systems stand aside.
    pub gpu: bool,
    /// Fish per parallel batch; `None` lets Bevy choose, `Some(usize::MAX)` runs on one thread.
    pub batch_size: Option<usize>,
}

impl Default for SchoolControl {
    fn default() -> Self {
        Self {
            running: true,
            gpu: false,
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

/// The playground around the school: autonomous sharks, the pointer as a shark while it is
/// held, and rocks.
#[derive(Resource, Default, Clone, Debug, PartialEq)]
pub struct Playground {
    pub sharks: Vec<Shark>,
    /// Where the pointer shark is (field coordinates), while the user holds it.
    pub pointer: Option<Vec2>,
    pub rocks: Vec<Rock>,
}

impl Playground {
    /// Every shark the fish flee from this step.
    pub fn shark_positions(&self) -> Vec<Vec2> {
        self.sharks.iter().map(|s| s.pos).chain(self.pointer).collect()
    }
}

/// This step's rock index, built once by the boundary system and read by the integration.
#[derive(Resource, Default)]
pub struct RockCache(pub playground::RockIndex);

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
        // The step's systems form one chain, so a multi-threaded executor only adds thread
        // hand-offs; the parallel work happens inside the systems (compute pool).
        app.edit_schedule(FixedUpdate, |s| {
            s.set_executor(SingleThreadedExecutor::new());
        });
        app.init_resource::<BoidParams>()
            .init_resource::<FishGrid>()
            .init_resource::<SchoolControl>()
            .init_resource::<Playground>()
            .init_resource::<RockCache>()
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
                    .run_if(|c: Res<SchoolControl>| c.running && !c.gpu),
            )
            .add_systems(
                FixedUpdate,
                (
                    rebuild_grid.in_set(SchoolSystems::RebuildGrid),
                    steer.in_set(SchoolSystems::Steer),
                    boundaries.in_set(SchoolSystems::Boundary),
                    (integrate, move_sharks).chain().in_set(SchoolSystems::Integrate),
                    sync_transform.in_set(SchoolSystems::SyncTransform),
                ),
            );
    }
}

/// Copies every fish into the sorted snapshot and records its slot.
pub fn rebuild_grid(
    mut grid: ResMut<FishGrid>,
    params: Res<BoidParams>,
    mut fish: Query<(&Position, &Velocity, &mut SnapshotIndex), With<Fish>>,
) {
    let mut next = 0u32;
    let pairs = fish.iter_mut().map(|(p, v, mut slot)| {
        slot.0 = next;
        next += 1;
        (p.0, v.0)
    });
    grid.grid.rebuild_from(pairs, &params);
}

/// Separation, alignment and cohesion from the snapshot, normalised to `max_accel`.
/// Computed in the snapshot's cell order (chunks in parallel on the compute pool), then
/// handed to each fish.
pub fn steer(
    mut state: ResMut<FishGrid>,
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    playground: Res<Playground>,
    mut fish: Query<(&SnapshotIndex, &mut Acceleration), With<Fish>>,
) {
    let FishGrid { grid, accel } = &mut *state;
    let (grid, params) = (&*grid, &*params);
    let sharks = playground.shark_positions();
    let sharks = sharks.as_slice();
    accel.clear();
    accel.resize(grid.len(), Vec2::ZERO);
    let pool = ComputeTaskPool::get_or_init(TaskPool::default);
    let single = control.batch_size == Some(usize::MAX) || pool.thread_num() <= 1 || grid.len() < 256;
    if single {
        grid.steer_slots(0, accel, params, sharks);
    } else {
        let chunk = grid.len().div_ceil(pool.thread_num() * 8).max(64);
        pool.scope(|s| {
            for (k, out) in accel.chunks_mut(chunk).enumerate() {
                s.spawn(async move { grid.steer_slots(k * chunk, out, params, sharks) });
            }
        });
    }
    let accel = &*accel;
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(slot, mut a)| {
            // A fish spawned after this step's rebuild has no slot yet: it waits a step.
            let i = slot.0 as usize;
            a.0 = if i < grid.len() {
                accel[grid.slot_of(i) as usize]
            } else {
                Vec2::ZERO
            };
        });
}

/// Adds the push back into the field (and away from rocks), after the normalisation.
pub fn boundaries(
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    ground: Res<Playground>,
    mut cache: ResMut<RockCache>,
    mut fish: Query<(&Position, &mut Acceleration), With<Fish>>,
) {
    let params = &*params;
    cache.0 = playground::RockIndex::new(&ground.rocks, params);
    let rocks = &cache.0;
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(p, mut a)| {
            a.0 += rules::boundary(p.0, params);
            if !rocks.is_empty() {
                a.0 += rocks.push(p.0, params);
            }
        });
}

/// `v += a`, clamp the speed, `p += v`.
pub fn integrate(
    params: Res<BoidParams>,
    control: Res<SchoolControl>,
    rocks: Res<RockCache>,
    mut fish: Query<(&mut Position, &mut Velocity, &Acceleration), With<Fish>>,
) {
    let (params, rocks) = (&*params, &rocks.0);
    fish.par_iter_mut()
        .batching_strategy(control.strategy())
        .for_each(|(mut p, mut v, a)| {
            (p.0, v.0) = rules::integrate(p.0, v.0, a.0, params);
            if !rocks.is_empty() {
                (p.0, v.0) = rocks.keep_out(p.0, v.0);
            }
        });
}

/// The sharks chase the nearest fish (after the fish moved).
pub fn move_sharks(params: Res<BoidParams>, mut playground: ResMut<Playground>, fish: Query<&Position, With<Fish>>) {
    if playground.sharks.is_empty() {
        return;
    }
    let Playground { sharks, rocks, .. } = &mut *playground;
    playground::step_sharks(sharks, fish.iter().map(|p| p.0), rocks, &params);
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
            if let Some(r) = heading(v.0) {
                t.rotation = r;
            }
        });
}

/// The components of `n` new fish drawn from the school's random source.
pub fn fish_bundles(rng: &mut SchoolRng, params: &BoidParams, n: usize) -> Vec<(Fish, Position, Velocity, Transform)> {
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
pub fn spawn_fish_at(commands: &mut Commands, rng: &mut SchoolRng, params: &BoidParams, p: Vec2) -> Entity {
    let v = spawn_velocity(&mut rng.0, params);
    commands
        .spawn((Fish, Position(p), Velocity(v), transform_for(p, v, params)))
        .id()
}

/// The rotation that turns a fish (drawn facing +x) along field velocity `v`, without
/// trigonometry; `None` for a zero velocity. Field y points down, world y up.
#[inline]
pub fn heading(v: Vec2) -> Option<Quat> {
    let dir = Vec2::new(v.x, -v.y).try_normalize()?;
    Some(Quat::from_rotation_arc_2d(Vec2::X, dir))
}

fn transform_for(p: Vec2, v: Vec2, params: &BoidParams) -> Transform {
    let w = field_to_world(p, params);
    Transform::from_xyz(w.x, w.y, 1.0).with_rotation(heading(v).unwrap_or_default())
}
