//! shoal: a school of fish (Reynolds boids) in a 2D tank while neural networks train live.
//!
//! - [`boids`]: the fish-school math (plain functions) and, with the `app` feature, its ECS plugin.
//! - [`learn`]: everything on burn (data, basics, Path-SGD, DCGAN); no Bevy.
//! - `scene` (feature `app`): the Bevy glue — tank visuals, panels, the app.

pub mod boids;
pub mod learn;
pub mod util;

#[cfg(feature = "app")]
pub mod scene;
