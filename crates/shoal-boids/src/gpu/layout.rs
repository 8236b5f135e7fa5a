//! What the GPU school's shaders read, laid out as u32 words: the step's parameters, the
//! prefix sum's levels and the rocks with their index.

use crate::grid::cell_size;
use crate::params::BoidParams;
use crate::playground::{RockIndex, rock_margin};

/// Threads per workgroup of the 1-D passes (as `WG` in school.wgsl).
pub const WG: u32 = 256;
/// Fish per prey-search workgroup (each thread looks at 16).
pub const PREY_CHUNK: u32 = WG * 16;

/// The grid's size for `params`, as [`crate::Grid`] computes it.
pub fn grid_dims(params: &BoidParams) -> (u32, u32, f32) {
    let cell = cell_size(params);
    let nx = ((params.width / cell).ceil() as u32).max(1);
    let ny = ((params.height / cell).ceil() as u32).max(1);
    (nx, ny, 1.0 / cell)
}

/// Workgroups for `n` items.
pub fn groups(n: u32) -> u32 {
    n.div_ceil(WG)
}

/// The exclusive prefix sum over `cells + 1` counts, as levels in one buffer: level k holds
/// `lens[k]` words at `offs[k]`; each block of 256 writes its total into level k + 1.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanLevels {
    pub lens: Vec<u32>,
    pub offs: Vec<u32>,
}

impl ScanLevels {
    pub fn new(cells: u32) -> Self {
        let mut lens = vec![cells + 1];
        while *lens.last().expect("one level") > 1 {
            lens.push(groups(*lens.last().expect("one level")));
        }
        let mut offs = Vec::with_capacity(lens.len());
        let mut at = 0;
        for &l in &lens {
            offs.push(at);
            at += l;
        }
        Self { lens, offs }
    }

    /// Words in all levels.
    pub fn words(&self) -> u32 {
        self.lens.iter().sum()
    }

    /// Levels scanned upwards (all but the last, a single total).
    pub fn up(&self) -> std::ops::Range<usize> {
        0..self.lens.len() - 1
    }

    /// Levels that get their blocks' offsets added on the way down (top-most first).
    pub fn down(&self) -> impl Iterator<Item = usize> {
        (0..self.lens.len().saturating_sub(2)).rev()
    }

    /// The uniform of level `k`: (len, off, next, groups), padded to 256 bytes (the uniform
    /// offset alignment).
    pub fn uniform(&self, k: usize) -> [u32; 64] {
        let mut w = [0u32; 64];
        w[0] = self.lens[k];
        w[1] = self.offs[k];
        w[2] = self.offs[k + 1];
        w[3] = groups(self.lens[k]);
        w
    }
}

/// The step's parameters (`Params` in school.wgsl).
pub fn params_words(params: &BoidParams, n: u32, sharks: u32, extra: u32, rocks: u32) -> [u32; 32] {
    let (nx, ny, inv_cell) = grid_dims(params);
    let f = |x: f32| x.to_bits();
    let fov = params.fov_cos();
    [
        n,
        nx * ny,
        nx,
        ny,
        f(inv_cell),
        f(params.vision * params.vision),
        f(params.avoid * params.avoid),
        f(fov.unwrap_or(-1.0)),
        fov.is_some() as u32,
        sharks,
        extra,
        rocks,
        f(params.width),
        f(params.height),
        f(params.cohesion),
        f(params.alignment),
        f(params.separation),
        f(params.max_accel),
        f(params.max_speed),
        f(params.boundary_push),
        f(params.flee),
        f(params.flee_radius * params.flee_radius),
        f(params.current_x),
        f(params.current_y),
        f(params.shark_speed),
        f(params.shark_accel),
        f(rock_margin(params)),
        f(2.0 * params.boundary_push.max(0.1)),
        n.div_ceil(PREY_CHUNK),
        PREY_CHUNK,
        0,
        0,
    ]
}

/// Rocks and their coarse index: `[count, nx, ny, cell, origin.x, origin.y, 0, 0]`, then
/// `x, y, radius` per rock, the cells' list starts (`nx * ny + 1`) and the lists.
pub fn rock_words(index: &RockIndex) -> Vec<u32> {
    let parts = index.parts();
    let mut w = vec![0u32; 8];
    if parts.rocks.is_empty() {
        return w;
    }
    w[0] = parts.rocks.len() as u32;
    w[1] = parts.nx as u32;
    w[2] = parts.ny as u32;
    w[3] = parts.cell.to_bits();
    w[4] = parts.origin.x.to_bits();
    w[5] = parts.origin.y.to_bits();
    for r in parts.rocks {
        w.extend([r.x.to_bits(), r.y.to_bits(), r.radius.to_bits()]);
    }
    let lists_at = w.len() + parts.cells.len() + 1;
    let mut at = 0u32;
    for cell in parts.cells {
        w.push(lists_at as u32 + at);
        at += cell.len() as u32;
    }
    w.push(lists_at as u32 + at);
    for cell in parts.cells {
        w.extend(cell.iter().copied());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_levels_cover_every_cell_and_end_in_one_total() {
        for cells in [1u32, 255, 256, 5000, 65_535, 65_536, 70_000_000] {
            let s = ScanLevels::new(cells);
            assert_eq!(s.lens[0], cells + 1);
            assert_eq!(*s.lens.last().unwrap(), 1);
            for k in 1..s.lens.len() {
                assert_eq!(s.lens[k], s.lens[k - 1].div_ceil(WG));
                assert_eq!(s.offs[k], s.offs[k - 1] + s.lens[k - 1]);
            }
            assert_eq!(s.up().len(), s.lens.len() - 1);
        }
    }
}
