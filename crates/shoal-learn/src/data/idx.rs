//! The IDX file format (MNIST, Fashion-MNIST, EMNIST), gzip or raw, validated.
//!
//! Layout: two zero bytes, a dtype byte, a rank byte, `rank` big-endian u32
//! dimensions, then the values. Nothing is allocated from a header's claims:
//! the body is read incrementally and must be exactly as long as the header says.

use flate2::read::GzDecoder;
use std::io::Read;

/// The element type byte of an IDX file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl IdxType {
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x08 => Self::U8,
            0x09 => Self::I8,
            0x0B => Self::I16,
            0x0C => Self::I32,
            0x0D => Self::F32,
            0x0E => Self::F64,
            _ => return None,
        })
    }

    pub fn byte(self) -> u8 {
        match self {
            Self::U8 => 0x08,
            Self::I8 => 0x09,
            Self::I16 => 0x0B,
            Self::I32 => 0x0C,
            Self::F32 => 0x0D,
            Self::F64 => 0x0E,
        }
    }

    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

/// Why an IDX file could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdxError {
    #[error("not an IDX file: the magic number starts {0:02x} {1:02x}, expected 00 00")]
    BadMagic(u8, u8),
    #[error("unknown IDX element type byte 0x{0:02x}")]
    UnknownType(u8),
    #[error("IDX header is cut short ({0} bytes)")]
    ShortHeader(usize),
    #[error("IDX rank {found}, expected {expected}")]
    WrongRank { expected: usize, found: usize },
    #[error("IDX element type {found:?}, expected {expected:?}")]
    WrongType { expected: IdxType, found: IdxType },
    #[error("IDX header claims {claimed} bytes of data, more than the limit of {limit}")]
    TooLarge { claimed: u128, limit: u64 },
    #[error("IDX data is truncated: the header needs {expected} bytes, the file has {found}")]
    Truncated { expected: u64, found: u64 },
    #[error("IDX file has data after the {expected} bytes its header describes")]
    TrailingData { expected: u64 },
    #[error("corrupt gzip stream: {0}")]
    Gzip(String),
    #[error("read error: {0}")]
    Io(String),
}

/// A parsed IDX array: dimensions and the raw big-endian body.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dtype: IdxType,
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Largest body accepted (4 GiB): more than full EMNIST byclass (~550 MB).
pub const MAX_IDX_BYTES: u64 = 4 << 30;

/// Parses IDX bytes, gzip-compressed or raw (detected by the gzip magic).
pub fn parse(bytes: &[u8]) -> Result<IdxArray, IdxError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read(GzDecoder::new(bytes), true)
    } else {
        read(bytes, false)
    }
}

fn io_err(e: std::io::Error, gz: bool) -> IdxError {
    if gz {
        IdxError::Gzip(e.to_string())
    } else {
        IdxError::Io(e.to_string())
    }
}

/// Reads up to `n` bytes; returns how many were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8], gz: bool) -> Result<usize, IdxError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e, gz)),
        }
    }
    Ok(got)
}

/// Reads one IDX array from a stream, checking every claim of the header.
pub fn read(mut r: impl Read, gz: bool) -> Result<IdxArray, IdxError> {
    let mut head = [0u8; 4];
    let got = read_up_to(&mut r, &mut head, gz)?;
    if got < 4 {
        return Err(IdxError::ShortHeader(got));
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(IdxError::BadMagic(head[0], head[1]));
    }
    let dtype = IdxType::from_byte(head[2]).ok_or(IdxError::UnknownType(head[2]))?;
    let rank = head[3] as usize;
    let mut dim_bytes = vec![0u8; 4 * rank];
    let got = read_up_to(&mut r, &mut dim_bytes, gz)?;
    if got < dim_bytes.len() {
        return Err(IdxError::ShortHeader(4 + got));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let claimed: u128 = dims
        .iter()
        .fold(dtype.size() as u128, |acc, &d| acc.saturating_mul(d as u128));
    if claimed > MAX_IDX_BYTES as u128 {
        return Err(IdxError::TooLarge {
            claimed,
            limit: MAX_IDX_BYTES,
        });
    }
    let expected = claimed as u64;
    // Grows only as real bytes arrive: a lying header cannot make us allocate.
    let mut data = Vec::new();
    r.by_ref()
        .take(expected)
        .read_to_end(&mut data)
        .map_err(|e| io_err(e, gz))?;
    if (data.len() as u64) < expected {
        return Err(IdxError::Truncated {
            expected,
            found: data.len() as u64,
        });
    }
    let mut extra = [0u8; 1];
    if read_up_to(&mut r, &mut extra, gz)? > 0 {
        return Err(IdxError::TrailingData { expected });
    }
    Ok(IdxArray { dtype, dims, data })
}

/// Encodes an array as raw IDX bytes (for tests and tools).
pub fn encode(dtype: IdxType, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, dtype.byte(), dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
