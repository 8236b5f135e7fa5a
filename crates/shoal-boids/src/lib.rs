//! The fish school: Reynolds boids with the seed's rules.
//!
//! `params`, `rules`, `grid` and `school` are plain math over slices (no window,
//! no ECS); `plugin` runs the same functions as Bevy systems on fish entities.

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub mod gpu;
pub mod grid;
pub mod params;
pub mod playground;
pub mod rules;
pub mod school;

#[cfg(feature = "ecs")]
pub mod plugin;

pub use grid::Grid;
pub use params::{BoidParams, MAX_FISH, ParamError, PresetError, SpawnMode};
pub use playground::{Rock, Shark};
pub use school::School;
#[cfg(feature = "ecs")]
pub mod bench;

/// Which school steps the fish: the CPU's (the default and the reference) or the GPU's
/// compute shaders (cargo feature `gpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchoolKind {
    #[default]
    Cpu,
    Gpu,
}

impl std::str::FromStr for SchoolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            other => Err(format!("unknown school '{other}': use cpu or gpu")),
        }
    }
}

impl std::fmt::Display for SchoolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        })
    }
}
