//! The tank as a playground: sharks the fish flee from, rocks they steer around (and can never
//! enter), as plain functions over slices. With no sharks, no rocks, no current and a 360°
//! field of view a step is exactly the seed's.

use super::params::BoidParams;
use super::rules::normalize;
use glam::Vec2;
use serde::{Deserialize, Serialize};

/// A round rock on the tank's floor (field coordinates).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rock {
    pub x: f32,
    pub y: f32,
    pub radius: f32,
}

impl Rock {
    pub fn center(&self) -> Vec2 {
        Vec2::new(self.x, self.y)
    }
    /// Whether `p` lies strictly inside.
    pub fn contains(&self, p: Vec2) -> bool {
        (p - self.center()).length_squared() < self.radius * self.radius
    }
}

/// A shark: chases the nearest fish at its own speed limits (`shark_speed`, `shark_accel`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shark {
    pub pos: Vec2,
    pub vel: Vec2,
}

/// How far from a rock's edge fish start to steer away from it.
pub fn rock_margin(params: &BoidParams) -> f32 {
    (0.5 * params.vision).max(params.avoid).max(1.0)
}

/// The fourth rule: away from the nearest shark closer than `flee_radius`, weighted by `flee`
/// (zero when none is that close).
#[inline]
pub fn flee(p: Vec2, sharks: &[Vec2], params: &BoidParams) -> Vec2 {
    if sharks.is_empty() || params.flee == 0.0 {
        return Vec2::ZERO;
    }
    let r2 = params.flee_radius * params.flee_radius;
    let nearest = sharks
        .iter()
        .map(|&s| (s, (s - p).length_squared()))
        .filter(|&(_, d2)| d2 < r2)
        .min_by(|a, b| a.1.total_cmp(&b.1));
    match nearest {
        Some((s, _)) => -params.flee * normalize(s - p),
        None => Vec2::ZERO,
    }
}

/// The push away from rocks whose edge is within [`rock_margin`], growing from 0 at the margin
/// to twice the boundary push at the edge (added after the normalisation, like the walls').
#[inline]
pub fn rock_push(p: Vec2, rocks: &[Rock], params: &BoidParams) -> Vec2 {
    rock_push_iter(p, rocks.iter(), params)
}

#[inline]
fn rock_push_iter<'a>(p: Vec2, rocks: impl Iterator<Item = &'a Rock>, params: &BoidParams) -> Vec2 {
    let margin = rock_margin(params);
    let strength = 2.0 * params.boundary_push.max(0.1);
    let mut push = Vec2::ZERO;
    for r in rocks {
        let d = p - r.center();
        let reach = r.radius + margin;
        let d2 = d.length_squared();
        if d2 < reach * reach {
            let dist = d2.sqrt();
            let gap = (dist - r.radius).max(0.0);
            push += strength * (1.0 - gap / margin) * normalize(d);
        }
    }
    push
}

/// A fish (or shark) that ended inside a rock is put back on its edge, with the velocity into
/// the rock removed: nothing is ever inside a rock after a step.
#[inline]
pub fn keep_out(p: Vec2, v: Vec2, rocks: &[Rock]) -> (Vec2, Vec2) {
    keep_out_iter(p, v, rocks.iter())
}

#[inline]
fn keep_out_iter<'a>(mut p: Vec2, mut v: Vec2, rocks: impl Iterator<Item = &'a Rock>) -> (Vec2, Vec2) {
    for r in rocks {
        let c = r.center();
        let d = p - c;
        if d.length_squared() < r.radius * r.radius {
            // Straight out from the centre (or against the motion, at the very centre).
            let n = match normalize(d) {
                n if n != Vec2::ZERO => n,
                _ => match normalize(-v) {
                    n if n != Vec2::ZERO => n,
                    _ => Vec2::X,
                },
            };
            // Just outside the edge (rounding may not land a point on it exactly).
            p = c + n * (r.radius * (1.0 + 1e-5) + 1e-3);
            let into = v.dot(n);
            if into < 0.0 {
                v -= into * n;
            }
        }
    }
    (p, v)
}

/// The rocks near each part of the field: a coarse grid whose cells list the rocks whose reach
/// (edge plus [`rock_margin`]) overlaps them, so a fish checks only the rocks of its own cell.
#[derive(Clone, Debug, Default)]
pub struct RockIndex {
    rocks: Vec<Rock>,
    cell: f32,
    origin: Vec2,
    nx: usize,
    ny: usize,
    cells: Vec<Vec<u32>>,
}

/// A [`RockIndex`]'s fields: cell `(x, y)` (of side `cell`, from `origin`) lists the rocks
/// `cells[y * nx + x]`.
pub struct RockIndexParts<'a> {
    pub rocks: &'a [Rock],
    pub cell: f32,
    pub origin: Vec2,
    pub nx: usize,
    pub ny: usize,
    pub cells: &'a [Vec<u32>],
}

impl RockIndex {
    pub fn new(rocks: &[Rock], params: &BoidParams) -> Self {
        if rocks.is_empty() {
            return Self::default();
        }
        let margin = rock_margin(params);
        let (mut lo, mut hi) = (Vec2::splat(f32::MAX), Vec2::splat(f32::MIN));
        let mut widest = 0.0f32;
        for r in rocks {
            let reach = r.radius + margin;
            lo = lo.min(r.center() - reach);
            hi = hi.max(r.center() + reach);
            widest = widest.max(reach);
        }
        // Cells about twice the widest reach, at most 256 x 256 of them.
        let span = hi - lo;
        let cell = (2.0 * widest).max(span.x / 256.0).max(span.y / 256.0).max(1.0);
        let (nx, ny) = ((span.x / cell).ceil() as usize + 1, (span.y / cell).ceil() as usize + 1);
        let mut cells = vec![Vec::new(); nx * ny];
        for (k, r) in rocks.iter().enumerate() {
            let reach = r.radius + margin;
            let (a, b) = ((r.center() - reach - lo) / cell, (r.center() + reach - lo) / cell);
            for y in (a.y.floor().max(0.0) as usize)..=((b.y.floor() as usize).min(ny - 1)) {
                for x in (a.x.floor().max(0.0) as usize)..=((b.x.floor() as usize).min(nx - 1)) {
                    cells[y * nx + x].push(k as u32);
                }
            }
        }
        Self {
            rocks: rocks.to_vec(),
            cell,
            origin: lo,
            nx,
            ny,
            cells,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rocks.is_empty()
    }

    /// The index as it is stored (the GPU school copies it).
    pub fn parts(&self) -> RockIndexParts<'_> {
        RockIndexParts {
            rocks: &self.rocks,
            cell: self.cell,
            origin: self.origin,
            nx: self.nx,
            ny: self.ny,
            cells: &self.cells,
        }
    }

    /// The rocks whose reach may cover `p`, in the rocks' own order.
    #[inline]
    pub fn near(&self, p: Vec2) -> impl Iterator<Item = &Rock> {
        let c = (p - self.origin) / self.cell;
        let inside =
            !self.rocks.is_empty() && c.x >= 0.0 && c.y >= 0.0 && (c.x as usize) < self.nx && (c.y as usize) < self.ny;
        let list: &[u32] = if inside {
            &self.cells[c.y as usize * self.nx + c.x as usize]
        } else {
            &[]
        };
        list.iter().map(|&k| &self.rocks[k as usize])
    }

    /// [`rock_push`] over the rocks near `p` (the same sum: a rock out of reach adds nothing).
    #[inline]
    pub fn push(&self, p: Vec2, params: &BoidParams) -> Vec2 {
        rock_push_iter(p, self.near(p), params)
    }

    /// [`keep_out`] against the rocks near `p`.
    #[inline]
    pub fn keep_out(&self, p: Vec2, v: Vec2) -> (Vec2, Vec2) {
        keep_out_iter(p, v, self.near(p))
    }
}

/// One step of the sharks: each accelerates towards the nearest fish (of `fish`, the school's
/// positions), is pushed back into the field like a fish, clamped to `shark_speed`, carried
/// by the current, and kept out of rocks.
pub fn step_sharks(sharks: &mut [Shark], fish: impl Iterator<Item = Vec2>, rocks: &[Rock], params: &BoidParams) {
    if sharks.is_empty() {
        return;
    }
    // Each shark's prey, in one pass over the school (the first of equally near fish).
    let mut prey: Vec<(f32, Option<Vec2>)> = vec![(f32::INFINITY, None); sharks.len()];
    for q in fish {
        for (s, best) in sharks.iter().zip(prey.iter_mut()) {
            let d2 = (q - s.pos).length_squared();
            if d2 < best.0 {
                *best = (d2, Some(q));
            }
        }
    }
    for (s, (_, target)) in sharks.iter_mut().zip(prey) {
        let chase = target.map_or(Vec2::ZERO, |q| params.shark_accel * normalize(q - s.pos));
        let mut v = s.vel + chase + super::rules::boundary(s.pos, params) + rock_push(s.pos, rocks, params);
        let speed2 = v.length_squared();
        if speed2 > params.shark_speed * params.shark_speed {
            v *= params.shark_speed / speed2.sqrt();
        }
        let p = s.pos + v + params.current();
        (s.pos, s.vel) = keep_out(p, v, rocks);
    }
}

/// `sharks` sharks (at rest) and `rocks` rocks (radius 2 % of the field's smaller side) at
/// places drawn from `seed`: the benchmarks' playground.
pub fn scatter(sharks: usize, rocks: usize, seed: u64, params: &BoidParams) -> (Vec<Shark>, Vec<Rock>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x0005_eed0_f5ea);
    let (w, h) = (params.width, params.height);
    let radius = 0.02 * w.min(h);
    let rocks = (0..rocks)
        .map(|_| Rock {
            x: w * rng.random::<f32>(),
            y: h * rng.random::<f32>(),
            radius,
        })
        .collect();
    let sharks = (0..sharks)
        .map(|_| Shark {
            pos: Vec2::new(w * rng.random::<f32>(), h * rng.random::<f32>()),
            vel: Vec2::ZERO,
        })
        .collect();
    (sharks, rocks)
}
