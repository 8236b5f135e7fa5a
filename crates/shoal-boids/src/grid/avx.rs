//! The AVX2 neighbour kernel: eight candidates at a time, branch-free (every candidate
//! adds `mask * value`), partial sums in registers, lanes summed in a fixed order at the end.

use super::{BoidParams, NeighbourSums, Vec2};
use std::arch::x86_64::*;

pub struct Acc {
    /// The field of view: heading (unit) and cos of the half-angle, when narrower than 360°
    /// and the fish moves.
    fov: Option<(__m256, __m256, __m256)>,
    px: __m256,
    py: __m256,
    v2: __m256,
    a2: __m256,
    n: __m256,
    ox: __m256,
    oy: __m256,
    vx: __m256,
    vy: __m256,
    nn: __m256,
    nx: __m256,
    ny: __m256,
}

impl Acc {
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn new(p: Vec2, v: Vec2, params: &BoidParams) -> Self {
        let z = _mm256_setzero_ps();
        let heading = v.normalize_or_zero();
        let fov = params
            .fov_cos()
            .filter(|_| heading != Vec2::ZERO)
            .map(|c| (_mm256_set1_ps(heading.x), _mm256_set1_ps(heading.y), _mm256_set1_ps(c)));
        Self {
            fov,
            px: _mm256_set1_ps(p.x),
            py: _mm256_set1_ps(p.y),
            v2: _mm256_set1_ps(params.vision * params.vision),
            a2: _mm256_set1_ps(params.avoid * params.avoid),
            n: z,
            ox: z,
            oy: z,
            vx: z,
            vy: z,
            nn: z,
            nx: z,
            ny: z,
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(&mut self, x: __m256, y: __m256, u: __m256, v: __m256, valid: __m256) {
        let one = _mm256_set1_ps(1.0);
        let dx = _mm256_sub_ps(x, self.px);
        let dy = _mm256_sub_ps(y, self.py);
        let d2 = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
        // Seen: d . heading >= cos(fov / 2) |d| (as `rules::sees`).
        let valid = match self.fov {
            None => valid,
            Some((hx, hy, c)) => {
                let dot = _mm256_add_ps(_mm256_mul_ps(dx, hx), _mm256_mul_ps(dy, hy));
                let reach = _mm256_mul_ps(c, _mm256_sqrt_ps(d2));
                _mm256_and_ps(valid, _mm256_cmp_ps::<_CMP_GE_OQ>(dot, reach))
            }
        };
        let m = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(d2, self.v2), valid), one);
        let mn = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(d2, self.a2), valid), one);
        self.n = _mm256_add_ps(self.n, m);
        self.ox = _mm256_add_ps(self.ox, _mm256_mul_ps(m, dx));
        self.oy = _mm256_add_ps(self.oy, _mm256_mul_ps(m, dy));
        self.vx = _mm256_add_ps(self.vx, _mm256_mul_ps(m, u));
        self.vy = _mm256_add_ps(self.vy, _mm256_mul_ps(m, v));
        self.nn = _mm256_add_ps(self.nn, mn);
        self.nx = _mm256_add_ps(self.nx, _mm256_mul_ps(mn, dx));
        self.ny = _mm256_add_ps(self.ny, _mm256_mul_ps(mn, dy));
    }

    /// Adds `len` candidates starting at the pointers, except the one at index `skip`.
    ///
    /// # Safety
    /// The pointers must be readable for `len` rounded up to a multiple of 8 floats.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn run(
        &mut self,
        xs: *const f32,
        ys: *const f32,
        us: *const f32,
        vs: *const f32,
        len: usize,
        skip: usize,
    ) {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut j = 0;
        while j < len {
            // Lanes past the run's end, and the fish itself, are masked out.
            let mut valid = if j + 8 <= len {
                _mm256_castsi256_ps(_mm256_set1_epi32(-1))
            } else {
                _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((len - j) as i32), lane))
            };
            if skip >= j && skip < j + 8 {
                let me = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_set1_epi32((skip - j) as i32), lane));
                valid = _mm256_andnot_ps(me, valid);
            }
            // SAFETY: in bounds by the caller's contract.
            unsafe {
                self.add(
                    _mm256_loadu_ps(xs.add(j)),
                    _mm256_loadu_ps(ys.add(j)),
                    _mm256_loadu_ps(us.add(j)),
                    _mm256_loadu_ps(vs.add(j)),
                    valid,
                )
            };
            j += 8;
        }
    }

    /// Sums each accumulator's 8 lanes (a fixed hadd tree, so results are reproducible).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn total(&self) -> NeighbourSums {
        let t0 = _mm256_hadd_ps(self.n, self.ox);
        let t1 = _mm256_hadd_ps(self.oy, self.vx);
        let t2 = _mm256_hadd_ps(self.vy, self.nn);
        let t3 = _mm256_hadd_ps(self.nx, self.ny);
        let u0 = _mm256_hadd_ps(t0, t1);
        let u1 = _mm256_hadd_ps(t2, t3);
        let r = _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(u0, u1),
            _mm256_permute2f128_ps::<0x31>(u0, u1),
        );
        let mut a = [0.0f32; 8];
        // SAFETY: `a` holds 8 floats.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), r) };
        NeighbourSums {
            count: a[0] as u32,
            offset: Vec2::new(a[1], a[2]),
            velocity: Vec2::new(a[3], a[4]),
            near_count: a[5] as u32,
            near_offset: Vec2::new(a[6], a[7]),
        }
    }
}
