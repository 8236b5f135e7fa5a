//! The school as Bevy systems: same code as the math core, on a headless App.

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use shoal::boids::bench::{headless_school, step};
use shoal::boids::plugin::{BoidsPlugin, Fish, Position, SchoolControl, SchoolRng, Velocity, fish_bundles};
use shoal::boids::{BoidParams, School};
use std::time::Duration;

fn fish_state(app: &mut App) -> (Vec<Vec2>, Vec<Vec2>) {
    let world = app.world_mut();
    // Query order is spawn order here (one table, nothing despawned): the snapshot's order.
    let mut q = world.query_filtered::<(&Position, &Velocity), With<Fish>>();
    q.iter(world).map(|(p, v)| (p.0, v.0)).unzip()
}

#[test]
fn ecs_systems_match_the_sequential_core_exactly() {
    let params = BoidParams::default();
    for threads in [1, 2] {
        let mut app = headless_school(400, 9, threads, params);
        let mut core = School::new(400, 9, &params);
        let (p0, v0) = fish_state(&mut app);
        assert_eq!(p0, core.pos, "same seed must spawn the same fish");
        assert_eq!(v0, core.vel);
        for _ in 0..200 {
            step(&mut app);
            core.step(&params);
        }
        let (p, v) = fish_state(&mut app);
        assert_eq!(p, core.pos, "threads={threads}");
        assert_eq!(v, core.vel, "threads={threads}");
        assert_ne!(p, p0, "fish must move");
    }
}

/// The playground (sharks, rocks, current, a narrow field of view) runs the same in the ECS
/// systems as in the core, to the bit.
#[test]
fn the_playground_runs_the_same_in_the_ecs_as_in_the_core() {
    use shoal::boids::bench::{BoidBench, playground};
    let params = BoidParams {
        fov: 240.0,
        current_x: 0.4,
        current_y: -0.2,
        ..BoidParams::default()
    };
    let b = BoidBench {
        fish: 400,
        steps: 0,
        warmup: 0,
        seed: 5,
        threads: 2,
        params,
        sharks: 3,
        rocks: 12,
    };
    let ground = playground(&b);
    let mut app = headless_school(400, 5, 2, params);
    app.insert_resource(ground.clone());
    let mut core = School::new(400, 5, &params);
    core.sharks = ground.sharks.clone();
    core.rocks = ground.rocks.clone();
    for _ in 0..150 {
        step(&mut app);
        core.step(&params);
    }
    let (p, v) = fish_state(&mut app);
    assert_eq!(p, core.pos);
    assert_eq!(v, core.vel);
    let sharks = &app.world().resource::<shoal::boids::plugin::Playground>().sharks;
    assert_eq!(*sharks, core.sharks);
    assert!(sharks.iter().all(|s| s.vel != Vec2::ZERO), "the sharks hunt");
}

#[test]
fn transforms_follow_positions_and_headings() {
    let params = BoidParams::default();
    let mut app = headless_school(50, 2, 2, params);
    for _ in 0..5 {
        step(&mut app);
    }
    let world = app.world_mut();
    let mut q = world.query::<(&Position, &Velocity, &Transform)>();
    for (p, v, t) in q.iter(world) {
        assert!((t.translation.x - (p.0.x - 500.0)).abs() < 1e-3);
        assert!((t.translation.y - (250.0 - p.0.y)).abs() < 1e-3);
        let heading = t.rotation * Vec3::X;
        let expected = Vec2::new(v.0.x, -v.0.y).normalize();
        assert!((heading.truncate() - expected).length() < 1e-3);
    }
}

#[test]
fn plugin_runs_on_the_fixed_timestep_in_a_minimal_app() {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .insert_resource(BoidParams::default())
        .add_plugins(BoidsPlugin { seed: 5 })
        // Each update advances virtual time by exactly one fixed step.
        .insert_resource(Time::<Fixed>::from_hz(50.0))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(20)));
    let bundles = {
        let world = app.world_mut();
        let mut rng = world.remove_resource::<SchoolRng>().unwrap();
        let b = fish_bundles(&mut rng, &BoidParams::default(), 100);
        world.insert_resource(rng);
        b
    };
    app.world_mut().spawn_batch(bundles);
    let (p0, _) = fish_state(&mut app);
    for _ in 0..30 {
        app.update();
    }
    let (p1, v1) = fish_state(&mut app);
    assert_ne!(p0, p1, "the fixed-timestep systems must move the fish");
    assert!(p1.iter().chain(&v1).all(|x| x.is_finite()));

    // Stopped: nothing moves.
    app.world_mut().resource_mut::<SchoolControl>().running = false;
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(fish_state(&mut app).0, p1);
}

#[test]
fn motion_does_not_depend_on_frame_rate() {
    // At 50 steps/s, 100 frames of 10 ms and 25 frames of 40 ms both cover one second: 50 steps.
    let run = |frame_ms: u64, frames: usize| {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(BoidParams::default())
            .add_plugins(BoidsPlugin { seed: 8 })
            .insert_resource(Time::<Fixed>::from_hz(50.0))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(frame_ms)));
        let bundles = {
            let world = app.world_mut();
            let mut rng = world.remove_resource::<SchoolRng>().unwrap();
            let b = fish_bundles(&mut rng, &BoidParams::default(), 60);
            world.insert_resource(rng);
            b
        };
        app.world_mut().spawn_batch(bundles);
        for _ in 0..frames {
            app.update();
        }
        fish_state(&mut app).0
    };
    // The first update only starts the clock.
    let a = run(10, 101);
    let b = run(40, 26);
    let c = run(40, 10);
    assert_eq!(a, b);
    assert_ne!(a, c, "fewer frames must mean fewer steps");
}
