//! The GPU school (`--school gpu`) against the CPU school, the reference. On a machine without
//! a GPU these run on Mesa's lavapipe (Vulkan on the CPU).

use shoal::boids::gpu::{GpuContext, GpuSchool, max_deviation};
use shoal::boids::school::SchoolStats;
use shoal::boids::{BoidParams, Rock, School};
use std::sync::OnceLock;

fn ctx() -> GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| match GpuContext::standalone() {
        Ok(c) => {
            eprintln!("GPU school tests on {}", c.info.name);
            c
        }
        Err(e) => panic!("the GPU school tests need a Vulkan driver (mesa-vulkan-drivers gives lavapipe): {e:#}"),
    })
    .clone()
}

/// A school at the seed's density with everything the playground adds: a narrow field of view,
/// a current, sharks, a pointer shark and rocks; stepped a while on the CPU so it has formed
/// groups (dense cells, fish near rocks and sharks).
fn busy_school(fish: usize, seed: u64) -> (School, BoidParams) {
    let (width, height) = BoidParams::field_for_seed_density(fish);
    let params = BoidParams {
        width,
        height,
        fov: 240.0,
        current_x: 0.3,
        current_y: -0.1,
        flee_radius: 150.0,
        ..BoidParams::default()
    };
    let mut school = School::new(fish, seed, &params);
    school.rocks = (0..12)
        .map(|k| Rock {
            x: width * (0.1 + 0.07 * k as f32),
            y: height * (0.2 + 0.05 * (k % 5) as f32),
            radius: 25.0 + 3.0 * k as f32,
        })
        .collect();
    school.add_sharks(3, seed + 1, &params);
    school.extra_sharks = vec![glam::Vec2::new(0.5 * width, 0.5 * height)];
    for _ in 0..60 {
        school.step(&params);
    }
    (school, params)
}

#[test]
fn one_gpu_step_equals_the_cpu_step_per_fish() {
    let (mut cpu, params) = busy_school(4000, 7);
    let mut gpu = GpuSchool::from_school(&ctx(), &cpu, &params).expect("GPU school");
    let (p0, v0, _) = gpu.read().expect("read");
    assert_eq!(
        (p0.as_slice(), v0.as_slice()),
        (cpu.pos.as_slice(), cpu.vel.as_slice()),
        "upload is exact"
    );
    for step in 0..3 {
        cpu.step(&params);
        gpu.step(&params).expect("step");
        let (pos, vel, sharks) = gpu.read().expect("read");
        let dev = max_deviation((&cpu.pos, &cpu.vel), (&pos, &vel), &params);
        assert!(dev <= 1e-4, "step {step}: largest per-fish relative deviation {dev:e}");
        assert_eq!(sharks.len(), cpu.sharks.len());
        for (g, c) in sharks.iter().zip(&cpu.sharks) {
            assert!(
                (g.pos - c.pos).length() <= 1e-3 * c.pos.length().max(1.0),
                "shark {g:?} vs {c:?}"
            );
        }
        // The step did something: the fish moved and no fish is inside a rock.
        assert!(pos.iter().zip(&p0).any(|(a, b)| a != b));
        for p in &pos {
            assert!(cpu.rocks.iter().all(|r| !r.contains(*p)), "a fish inside a rock at {p}");
        }
    }
}

#[test]
fn a_thousand_gpu_steps_keep_the_cpu_schools_statistics() {
    let fish = 10_000;
    let (width, height) = BoidParams::field_for_seed_density(fish);
    let params = BoidParams {
        width,
        height,
        ..BoidParams::default()
    };
    let mut cpu = School::new(fish, 3, &params);
    let mut gpu = GpuSchool::from_school(&ctx(), &cpu, &params).expect("GPU school");
    // Averages over steps 500-1,000: the two runs drift apart by rounding (float summation
    // order, fused multiply-adds), so single fish and frames differ; the school's character
    // must not. The whole tank's polarization (hundreds of separate groups: a small, noisy
    // number) is held to 2 % or to what rounding alone does to the CPU school, whichever is
    // larger: a second CPU run from velocities nudged by one part in 10^6.
    let mut nudged = cpu.clone();
    for v in &mut nudged.vel {
        *v *= 1.0 + 1e-6;
    }
    let (mut sum_cpu, mut sum_gpu, mut sum_nudged) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let mut samples = 0.0;
    for step in 1..=1000 {
        cpu.step(&params);
        nudged.step(&params);
        gpu.step(&params).expect("step");
        if step >= 500 && step % 10 == 0 {
            let (pos, vel, _) = gpu.read().expect("read");
            for (sum, s) in [
                (&mut sum_cpu, SchoolStats::of(&cpu.pos, &cpu.vel, &params)),
                (&mut sum_gpu, SchoolStats::of(&pos, &vel, &params)),
                (&mut sum_nudged, SchoolStats::of(&nudged.pos, &nudged.vel, &params)),
            ] {
                for (k, x) in [s.mean_speed, s.alignment, s.mean_neighbours, s.polarization]
                    .into_iter()
                    .enumerate()
                {
                    sum[k] += x;
                }
            }
            samples += 1.0;
        }
    }
    for (k, name) in ["mean speed", "alignment", "mean neighbours", "polarization"]
        .iter()
        .enumerate()
    {
        let rel = (sum_gpu[k] - sum_cpu[k]).abs() / sum_cpu[k];
        let rounding = (sum_nudged[k] - sum_cpu[k]).abs() / sum_cpu[k];
        eprintln!(
            "{name}: cpu {:.4} gpu {:.4} ({:.2} %); nudged cpu {:.4} ({:.2} %)",
            sum_cpu[k] / samples,
            sum_gpu[k] / samples,
            100.0 * rel,
            sum_nudged[k] / samples,
            100.0 * rounding
        );
        let bound = if k < 3 { 0.02 } else { 0.02f64.max(rounding) };
        assert!(
            rel <= bound,
            "{name} differs by {:.2} % (bound {:.2} %)",
            100.0 * rel,
            100.0 * bound
        );
    }
}

#[test]
fn the_gpu_school_follows_changed_fields_rocks_and_pointer_sharks() {
    let (cpu0, params) = busy_school(1500, 11);
    let mut cpu = cpu0.clone();
    let mut gpu = GpuSchool::from_school(&ctx(), &cpu, &params).expect("GPU school");
    // A smaller vision (a new grid), no pointer shark, one rock less: a new layout on the GPU.
    let narrower = BoidParams { vision: 60.0, ..params };
    cpu.extra_sharks.clear();
    gpu.extra_sharks.clear();
    cpu.rocks.pop();
    gpu.set_rocks(&cpu.rocks);
    for _ in 0..2 {
        cpu.step(&narrower);
        gpu.step(&narrower).expect("step");
    }
    let (pos, vel, _) = gpu.read().expect("read");
    let dev = max_deviation((&cpu.pos, &cpu.vel), (&pos, &vel), &narrower);
    assert!(dev <= 1e-4, "after the changes: deviation {dev:e}");
    // Bad parameters are refused before any work, and the school is kept.
    let bad = BoidParams {
        max_speed: f32::NAN,
        ..params
    };
    assert!(gpu.step(&bad).is_err());
    let (pos2, _, _) = gpu.read().expect("read");
    assert_eq!(pos, pos2);
}

#[test]
fn an_empty_school_and_a_school_without_sharks_step() {
    let params = BoidParams::default();
    let mut empty = GpuSchool::new(&ctx(), &[], &[], &[], &[], &params).expect("empty");
    empty.step(&params).expect("step");
    assert!(empty.read().expect("read").0.is_empty());
    let mut cpu = School::new(200, 5, &params);
    let mut gpu = GpuSchool::from_school(&ctx(), &cpu, &params).expect("GPU school");
    for _ in 0..5 {
        cpu.step(&params);
        gpu.step(&params).expect("step");
    }
    let (pos, vel, _) = gpu.read().expect("read");
    assert!(max_deviation((&cpu.pos, &cpu.vel), (&pos, &vel), &params) <= 1e-4);
}

/// `shoal record --school gpu`: the fish are drawn from the GPU's buffer where the CPU school
/// draws its fish (same school, same seed), the frames move and two runs are identical.
#[cfg(feature = "app")]
#[test]
fn recordings_with_the_gpu_school_show_the_cpu_schools_fish() {
    use crate::cli::{png_pixels, shoal};
    let dir = tempfile::tempdir().unwrap();
    let render = |name: &str, school: &str, fish: &str| {
        let out = format!("{}/{name}/", dir.path().display());
        let args = [
            "record",
            "--school",
            school,
            "--no-panels",
            "--frames",
            "6",
            "--size",
            "320x180",
            "--fish",
            fish,
            "--seed",
            "4",
            "--out",
            &out,
        ];
        let (code, _, err) = shoal(&args);
        assert_eq!(code, 0, "{school}: {err}");
        (0..6)
            .map(|k| png_pixels(&dir.path().join(name).join(format!("frame_{k:04}.png"))))
            .collect::<Vec<_>>()
    };
    let water = render("water", "cpu", "0");
    let cpu = render("cpu", "cpu", "400");
    let gpu = render("gpu", "gpu", "400");
    let gpu2 = render("gpu2", "gpu", "400");
    assert_eq!(gpu, gpu2, "two GPU-school recordings with the same seed differ");
    // Fish pixels: where a frame differs from the fishless tank.
    let mask = |frame: &[u8], k: usize| -> Vec<bool> {
        frame
            .chunks_exact(4)
            .zip(water[k].chunks_exact(4))
            .map(|(p, q)| p.iter().zip(q).map(|(a, b)| a.abs_diff(*b) as u32).sum::<u32>() > 60)
            .collect()
    };
    let (c, g) = (mask(&cpu[0], 0), mask(&gpu[0], 0));
    let both = c.iter().zip(&g).filter(|(a, b)| **a && **b).count();
    let either = c.iter().zip(&g).filter(|(a, b)| **a || **b).count();
    let (nc, ng) = (c.iter().filter(|x| **x).count(), g.iter().filter(|x| **x).count());
    eprintln!("fish pixels: cpu {nc}, gpu {ng}, overlap {both} of {either}");
    assert!(nc > 500 && ng > 500, "fish drawn: cpu {nc} gpu {ng} pixels");
    assert!(
        both as f64 >= 0.6 * either as f64,
        "the GPU's fish are not where the CPU's are: {both} of {either} fish pixels shared"
    );
    let moved = mask(&gpu[5], 5).iter().zip(&g).filter(|(a, b)| a != b).count();
    assert!(
        moved > 100,
        "the GPU school's fish move between frames ({moved} pixels changed)"
    );
}

/// The app's GPU school (headless): it starts with the asked-for school, a click on a fish
/// watches it (its position comes back from the GPU each frame), a click on open water adds
/// a fish there. (The render world runs on its own thread here: the test sees the GPU school
/// through clicks only, as a user does.)
#[cfg(feature = "app")]
#[test]
fn in_the_app_a_click_watches_a_gpu_fish_or_adds_one() {
    use bevy::prelude::*;
    use bevy::time::TimeUpdateStrategy;
    use shoal::app::{AppOptions, SchoolMode};
    use shoal::boids::SchoolKind;
    use shoal::boids::plugin::{Position, SchoolControl};
    use shoal::tank::gpu_school::{Command, GpuFishIndex, GpuLink};

    let mut app = shoal::record::headless_render_app();
    app.insert_resource(TimeUpdateStrategy::ManualDuration(std::time::Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    let opts = AppOptions {
        fish: 50,
        seed: 9,
        school: SchoolKind::Gpu,
        ..AppOptions::default()
    };
    shoal::app::add_tank(&mut app, &opts);
    app.finish();
    app.cleanup();
    app.world_mut().resource_mut::<SchoolControl>().running = false;
    let frames = |app: &mut App, n: usize| {
        for _ in 0..n {
            app.update();
        }
    };
    frames(&mut app, 4);
    let link = app.world().resource::<GpuLink>().clone();
    assert_eq!(link.lock().error, None);
    assert_eq!(link.lock().fish, 50);
    let mode = app.world().resource::<SchoolMode>();
    assert_eq!(mode.kind, SchoolKind::Gpu);
    assert!(mode.note.contains("GPU school: 50 fish on"), "{}", mode.note);
    // What a click on a spot finds: (fish index, its position on the GPU).
    let click = |app: &mut App, at: glam::Vec2, radius: f32| {
        link.lock().commands.push(Command::Pick(at, radius));
        frames(app, 4);
        let mut q = app.world_mut().query::<(&GpuFishIndex, &Position)>();
        q.iter(app.world()).next().map(|(i, p)| (i.0, p.0))
    };

    // The app's school is the seed's: fish 7 is where School::new put it.
    let school = School::new(50, 9, &opts.params);
    assert_eq!(click(&mut app, school.pos[7], 0.01), Some((7, school.pos[7])));
    // It swims; the watched fish's position comes back from the GPU, and a click there finds it.
    app.world_mut().resource_mut::<SchoolControl>().running = true;
    frames(&mut app, 10);
    app.world_mut().resource_mut::<SchoolControl>().running = false;
    frames(&mut app, 4);
    let mut q = app.world_mut().query::<(&GpuFishIndex, &Position)>();
    let (_, now) = q
        .single(app.world())
        .map(|(i, p)| (i.0, p.0))
        .expect("one watched fish");
    assert_ne!(now, school.pos[7], "the school swam");
    assert_eq!(click(&mut app, now, 0.01), Some((7, now)));

    // A click on open water: a new fish there (fish 50).
    let far = glam::Vec2::new(-500.0, -500.0);
    click(&mut app, far, 3.0);
    assert_eq!(link.lock().fish, 51);
    assert_eq!(click(&mut app, far, 0.01), Some((50, far)));
}
