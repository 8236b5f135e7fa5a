//! The three live trainings by name, with the settings the app's panels edit, and how each is
//! built on a device. Plain Rust (no Bevy), so that a browser training worker that carries no
//! renderer (the GPU trainer bundle) builds the same jobs as the app does; [`encode_spec`] is
//! what the page sends such a worker.

use super::wire::{Reader, Writer};
use super::{BasicsJob, DcganJob, Job, PathSgdJob};
use crate::dcgan::{DcganConfig, OptimizerKind};

/// The training jobs the app can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Basics,
    PathSgd,
    Dcgan,
}

impl std::str::FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "basics" => Ok(Self::Basics),
            "path-sgd" => Ok(Self::PathSgd),
            "dcgan" => Ok(Self::Dcgan),
            _ => Err(format!("unknown training '{s}'; use basics, path-sgd or dcgan")),
        }
    }
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Basics => "Tensor basics",
            JobKind::PathSgd => "Path-SGD",
            JobKind::Dcgan => "DCGAN",
        }
    }
}

/// Hyper-parameters the panels edit; a job picks them up when it is (re)built on Reset.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSettings {
    /// A `shoal dcgan` checkpoint the DCGAN starts from (`--dcgan-from`; its settings replace
    /// the batch and optimiser here); `None`: from scratch.
    pub dcgan_from: Option<std::sync::Arc<Vec<u8>>>,
    pub path_sgd_p: f64,
    pub path_sgd_batch: usize,
    pub path_sgd_hidden: usize,
    pub dcgan_batch: usize,
    pub dcgan_optimizer: OptimizerKind,
    /// DCGAN iterations between sample pictures.
    pub dcgan_grid_every: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            dcgan_from: None,
            path_sgd_p: 2.0,
            path_sgd_batch: 100,
            path_sgd_hidden: 256,
            // The live recipe: digits soonest in wall-clock time (Adam at batch 64, lr
            // LIVE_ADAM_LR). In the browser one thread trains: a smaller batch there.
            dcgan_batch: if cfg!(target_arch = "wasm32") { 16 } else { 64 },
            dcgan_optimizer: OptimizerKind::Adam,
            dcgan_grid_every: 5,
        }
    }
}

/// The live recipe's Adam learning rate: the rate that gave digits soonest at batch 64 (the
/// comparison is in docs/dcgan.md). In the browser, at batch 16, 1e-3 collapses (D wins), so
/// there the DCGAN's own 2e-4 (`None`).
pub const LIVE_ADAM_LR: Option<f64> = if cfg!(target_arch = "wasm32") { None } else { Some(1e-3) };

/// Where a job trains.
#[derive(Clone, Debug)]
pub enum Device {
    /// burn Flex on the CPU.
    Cpu,
    /// burn wgpu on this device.
    #[cfg(feature = "gpu")]
    Gpu(crate::gpu::WgpuDevice),
}

/// Where a job's steps run, which decides how a CPU DCGAN spends its time besides training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// A thread of its own (the native app): its live score is measured on a helper thread at
    /// idle priority ([`super::DcganJob::scoring_aside`]).
    OwnThread,
    /// The thread that also draws the frames (a browser page without workers): it steps in
    /// halves.
    PageThread,
    /// Everything within the step, in order (a recording's steps, a browser worker, tests).
    InOrder,
}

/// The job `kind` with settings `s` on `device` (the basics, a net of a few hundred weights,
/// always on the CPU), stepped as `host` says. In the browser a GPU job reads its numbers
/// asynchronously (WebGPU has no synchronous read).
pub fn build(kind: JobKind, s: &JobSettings, device: &Device, host: Host) -> anyhow::Result<Box<dyn Job>> {
    match kind {
        JobKind::Basics => Ok(Box::new(BasicsJob::new(0, 1000))),
        JobKind::PathSgd => {
            let (h, b, p) = (s.path_sgd_hidden, s.path_sgd_batch, s.path_sgd_p);
            Ok(match device {
                Device::Cpu => Box::new(PathSgdJob::new(h, b, p, 1)?) as Box<dyn Job>,
                #[cfg(feature = "gpu")]
                Device::Gpu(dev) => {
                    let job = PathSgdJob::<crate::gpu::GpuAutodiff>::on(h, b, p, 1, dev.clone())?;
                    #[cfg(target_arch = "wasm32")]
                    let job = job.reading_async();
                    Box::new(job)
                }
            })
        }
        JobKind::Dcgan => {
            let cfg = DcganConfig {
                batch: s.dcgan_batch,
                optimizer: s.dcgan_optimizer,
                // The live recipe's Adam steps faster than `shoal dcgan`'s 2e-4.
                base_lr: (s.dcgan_optimizer == OptimizerKind::Adam)
                    .then_some(LIVE_ADAM_LR)
                    .flatten(),
                ..Default::default()
            };
            let every = s.dcgan_grid_every;
            Ok(match device {
                Device::Cpu => {
                    let job = match &s.dcgan_from {
                        Some(bytes) => {
                            DcganJob::<crate::CpuAutodiff>::from_checkpoint(bytes, every, Default::default())?
                        }
                        None => DcganJob::new(cfg, every)?,
                    };
                    let job = match host {
                        // Half a step at a time holds the frames up half as long.
                        Host::PageThread => job.in_halves(),
                        #[cfg(not(target_arch = "wasm32"))]
                        Host::OwnThread => job.scoring_aside(),
                        _ => job,
                    };
                    Box::new(job) as Box<dyn Job>
                }
                #[cfg(feature = "gpu")]
                Device::Gpu(dev) => {
                    type Gpu = crate::gpu::GpuAutodiff;
                    let job = match &s.dcgan_from {
                        Some(bytes) => DcganJob::<Gpu>::from_checkpoint(bytes, every, dev.clone())?,
                        None => DcganJob::<Gpu>::on(cfg, every, dev.clone())?,
                    };
                    #[cfg(target_arch = "wasm32")]
                    let job = job.reading_async();
                    Box::new(job)
                }
            })
        }
    }
}

/// A job's kind, its settings, and whether it trains on the GPU, as the page sends them to a
/// training worker (which builds the job from them: [`decode_spec`]). A checkpoint to start from
/// is not sent (the browser has none).
pub fn encode_spec(kind: JobKind, s: &JobSettings, gpu: bool) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(match kind {
        JobKind::Basics => 0,
        JobKind::PathSgd => 1,
        JobKind::Dcgan => 2,
    });
    w.u8(gpu as u8)
        .f64(s.path_sgd_p)
        .u64(s.path_sgd_batch as u64)
        .u64(s.path_sgd_hidden as u64)
        .u64(s.dcgan_batch as u64)
        .u8(match s.dcgan_optimizer {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Adam => 1,
        })
        .u64(s.dcgan_grid_every);
    w.0
}

/// The job a worker is asked to train, and whether on the GPU; a spec that is not
/// [`encode_spec`]'s is an error.
pub fn decode_spec(bytes: &[u8]) -> Result<(JobKind, JobSettings, bool), String> {
    let mut r = Reader(bytes);
    let kind = match r.u8()? {
        0 => JobKind::Basics,
        1 => JobKind::PathSgd,
        2 => JobKind::Dcgan,
        k => return Err(format!("unknown training {k}")),
    };
    let gpu = match r.u8()? {
        0 => false,
        1 => true,
        g => return Err(format!("unknown device {g}")),
    };
    let size = |v: u64| usize::try_from(v).map_err(|_| format!("size {v} too large"));
    let s = JobSettings {
        dcgan_from: None,
        path_sgd_p: r.f64()?,
        path_sgd_batch: size(r.u64()?)?,
        path_sgd_hidden: size(r.u64()?)?,
        dcgan_batch: size(r.u64()?)?,
        dcgan_optimizer: match r.u8()? {
            0 => OptimizerKind::Sgd,
            1 => OptimizerKind::Adam,
            o => return Err(format!("unknown optimiser {o}")),
        },
        dcgan_grid_every: r.u64()?,
    };
    r.end()?;
    Ok((kind, s, gpu))
}
