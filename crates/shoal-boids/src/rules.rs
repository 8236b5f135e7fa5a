//! The seed's steering rules as plain functions.
//!
//! Per step every fish's acceleration comes from one snapshot of all fish:
//! cohesion `normalize(mean(q) - p)`, alignment `normalize(mean(u) - v)`,
//! separation `-normalize(mean(q_near) - p)`, weighted, summed, normalised and
//! scaled to `max_accel`; then the boundary push is added, `v += a`, the speed is
//! clamped and `p += v`. `normalize(0) = 0`, so nothing here yields NaN.

use super::params::BoidParams;
use glam::Vec2;

/// `v / |v|`, or zero for a zero (or non-finite) vector. The seed divided by zero here.
#[inline(always)]
pub fn normalize(v: Vec2) -> Vec2 {
    v.normalize_or_zero()
}

/// What one fish sees: sums over its neighbours, gathered by the grid or by brute force.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NeighbourSums {
    /// Number of neighbours (other fish closer than `vision`).
    pub count: u32,
    /// Sum of `q - p` over neighbours (mean of it = mean position - p).
    pub offset: Vec2,
    /// Sum of neighbour velocities.
    pub velocity: Vec2,
    /// Number of too-near neighbours (closer than `avoid`).
    pub near_count: u32,
    /// Sum of `q - p` over too-near neighbours.
    pub near_offset: Vec2,
}

impl NeighbourSums {
    /// Adds fish `(q, u)` if it is a neighbour of a fish at `p`.
    #[inline]
    pub fn add(&mut self, p: Vec2, q: Vec2, u: Vec2, vision2: f32, avoid2: f32) {
        let d = q - p;
        let d2 = d.length_squared();
        if d2 < vision2 {
            self.count += 1;
            self.offset += d;
            self.velocity += u;
            if d2 < avoid2 {
                self.near_count += 1;
                self.near_offset += d;
            }
        }
    }
}

/// Whether a fish at `p` heading along `heading` (unit, or zero: no heading, sees all around)
/// sees a fish at `q` within a field of view whose half-angle has cosine `cos_half`.
#[inline(always)]
pub fn sees(p: Vec2, q: Vec2, heading: Vec2, cos_half: f32) -> bool {
    let d = q - p;
    heading == Vec2::ZERO || d.dot(heading) >= cos_half * d.length()
}

/// The flocking acceleration (separation + alignment + cohesion), before the boundary push.
#[inline(always)]
pub fn steer(v: Vec2, sums: &NeighbourSums, params: &BoidParams) -> Vec2 {
    steer_fleeing(v, sums, Vec2::ZERO, params)
}

/// The seed's three rules plus a fourth, fleeing (`flee`, already weighted; zero when no shark
/// is near), summed and normalised to `max_accel`. With `flee = 0` this is exactly the seed's
/// steering.
#[inline(always)]
pub fn steer_fleeing(v: Vec2, sums: &NeighbourSums, flee: Vec2, params: &BoidParams) -> Vec2 {
    let flock = if sums.count == 0 {
        Vec2::ZERO
    } else {
        let n = sums.count as f32;
        let cohesion = params.cohesion * normalize(sums.offset / n);
        let alignment = params.alignment * normalize(sums.velocity / n - v);
        let separation = if sums.near_count > 0 {
            -params.separation * normalize(sums.near_offset / sums.near_count as f32)
        } else {
            Vec2::ZERO
        };
        cohesion + alignment + separation
    };
    if flee == Vec2::ZERO {
        // The seed's steering, bit for bit.
        return params.max_accel * normalize(flock);
    }
    params.max_accel * normalize(flock + flee)
}

/// The field boundary: `+push` on an axis where the fish is below 0, `-push` above the size.
#[inline]
pub fn boundary(p: Vec2, params: &BoidParams) -> Vec2 {
    let axis = |x: f32, size: f32| {
        if x < 0.0 {
            params.boundary_push
        } else if x > size {
            -params.boundary_push
        } else {
            0.0
        }
    };
    Vec2::new(axis(p.x, params.width), axis(p.y, params.height))
}

/// `v += a`, clamp the speed to `max_speed`, `p += v` (plus the water's current, when there is
/// one). Returns the new `(p, v)`.
#[inline]
pub fn integrate(p: Vec2, v: Vec2, a: Vec2, params: &BoidParams) -> (Vec2, Vec2) {
    let mut v = v + a;
    let speed2 = v.length_squared();
    if speed2 > params.max_speed * params.max_speed {
        v *= params.max_speed / speed2.sqrt();
    }
    let current = params.current();
    if current == Vec2::ZERO {
        (p + v, v)
    } else {
        (p + v + current, v)
    }
}

/// Neighbour sums for fish `i` by checking every other fish (within its field of view): the
/// reference the grid must match.
pub fn brute_force_sums(i: usize, pos: &[Vec2], vel: &[Vec2], params: &BoidParams) -> NeighbourSums {
    let p = pos[i];
    let (vision2, avoid2) = (params.vision * params.vision, params.avoid * params.avoid);
    let fov = params.fov_cos().map(|c| (normalize(vel[i]), c));
    let mut sums = NeighbourSums::default();
    for (j, (&q, &u)) in pos.iter().zip(vel).enumerate() {
        if j != i && fov.is_none_or(|(h, c)| sees(p, q, h, c)) {
            sums.add(p, q, u, vision2, avoid2);
        }
    }
    sums
}
