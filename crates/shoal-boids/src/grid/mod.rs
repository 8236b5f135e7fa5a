//! Uniform spatial grid (cell size = vision) for the neighbour search.
//!
//! Rebuilt every step by a counting sort of the fish by cell; positions and
//! velocities are copied in cell order so a fish's candidates lie in three
//! contiguous runs (one per row of the 3 x 3 block around its cell). Fish
//! outside the field are clamped into the border cells: clamping keeps cells
//! of fish closer than `vision` at most one apart, so no neighbour is missed.
//!
//! Cells are a hair wider than `vision` ([`cell_size`]): a fish's cell index is
//! computed in f32 (`p * (1 / cell)`) and the distance test is f32 too, each a few
//! units in the last place off, so with cells exactly `vision` wide two fish the
//! distance test accepts could land two cells apart and be missed.

use super::params::BoidParams;
use super::rules::NeighbourSums;
use glam::Vec2;

/// A cell's column and row.
type CellXY = (u32, u32);
/// The slot ranges of a 3x3 block of cells, a run of up to three cells per row.
type Runs = [(usize, usize); 3];

/// The snapshot of all fish that one step reads, sorted by grid cell.
///
/// Positions and velocities are stored as separate `f32` arrays in slot (cell) order so
/// the neighbour kernel streams through them with SIMD lanes.
#[derive(Clone, Debug, Default)]
pub struct Grid {
    inv_cell: f32,
    nx: u32,
    ny: u32,
    /// `start[c]..start[c + 1]` are the sorted slots of cell `c`.
    start: Vec<u32>,
    /// Fish index -> sorted slot.
    rank: Vec<u32>,
    /// Positions and velocities in slot order.
    px: Vec<f32>,
    py: Vec<f32>,
    vx: Vec<f32>,
    vy: Vec<f32>,
    /// Scratch: the cell of each fish, the unsorted copies, and the sorted copies as
    /// one 16-byte record per slot (one random write per fish instead of four).
    cell_of: Vec<u32>,
    raw: Vec<(Vec2, Vec2)>,
    packed: Vec<[f32; 4]>,
}

/// The grid's cell side for `params`: `vision` plus a margin for the rounding of the f32
/// cell index and distance test. An index `q = p / cell` is computed with a relative error of
/// about 3 units of 2^-24, i.e. an absolute error growing with `q` (at most the field's span in
/// cells, plus the clamp); the distance test accepts pairs up to ~4 units of 2^-24 beyond
/// `vision`. Widening the cell by `16 * f32::EPSILON * (span + 2)` (several times that sum)
/// keeps any accepted pair at most one cell apart. The margin is tiny: 0.2 % for a field 1,000
/// cells wide.
pub fn cell_size(params: &BoidParams) -> f32 {
    let vision = params.vision.max(f32::MIN_POSITIVE);
    let span = (params.width.abs().max(params.height.abs()) / vision).min(1e6);
    vision * (1.0 + 16.0 * f32::EPSILON * (span + 2.0))
}

impl Grid {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fish in the snapshot.
    pub fn len(&self) -> usize {
        self.rank.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rank.is_empty()
    }

    /// Grid size in cells `(nx, ny)`.
    pub fn dims(&self) -> (u32, u32) {
        (self.nx, self.ny)
    }

    #[inline(always)]
    fn cell_xy(&self, p: Vec2) -> CellXY {
        // `as` saturates (NaN -> 0), so any position maps to a valid cell.
        let cx = ((p.x * self.inv_cell) as i64).clamp(0, self.nx as i64 - 1) as u32;
        let cy = ((p.y * self.inv_cell) as i64).clamp(0, self.ny as i64 - 1) as u32;
        (cx, cy)
    }

    /// Rebuilds the snapshot from parallel slices of positions and velocities.
    pub fn rebuild(&mut self, pos: &[Vec2], vel: &[Vec2], params: &BoidParams) {
        assert_eq!(pos.len(), vel.len(), "positions and velocities differ in length");
        self.rebuild_from(pos.iter().copied().zip(vel.iter().copied()), params);
    }

    /// Rebuilds the snapshot from `(position, velocity)` pairs; fish `i` is the i-th pair.
    pub fn rebuild_from(&mut self, fish: impl Iterator<Item = (Vec2, Vec2)>, params: &BoidParams) {
        let cell = cell_size(params);
        self.inv_cell = 1.0 / cell;
        self.nx = ((params.width / cell).ceil() as u32).max(1);
        self.ny = ((params.height / cell).ceil() as u32).max(1);
        let cells = self.nx as usize * self.ny as usize;

        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        raw.extend(fish);
        let n = raw.len();
        assert!(n < u32::MAX as usize, "too many fish for the grid");

        self.start.clear();
        self.start.resize(cells + 1, 0);
        self.cell_of.clear();
        for &(p, _) in &raw {
            let (cx, cy) = self.cell_xy(p);
            let c = cy * self.nx + cx;
            self.cell_of.push(c);
            self.start[c as usize + 1] += 1;
        }
        for c in 0..cells {
            self.start[c + 1] += self.start[c];
        }
        self.rank.clear();
        self.rank.resize(n, 0);
        self.packed.clear();
        self.packed.resize(n, [0.0; 4]);
        // `start[c]` is used as the fill cursor, then restored by shifting back.
        for (i, &(p, v)) in raw.iter().enumerate() {
            let c = self.cell_of[i] as usize;
            let slot = self.start[c] as usize;
            self.start[c] += 1;
            self.rank[i] = slot as u32;
            self.packed[slot] = [p.x, p.y, v.x, v.y];
        }
        // LANES - 1 padding entries at the end let the kernel read whole chunks; they are
        // masked out by index.
        for v in [&mut self.px, &mut self.py, &mut self.vx, &mut self.vy] {
            v.clear();
            v.reserve(n + LANES - 1);
        }
        for &[x, y, u, w] in &self.packed {
            self.px.push(x);
            self.py.push(y);
            self.vx.push(u);
            self.vy.push(w);
        }
        for v in [&mut self.px, &mut self.py, &mut self.vx, &mut self.vy] {
            v.resize(n + LANES - 1, 0.0);
        }
        for c in (1..=cells).rev() {
            self.start[c] = self.start[c - 1];
        }
        self.start[0] = 0;
        self.raw = raw;
    }

    /// The slot of fish `i` in the sorted snapshot.
    #[inline]
    pub fn slot_of(&self, i: usize) -> u32 {
        self.rank[i]
    }

    /// Position and velocity in slot `s`.
    #[inline(always)]
    pub fn at_slot(&self, s: usize) -> (Vec2, Vec2) {
        (Vec2::new(self.px[s], self.py[s]), Vec2::new(self.vx[s], self.vy[s]))
    }

    /// Position and velocity of fish `i` as stored in the snapshot.
    #[inline]
    pub fn fish(&self, i: usize) -> (Vec2, Vec2) {
        self.at_slot(self.rank[i] as usize)
    }

    /// The (up to) three row runs of slots around `p`: `(first, last_exclusive)`; rows
    /// outside the grid are empty runs.
    #[inline(always)]
    fn runs(&self, p: Vec2) -> Runs {
        let (cx, cy) = self.cell_xy(p);
        let x0 = cx.saturating_sub(1) as usize;
        let x1 = (cx + 1).min(self.nx - 1) as usize;
        let mut out = [(0, 0); 3];
        for (k, dy) in [-1i64, 0, 1].into_iter().enumerate() {
            let y = cy as i64 + dy;
            if y >= 0 && y < self.ny as i64 {
                let row = y as usize * self.nx as usize;
                out[k] = (self.start[row + x0] as usize, self.start[row + x1 + 1] as usize);
            }
        }
        out
    }

    /// Neighbour sums of the fish in slot `me` (it is skipped; other fish at the same spot
    /// count). Uses an AVX2 kernel when the CPU has one.
    #[inline]
    pub fn sums_at_slot(&self, me: usize, params: &BoidParams) -> NeighbourSums {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked above).
                return unsafe { self.sums_avx2(me, params) };
            }
        }
        self.sums_scalar(me, params)
    }

    /// The runs of candidates of slot `me`, split around `me` itself.
    #[inline(always)]
    fn candidate_runs(&self, me: usize, p: Vec2) -> [(usize, usize); 4] {
        let mut out = [(0, 0); 4];
        for (k, (a, b)) in self.runs(p).into_iter().enumerate() {
            if (a..b).contains(&me) {
                out[k] = (a, me);
                out[3] = (me + 1, b);
            } else {
                out[k] = (a, b);
            }
        }
        out
    }

    /// Neighbour sums of fish `i` by the portable scalar kernel (the fallback on CPUs without
    /// AVX2; exposed so tests cover it on every machine).
    pub fn sums_portable(&self, i: usize, params: &BoidParams) -> NeighbourSums {
        self.sums_scalar(self.rank[i] as usize, params)
    }

    fn sums_scalar(&self, me: usize, params: &BoidParams) -> NeighbourSums {
        let (p, v) = self.at_slot(me);
        let (vision2, avoid2) = (params.vision * params.vision, params.avoid * params.avoid);
        let fov = params.fov_cos().map(|c| (super::rules::normalize(v), c));
        let mut sums = NeighbourSums::default();
        for (a, b) in self.candidate_runs(me, p) {
            for s in a..b {
                let (q, u) = self.at_slot(s);
                if fov.is_none_or(|(h, c)| super::rules::sees(p, q, h, c)) {
                    sums.add(p, q, u, vision2, avoid2);
                }
            }
        }
        sums
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sums_avx2(&self, me: usize, params: &BoidParams) -> NeighbourSums {
        let (p, v) = self.at_slot(me);
        // SAFETY: AVX2 is enabled for this function.
        unsafe { self.sums_avx2_runs(me, p, v, &self.runs(p), params) }
    }

    /// The kernel over the given runs; `me` is masked out where a run contains it.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sums_avx2_runs(
        &self,
        me: usize,
        p: Vec2,
        v: Vec2,
        runs: &[(usize, usize); 3],
        params: &BoidParams,
    ) -> NeighbourSums {
        let mut acc = avx::Acc::new(p, v, params);
        for &(a, b) in runs {
            if a < b {
                let skip = if (a..b).contains(&me) { me - a } else { usize::MAX };
                // SAFETY: the arrays hold LANES - 1 padding entries past the last fish, so
                // whole chunks starting below `b` stay in bounds.
                unsafe {
                    acc.run(
                        self.px.as_ptr().add(a),
                        self.py.as_ptr().add(a),
                        self.vx.as_ptr().add(a),
                        self.vy.as_ptr().add(a),
                        b - a,
                        skip,
                    )
                };
            }
        }
        acc.total()
    }

    /// Neighbour sums of fish `i`.
    #[inline]
    pub fn sums(&self, i: usize, params: &BoidParams) -> NeighbourSums {
        self.sums_at_slot(self.rank[i] as usize, params)
    }

    /// Steering accelerations (separation + alignment + cohesion, and fleeing from the nearest
    /// of `sharks` within reach) of the fish in slots `first..first + out.len()`, in slot
    /// order: neighbouring fish are processed together, so their candidate runs stay in cache.
    pub fn steer_slots(&self, first: usize, out: &mut [Vec2], params: &BoidParams, sharks: &[Vec2]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked above).
                unsafe { self.steer_slots_avx2(first, out, params, sharks) };
                return;
            }
        }
        for (k, a) in out.iter_mut().enumerate() {
            let (p, v) = self.at_slot(first + k);
            let flee = super::playground::flee(p, sharks, params);
            *a = super::rules::steer_fleeing(v, &self.sums_scalar(first + k, params), flee, params);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn steer_slots_avx2(&self, first: usize, out: &mut [Vec2], params: &BoidParams, sharks: &[Vec2]) {
        // Consecutive slots mostly share a cell, hence the same runs.
        let mut cached: Option<(CellXY, Runs)> = None;
        for (k, a) in out.iter_mut().enumerate() {
            let s = first + k;
            let (p, v) = self.at_slot(s);
            let cell = self.cell_xy(p);
            let runs = match cached {
                Some((c, r)) if c == cell => r,
                _ => {
                    let r = self.runs(p);
                    cached = Some((cell, r));
                    r
                }
            };
            // SAFETY: AVX2 is enabled for this function.
            let sums = unsafe { self.sums_avx2_runs(s, p, v, &runs, params) };
            let flee = super::playground::flee(p, sharks, params);
            *a = super::rules::steer_fleeing(v, &sums, flee, params);
        }
    }

    /// Indices of the neighbours of fish `i` (closer than `vision`), sorted. For tests and the UI.
    pub fn neighbours(&self, i: usize, params: &BoidParams) -> Vec<usize> {
        let me = self.rank[i] as usize;
        let (p, v) = self.at_slot(me);
        let vision2 = params.vision * params.vision;
        let fov = params.fov_cos().map(|c| (super::rules::normalize(v), c));
        // Slot -> fish index (only built here: the step itself never needs it).
        let mut order = vec![0usize; self.len()];
        for (i, &slot) in self.rank.iter().enumerate() {
            order[slot as usize] = i;
        }
        let mut out = Vec::new();
        for (a, b) in self.runs(p) {
            for (s, &fish) in (a..b).zip(&order[a..b]) {
                let q = self.at_slot(s).0;
                if s != me
                    && (q - p).length_squared() < vision2
                    && fov.is_none_or(|(h, c)| super::rules::sees(p, q, h, c))
                {
                    out.push(fish);
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Padding entries after the last fish, so the kernel can read whole chunks.
const LANES: usize = 8;

#[cfg(target_arch = "x86_64")]
mod avx;
