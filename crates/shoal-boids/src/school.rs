//! A whole school as plain vectors: spawning and a sequential step.
//!
//! The Bevy plugin runs the same per-fish functions as systems over entities;
//! this type is what tests, the soak and the criterion bench drive directly.

use super::grid::Grid;
use super::params::{BoidParams, SpawnMode};
use super::playground::{self, Rock, Shark};
use super::rules;
use glam::Vec2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A new fish: in the middle half of the field, velocity by `params.spawn`.
pub fn spawn_fish(rng: &mut StdRng, params: &BoidParams) -> (Vec2, Vec2) {
    let p = Vec2::new(
        params.width * (0.25 + 0.5 * rng.random::<f32>()),
        params.height * (0.25 + 0.5 * rng.random::<f32>()),
    );
    (p, spawn_velocity(rng, params))
}

/// The initial velocity of a fish placed by the user.
pub fn spawn_velocity(rng: &mut StdRng, params: &BoidParams) -> Vec2 {
    match params.spawn {
        SpawnMode::Seed => Vec2::new(rng.random::<f32>(), rng.random::<f32>()),
        SpawnMode::RandomDirection => {
            let angle = rng.random::<f32>() * std::f32::consts::TAU;
            Vec2::from_angle(angle) * (0.5 * params.max_speed)
        }
    }
}

/// Positions and velocities of a school, stepped with the grid.
#[derive(Clone, Debug, Default)]
pub struct School {
    pub pos: Vec<Vec2>,
    pub vel: Vec<Vec2>,
    grid: Grid,
    /// Flocking accelerations in the grid's slot order.
    accel: Vec<Vec2>,
    /// Autonomous sharks (they chase the nearest fish) and other shark positions this step
    /// (e.g. the pointer), which the fish flee from.
    pub sharks: Vec<Shark>,
    pub extra_sharks: Vec<Vec2>,
    /// Rocks the fish steer around and never enter.
    pub rocks: Vec<Rock>,
    /// All shark positions at the start of a step.
    shark_pos: Vec<Vec2>,
}

impl School {
    /// `n` fish spawned from `seed`.
    pub fn new(n: usize, seed: u64, params: &BoidParams) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (pos, vel) = (0..n).map(|_| spawn_fish(&mut rng, params)).unzip();
        Self {
            pos,
            vel,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.pos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }

    /// The grid as built by the last step (or by [`School::rebuild_grid`]).
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    pub fn rebuild_grid(&mut self, params: &BoidParams) {
        self.grid.rebuild(&self.pos, &self.vel, params);
    }

    /// Adds `n` sharks at random places in the field, at rest.
    pub fn add_sharks(&mut self, n: usize, seed: u64, params: &BoidParams) {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..n {
            let pos = Vec2::new(params.width * rng.random::<f32>(), params.height * rng.random::<f32>());
            let (pos, _) = playground::keep_out(pos, Vec2::ZERO, &self.rocks);
            self.sharks.push(Shark { pos, vel: Vec2::ZERO });
        }
    }

    /// One step: snapshot -> steering of all fish (flocking and fleeing, in cell order) ->
    /// plus the pushes off the walls and rocks -> move all fish (kept out of rocks) -> move the
    /// sharks.
    pub fn step(&mut self, params: &BoidParams) {
        self.rebuild_grid(params);
        self.accel.clear();
        self.accel.resize(self.pos.len(), Vec2::ZERO);
        self.shark_pos.clear();
        self.shark_pos.extend(self.sharks.iter().map(|s| s.pos));
        self.shark_pos.extend_from_slice(&self.extra_sharks);
        self.grid.steer_slots(0, &mut self.accel, params, &self.shark_pos);
        let rocks = playground::RockIndex::new(&self.rocks, params);
        for (i, (p, v)) in self.pos.iter_mut().zip(&mut self.vel).enumerate() {
            let mut a = self.accel[self.grid.slot_of(i) as usize] + rules::boundary(*p, params);
            if !rocks.is_empty() {
                a += rocks.push(*p, params);
            }
            (*p, *v) = rules::integrate(*p, *v, a, params);
            if !rocks.is_empty() {
                (*p, *v) = rocks.keep_out(*p, *v);
            }
        }
        playground::step_sharks(&mut self.sharks, self.pos.iter().copied(), &self.rocks, params);
    }
}

/// What a school looks like as a whole (to compare two runs of it).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SchoolStats {
    /// Mean of the fish's speeds.
    pub mean_speed: f64,
    /// Length of the mean heading over the whole tank (1: all swim the same way, 0: no common
    /// direction). With many separate groups it is small and noisy.
    pub polarization: f64,
    /// Mean cosine between a fish's heading and its neighbours' mean velocity (fish with
    /// neighbours only): how well each group is aligned, whatever the groups' directions.
    pub alignment: f64,
    /// Mean number of neighbours (other fish within `vision`, in the field of view).
    pub mean_neighbours: f64,
}

impl SchoolStats {
    pub fn of(pos: &[Vec2], vel: &[Vec2], params: &BoidParams) -> Self {
        let n = pos.len().max(1) as f64;
        let mean_speed = vel.iter().map(|v| v.length() as f64).sum::<f64>() / n;
        let (hx, hy) = vel
            .iter()
            .map(|v| rules::normalize(*v))
            .fold((0.0, 0.0), |(x, y), h| (x + h.x as f64, y + h.y as f64));
        let mut grid = Grid::new();
        grid.rebuild(pos, vel, params);
        let (mut neighbours, mut cos, mut with) = (0u64, 0.0f64, 0u64);
        for (i, v) in vel.iter().enumerate() {
            let sums = grid.sums(i, params);
            neighbours += sums.count as u64;
            if sums.count > 0 {
                cos += rules::normalize(*v).dot(rules::normalize(sums.velocity)) as f64;
                with += 1;
            }
        }
        Self {
            mean_speed,
            polarization: (hx * hx + hy * hy).sqrt() / n,
            alignment: cos / with.max(1) as f64,
            mean_neighbours: neighbours as f64 / n,
        }
    }
}
