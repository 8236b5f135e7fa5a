//! The playground in the engine-free core: sharks the fish flee, rocks they never enter, a
//! current, a field of view (the seed's rules stay exact without them: see
//! `boids_math::school_steps_match_an_independent_brute_force_step`).

use glam::Vec2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shoal_boids::playground::{self, Rock, Shark};
use shoal_boids::{BoidParams, Grid, School, SpawnMode};

#[test]
fn a_fleeing_fish_gets_away_from_its_shark() {
    let params = BoidParams::default();
    // One fish swimming slowly straight at a shark that holds still (the pointer as a shark).
    let mut school = School::new(1, 1, &params);
    school.pos[0] = Vec2::new(440.0, 250.0);
    school.vel[0] = Vec2::new(0.5, 0.0);
    let shark = Vec2::new(480.0, 252.0);
    school.extra_sharks.push(shark);
    let d0 = school.pos[0].distance(shark);
    let mut d = Vec::new();
    for _ in 0..80 {
        school.step(&params);
        d.push(school.pos[0].distance(shark));
    }
    assert!(d[79] > d0 + 30.0, "got away: {d0} -> {}", d[79]);
    // Once turned, the distance only grows while the shark is within reach.
    let turn = d.windows(2).position(|w| w[1] > w[0]).unwrap();
    for w in d[turn..].windows(2).filter(|w| w[0] < params.flee_radius) {
        assert!(w[1] >= w[0] - 1e-3, "{w:?}");
    }
    // Without flee weight the fish swims on into the shark.
    let mut calm = School::new(1, 1, &params);
    calm.pos[0] = Vec2::new(440.0, 250.0);
    calm.vel[0] = Vec2::new(0.5, 0.0);
    calm.extra_sharks.push(shark);
    let no_flee = BoidParams { flee: 0.0, ..params };
    for _ in 0..20 {
        calm.step(&no_flee);
    }
    assert!(
        calm.pos[0].distance(shark) < d0 - 5.0,
        "{}",
        calm.pos[0].distance(shark)
    );
}

#[test]
fn sharks_chase_the_nearest_fish() {
    let params = BoidParams {
        spawn: SpawnMode::RandomDirection,
        ..BoidParams::default()
    };
    let mut school = School::new(50, 3, &params);
    school.sharks.push(Shark {
        pos: Vec2::new(50.0, 50.0),
        vel: Vec2::ZERO,
    });
    let nearest = |s: &School| {
        s.pos
            .iter()
            .map(|p| p.distance(s.sharks[0].pos))
            .fold(f32::MAX, f32::min)
    };
    let before = nearest(&school);
    for _ in 0..100 {
        school.step(&params);
    }
    assert!(nearest(&school) < before, "{before} -> {}", nearest(&school));
    assert!(school.sharks[0].vel.length() <= params.shark_speed + 1e-4);
}

#[test]
fn after_ten_thousand_steps_with_fifty_rocks_no_fish_is_inside_one() {
    let params = BoidParams {
        spawn: SpawnMode::RandomDirection,
        ..BoidParams::default()
    };
    let mut rng = StdRng::seed_from_u64(7);
    let mut school = School::new(300, 5, &params);
    school.rocks = (0..50)
        .map(|_| Rock {
            x: params.width * rng.random::<f32>(),
            y: params.height * rng.random::<f32>(),
            radius: 8.0 + 25.0 * rng.random::<f32>(),
        })
        .collect();
    school.add_sharks(2, 9, &params);
    let mut near = 0usize;
    for step in 0..10_000 {
        school.step(&params);
        for (i, &p) in school.pos.iter().enumerate() {
            for r in &school.rocks {
                assert!(!r.contains(p), "step {step}: fish {i} at {p} inside {r:?}");
                if (p - r.center()).length() < r.radius + 5.0 {
                    near += 1;
                }
            }
            assert!(p.is_finite() && school.vel[i].is_finite());
        }
        for s in &school.sharks {
            assert!(
                school.rocks.iter().all(|r| !r.contains(s.pos)),
                "step {step}: a shark inside a rock"
            );
        }
    }
    assert!(near > 0, "the fish met the rocks");
}

#[test]
fn keep_out_puts_a_point_on_the_edge_and_removes_the_inward_motion() {
    let rock = Rock {
        x: 0.0,
        y: 0.0,
        radius: 10.0,
    };
    let (p, v) = playground::keep_out(Vec2::new(3.0, 4.0), Vec2::new(-1.0, 0.5), &[rock]);
    assert!(!rock.contains(p) && (p.length() - 10.0).abs() < 0.01, "{p}");
    assert!(v.dot(p.normalize()) >= -1e-6, "{v}");
    // At the very centre: out against the motion.
    let (p, _) = playground::keep_out(Vec2::ZERO, Vec2::new(1.0, 0.0), &[rock]);
    assert!(p.x < -9.99, "{p}");
}

#[test]
fn the_current_carries_every_fish() {
    let calm = BoidParams::default();
    let flow = BoidParams {
        current_x: 1.5,
        current_y: -0.5,
        ..calm
    };
    let mut a = School::new(200, 4, &calm);
    let mut b = a.clone();
    a.step(&calm);
    b.step(&flow);
    // The first step's steering is the same (one snapshot); only the motion differs.
    for i in 0..a.len() {
        assert!((b.pos[i] - a.pos[i] - Vec2::new(1.5, -0.5)).length() < 1e-4);
        assert_eq!(a.vel[i], b.vel[i]);
    }
    assert!(BoidParams { current_x: 9.0, ..calm }.validate().is_err());
}

/// The field of view against a brute force that measures the angle itself (in f64): the grid
/// counts exactly the neighbours within half the angle of the heading.
#[test]
fn the_field_of_view_excludes_exactly_the_neighbours_behind() {
    for fov in [90.0f32, 200.0, 300.0] {
        let params = BoidParams {
            fov,
            spawn: SpawnMode::RandomDirection,
            ..BoidParams::default()
        };
        let school = School::new(1500, 13, &params);
        let mut grid = Grid::new();
        grid.rebuild(&school.pos, &school.vel, &params);
        let half = 0.5 * (fov as f64).to_radians();
        let (mut seen, mut behind) = (0, 0);
        for i in 0..school.len() {
            let (p, v) = (school.pos[i], school.vel[i]);
            let mut want = 0u32;
            let mut borderline = false;
            for (j, &q) in school.pos.iter().enumerate() {
                let d = q - p;
                if j == i || d.length_squared() >= params.vision * params.vision {
                    continue;
                }
                let (dx, dy) = (d.x as f64, d.y as f64);
                let angle = (dx * v.x as f64 + dy * v.y as f64) / ((dx * dx + dy * dy).sqrt() * (v.length() as f64));
                let angle = angle.clamp(-1.0, 1.0).acos();
                borderline |= (angle - half).abs() < 1e-4;
                if angle <= half {
                    want += 1;
                    seen += 1;
                } else {
                    behind += 1;
                }
            }
            if borderline {
                continue;
            }
            assert_eq!(grid.sums(i, &params).count, want, "fov {fov}, fish {i}");
            assert_eq!(
                grid.sums_portable(i, &params).count,
                want,
                "fov {fov}, fish {i} (portable)"
            );
            let brute = shoal_boids::rules::brute_force_sums(i, &school.pos, &school.vel, &params);
            assert_eq!(brute.count, want, "fov {fov}, fish {i} (brute force)");
        }
        assert!(seen > 1000 && behind > 1000, "fov {fov}: {seen} seen, {behind} behind");
    }
}

#[test]
fn presets_keep_the_rocks_and_refuse_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let params = BoidParams {
        fov: 270.0,
        flee: 6.0,
        current_x: 0.5,
        ..BoidParams::default()
    };
    let rocks = vec![
        Rock {
            x: 100.0,
            y: 50.5,
            radius: 12.25,
        },
        Rock {
            x: 700.0,
            y: 300.0,
            radius: 40.0,
        },
    ];
    params.save_with_rocks(&rocks, &path).unwrap();
    let (p, r) = BoidParams::load_with_rocks(&path).unwrap();
    assert_eq!((p, r), (params, rocks));
    // A preset without rocks loads with none; old presets (no playground keys) take defaults.
    std::fs::write(&path, "vision = 80.0\n").unwrap();
    let (p, r) = BoidParams::load_with_rocks(&path).unwrap();
    assert_eq!((p.vision, p.fov, r.len()), (80.0, 360.0, 0));
    std::fs::write(&path, "vision = 80.0\n[[rocks]]\nx = 1.0\ny = 2.0\nradius = -3.0\n").unwrap();
    let e = BoidParams::load_with_rocks(&path).unwrap_err().to_string();
    assert!(
        e.contains("field `rocks[0]`") && e.contains("got x = 1, y = 2, radius = -3"),
        "{e}"
    );
    assert!(!e.contains("Rock {"), "no Rust debug form: {e}");
    std::fs::write(&path, "fov = 400.0\n").unwrap();
    let e = BoidParams::load_with_rocks(&path).unwrap_err().to_string();
    assert!(e.contains("fov"), "{e}");
}
