//! Uniform spatial grid (cell size = vision) for the neighbour search.
//!
//! Rebuilt every step by a counting sort of the fish by cell; positions and
//! velocities are copied in cell order so a fish's candidates lie in three
//! contiguous runs (one per row of the 3 x 3 block around its cell). Fish
//! outside the field are clamped into the border cells: clamping keeps cells
//! of fish closer than `vision` at most one apart, so no neighbour is missed.

use super::params::BoidParams;
use super::rules::NeighbourSums;
use glam::Vec2;

/// The snapshot of all fish that one step reads, sorted by grid cell.
#[derive(Clone, Debug, Default)]
pub struct Grid {
    inv_cell: f32,
    nx: u32,
    ny: u32,
    /// `start[c]..start[c + 1]` are the sorted slots of cell `c`.
    start: Vec<u32>,
    /// Sorted slot -> fish index.
    order: Vec<u32>,
    /// Fish index -> sorted slot.
    rank: Vec<u32>,
    /// Positions in slot order.
    pos: Vec<Vec2>,
    /// Velocities in slot order.
    vel: Vec<Vec2>,
    /// Scratch: the cell of each fish.
    cell_of: Vec<u32>,
}

impl Grid {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fish in the snapshot.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Grid size in cells `(nx, ny)`.
    pub fn dims(&self) -> (u32, u32) {
        (self.nx, self.ny)
    }

    #[inline]
    fn cell_xy(&self, p: Vec2) -> (u32, u32) {
        // `as` saturates (NaN -> 0), so any position maps to a valid cell.
        let cx = ((p.x * self.inv_cell) as i64).clamp(0, self.nx as i64 - 1) as u32;
        let cy = ((p.y * self.inv_cell) as i64).clamp(0, self.ny as i64 - 1) as u32;
        (cx, cy)
    }

    /// Rebuilds the snapshot from parallel slices of positions and velocities.
    pub fn rebuild(&mut self, pos: &[Vec2], vel: &[Vec2], params: &BoidParams) {
        assert_eq!(
            pos.len(),
            vel.len(),
            "positions and velocities differ in length"
        );
        self.rebuild_from(pos.iter().copied().zip(vel.iter().copied()), params);
    }

    /// Rebuilds the snapshot from `(position, velocity)` pairs; fish `i` is the i-th pair.
    pub fn rebuild_from(&mut self, fish: impl Iterator<Item = (Vec2, Vec2)>, params: &BoidParams) {
        let cell = params.vision.max(f32::MIN_POSITIVE);
        self.inv_cell = 1.0 / cell;
        self.nx = ((params.width / cell).ceil() as u32).max(1);
        self.ny = ((params.height / cell).ceil() as u32).max(1);
        let cells = self.nx as usize * self.ny as usize;

        // Unsorted copies first (reuse the sorted buffers' twins as scratch).
        self.cell_of.clear();
        let mut raw_pos = std::mem::take(&mut self.pos);
        let mut raw_vel = std::mem::take(&mut self.vel);
        raw_pos.clear();
        raw_vel.clear();
        for (p, v) in fish {
            raw_pos.push(p);
            raw_vel.push(v);
        }
        let n = raw_pos.len();
        assert!(n < u32::MAX as usize, "too many fish for the grid");

        self.start.clear();
        self.start.resize(cells + 1, 0);
        for &p in &raw_pos {
            let (cx, cy) = self.cell_xy(p);
            let c = cy * self.nx + cx;
            self.cell_of.push(c);
            self.start[c as usize + 1] += 1;
        }
        for c in 0..cells {
            self.start[c + 1] += self.start[c];
        }
        self.order.clear();
        self.order.resize(n, 0);
        self.rank.clear();
        self.rank.resize(n, 0);
        let mut sorted_pos = vec![Vec2::ZERO; n];
        let mut sorted_vel = vec![Vec2::ZERO; n];
        // `start[c]` is used as the fill cursor, then restored by shifting back.
        for i in 0..n {
            let c = self.cell_of[i] as usize;
            let slot = self.start[c] as usize;
            self.start[c] += 1;
            self.order[slot] = i as u32;
            self.rank[i] = slot as u32;
            sorted_pos[slot] = raw_pos[i];
            sorted_vel[slot] = raw_vel[i];
        }
        for c in (1..=cells).rev() {
            self.start[c] = self.start[c - 1];
        }
        self.start[0] = 0;
        self.pos = sorted_pos;
        self.vel = sorted_vel;
    }

    /// The slot of fish `i` in the sorted snapshot.
    #[inline]
    pub fn slot_of(&self, i: usize) -> u32 {
        self.rank[i]
    }

    /// Position and velocity of fish `i` as stored in the snapshot.
    #[inline]
    pub fn fish(&self, i: usize) -> (Vec2, Vec2) {
        let s = self.rank[i] as usize;
        (self.pos[s], self.vel[s])
    }

    /// Calls `f(first_slot, last_slot_exclusive)` for the three row runs around `p`.
    #[inline]
    fn for_runs(&self, p: Vec2, mut f: impl FnMut(usize, usize)) {
        let (cx, cy) = self.cell_xy(p);
        let x0 = cx.saturating_sub(1);
        let x1 = (cx + 1).min(self.nx - 1);
        let y0 = cy.saturating_sub(1);
        let y1 = (cy + 1).min(self.ny - 1);
        for y in y0..=y1 {
            let row = (y * self.nx) as usize;
            f(
                self.start[row + x0 as usize] as usize,
                self.start[row + x1 as usize + 1] as usize,
            );
        }
    }

    /// Neighbour sums of fish `i` (it is skipped; other fish at the same spot count).
    #[inline]
    pub fn sums(&self, i: usize, params: &BoidParams) -> NeighbourSums {
        let me = self.rank[i] as usize;
        let p = self.pos[me];
        let (vision2, avoid2) = (params.vision * params.vision, params.avoid * params.avoid);
        let mut sums = NeighbourSums::default();
        self.for_runs(p, |a, b| {
            if (a..b).contains(&me) {
                accumulate(
                    &mut sums,
                    p,
                    &self.pos[a..me],
                    &self.vel[a..me],
                    vision2,
                    avoid2,
                );
                accumulate(
                    &mut sums,
                    p,
                    &self.pos[me + 1..b],
                    &self.vel[me + 1..b],
                    vision2,
                    avoid2,
                );
            } else {
                accumulate(
                    &mut sums,
                    p,
                    &self.pos[a..b],
                    &self.vel[a..b],
                    vision2,
                    avoid2,
                );
            }
        });
        sums
    }

    /// Indices of the neighbours of fish `i` (closer than `vision`), sorted. For tests and the UI.
    pub fn neighbours(&self, i: usize, params: &BoidParams) -> Vec<usize> {
        let me = self.rank[i] as usize;
        let p = self.pos[me];
        let vision2 = params.vision * params.vision;
        let mut out = Vec::new();
        self.for_runs(p, |a, b| {
            for s in a..b {
                if s != me && (self.pos[s] - p).length_squared() < vision2 {
                    out.push(self.order[s] as usize);
                }
            }
        });
        out.sort_unstable();
        out
    }

    /// Fish whose position is within `radius` of `p` (for picking with the mouse), nearest first.
    pub fn nearest(&self, p: Vec2, radius: f32) -> Option<usize> {
        let mut best: Option<(f32, usize)> = None;
        let r2 = radius * radius;
        // A pick radius above the cell size would need a wider scan; search all then.
        let mut check = |s: usize| {
            let d2 = (self.pos[s] - p).length_squared();
            if d2 <= r2 && best.is_none_or(|(b, _)| d2 < b) {
                best = Some((d2, self.order[s] as usize));
            }
        };
        if radius * self.inv_cell <= 1.0 {
            self.for_runs(p, |a, b| (a..b).for_each(&mut check));
        } else {
            (0..self.pos.len()).for_each(check);
        }
        best.map(|(_, i)| i)
    }
}

/// Adds every candidate in the run that lies within `vision` (and `avoid`) of `p`.
#[inline]
fn accumulate(
    sums: &mut NeighbourSums,
    p: Vec2,
    pos: &[Vec2],
    vel: &[Vec2],
    vision2: f32,
    avoid2: f32,
) {
    for (&q, &u) in pos.iter().zip(vel) {
        sums.add(p, q, u, vision2, avoid2);
    }
}
