//! The messages between the page and a training worker (a browser Web Worker that runs one
//! job, see [`super::browser`]), as bytes: `postMessage` carries a `Uint8Array`. Plain Rust,
//! tested on native.

use super::{Command, Quality, Report};

/// The page to a worker.
#[derive(Clone, Debug, PartialEq)]
pub enum ToWorker {
    /// Build the job this spec describes (the app's encoding of the job's kind and settings).
    Start(Vec<u8>),
    /// Take one step and report it.
    Step,
    Cmd(Command),
}

/// A worker to the page.
#[derive(Clone, Debug, PartialEq)]
pub enum FromWorker {
    /// The worker listens: the page sends [`ToWorker::Start`].
    Hello,
    /// The job cannot be built yet: what it waits for (e.g. the digits' download).
    Waiting(String),
    /// The job is built: its curves, scale and first picture.
    Ready {
        series: Vec<&'static str>,
        log_scale: bool,
        image: Option<(Vec<u8>, u32, u32)>,
    },
    Report(Report),
    /// The job could not be built: why.
    Error(String),
}

/// A name made `'static` (curve names cross the wire as text); each distinct name is kept once.
pub fn intern(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match names.get(name) {
        Some(&n) => n,
        None => {
            let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
            names.insert(n);
            n
        }
    }
}

/// Appends values to a message.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u64(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
}

/// Reads values from a message in the order they were written; every read fails cleanly on a
/// short or malformed message.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!("message ends early ({n} bytes wanted, {} left)", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "bad u64")?))
    }
    pub fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "bad f64")?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "length too large")?;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| format!("bad text: {e}"))
    }
    pub fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("bad flag {b}")),
        }
    }
    /// The message had nothing more.
    pub fn end(&self) -> Result<(), String> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(format!("{n} bytes left over")),
        }
    }
}

fn put_image(w: &mut Writer, image: &Option<(Vec<u8>, u32, u32)>) {
    match image {
        None => {
            w.u8(0);
        }
        Some((px, width, height)) => {
            w.u8(1).u64(*width as u64).u64(*height as u64).bytes(px);
        }
    }
}

fn get_image(r: &mut Reader) -> Result<Option<(Vec<u8>, u32, u32)>, String> {
    if !r.bool()? {
        return Ok(None);
    }
    let dim = |v: u64| u32::try_from(v).map_err(|_| format!("bad image size {v}"));
    let (w, h) = (dim(r.u64()?)?, dim(r.u64()?)?);
    let px = r.bytes()?.to_vec();
    if px.len() as u64 != w as u64 * h as u64 {
        return Err(format!("image of {w}x{h} with {} pixels", px.len()));
    }
    Ok(Some((px, w, h)))
}

fn put_command(w: &mut Writer, c: &Command) {
    match c {
        Command::Rescale { layer, c } => {
            w.u8(0).u64(*layer as u64).f64(*c as f64);
        }
        Command::SetLr(lr) => {
            w.u8(1).f64(*lr);
        }
    }
}

fn get_command(r: &mut Reader) -> Result<Command, String> {
    match r.u8()? {
        0 => Ok(Command::Rescale {
            layer: r.u64()? as usize,
            c: r.f64()? as f32,
        }),
        1 => Ok(Command::SetLr(r.f64()?)),
        t => Err(format!("unknown command {t}")),
    }
}

fn put_report(w: &mut Writer, rep: &Report) {
    w.u64(rep.step).u8(rep.diverged as u8).u8(rep.finished as u8);
    w.u64(rep.values.len() as u64);
    for (name, v) in &rep.values {
        w.str(name).f64(*v);
    }
    put_image(w, &rep.image);
    match &rep.quality {
        None => {
            w.u8(0);
        }
        Some(q) => {
            w.u8(1).u64(q.step).f64(q.score).f64(q.frechet);
        }
    }
    match &rep.error {
        None => w.u8(0),
        Some(e) => w.u8(1).str(e),
    };
}

fn get_report(r: &mut Reader) -> Result<Report, String> {
    let step = r.u64()?;
    let (diverged, finished) = (r.bool()?, r.bool()?);
    let n = r.u64()?;
    // Each value takes at least 16 bytes: a count beyond that is a bad message, not an allocation.
    if n > (r.0.len() / 16) as u64 {
        return Err(format!("{n} values in a message of {} bytes", r.0.len()));
    }
    let values = (0..n)
        .map(|_| Ok((intern(r.str()?), r.f64()?)))
        .collect::<Result<Vec<_>, String>>()?;
    let image = get_image(r)?;
    let quality = if r.bool()? {
        Some(Quality {
            step: r.u64()?,
            score: r.f64()?,
            frechet: r.f64()?,
        })
    } else {
        None
    };
    let error = if r.bool()? { Some(r.str()?.to_owned()) } else { None };
    Ok(Report {
        step,
        values,
        image,
        diverged,
        finished,
        quality,
        error,
    })
}

impl ToWorker {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            ToWorker::Start(spec) => {
                w.u8(0).bytes(spec);
            }
            ToWorker::Step => {
                w.u8(1);
            }
            ToWorker::Cmd(c) => {
                w.u8(2);
                put_command(&mut w, c);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        let m = match r.u8()? {
            0 => ToWorker::Start(r.bytes()?.to_vec()),
            1 => ToWorker::Step,
            2 => ToWorker::Cmd(get_command(&mut r)?),
            t => return Err(format!("unknown message {t} to a worker")),
        };
        r.end()?;
        Ok(m)
    }
}

impl FromWorker {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            FromWorker::Hello => {
                w.u8(0);
            }
            FromWorker::Waiting(what) => {
                w.u8(1).str(what);
            }
            FromWorker::Ready {
                series,
                log_scale,
                image,
            } => {
                w.u8(2).u8(*log_scale as u8).u64(series.len() as u64);
                for s in series {
                    w.str(s);
                }
                put_image(&mut w, image);
            }
            FromWorker::Report(rep) => {
                w.u8(3);
                put_report(&mut w, rep);
            }
            FromWorker::Error(e) => {
                w.u8(4).str(e);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        let m = match r.u8()? {
            0 => FromWorker::Hello,
            1 => FromWorker::Waiting(r.str()?.to_owned()),
            2 => {
                let log_scale = r.bool()?;
                let n = r.u64()?;
                if n > (r.0.len() / 8) as u64 {
                    return Err(format!("{n} curves in a message of {} bytes", r.0.len()));
                }
                let series = (0..n).map(|_| r.str().map(intern)).collect::<Result<Vec<_>, _>>()?;
                FromWorker::Ready {
                    series,
                    log_scale,
                    image: get_image(&mut r)?,
                }
            }
            3 => FromWorker::Report(get_report(&mut r)?),
            4 => FromWorker::Error(r.str()?.to_owned()),
            t => return Err(format!("unknown message {t} from a worker")),
        };
        r.end()?;
        Ok(m)
    }
}
