//! The fish-school math's integration tests in one binary (no Bevy).

#[path = "suite/boids_math.rs"]
mod boids_math;
#[path = "suite/playground.rs"]
mod playground;
