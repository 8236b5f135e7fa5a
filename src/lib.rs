//! shoal: a school of fish (Reynolds boids) in a 2D tank while neural networks train live.
//!
//! The layers are crates of their own, re-exported here under their old names:
//! - [`boids`] (`shoal-boids`): the fish-school math (plain functions) and its ECS systems.
//! - [`learn`] (`shoal-learn`): everything on burn (data, basics, Path-SGD, DCGAN); no Bevy.
//! - [`common`] (`shoal-common`): files, percentiles, numbers in messages.
//! - the app (feature `app`), in rooms: [`app`] (assembly, options, pacing, diagnostics, the
//!   browser's entry), [`tank`] (the school's visuals, the playground, watching a fish, the GPU
//!   school), [`ui`] (the panels), [`training`] (the trainings in the scene), [`record`] (the
//!   recorder, its scripts, screenshots).

pub use shoal_boids as boids;
pub use shoal_common as common;
pub use shoal_learn as learn;

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "app")]
pub mod record;
#[cfg(feature = "app")]
pub mod tank;
#[cfg(feature = "app")]
pub mod training;
#[cfg(feature = "app")]
pub mod ui;
