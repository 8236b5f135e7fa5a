//! The settings a recording shares with its script's header: which scene, what size.

/// What to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordScene {
    /// The school only.
    Tank,
    /// The school with the trainings running (the DCGAN poster on the wall).
    Training,
}

impl std::str::FromStr for RecordScene {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tank" => Ok(Self::Tank),
            "training" => Ok(Self::Training),
            _ => Err(format!("unknown scene '{s}'; use tank or training")),
        }
    }
}

/// Parses `WxH`.
pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("--size must look like 640x360, got {s}"))?;
    let (w, h): (u32, u32) = (
        w.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--size must look like 640x360, got {s}"))?,
        h.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--size must look like 640x360, got {s}"))?,
    );
    anyhow::ensure!(
        (16..=4096).contains(&w) && (16..=4096).contains(&h),
        "--size must be 16..4096 on each side, got {w}x{h}"
    );
    Ok((w, h))
}
