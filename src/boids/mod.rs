//! The fish school: Reynolds boids with the seed's rules.
//!
//! `params`, `rules`, `grid` and `school` are plain math over slices (no window,
//! no ECS); `plugin` runs the same functions as Bevy systems on fish entities.

pub mod grid;
pub mod params;
pub mod playground;
pub mod rules;
pub mod school;

#[cfg(feature = "app")]
pub mod plugin;

pub use grid::Grid;
pub use params::{BoidParams, MAX_FISH, ParamError, PresetError, SpawnMode};
pub use playground::{Rock, Shark};
pub use school::School;
#[cfg(feature = "app")]
pub mod bench;
