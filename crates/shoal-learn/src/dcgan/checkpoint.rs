//! Checkpoints of a DCGAN run: G, D, both optimiser states, epoch, iteration and the
//! random state, in one file written atomically (temp file + rename).
//!
//! Layout: `SHOALGAN1\n`, a little-endian u32 length, a JSON header (config, counters,
//! section lengths and CRC-32s), then the four sections (burn binary records), and a fifth
//! with G's moving average when the run keeps one.

use super::model::Generator;
use super::{DcganConfig, Trainer, optimizer};
use crate::optim::{AnyOptimizer, FusedAdam, FusedSgd};
use crate::rng::Rng64;
use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdaGrad, Optimizer, Sgd};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;

const MAGIC: &[u8] = b"SHOALGAN1\n";

type Rec = BinBytesRecorder<FullPrecisionSettings>;

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {0}: {1}")]
    Io(String, String),
    #[error("not a shoal DCGAN checkpoint (bad magic)")]
    BadMagic,
    #[error("checkpoint is truncated ({0})")]
    Truncated(&'static str),
    #[error("checkpoint header is corrupt: {0}")]
    Header(String),
    #[error("checkpoint section '{0}' is corrupt (CRC mismatch)")]
    Crc(&'static str),
    #[error("checkpoint section '{0}' cannot be decoded: {1}")]
    Decode(&'static str, String),
    /// Made with other settings or data (the message names both values).
    #[error("{0}")]
    Mismatch(String),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    cfg: DcganConfig,
    epoch: usize,
    iteration: u64,
    rng_state: u64,
    /// (length, crc32) of G, D, G's optimiser, D's optimiser.
    sections: [(u64, u32); 4],
    /// (length, crc32) of G's moving average, when the run keeps one (absent in older files).
    #[serde(default)]
    ema_section: Option<(u64, u32)>,
    #[serde(default)]
    ema_updates: u64,
    /// The training data: (images, CRC-32 of images and labels). Absent in older files.
    #[serde(default)]
    data: Option<(usize, u32)>,
}

/// What identifies a training set in a checkpoint: its size and a CRC-32 of its bytes.
fn data_fingerprint(d: &crate::data::Digits) -> (usize, u32) {
    (d.len(), crate::crc32(&[&d.images, &d.labels]))
}

const NAMES: [&str; 5] = [
    "generator",
    "discriminator",
    "generator optimizer",
    "discriminator optimizer",
    "generator average",
];

fn crc(bytes: &[u8]) -> u32 {
    crate::crc32(&[bytes])
}

/// Decodes a burn record; the recorder panics on malformed bytes (bincode `unwrap`), which
/// is turned into an error here.
pub(crate) fn decode_record<B: burn::tensor::backend::Backend, R: burn::record::Record<B>>(
    bytes: Vec<u8>,
    dev: &B::Device,
) -> Result<R, String> {
    let dev = dev.clone();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || Rec::default().load(bytes, &dev))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("malformed record".into()),
    }
}

fn enc<R: burn::record::Record<B>, B: burn::tensor::backend::Backend>(r: R) -> anyhow::Result<Vec<u8>> {
    Rec::default()
        .record(r, ())
        .map_err(|e| anyhow::anyhow!("cannot encode checkpoint: {e}"))
}

type Record<B, M, O> = <OptimizerAdaptor<O, M, B> as Optimizer<M, B>>::Record;

/// A decoded optimiser state, not yet applied.
enum OptRecord<B: AutodiffBackend, M: AutodiffModule<B>> {
    Sgd(Record<B, M, Sgd<B::InnerBackend>>),
    Momentum(Record<B, M, FusedSgd>),
    AdaGrad(Record<B, M, AdaGrad>),
    Adam(Record<B, M, FusedAdam>),
}

fn opt_bytes<B: AutodiffBackend, M: AutodiffModule<B>>(o: &AnyOptimizer<B, M>) -> anyhow::Result<Vec<u8>> {
    match o {
        AnyOptimizer::Sgd(o) => enc::<_, B>(o.to_record()),
        AnyOptimizer::Momentum(o) => enc::<_, B>(o.to_record()),
        AnyOptimizer::AdaGrad(o) => enc::<_, B>(o.to_record()),
        AnyOptimizer::Adam(o) => enc::<_, B>(o.to_record()),
    }
}

/// Decodes `bytes` as the state of an optimiser of `o`'s kind.
fn decode_opt<B: AutodiffBackend, M: AutodiffModule<B>>(
    o: &AnyOptimizer<B, M>,
    bytes: Vec<u8>,
    dev: &B::Device,
    name: &'static str,
) -> Result<OptRecord<B, M>, CheckpointError> {
    let err = |e: String| CheckpointError::Decode(name, e);
    Ok(match o {
        AnyOptimizer::Sgd(_) => OptRecord::Sgd(decode_record::<B, _>(bytes, dev).map_err(err)?),
        AnyOptimizer::Momentum(_) => OptRecord::Momentum(decode_record::<B, _>(bytes, dev).map_err(err)?),
        AnyOptimizer::AdaGrad(_) => OptRecord::AdaGrad(decode_record::<B, _>(bytes, dev).map_err(err)?),
        AnyOptimizer::Adam(_) => OptRecord::Adam(decode_record::<B, _>(bytes, dev).map_err(err)?),
    })
}

fn apply_opt<B: AutodiffBackend, M: AutodiffModule<B>>(
    o: AnyOptimizer<B, M>,
    record: OptRecord<B, M>,
) -> AnyOptimizer<B, M> {
    match (o, record) {
        (AnyOptimizer::Sgd(o), OptRecord::Sgd(r)) => AnyOptimizer::Sgd(o.load_record(r)),
        (AnyOptimizer::Momentum(o), OptRecord::Momentum(r)) => AnyOptimizer::Momentum(o.load_record(r)),
        (AnyOptimizer::AdaGrad(o), OptRecord::AdaGrad(r)) => AnyOptimizer::AdaGrad(o.load_record(r)),
        (AnyOptimizer::Adam(o), OptRecord::Adam(r)) => AnyOptimizer::Adam(o.load_record(r)),
        _ => unreachable!("records are decoded for the optimiser's own kind"),
    }
}

/// A checkpoint's header and sections (G, D, their optimisers, G's average if kept), each
/// checked against its length and CRC.
fn parse(bytes: &[u8]) -> Result<(Header, Vec<Vec<u8>>), CheckpointError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(if bytes.len() < MAGIC.len() {
        CheckpointError::Truncated("magic")
    } else {
        CheckpointError::BadMagic
    })?;
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .ok_or(CheckpointError::Truncated("header length"))?
        .try_into()
        .unwrap();
    let hlen = u32::from_le_bytes(len_bytes) as usize;
    let json = rest.get(4..4 + hlen).ok_or(CheckpointError::Truncated("header"))?;
    let header: Header = serde_json::from_slice(json).map_err(|e| CheckpointError::Header(e.to_string()))?;
    let mut at = 4 + hlen;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for (k, &(len, sum)) in header.sections.iter().chain(&header.ema_section).enumerate() {
        let end = at
            .checked_add(len as usize)
            .ok_or(CheckpointError::Truncated(NAMES[k]))?;
        let part = rest.get(at..end).ok_or(CheckpointError::Truncated(NAMES[k]))?;
        if crc(part) != sum {
            return Err(CheckpointError::Crc(NAMES[k]));
        }
        parts.push(part.to_vec());
        at = end;
    }
    if at != rest.len() {
        return Err(CheckpointError::Header("trailing bytes after the last section".into()));
    }
    Ok((header, parts))
}

/// The settings a checkpoint was made with (its header, checked; the weights are not decoded).
pub fn read_config(bytes: &[u8]) -> Result<DcganConfig, CheckpointError> {
    parse(bytes).map(|(header, _)| header.cfg)
}

/// A checkpoint's generator for sampling, without the training data or the rest of the
/// trainer: G's moving average when the run kept one (as its grids show), else G; with the
/// run's settings and the epochs it had finished.
pub fn load_generator<B: burn::tensor::backend::Backend>(
    bytes: &[u8],
    dev: &B::Device,
) -> Result<(Generator<B>, DcganConfig, usize), CheckpointError> {
    let (header, mut parts) = parse(bytes)?;
    let (k, part) = match parts.len() {
        5 => (4, parts.pop().expect("five sections")),
        _ => (0, parts.swap_remove(0)),
    };
    let rec = decode_record::<B, _>(part, dev).map_err(|e| CheckpointError::Decode(NAMES[k], e))?;
    let g = Generator::<B>::new(header.cfg.z, dev).load_record(rec);
    Ok((g, header.cfg, header.epoch))
}

impl<B: AutodiffBackend> Trainer<B> {
    /// The generator's and discriminator's weights (and G's moving average, if kept) as bytes
    /// (burn binary records): equal bytes mean bit-identical weights.
    pub fn weights_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = enc::<_, B>(self.generator().clone().into_record())?;
        out.extend(enc::<_, B>(self.discriminator().clone().into_record())?);
        if let Some(avg) = &self.g_ema {
            out.extend(enc::<_, B::InnerBackend>(avg.clone().into_record())?);
        }
        Ok(out)
    }

    /// Checkpoints are taken at epoch boundaries (the random state then fixes the next
    /// epoch's shuffle and noise exactly).
    pub fn save_checkpoint(&self, path: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.batches.at_epoch_start(),
            "checkpoints are taken at the start of an epoch"
        );
        let mut parts = vec![
            enc::<_, B>(self.generator().clone().into_record())?,
            enc::<_, B>(self.discriminator().clone().into_record())?,
            opt_bytes(&self.opt_g)?,
            opt_bytes(&self.opt_d)?,
        ];
        if let Some(avg) = &self.g_ema {
            parts.push(enc::<_, B::InnerBackend>(avg.clone().into_record())?);
        }
        // The rng state *before* this epoch's shuffle: replaying the shuffle on load.
        let header = Header {
            cfg: self.cfg.clone(),
            epoch: self.epoch,
            iteration: self.iteration,
            rng_state: self.batches.epoch_rng().state,
            sections: std::array::from_fn(|k| (parts[k].len() as u64, crc(&parts[k]))),
            ema_section: parts.get(4).map(|p| (p.len() as u64, crc(p))),
            ema_updates: self.ema_updates,
            data: Some(data_fingerprint(&self.data)),
        };
        let json = serde_json::to_vec(&header)?;
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + parts.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for p in &parts {
            out.extend_from_slice(p);
        }
        shoal_common::fs::write_atomic(path, &out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }

    /// Restores a checkpoint into this trainer (made with the same settings and data).
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| CheckpointError::Io(path.display().to_string(), e.to_string()))?;
        self.load_checkpoint_bytes(&bytes)
    }

    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let (header, parts) = parse(bytes)?;
        if header.cfg.z != self.cfg.z || header.cfg.optimizer != self.cfg.optimizer {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint was made with z={} and optimizer {:?}, this run has z={} and optimizer {:?}",
                header.cfg.z, header.cfg.optimizer, self.cfg.z, self.cfg.optimizer
            )));
        }
        if header.cfg.batch != self.cfg.batch {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint was made with batch {}, this run has batch {} (--batch)",
                header.cfg.batch, self.cfg.batch
            )));
        }
        if header.cfg.seed != self.cfg.seed {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint was made with seed {}, this run has seed {} (--seed)",
                header.cfg.seed, self.cfg.seed
            )));
        }
        if let Some((n, sum)) = header.data {
            let (m, this) = data_fingerprint(&self.data);
            if (n, sum) != (m, this) {
                return Err(CheckpointError::Mismatch(format!(
                    "the checkpoint was trained on {n} images (CRC {sum:08x}), this run's data is {m} images \
                     (CRC {this:08x}): check --data, --emnist-split and --train-limit"
                )));
            }
        }
        if header.ema_section.is_some() && self.cfg.ema.is_none() {
            return Err(CheckpointError::Mismatch(
                "the checkpoint keeps a moving average of G; resume with --ema".into(),
            ));
        }
        let dev = self.device.clone();
        let mut parts = parts.into_iter();
        let g_rec =
            decode_record::<B, _>(parts.next().unwrap(), &dev).map_err(|e| CheckpointError::Decode(NAMES[0], e))?;
        let d_rec =
            decode_record::<B, _>(parts.next().unwrap(), &dev).map_err(|e| CheckpointError::Decode(NAMES[1], e))?;
        // Decode everything before changing anything: a bad file leaves the trainer as it was.
        let og = decode_opt(&self.opt_g, parts.next().unwrap(), &dev, NAMES[2])?;
        let od = decode_opt(&self.opt_d, parts.next().unwrap(), &dev, NAMES[3])?;
        let avg_rec = match parts.next() {
            Some(bytes) => Some(
                decode_record::<B::InnerBackend, _>(bytes, &dev).map_err(|e| CheckpointError::Decode(NAMES[4], e))?,
            ),
            None => None,
        };
        let opt_g = std::mem::replace(&mut self.opt_g, optimizer(self.cfg.optimizer));
        self.opt_g = apply_opt(opt_g, og);
        let opt_d = std::mem::replace(&mut self.opt_d, optimizer(self.cfg.optimizer));
        self.opt_d = apply_opt(opt_d, od);
        self.g = Some(self.g.take().expect("G present").load_record(g_rec));
        self.d = Some(self.d.take().expect("D present").load_record(d_rec));
        // A run that averages G but resumes a checkpoint without an average starts one here.
        self.start_ema();
        if let Some(rec) = avg_rec {
            self.g_ema = self.g_ema.take().map(|avg| avg.load_record(rec));
            self.ema_updates = header.ema_updates;
        }
        self.epoch = header.epoch;
        self.iteration = header.iteration;
        self.batches.restart_epoch(
            header.epoch,
            Rng64 {
                state: header.rng_state,
            },
        );
        Ok(())
    }
}
