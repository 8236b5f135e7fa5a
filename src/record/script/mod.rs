//! Scripted demos for `shoal record --script FILE.toml`: a timeline of actions at given seconds
//! of the recording (start, pause or reset a training; rescale a Path-SGD layer; set a boid
//! parameter; add fish; watch a fish; move the camera; show or hide panels; captions), plus the
//! recording's own settings. Every error names the file's line, and all of them are found
//! before anything renders.
//!
//! ```toml
//! scene = "training"          # tank | training
//! trainings = ["path-sgd"]    # which trainings the panel shows (default: all three)
//! seconds = 12                # length (or frames = N)
//! fps = 30
//! size = "1280x720"
//!
//! [[step]]
//! at = 0
//! do = "start"
//! training = "path-sgd"
//!
//! [[step]]
//! at = 6
//! do = "rescale"
//! layer = 1
//! c = 100
//! ```

use crate::app::JobKind;
use crate::boids::BoidParams;
use bevy::prelude::*;
use serde::Deserialize;
use shoal_common::text::number;
use std::path::Path;

/// Which trainings an action is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    All,
    One(JobKind),
}

/// One thing a script does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Start(Target),
    Pause(Target),
    Reset(Target),
    /// Path-SGD: hidden layer `layer` (0-based) incoming weights x c, outgoing / c.
    Rescale {
        layer: usize,
        c: f32,
    },
    /// A boid parameter by its preset name (the whole set is checked when it is applied).
    Set {
        param: String,
        value: toml::Value,
    },
    AddFish(usize),
    /// Watch the fish nearest to this field point.
    Watch(Vec2),
    /// Zoom and centre (field coordinates) over some seconds.
    Camera {
        zoom: f32,
        center: Option<Vec2>,
        over: f32,
    },
    Panels {
        show: Option<bool>,
        open: Option<JobKind>,
    },
    Caption {
        text: String,
        seconds: Option<f64>,
    },
}

/// An action at a time (seconds from the first recorded frame), with its line in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: f64,
    pub line: usize,
    pub action: Action,
}

/// The recording's settings a script may carry (the command line's flags win).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header {
    pub scene: Option<crate::record::settings::RecordScene>,
    pub trainings: Option<Vec<JobKind>>,
    pub fish: Option<usize>,
    pub seed: Option<u64>,
    pub seconds: Option<f64>,
    pub frames: Option<usize>,
    pub fps: Option<u32>,
    pub size: Option<(u32, u32)>,
    pub warmup: Option<usize>,
    /// DCGAN steps per frame (default 0.25).
    pub dcgan_per_frame: Option<f64>,
    pub dcgan_batch: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    pub header: Header,
    /// In time order.
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    scene: Option<String>,
    trainings: Option<Vec<String>>,
    fish: Option<usize>,
    seed: Option<u64>,
    seconds: Option<f64>,
    frames: Option<usize>,
    fps: Option<u32>,
    size: Option<String>,
    warmup: Option<usize>,
    dcgan_per_frame: Option<f64>,
    dcgan_batch: Option<usize>,
    #[serde(default)]
    step: Vec<toml::Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: f64,
    #[serde(rename = "do")]
    action: String,
    training: Option<String>,
    layer: Option<usize>,
    c: Option<f64>,
    param: Option<String>,
    value: Option<toml::Value>,
    n: Option<usize>,
    near: Option<[f64; 2]>,
    zoom: Option<f64>,
    center: Option<[f64; 2]>,
    over: Option<f64>,
    show: Option<bool>,
    open: Option<String>,
    text: Option<String>,
    #[serde(rename = "for")]
    seconds: Option<f64>,
}

impl RawStep {
    /// The optional fields that are set, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                v.push(name)
            }
        };
        add(self.training.is_some(), "training");
        add(self.layer.is_some(), "layer");
        add(self.c.is_some(), "c");
        add(self.param.is_some(), "param");
        add(self.value.is_some(), "value");
        add(self.n.is_some(), "n");
        add(self.near.is_some(), "near");
        add(self.zoom.is_some(), "zoom");
        add(self.center.is_some(), "center");
        add(self.over.is_some(), "over");
        add(self.show.is_some(), "show");
        add(self.open.is_some(), "open");
        add(self.text.is_some(), "text");
        add(self.seconds.is_some(), "for");
        v
    }
}

/// The actions a script knows, for error messages.
pub const ACTIONS: &str = "start, pause, reset, rescale, set, add-fish, watch, camera, panels, caption";

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn job_kind(name: &str) -> Result<JobKind, String> {
    name.parse()
}

fn finite(v: f64, what: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, String> {
    if v.is_finite() && range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{what} must be {} to {}, got {}",
            number(*range.start()),
            number(*range.end()),
            number(v)
        ))
    }
}

impl Script {
    /// Reads and checks a script file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the script {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("script {}, {e}", path.display()))
    }

    /// Parses and checks a script: every error names its line (`line N: why`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawScript = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            match line {
                Some(l) => format!("line {l}: {}", e.message().trim()),
                None => e.message().trim().to_string(),
            }
        })?;
        // Header errors point at their key's line.
        let key_line = |key: &str| {
            text.lines()
                .position(|l| {
                    l.trim_start().starts_with(key)
                        && l[l.find(key).unwrap_or(0) + key.len()..].trim_start().starts_with('=')
                })
                .map_or(1, |k| k + 1)
        };
        let header_err = |key: &str, why: String| format!("line {}: {why}", key_line(key));
        let scene = raw
            .scene
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| header_err("scene", e))?;
        let trainings = raw
            .trainings
            .as_ref()
            .map(|v| v.iter().map(|s| job_kind(s)).collect::<Result<Vec<_>, _>>())
            .transpose()
            .map_err(|e| header_err("trainings", e))?;
        if let Some(s) = raw.seconds {
            finite(s, "seconds", 0.01..=3600.0).map_err(|e| header_err("seconds", e))?;
        }
        if let Some(f) = raw.fps {
            finite(f as f64, "fps", 1.0..=60.0).map_err(|e| header_err("fps", e))?;
        }
        if let Some(f) = raw.frames {
            finite(f as f64, "frames", 1.0..=100_000.0).map_err(|e| header_err("frames", e))?;
        }
        if raw.seconds.is_some() && raw.frames.is_some() {
            return Err(header_err("frames", "give seconds or frames, not both".into()));
        }
        if let Some(n) = raw.fish {
            crate::app::options::fish(n).map_err(|e| header_err("fish", e))?;
        }
        if let Some(r) = raw.dcgan_per_frame {
            finite(r, "dcgan_per_frame", 0.0..=8.0).map_err(|e| header_err("dcgan_per_frame", e))?;
        }
        if let Some(b) = raw.dcgan_batch {
            finite(b as f64, "dcgan_batch", 2.0..=512.0).map_err(|e| header_err("dcgan_batch", e))?;
        }
        let size = raw
            .size
            .as_deref()
            .map(crate::record::settings::parse_size)
            .transpose()
            .map_err(|e| header_err("size", e.to_string().replace("--size", "size")))?;
        let header = Header {
            scene,
            trainings,
            fish: raw.fish,
            seed: raw.seed,
            seconds: raw.seconds,
            frames: raw.frames,
            fps: raw.fps,
            size,
            warmup: raw.warmup,
            dcgan_per_frame: raw.dcgan_per_frame,
            dcgan_batch: raw.dcgan_batch,
        };
        let mut steps = Vec::new();
        let mut last = 0.0;
        // `set` steps are tried in order on the default parameters, so a bad value (or a
        // combination the rules reject) is found here, with its line.
        let mut params = BoidParams::default();
        for spanned in &raw.step {
            let line = line_of(text, spanned.span().start);
            let s = spanned.get_ref();
            let at = |why: String| format!("line {line}: {why}");
            if !(s.at.is_finite() && s.at >= 0.0) {
                return Err(at(format!(
                    "`at` must be a time in seconds (0 or more), got {}",
                    number(s.at)
                )));
            }
            if s.at < last {
                return Err(at(format!(
                    "steps must be in time order: at = {} comes after a step at {last}",
                    s.at
                )));
            }
            last = s.at;
            let (action, allowed): (Action, &[&str]) = match s.action.as_str() {
                "start" | "pause" | "reset" => {
                    let target = match s.training.as_deref() {
                        None | Some("all") => Target::All,
                        Some(name) => Target::One(job_kind(name).map_err(at)?),
                    };
                    let a = match s.action.as_str() {
                        "start" => Action::Start(target),
                        "pause" => Action::Pause(target),
                        _ => Action::Reset(target),
                    };
                    (a, &["training"])
                }
                "rescale" => {
                    let layer = s.layer.ok_or_else(|| at("rescale needs `layer` (1 or 2)".into()))?;
                    if !(1..=2).contains(&layer) {
                        return Err(at(format!("rescale's `layer` must be 1 or 2, got {layer}")));
                    }
                    let c = s.c.ok_or_else(|| at("rescale needs `c` (the factor)".into()))?;
                    let c = finite(c, "rescale's `c`", 1e-3..=1e3).map_err(at)?;
                    (
                        Action::Rescale {
                            layer: layer - 1,
                            c: c as f32,
                        },
                        &["layer", "c"],
                    )
                }
                "set" => {
                    let param = s.param.clone().ok_or_else(|| at("set needs `param`".into()))?;
                    let value = s.value.clone().ok_or_else(|| at("set needs `value`".into()))?;
                    params = set_param(&params, &param, &value).map_err(at)?;
                    (Action::Set { param, value }, &["param", "value"])
                }
                "add-fish" => {
                    let n = s.n.ok_or_else(|| at("add-fish needs `n`".into()))?;
                    finite(n as f64, "add-fish's `n`", 1.0..=crate::boids::MAX_FISH as f64).map_err(at)?;
                    (Action::AddFish(n), &["n"])
                }
                "watch" => {
                    let near = s
                        .near
                        .unwrap_or([params.width as f64 / 2.0, params.height as f64 / 2.0]);
                    if !near.iter().all(|v| v.is_finite()) {
                        return Err(at("watch's `near` must be two numbers".into()));
                    }
                    (Action::Watch(Vec2::new(near[0] as f32, near[1] as f32)), &["near"])
                }
                "camera" => {
                    let zoom = finite(s.zoom.unwrap_or(1.0), "camera's `zoom`", 0.25..=20.0).map_err(at)?;
                    let over = finite(s.over.unwrap_or(0.0), "camera's `over`", 0.0..=600.0).map_err(at)?;
                    let center = match s.center {
                        Some(c) if c.iter().all(|v| v.is_finite()) => Some(Vec2::new(c[0] as f32, c[1] as f32)),
                        Some(_) => return Err(at("camera's `center` must be two numbers".into())),
                        None => None,
                    };
                    (
                        Action::Camera {
                            zoom: zoom as f32,
                            center,
                            over: over as f32,
                        },
                        &["zoom", "center", "over"],
                    )
                }
                "panels" => {
                    let open = s.open.as_deref().map(job_kind).transpose().map_err(at)?;
                    if s.show.is_none() && open.is_none() {
                        return Err(at("panels needs `show` (true or false) or `open` (a training)".into()));
                    }
                    (Action::Panels { show: s.show, open }, &["show", "open"])
                }
                "caption" => {
                    let text = s
                        .text
                        .clone()
                        .ok_or_else(|| at("caption needs `text` (\"\" clears it)".into()))?;
                    let seconds = s
                        .seconds
                        .map(|v| finite(v, "caption's `for`", 0.01..=3600.0))
                        .transpose()
                        .map_err(at)?;
                    (Action::Caption { text, seconds }, &["text", "for"])
                }
                other => return Err(at(format!("unknown action `{other}`; use one of {ACTIONS}"))),
            };
            if let Some(extra) = s.given().into_iter().find(|f| !allowed.contains(f)) {
                return Err(at(format!("`{extra}` does not apply to `{}`", s.action)));
            }
            steps.push(Step { at: s.at, line, action });
        }
        Ok(Script { header, steps })
    }

    /// Checks the steps against the recording they drive: its length and which trainings it has.
    pub fn check(&self, seconds: f64, trainings: &[JobKind]) -> Result<(), String> {
        for s in &self.steps {
            let at = |why: String| format!("line {}: {why}", s.line);
            if s.at > seconds + 1e-9 {
                return Err(at(format!(
                    "at = {} is after the recording's end ({seconds:.2} s)",
                    s.at
                )));
            }
            let need = |k: JobKind| {
                if trainings.contains(&k) {
                    Ok(())
                } else {
                    Err(at(format!(
                        "the recording has no {} training (scene = \"training\" and trainings = [...] give it one)",
                        k.name()
                    )))
                }
            };
            match &s.action {
                Action::Start(Target::One(k)) | Action::Pause(Target::One(k)) | Action::Reset(Target::One(k)) => {
                    need(*k)?
                }
                Action::Panels { open: Some(k), .. } => need(*k)?,
                Action::Rescale { .. } => need(JobKind::PathSgd)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// `params` with one field (by its preset name) set to `value`, checked as a whole.
pub fn set_param(params: &BoidParams, name: &str, value: &toml::Value) -> Result<BoidParams, String> {
    let mut table = toml::Table::try_from(params).map_err(|e| e.to_string())?;
    if !table.contains_key(name) {
        let known: Vec<&str> = table.keys().map(String::as_str).collect();
        return Err(format!(
            "unknown boid parameter `{name}`; use one of {}",
            known.join(", ")
        ));
    }
    // Integers are numbers too.
    let value = match value {
        toml::Value::Integer(i) if table[name].is_float() => toml::Value::Float(*i as f64),
        v => v.clone(),
    };
    table.insert(name.to_string(), value);
    let next: BoidParams = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| format!("`{name}`: {}", e.message().trim()))?;
    next.validate().map_err(|e| format!("`{name}`: {e}"))?;
    Ok(next)
}

mod apply;
pub use apply::{DueSteps, ScriptPlugin};
