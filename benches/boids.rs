//! Criterion benchmarks of one school step: the sequential core and the ECS systems.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use shoal::boids::bench::{headless_school, step};
use shoal::boids::{BoidParams, School};
use std::hint::black_box;

fn school_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("boids_step");
    group.sample_size(30);
    for n in [1000usize, 2000] {
        let params = BoidParams::default();
        let mut school = School::new(n, 1, &params);
        for _ in 0..20 {
            school.step(&params);
        }
        group.bench_with_input(BenchmarkId::new("core_seed_field", n), &n, |b, _| {
            b.iter(|| school.step(black_box(&params)))
        });
        let mut app = headless_school(n, 1, 2, params);
        for _ in 0..20 {
            step(&mut app);
        }
        group.bench_with_input(BenchmarkId::new("ecs_seed_field", n), &n, |b, _| {
            b.iter(|| step(&mut app))
        });
    }
    let n = 100_000;
    let (width, height) = BoidParams::field_for_seed_density(n);
    let params = BoidParams {
        width,
        height,
        ..BoidParams::default()
    };
    let mut app = headless_school(n, 1, 2, params);
    group.bench_with_input(BenchmarkId::new("ecs_seed_density", n), &n, |b, _| {
        b.iter(|| step(&mut app))
    });
    group.finish();
}

criterion_group!(benches, school_step);
criterion_main!(benches);
