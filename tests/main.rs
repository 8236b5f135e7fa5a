//! All integration tests in one binary (each file in tests/ links the whole stack).
//! Without the `app` feature only the modules that need no Bevy are built:
//! `cargo test --no-default-features --test main`.

#[path = "suite/basics.rs"]
mod basics;
#[cfg(feature = "app")]
#[path = "suite/boids_ecs.rs"]
mod boids_ecs;
#[path = "suite/boids_math.rs"]
mod boids_math;
#[cfg(feature = "app")]
#[path = "suite/cli.rs"]
mod cli;
#[path = "suite/data.rs"]
mod data;
#[path = "suite/dcgan.rs"]
mod dcgan;
#[cfg(feature = "gpu")]
#[path = "suite/gpu.rs"]
mod gpu;
#[cfg(feature = "gpu")]
#[path = "suite/gpu_school.rs"]
mod gpu_school;
#[path = "suite/path_sgd.rs"]
mod path_sgd;
#[path = "suite/playground.rs"]
mod playground;
#[cfg(feature = "app")]
#[path = "suite/record.rs"]
mod record;
#[cfg(feature = "app")]
#[path = "suite/training.rs"]
mod training;
#[cfg(feature = "app")]
#[path = "suite/web.rs"]
mod web;
