//! The fish-school rules, the grid and the sequential school.

use glam::Vec2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shoal_boids::rules::{self, NeighbourSums, brute_force_sums, normalize};
use shoal_boids::{BoidParams, Grid, ParamError, School, SpawnMode};

fn p() -> BoidParams {
    BoidParams::default()
}

fn close(a: Vec2, b: Vec2, tol: f32) -> bool {
    (a - b).length() <= tol
}

/// Acceleration of fish 0 in a scene, by brute force plus the boundary.
fn accel0(pos: &[Vec2], vel: &[Vec2], params: &BoidParams) -> Vec2 {
    rules::steer(vel[0], &brute_force_sums(0, pos, vel, params), params) + rules::boundary(pos[0], params)
}

#[test]
fn no_neighbours_means_no_acceleration() {
    let pos = [Vec2::new(500.0, 250.0), Vec2::new(700.0, 250.0)];
    let vel = [Vec2::new(1.0, 0.0), Vec2::new(-1.0, 0.0)];
    assert_eq!(accel0(&pos, &vel, &p()), Vec2::ZERO);
    // Exactly at the vision distance is not "closer than".
    let pos = [Vec2::new(500.0, 250.0), Vec2::new(600.0, 250.0)];
    assert_eq!(accel0(&pos, &vel, &p()), Vec2::ZERO);
}

#[test]
fn one_neighbour_hand_computed() {
    // Neighbour 50 to the right, velocity (0,1); our velocity (1,0); not too near.
    let pos = [Vec2::new(500.0, 250.0), Vec2::new(550.0, 250.0)];
    let vel = [Vec2::new(1.0, 0.0), Vec2::new(0.0, 1.0)];
    let cohesion = Vec2::new(1.0, 0.0);
    let alignment = 0.7 * Vec2::new(-1.0, 1.0) / 2f32.sqrt();
    let expected = 0.1 * (cohesion + alignment).normalize();
    let a = accel0(&pos, &vel, &p());
    assert!(close(a, expected, 1e-6), "{a} vs {expected}");
    assert!((a.length() - 0.1).abs() < 1e-6);
}

#[test]
fn two_neighbours_use_means() {
    let pos = [
        Vec2::new(500.0, 250.0),
        Vec2::new(530.0, 250.0),
        Vec2::new(500.0, 290.0),
    ];
    let vel = [Vec2::new(0.0, 0.0), Vec2::new(2.0, 0.0), Vec2::new(0.0, 4.0)];
    let mean_pos = Vec2::new(515.0, 270.0);
    let mean_vel = Vec2::new(1.0, 2.0);
    let cohesion = (mean_pos - pos[0]).normalize();
    let alignment = 0.7 * (mean_vel - vel[0]).normalize();
    let expected = 0.1 * (cohesion + alignment).normalize();
    assert!(close(accel0(&pos, &vel, &p()), expected, 1e-6));
}

#[test]
fn too_near_neighbours_push_away() {
    // One neighbour at distance 10 (< avoid 20), same velocity: alignment is zero.
    let pos = [Vec2::new(500.0, 250.0), Vec2::new(510.0, 250.0)];
    let vel = [Vec2::new(1.0, 1.0), Vec2::new(1.0, 1.0)];
    let cohesion = Vec2::new(1.0, 0.0);
    let separation = -5.0 * Vec2::new(1.0, 0.0);
    let expected = 0.1 * (cohesion + separation).normalize();
    let a = accel0(&pos, &vel, &p());
    assert!(close(a, expected, 1e-6), "{a}");
    assert!(a.x < 0.0, "separation must win: {a}");
    // Separation uses the mean of only the too-near fish.
    let pos = [
        Vec2::new(500.0, 250.0),
        Vec2::new(510.0, 250.0),
        Vec2::new(500.0, 330.0),
    ];
    let vel = [Vec2::ZERO; 3];
    let mean_all = Vec2::new(505.0, 290.0) - pos[0];
    let expected = 0.1 * (mean_all.normalize() - 5.0 * Vec2::new(1.0, 0.0)).normalize();
    assert!(close(accel0(&pos, &vel, &p()), expected, 1e-6));
}

#[test]
fn boundary_pushes_after_normalisation() {
    let params = p();
    assert_eq!(rules::boundary(Vec2::new(-1.0, 250.0), &params), Vec2::new(1.0, 0.0));
    assert_eq!(
        rules::boundary(Vec2::new(1001.0, 501.0), &params),
        Vec2::new(-1.0, -1.0)
    );
    assert_eq!(rules::boundary(Vec2::new(10.0, -0.5), &params), Vec2::new(0.0, 1.0));
    assert_eq!(rules::boundary(Vec2::new(0.0, 500.0), &params), Vec2::ZERO);
    // A lone fish outside gets exactly the push (1.0 > max_accel: it is added after normalising).
    let pos = [Vec2::new(-5.0, 250.0)];
    let vel = [Vec2::new(-1.0, 0.0)];
    assert_eq!(accel0(&pos, &vel, &params), Vec2::new(1.0, 0.0));
}

#[test]
fn speed_is_clamped_then_position_moves() {
    let params = p();
    let (pos, vel) = rules::integrate(Vec2::new(10.0, 10.0), Vec2::new(4.0, 3.0), Vec2::new(3.0, 4.0), &params);
    assert!((vel.length() - 5.0).abs() < 1e-5);
    assert!(close(vel, Vec2::new(3.5, 3.5).normalize() * 5.0, 1e-5));
    assert!(close(pos, Vec2::new(10.0, 10.0) + vel, 1e-6));
    // Below the limit nothing is clamped.
    let (pos, vel) = rules::integrate(Vec2::ZERO, Vec2::new(1.0, 0.0), Vec2::new(0.0, 0.1), &params);
    assert_eq!(vel, Vec2::new(1.0, 0.1));
    assert_eq!(pos, vel);
}

#[test]
fn zero_vectors_never_make_nan() {
    assert_eq!(normalize(Vec2::ZERO), Vec2::ZERO);
    // Two fish on the same spot with the same velocity: every term is a zero vector.
    let pos = [Vec2::new(300.0, 300.0), Vec2::new(300.0, 300.0)];
    let vel = [Vec2::new(0.5, 0.5), Vec2::new(0.5, 0.5)];
    let a = accel0(&pos, &vel, &p());
    assert!(a.is_finite());
    assert_eq!(a, Vec2::ZERO);
    let sums = NeighbourSums {
        count: 1,
        ..Default::default()
    };
    assert_eq!(rules::steer(Vec2::ZERO, &sums, &p()), Vec2::ZERO);
    let (q, v) = rules::integrate(Vec2::ZERO, Vec2::ZERO, Vec2::ZERO, &p());
    assert_eq!((q, v), (Vec2::ZERO, Vec2::ZERO));
}

fn random_scene(rng: &mut StdRng, n: usize, params: &BoidParams) -> (Vec<Vec2>, Vec<Vec2>) {
    let mut pos = Vec::new();
    let mut vel = Vec::new();
    for k in 0..n {
        // Some fish outside the field, some exactly on top of others.
        let p = if k % 17 == 3 && k > 0 {
            pos[k - 1]
        } else {
            Vec2::new(
                rng.random_range(-0.2 * params.width..1.2 * params.width),
                rng.random_range(-0.2 * params.height..1.2 * params.height),
            )
        };
        pos.push(p);
        vel.push(Vec2::new(rng.random_range(-5.0..5.0), rng.random_range(-5.0..5.0)));
    }
    (pos, vel)
}

#[test]
fn grid_equals_brute_force_on_random_scenes() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut grid = Grid::new();
    for scene in 0..12 {
        let params = BoidParams {
            width: rng.random_range(100.0..2000.0),
            height: rng.random_range(100.0..1200.0),
            vision: rng.random_range(5.0..300.0),
            ..p()
        };
        let params = BoidParams {
            avoid: params.vision * rng.random_range(0.0..1.0),
            ..params
        };
        let n = rng.random_range(1..600);
        let (pos, vel) = random_scene(&mut rng, n, &params);
        grid.rebuild(&pos, &vel, &params);
        assert_eq!(grid.len(), n);
        for i in 0..n {
            let brute = brute_force_sums(i, &pos, &vel, &params);
            let portable = grid.sums_portable(i, &params);
            assert_eq!(portable.count, brute.count, "scene {scene} fish {i}: portable kernel");
            assert_eq!(
                portable.near_count, brute.near_count,
                "scene {scene} fish {i}: portable kernel"
            );
            let fast = grid.sums(i, &params);
            assert_eq!(fast.count, brute.count, "scene {scene} fish {i}: neighbour count");
            assert_eq!(
                fast.near_count, brute.near_count,
                "scene {scene} fish {i}: too-near count"
            );
            let tol = 1e-3 * (1.0 + brute.count as f32) * params.vision.max(5.0);
            assert!(close(fast.offset, brute.offset, tol), "scene {scene} fish {i}");
            assert!(close(fast.velocity, brute.velocity, tol), "scene {scene} fish {i}");
            assert!(
                close(fast.near_offset, brute.near_offset, tol),
                "scene {scene} fish {i}"
            );
            let expected: Vec<usize> = (0..n)
                .filter(|&j| j != i && (pos[j] - pos[i]).length_squared() < params.vision * params.vision)
                .collect();
            assert_eq!(
                grid.neighbours(i, &params),
                expected,
                "scene {scene} fish {i}: neighbour set"
            );
        }
    }
}

/// `x` moved by `k` representable f32 steps (up for k > 0).
fn ulps(mut x: f32, k: i32) -> f32 {
    for _ in 0..k.unsigned_abs() {
        x = if k > 0 { x.next_up() } else { x.next_down() };
    }
    x
}

#[test]
fn grid_finds_neighbours_across_cell_edges_for_any_vision() {
    // Fish sitting on cell edges (multiples of vision, a few ulps either side) with partners just
    // under `vision` away, over many random float visions: the grid must find exactly the pairs
    // the distance test accepts. First the case a review found: with cells exactly `vision`
    // wide, these two fish (closer than vision) got f32 cell indices 1 and 3.
    let mut rng = StdRng::seed_from_u64(20151207);
    let mut grid = Grid::new();
    let mut scenes = vec![(
        102.893_26_f32,
        2000.0,
        vec![Vec2::new(205.786_5, 50.0), Vec2::new(308.679_75, 50.0)],
    )];
    for _ in 0..400 {
        // Large visions, and small ones (thousands of cells across, large f32 cell indices; the
        // field then is a strip a few cells high, to keep the grid small).
        let (vision, height): (f32, f32) = if rng.random_bool(0.5) {
            (rng.random_range(1.0..300.0), 2000.0)
        } else {
            let v = rng.random_range(0.5..3.0);
            (v, 4.0 * v)
        };
        let mut pos = Vec::new();
        for _ in 0..24 {
            let on_edge = |rng: &mut StdRng, side: f32| {
                let k = rng.random_range(0..=(side / vision) as u32) as f32;
                ulps(k * vision, rng.random_range(-4..=4))
            };
            let (x, y) = (on_edge(&mut rng, 2000.0), on_edge(&mut rng, height));
            pos.push(Vec2::new(x, y));
            // A partner just under (or just over) `vision` away, along an axis.
            let gap = ulps(vision, rng.random_range(-3..=2));
            pos.push(if rng.random_bool(0.5) {
                Vec2::new(x + gap, y)
            } else {
                Vec2::new(x, y + gap)
            });
        }
        scenes.push((vision, height, pos));
    }
    let mut pairs_near_vision = 0;
    for (k, (vision, height, pos)) in scenes.iter().enumerate() {
        let params = BoidParams {
            width: 2000.0,
            height: *height,
            vision: *vision,
            avoid: vision * 0.5,
            ..p()
        };
        let vel = vec![Vec2::ZERO; pos.len()];
        grid.rebuild(pos, &vel, &params);
        for i in 0..pos.len() {
            let expected: Vec<usize> = (0..pos.len())
                .filter(|&j| j != i && (pos[j] - pos[i]).length_squared() < vision * vision)
                .collect();
            pairs_near_vision += expected.len();
            assert_eq!(
                grid.neighbours(i, &params),
                expected,
                "scene {k} (vision {vision}) fish {i}"
            );
            let brute = brute_force_sums(i, pos, &vel, &params);
            assert_eq!(grid.sums(i, &params).count, brute.count, "scene {k} fish {i}: kernel");
            assert_eq!(grid.sums_portable(i, &params).count, brute.count, "scene {k} fish {i}");
        }
    }
    assert!(
        pairs_near_vision > 4000,
        "the scenes hold many edge pairs ({pairs_near_vision})"
    );
    assert_eq!(scenes[0].2.len(), 2);
}

#[test]
fn same_seed_same_trajectories_and_different_seed_differs() {
    let params = p();
    let mut a = School::new(300, 42, &params);
    let mut b = School::new(300, 42, &params);
    let mut c = School::new(300, 43, &params);
    for _ in 0..300 {
        a.step(&params);
        b.step(&params);
        c.step(&params);
    }
    assert_eq!(a.pos, b.pos);
    assert_eq!(a.vel, b.vel);
    assert_ne!(a.pos, c.pos);
}

#[test]
fn spawn_follows_the_seed() {
    let params = p();
    let s = School::new(2000, 3, &params);
    for (q, v) in s.pos.iter().zip(&s.vel) {
        assert!((250.0..=750.0).contains(&q.x) && (125.0..=375.0).contains(&q.y), "{q}");
        assert!((0.0..1.0).contains(&v.x) && (0.0..1.0).contains(&v.y), "{v}");
    }
    let params = BoidParams {
        spawn: SpawnMode::RandomDirection,
        ..p()
    };
    let s = School::new(2000, 3, &params);
    assert!(s.vel.iter().all(|v| (v.length() - 2.5).abs() < 1e-4));
    assert!(s.vel.iter().any(|v| v.x < 0.0) && s.vel.iter().any(|v| v.y < 0.0));
}

#[test]
fn soak_1000_fish_20000_steps_stays_finite_and_in_the_field() {
    let params = p();
    let mut s = School::new(1000, 11, &params);
    let margin = 60.0;
    for step in 0..20_000 {
        s.step(&params);
        if step % 100 == 99 {
            for (q, v) in s.pos.iter().zip(&s.vel) {
                assert!(q.is_finite() && v.is_finite(), "NaN at step {step}");
                assert!(v.length() <= params.max_speed + 1e-4);
                assert!(
                    q.x >= -margin && q.x <= params.width + margin && q.y >= -margin && q.y <= params.height + margin,
                    "fish left the field at step {step}: {q}"
                );
            }
        }
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    let bad = [
        (
            BoidParams {
                vision: f32::NAN,
                ..p()
            },
            "finite",
        ),
        (BoidParams { vision: 0.0, ..p() }, "greater than 0"),
        (BoidParams { width: -3.0, ..p() }, "greater than 0"),
        (BoidParams { cohesion: -1.0, ..p() }, "negative"),
        (BoidParams { avoid: 150.0, ..p() }, "must not exceed vision"),
        (
            BoidParams {
                max_speed: f32::INFINITY,
                ..p()
            },
            "finite",
        ),
        (
            BoidParams {
                width: 1.0e6,
                height: 1.0e6,
                vision: 1.0,
                ..BoidParams { avoid: 0.5, ..p() }
            },
            "grid cells",
        ),
    ];
    for (params, needle) in bad {
        let err = params.validate().expect_err("must be rejected");
        assert!(err.to_string().contains(needle), "{err} should mention {needle}");
    }
    assert_eq!(p().validate(), Ok(()));
    assert!(matches!(
        BoidParams { avoid: 150.0, ..p() }.validate(),
        Err(ParamError::AvoidAboveVision { .. })
    ));
}

#[test]
fn presets_round_trip_and_bad_presets_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preset.toml");
    let params = BoidParams {
        vision: 80.0,
        avoid: 15.0,
        alignment: 1.5,
        spawn: SpawnMode::RandomDirection,
        ..p()
    };
    params.save(&path).unwrap();
    assert_eq!(BoidParams::load(&path).unwrap(), params);
    // No temp files left next to it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Each error names the file and the field at fault, and says nothing twice.
    for (text, needles) in [
        ("vision = -5.0", &["vision must be greater than 0"][..]),
        (
            "vision = 50.0\navoid = 60.0",
            &["avoid (60) must not exceed vision (50)"][..],
        ),
        (
            "width = 900.0\nvision = \"far\"",
            &["line 2", "field `vision`", "invalid type"][..],
        ),
        ("visoin = 3.0", &["line 1", "unknown field `visoin`"][..]),
        ("vision = nan", &["vision must be a finite number"][..]),
        // Beyond f32's range: said once, with the line, and what is accepted.
        (
            "width = 900.0\nvision = 1e39",
            &[
                "line 2",
                "vision must be a finite number (at most about 3.4e38",
                "got inf",
            ][..],
        ),
        // Large numbers in scientific notation, not 31 digits.
        (
            "width = 1e30",
            &["line 1", "width is too large (1e30); at most 1e7"][..],
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let error = BoidParams::load(&path).expect_err(text);
        // As the command line prints it: the whole chain of causes.
        let chain = format!("{:#}", anyhow::Error::from(error.clone()));
        let err = error.to_string();
        assert_eq!(chain, err, "{text}: the cause is said once");
        assert!(!err.contains("00000000"), "{text}: {err}");
        assert!(err.starts_with(&format!("preset {}", path.display())), "{text}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{text}: {err}");
        }
        let parts: Vec<&str> = err.split(": ").collect();
        assert!(parts.windows(2).all(|w| w[0] != w[1]), "{text}: repeats itself: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let missing = dir.path().join("missing.toml");
    let err = BoidParams::load(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.toml"), "{err}");
    // Saving an invalid set writes nothing.
    let target = dir.path().join("never.toml");
    assert!(BoidParams { vision: 0.0, ..p() }.save(&target).is_err());
    assert!(!target.exists());
    // A partial preset keeps the defaults for missing keys.
    assert_eq!(
        BoidParams::from_toml("alignment = 2.0").unwrap(),
        BoidParams { alignment: 2.0, ..p() }
    );
}

#[test]
fn seed_density_field() {
    let (w, h) = BoidParams::field_for_seed_density(30);
    assert!((w - 1000.0).abs() < 0.5 && (h - 500.0).abs() < 0.5);
    let (w, h) = BoidParams::field_for_seed_density(100_000);
    assert!((w * h / 100_000.0 - 1000.0 * 500.0 / 30.0).abs() < 1.0);
}

/// One step of the seed's rules for the whole school, by brute force over all pairs and
/// written out here: it shares no code with the grid, its slot order or `rules`.
fn independent_step(pos: &[Vec2], vel: &[Vec2], p: &BoidParams) -> (Vec<Vec2>, Vec<Vec2>) {
    let unit = |v: Vec2| {
        let len = (v.x * v.x + v.y * v.y).sqrt();
        if len > 0.0 && len.is_finite() {
            v / len
        } else {
            Vec2::ZERO
        }
    };
    let push = |x: f32, size: f32| {
        if x < 0.0 {
            p.boundary_push
        } else if x > size {
            -p.boundary_push
        } else {
            0.0
        }
    };
    let (mut new_pos, mut new_vel) = (Vec::new(), Vec::new());
    for i in 0..pos.len() {
        let (me, v) = (pos[i], vel[i]);
        let (mut n, mut off, mut vsum, mut near, mut near_off) = (0u32, Vec2::ZERO, Vec2::ZERO, 0u32, Vec2::ZERO);
        for j in (0..pos.len()).filter(|&j| j != i) {
            let d = pos[j] - me;
            let d2 = d.x * d.x + d.y * d.y;
            if d2 < p.vision * p.vision {
                (n, off, vsum) = (n + 1, off + d, vsum + vel[j]);
                if d2 < p.avoid * p.avoid {
                    (near, near_off) = (near + 1, near_off + d);
                }
            }
        }
        let mut a = Vec2::ZERO;
        if n > 0 {
            let sep = if near > 0 {
                -p.separation * unit(near_off / near as f32)
            } else {
                Vec2::ZERO
            };
            let steer = p.cohesion * unit(off / n as f32) + p.alignment * unit(vsum / n as f32 - v) + sep;
            a = p.max_accel * unit(steer);
        }
        a += Vec2::new(push(me.x, p.width), push(me.y, p.height));
        let mut v = v + a;
        let speed = (v.x * v.x + v.y * v.y).sqrt();
        if speed > p.max_speed {
            v *= p.max_speed / speed;
        }
        new_pos.push(me + v);
        new_vel.push(v);
    }
    (new_pos, new_vel)
}

/// Whole `School` steps (grid, slot order, steering, boundary, integration) agree with the
/// independent brute-force step, step after step, for a dense school that touches the walls.
#[test]
fn school_steps_match_an_independent_brute_force_step() {
    let params = BoidParams {
        width: 500.0,
        height: 300.0,
        vision: 40.0,
        avoid: 12.0,
        spawn: SpawnMode::RandomDirection,
        ..p()
    };
    let mut school = School::new(600, 21, &params);
    let (mut steered, mut pushed) = (0, 0);
    for step in 0..60 {
        let (want_pos, want_vel) = independent_step(&school.pos, &school.vel, &params);
        let before = school.vel.clone();
        pushed += school
            .pos
            .iter()
            .filter(|q| q.x < 0.0 || q.y < 0.0 || q.x > params.width || q.y > params.height)
            .count();
        school.step(&params);
        for i in 0..school.len() {
            let (dp, dv) = (
                (school.pos[i] - want_pos[i]).length(),
                (school.vel[i] - want_vel[i]).length(),
            );
            assert!(dp < 1e-3 && dv < 1e-3, "step {step}, fish {i}: {dp} {dv}");
        }
        steered += school
            .vel
            .iter()
            .zip(&before)
            .filter(|(a, b)| (**a - **b).length() > 1e-4)
            .count();
        // Go on from the brute force's own state, so each step is compared from one snapshot.
        (school.pos, school.vel) = (want_pos, want_vel);
    }
    assert!(steered > 10_000, "the fish steered ({steered} fish-steps)");
    assert!(pushed > 0, "some fish met a wall");
}
