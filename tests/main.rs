//! The app's integration tests in one binary (each file in tests/ links the whole stack).
//! The boid math and the trainings have their own, in `crates/shoal-boids/tests` and
//! `crates/shoal-learn/tests`.

#[cfg(feature = "app")]
#[path = "suite/boids_ecs.rs"]
mod boids_ecs;
#[cfg(feature = "app")]
#[path = "suite/cli.rs"]
mod cli;
#[cfg(feature = "gpu")]
#[path = "suite/gpu.rs"]
mod gpu;
#[cfg(feature = "gpu")]
#[path = "suite/gpu_school.rs"]
mod gpu_school;
#[cfg(feature = "app")]
#[path = "suite/record.rs"]
mod record;
#[cfg(feature = "app")]
#[path = "suite/training.rs"]
mod training;
#[cfg(feature = "app")]
#[path = "suite/web.rs"]
mod web;
