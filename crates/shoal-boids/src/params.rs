//! Parameters of the fish school, with validation and TOML presets.

use serde::{Deserialize, Serialize};
use shoal_common::text::{number, number32};
use std::path::Path;

/// Most fish a school may have, wherever it is asked for: `--fish`, the panel's count, its
/// "Add fish" button, clicks in the tank, the browser's `?fish=`. Beyond it a step takes
/// seconds even on a GPU machine's CPU, and the school swims in slow motion.
pub const MAX_FISH: usize = 2_000_000;

/// How new fish get their initial velocity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SpawnMode {
    /// The seed's choice: velocity `(U(0,1), U(0,1))`, so the school first drifts down-right.
    #[default]
    Seed,
    /// A uniformly random heading at half the maximum speed.
    RandomDirection,
}

/// Every number the school's rules use. Defaults are the seed's values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ecs", derive(bevy_ecs::resource::Resource))]
#[serde(deny_unknown_fields, default)]
pub struct BoidParams {
    /// Field width; fish outside `[0, width]` are pushed back.
    pub width: f32,
    /// Field height; fish outside `[0, height]` are pushed back.
    pub height: f32,
    /// Other fish closer than this are neighbours.
    pub vision: f32,
    /// Neighbours closer than this are too near (separation).
    pub avoid: f32,
    /// Weight of cohesion (steer to the neighbours' mean position).
    pub cohesion: f32,
    /// Weight of alignment (steer to the neighbours' mean velocity).
    pub alignment: f32,
    /// Weight of separation (steer away from the too-near neighbours' mean position).
    pub separation: f32,
    /// Length of the steering acceleration (the seed's 0.1).
    pub max_accel: f32,
    /// Speed clamp after each velocity update.
    pub max_speed: f32,
    /// Acceleration added on an axis where the fish is outside the field.
    pub boundary_push: f32,
    /// Initial velocities of new fish.
    pub spawn: SpawnMode,
    /// Field of view in degrees: a fish sees neighbours only within half this angle of its
    /// heading (360: all around, the seed's rule).
    pub fov: f32,
    /// Weight of fleeing (steer away from the nearest shark within `flee_radius`).
    pub flee: f32,
    /// Sharks closer than this are fled from.
    pub flee_radius: f32,
    /// The water's flow, added to every fish's (and shark's) motion each step.
    pub current_x: f32,
    pub current_y: f32,
    /// Speed clamp of the autonomous sharks.
    pub shark_speed: f32,
    /// Length of a shark's acceleration towards its prey.
    pub shark_accel: f32,
}

impl Default for BoidParams {
    fn default() -> Self {
        Self {
            width: 1000.0,
            height: 500.0,
            vision: 100.0,
            avoid: 20.0,
            cohesion: 1.0,
            alignment: 0.7,
            separation: 5.0,
            max_accel: 0.1,
            max_speed: 5.0,
            boundary_push: 1.0,
            spawn: SpawnMode::Seed,
            fov: 360.0,
            flee: 3.0,
            flee_radius: 120.0,
            current_x: 0.0,
            current_y: 0.0,
            shark_speed: 5.5,
            shark_accel: 0.15,
        }
    }
}

/// A parameter value that the rules cannot work with.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    /// Not a number, or (read from text) beyond f32's range, about ±3.4e38.
    #[error("{name} must be a finite number (at most about 3.4e38 in size), got {}", number32(*value))]
    NotFinite { name: &'static str, value: f32 },
    #[error("{name} must be greater than 0, got {}", number32(*value))]
    NotPositive { name: &'static str, value: f32 },
    #[error("{name} must not be negative, got {}", number32(*value))]
    Negative { name: &'static str, value: f32 },
    #[error("avoid ({}) must not exceed vision ({})", number32(*avoid), number32(*vision))]
    AvoidAboveVision { avoid: f32, vision: f32 },
    #[error("{name} is too large ({}); at most {}", number32(*value), number32(*max))]
    TooLarge { name: &'static str, value: f32, max: f32 },
    #[error(
        "the field of {} x {} with vision {} needs {} grid cells; at most {} are allowed (raise vision or shrink the field)", number32(*width), number32(*height), number32(*vision), number(*cells), number(*max)
    )]
    TooManyCells {
        width: f32,
        height: f32,
        vision: f32,
        cells: f64,
        max: f64,
    },
}

impl ParamError {
    /// The preset field the error is about (`None` where it is about two).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NotFinite { name, .. }
            | Self::NotPositive { name, .. }
            | Self::Negative { name, .. }
            | Self::TooLarge { name, .. } => Some(name),
            Self::AvoidAboveVision { .. } => Some("avoid"),
            Self::TooManyCells { .. } => None,
        }
    }
}

/// The 1-based line where `key = ...` is set in a TOML text, if it is set at the top level.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        })
        .map(|i| i + 1)
}

/// The largest grid the neighbour search will allocate (cells of size `vision`).
pub const MAX_GRID_CELLS: f64 = 64.0 * 1024.0 * 1024.0;

impl BoidParams {
    /// Checks every value; a valid set never makes the rules produce NaN.
    pub fn validate(&self) -> Result<(), ParamError> {
        let all = [
            ("width", self.width),
            ("height", self.height),
            ("vision", self.vision),
            ("avoid", self.avoid),
            ("cohesion", self.cohesion),
            ("alignment", self.alignment),
            ("separation", self.separation),
            ("max_accel", self.max_accel),
            ("max_speed", self.max_speed),
            ("boundary_push", self.boundary_push),
            ("fov", self.fov),
            ("flee", self.flee),
            ("flee_radius", self.flee_radius),
            ("current_x", self.current_x),
            ("current_y", self.current_y),
            ("shark_speed", self.shark_speed),
            ("shark_accel", self.shark_accel),
        ];
        for (name, value) in all {
            if !value.is_finite() {
                return Err(ParamError::NotFinite { name, value });
            }
        }
        for (name, value) in [
            ("width", self.width),
            ("height", self.height),
            ("vision", self.vision),
            ("max_speed", self.max_speed),
            ("fov", self.fov),
            ("shark_speed", self.shark_speed),
        ] {
            if value <= 0.0 {
                return Err(ParamError::NotPositive { name, value });
            }
        }
        for (name, value) in [
            ("avoid", self.avoid),
            ("cohesion", self.cohesion),
            ("alignment", self.alignment),
            ("separation", self.separation),
            ("max_accel", self.max_accel),
            ("boundary_push", self.boundary_push),
            ("flee", self.flee),
            ("flee_radius", self.flee_radius),
            ("shark_accel", self.shark_accel),
        ] {
            if value < 0.0 {
                return Err(ParamError::Negative { name, value });
            }
        }
        if self.fov > 360.0 {
            return Err(ParamError::TooLarge {
                name: "fov",
                value: self.fov,
                max: 360.0,
            });
        }
        // A current faster than a fish can swim would sweep the school into a wall.
        let current = (self.current_x * self.current_x + self.current_y * self.current_y).sqrt();
        if current > self.max_speed {
            return Err(ParamError::TooLarge {
                name: "current",
                value: current,
                max: self.max_speed,
            });
        }
        if self.avoid > self.vision {
            return Err(ParamError::AvoidAboveVision {
                avoid: self.avoid,
                vision: self.vision,
            });
        }
        // Coordinates stay well inside f32's exact range for sums of offsets.
        for (name, value) in [("width", self.width), ("height", self.height)] {
            if value > 1.0e7 {
                return Err(ParamError::TooLarge {
                    name,
                    value,
                    max: 1.0e7,
                });
            }
        }
        let cells = (self.width as f64 / self.vision as f64).ceil() * (self.height as f64 / self.vision as f64).ceil();
        if cells > MAX_GRID_CELLS {
            return Err(ParamError::TooManyCells {
                width: self.width,
                height: self.height,
                vision: self.vision,
                cells,
                max: MAX_GRID_CELLS,
            });
        }
        Ok(())
    }

    /// Parses and validates a TOML preset. Missing keys take the defaults.
    pub fn from_toml(text: &str) -> Result<Self, PresetError> {
        Self::parse_preset(text, "the preset")
    }

    /// [`BoidParams::from_toml`], with errors that name `origin` (e.g. the file), the line and
    /// the field.
    fn parse_preset(text: &str, origin: &str) -> Result<Self, PresetError> {
        let params: BoidParams = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            // The key on that line, unless the message already names it.
            let key = line
                .and_then(|l| text.lines().nth(l - 1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty() && !e.message().contains(&format!("`{k}`")));
            PresetError::Parse {
                origin: origin.to_string(),
                line,
                field: key,
                why: e.message().trim().to_string(),
            }
        })?;
        params.validate().map_err(|problem| PresetError::Invalid {
            origin: origin.to_string(),
            line: problem.field().and_then(|f| line_of_key(text, f)),
            problem,
        })?;
        Ok(params)
    }

    /// The preset as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("BoidParams always serialises")
    }

    /// The current as a vector.
    pub fn current(&self) -> glam::Vec2 {
        glam::Vec2::new(self.current_x, self.current_y)
    }

    /// `cos(fov / 2)` when the field of view is narrower than all around.
    pub fn fov_cos(&self) -> Option<f32> {
        (self.fov < 360.0).then(|| (0.5 * self.fov.to_radians()).cos())
    }

    /// Loads a preset file; on any error nothing is returned and the caller keeps its values.
    pub fn load(path: &Path) -> Result<Self, PresetError> {
        let text = std::fs::read_to_string(path).map_err(|e| PresetError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse_preset(&text, &format!("preset {}", path.display()))
    }

    /// Saves a preset atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), PresetError> {
        self.validate().map_err(|problem| PresetError::Invalid {
            origin: format!("not saved to {}", path.display()),
            line: None,
            problem,
        })?;
        shoal_common::fs::write_atomic(path, self.to_toml().as_bytes()).map_err(|e| PresetError::Write {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// Loads a preset file with its rocks (`[[rocks]]` tables of `x`, `y`, `radius`; none in
    /// presets without them).
    pub fn load_with_rocks(path: &Path) -> Result<(Self, Vec<super::Rock>), PresetError> {
        let text = std::fs::read_to_string(path).map_err(|e| PresetError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse_with_rocks(&text, &format!("preset {}", path.display()))
    }

    /// [`BoidParams::load_with_rocks`] from text.
    pub fn parse_with_rocks(text: &str, origin: &str) -> Result<(Self, Vec<super::Rock>), PresetError> {
        let parse_err = |field: Option<String>, why: String| PresetError::Parse {
            origin: origin.to_string(),
            line: None,
            field,
            why,
        };
        let mut table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            // Its own error, with the line.
            Err(_) => return Self::parse_preset(text, origin).map(|p| (p, Vec::new())),
        };
        let Some(rocks) = table.remove("rocks") else {
            return Self::parse_preset(text, origin).map(|p| (p, Vec::new()));
        };
        let rocks: Vec<super::Rock> = rocks
            .try_into()
            .map_err(|e: toml::de::Error| parse_err(Some("rocks".into()), e.message().trim().to_string()))?;
        for (k, r) in rocks.iter().enumerate() {
            if !(r.x.is_finite() && r.y.is_finite() && r.radius.is_finite() && r.radius > 0.0) {
                return Err(parse_err(
                    Some(format!("rocks[{k}]")),
                    format!(
                        "a rock needs finite x and y and a radius above 0; got x = {}, y = {}, radius = {}",
                        number32(r.x),
                        number32(r.y),
                        number32(r.radius)
                    ),
                ));
            }
        }
        let params: BoidParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| parse_err(None, e.message().trim().to_string()))?;
        params.validate().map_err(|problem| PresetError::Invalid {
            origin: origin.to_string(),
            line: problem.field().and_then(|f| line_of_key(text, f)),
            problem,
        })?;
        Ok((params, rocks))
    }

    /// Saves a preset with its rocks atomically.
    pub fn save_with_rocks(&self, rocks: &[super::Rock], path: &Path) -> Result<(), PresetError> {
        self.validate().map_err(|problem| PresetError::Invalid {
            origin: format!("not saved to {}", path.display()),
            line: None,
            problem,
        })?;
        let mut text = self.to_toml();
        for r in rocks {
            text.push_str(&format!(
                "\n[[rocks]]\nx = {:?}\ny = {:?}\nradius = {:?}\n",
                r.x, r.y, r.radius
            ));
        }
        shoal_common::fs::write_atomic(path, text.as_bytes()).map_err(|e| PresetError::Write {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// A field with the seed's fish density (30 fish per 1000 x 500) for `fish` fish, at the seed's 2:1 aspect.
    pub fn field_for_seed_density(fish: usize) -> (f32, f32) {
        let area = fish as f64 * (1000.0 * 500.0 / 30.0);
        let height = (area / 2.0).sqrt();
        ((2.0 * height) as f32, height as f32)
    }
}

/// Why a preset could not be used. Each names where the preset came from (the file), and the
/// field where one is at fault.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PresetError {
    #[error("cannot read preset {path}: {why}")]
    Read { path: String, why: String },
    #[error("cannot write preset {path}: {why}")]
    Write { path: String, why: String },
    #[error("{origin}{}{}: {why}", line.map(|l| format!(", line {l}")).unwrap_or_default(), field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
    Parse {
        origin: String,
        line: Option<usize>,
        field: Option<String>,
        why: String,
    },
    /// The file's values parsed but the rules cannot work with one of them. (The field is not
    /// called `source`: thiserror would make it the error's cause, and a chain printed with
    /// `{:#}` would say the same thing twice.)
    #[error("{origin}{}: {problem}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        origin: String,
        line: Option<usize>,
        problem: ParamError,
    },
}
