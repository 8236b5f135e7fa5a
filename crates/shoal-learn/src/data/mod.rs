//! Handwritten characters for every training in shoal: the bundled 10,000 MNIST
//! digits (no download, no set-up) and a loader for MNIST / Fashion-MNIST / EMNIST
//! IDX files from a directory the user names (`--data DIR`).

mod batches;
pub mod idx;

pub use batches::{Batches, Shuffler};

use idx::{IdxArray, IdxError, IdxType};
use std::fmt;
use std::path::{Path, PathBuf};

/// Image side of every dataset shoal trains on.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;

/// Train or test half of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// The EMNIST splits and what their labels mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmnistSplit {
    ByClass,
    ByMerge,
    Balanced,
    Letters,
    Digits,
    Mnist,
}

const DIGITS: &str = "0123456789";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
/// The 11 lower-case letters kept apart in the merged splits (the rest merge with their capitals).
const MERGED_LOWER: &str = "abdefghnqrt";

impl EmnistSplit {
    pub const ALL: [EmnistSplit; 6] = [
        Self::ByClass,
        Self::ByMerge,
        Self::Balanced,
        Self::Letters,
        Self::Digits,
        Self::Mnist,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ByClass => "byclass",
            Self::ByMerge => "bymerge",
            Self::Balanced => "balanced",
            Self::Letters => "letters",
            Self::Digits => "digits",
            Self::Mnist => "mnist",
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Self::ByClass => 62,
            Self::ByMerge | Self::Balanced => 47,
            Self::Letters => 26,
            Self::Digits | Self::Mnist => 10,
        }
    }

    /// Characters of the classes, in label order (after `letters` is shifted to start at 0).
    pub fn charset(self) -> String {
        match self {
            Self::ByClass => format!("{DIGITS}{UPPER}{LOWER}"),
            Self::ByMerge | Self::Balanced => format!("{DIGITS}{UPPER}{MERGED_LOWER}"),
            Self::Letters => LOWER.to_string(),
            Self::Digits | Self::Mnist => DIGITS.to_string(),
        }
    }

    /// The smallest label in the files (`letters` uses 1..=26).
    pub fn first_label(self) -> u8 {
        if self == Self::Letters { 1 } else { 0 }
    }
}

impl std::str::FromStr for EmnistSplit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| {
            format!(
                "unknown EMNIST split '{s}'; known: {}",
                Self::ALL.map(|e| e.name()).join(", ")
            )
        })
    }
}

impl fmt::Display for EmnistSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Idx { path: String, source: IdxError },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("no {what} file in {dir}: looked for {tried}")]
    Missing { what: String, dir: String, tried: String },
    #[error("{images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    #[error("images are {h}x{w}; shoal needs {SIDE}x{SIDE}")]
    WrongSize { h: usize, w: usize },
    #[error("label {label} at index {index} is outside 0..{classes}")]
    LabelOutOfRange { label: u8, index: usize, classes: usize },
    #[error("the dataset is empty")]
    Empty,
    #[error("an EMNIST split needs the EMNIST files (--data DIR): the bundled digits are MNIST")]
    EmnistWithoutData,
}

/// Images (row-major bytes, `N x 28 x 28`) with labels `0..classes` and their characters.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    /// Character of each class, for display.
    pub charset: Vec<char>,
    /// Where the data came from (for logs and panels).
    pub source: String,
}

/// The bundled digits (see `assets/mnist/README.md`), compiled into the native binary. The
/// browser build leaves them out (they would be a third of its download) and fetches the
/// same files after start ([`provide_live_train`]).
#[cfg(not(target_arch = "wasm32"))]
mod bundled {
    pub const TRAIN_IMAGES: &[u8] = include_bytes!("../../../../assets/mnist/train-images-idx3-ubyte.gz");
    pub const TRAIN_LABELS: &[u8] = include_bytes!("../../../../assets/mnist/train-labels-idx1-ubyte.gz");
    pub const TEST_IMAGES: &[u8] = include_bytes!("../../../../assets/mnist/t10k-images-idx3-ubyte.gz");
    pub const TEST_LABELS: &[u8] = include_bytes!("../../../../assets/mnist/t10k-labels-idx1-ubyte.gz");
}

/// The training digits of the live jobs, decoded once and shared by every job and reset (in
/// the browser: what the page's download gave, or why it failed).
static LIVE_TRAIN: std::sync::OnceLock<Result<std::sync::Arc<Digits>, String>> = std::sync::OnceLock::new();

/// The digits the app's live trainings learn from: the bundled training split. On native it
/// is compiled in; in the browser it is `None` until the page has fetched it, and `Err` (why)
/// if that failed ([`provide_live_train`]).
pub fn live_train() -> Option<Result<std::sync::Arc<Digits>, String>> {
    #[cfg(not(target_arch = "wasm32"))]
    return Some(
        LIVE_TRAIN
            .get_or_init(|| Ok(std::sync::Arc::new(Digits::bundled(Split::Train))))
            .clone(),
    );
    #[cfg(target_arch = "wasm32")]
    LIVE_TRAIN.get().cloned()
}

/// Hands the live trainings their digits, or why there are none (the browser build, once its
/// download has ended). The first call wins; later ones are ignored.
pub fn provide_live_train(digits: Result<Digits, String>) {
    let _ = LIVE_TRAIN.set(digits.map(std::sync::Arc::new));
}

/// Test digits for the live quality number's Fréchet distance (in the browser: set by
/// [`provide_live_test`] once fetched).
static LIVE_TEST: std::sync::OnceLock<std::sync::Arc<Digits>> = std::sync::OnceLock::new();

/// The live quality number's real digits: the bundled test split (in the browser `None` until
/// fetched).
pub fn live_test() -> Option<std::sync::Arc<Digits>> {
    #[cfg(not(target_arch = "wasm32"))]
    return Some(
        LIVE_TEST
            .get_or_init(|| std::sync::Arc::new(Digits::bundled(Split::Test)))
            .clone(),
    );
    #[cfg(target_arch = "wasm32")]
    LIVE_TEST.get().cloned()
}

/// Hands the browser build the test digits it fetched. The first call wins.
pub fn provide_live_test(digits: Digits) {
    let _ = LIVE_TEST.set(std::sync::Arc::new(digits));
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn classes(&self) -> usize {
        self.charset.len()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// Pixel `(row, col)` of image `i` in `[0, 1]`.
    pub fn pixel(&self, i: usize, row: usize, col: usize) -> f32 {
        self.image(i)[row * SIDE + col] as f32 / 255.0
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The bundled MNIST digits: 8,000 for training, 2,000 for testing.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled(split: Split) -> Self {
        let (images, labels) = match split {
            Split::Train => (bundled::TRAIN_IMAGES, bundled::TRAIN_LABELS),
            Split::Test => (bundled::TEST_IMAGES, bundled::TEST_LABELS),
        };
        let name = match split {
            Split::Train => "bundled MNIST (train, 8,000)",
            Split::Test => "bundled MNIST (test, 2,000)",
        };
        Self::from_idx_bytes(images, labels, None, name).expect("the bundled MNIST files are valid")
    }

    /// Builds a dataset from IDX bytes (gzip or raw). With an EMNIST split the
    /// images are transposed back to upright and labels shifted to start at 0.
    pub fn from_idx_bytes(
        images: &[u8],
        labels: &[u8],
        emnist: Option<EmnistSplit>,
        source: &str,
    ) -> Result<Self, DataError> {
        let at = |what: &str| format!("{source} ({what})");
        let img = idx::parse(images).map_err(|e| DataError::Idx {
            path: at("images"),
            source: e,
        })?;
        let lab = idx::parse(labels).map_err(|e| DataError::Idx {
            path: at("labels"),
            source: e,
        })?;
        Self::from_arrays(img, lab, emnist, source)
    }

    fn from_arrays(img: IdxArray, lab: IdxArray, emnist: Option<EmnistSplit>, source: &str) -> Result<Self, DataError> {
        let check = |a: &IdxArray, rank: usize, what: &str| -> Result<(), DataError> {
            let path = format!("{source} ({what})");
            if a.dims.len() != rank {
                return Err(DataError::Idx {
                    path,
                    source: IdxError::WrongRank {
                        expected: rank,
                        found: a.dims.len(),
                    },
                });
            }
            if a.dtype != IdxType::U8 {
                return Err(DataError::Idx {
                    path,
                    source: IdxError::WrongType {
                        expected: IdxType::U8,
                        found: a.dtype,
                    },
                });
            }
            Ok(())
        };
        check(&img, 3, "images")?;
        check(&lab, 1, "labels")?;
        let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
        if (h, w) != (SIDE, SIDE) {
            return Err(DataError::WrongSize { h, w });
        }
        if n != lab.dims[0] {
            return Err(DataError::CountMismatch {
                images: n,
                labels: lab.dims[0],
            });
        }
        if n == 0 {
            return Err(DataError::Empty);
        }
        let (charset, first) = match emnist {
            Some(s) => (s.charset(), s.first_label()),
            None => (DIGITS.to_string(), 0),
        };
        let classes = charset.chars().count();
        let mut labels = lab.data;
        for (index, l) in labels.iter_mut().enumerate() {
            let shifted = l.checked_sub(first).filter(|&s| (s as usize) < classes);
            *l = shifted.ok_or(DataError::LabelOutOfRange {
                label: *l,
                index,
                classes,
            })?;
        }
        let mut images = img.data;
        if emnist.is_some() {
            transpose_all(&mut images);
        }
        Ok(Self {
            images,
            labels,
            charset: charset.chars().collect(),
            source: source.to_string(),
        })
    }

    /// Loads a split from a directory holding the standard file names, gzip or raw:
    /// `train-images-idx3-ubyte[.gz]` / `t10k-…` (MNIST, Fashion-MNIST), or with an
    /// EMNIST split `emnist-<split>-train-images-idx3-ubyte[.gz]` / `…-test-…`.
    pub fn load_dir(dir: &Path, split: Split, emnist: Option<EmnistSplit>) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::Io {
                path: dir.display().to_string(),
                message: "not a directory".into(),
            });
        }
        let prefix = match (emnist, split) {
            (None, Split::Train) => "train".to_string(),
            (None, Split::Test) => "t10k".to_string(),
            (Some(e), Split::Train) => format!("emnist-{e}-train"),
            (Some(e), Split::Test) => format!("emnist-{e}-test"),
        };
        let images = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| DataError::Io {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let (ib, lb) = (read(&images)?, read(&labels)?);
        let img = idx::parse(&ib).map_err(|e| DataError::Idx {
            path: images.display().to_string(),
            source: e,
        })?;
        drop(ib);
        let lab = idx::parse(&lb).map_err(|e| DataError::Idx {
            path: labels.display().to_string(),
            source: e,
        })?;
        Self::from_arrays(img, lab, emnist, &images.display().to_string())
    }

    /// The bundled digits, or the files in `dir` when given.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: Option<&Path>, split: Split, emnist: Option<EmnistSplit>) -> Result<Self, DataError> {
        match dir {
            Some(d) => Self::load_dir(d, split, emnist),
            None if emnist.is_some() => Err(DataError::EmnistWithoutData),
            None => Ok(Self::bundled(split)),
        }
    }

    /// Images `idx` as f32 in `[0, 1]`, flattened `len(idx) x 784`.
    pub fn pixels_f32(&self, idx: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(idx.len() * PIXELS);
        for &i in idx {
            out.extend(self.image(i).iter().map(|&b| b as f32 / 255.0));
        }
        out
    }

    /// Keeps the first `n` images (for quick runs).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.truncate(n * PIXELS);
    }
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let candidates = [format!("{stem}.gz"), stem.to_string(), stem.replacen("-idx", ".idx", 1)];
    for c in &candidates {
        let p = dir.join(c);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::Missing {
        what: stem.to_string(),
        dir: dir.display().to_string(),
        tried: candidates.join(", "),
    })
}

/// EMNIST stores each image transposed; swap rows and columns of every image.
fn transpose_all(images: &mut [u8]) {
    for img in images.chunks_exact_mut(PIXELS) {
        for r in 0..SIDE {
            for c in r + 1..SIDE {
                img.swap(r * SIDE + c, c * SIDE + r);
            }
        }
    }
}

/// Images `idx` as a `len x 1 x 28 x 28` float tensor in `[0, 1]` and their labels.
pub fn batch_tensors<B: burn::tensor::backend::Backend>(
    data: &Digits,
    idx: &[usize],
    device: &B::Device,
) -> (
    burn::tensor::Tensor<B, 4>,
    burn::tensor::Tensor<B, 1, burn::tensor::Int>,
) {
    use burn::tensor::{Int, Tensor, TensorData};
    let n = idx.len();
    let images = Tensor::<B, 4>::from_data(TensorData::new(data.pixels_f32(idx), [n, 1, SIDE, SIDE]), device);
    let labels: Vec<i64> = idx.iter().map(|&i| data.labels[i] as i64).collect();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), device);
    (images, labels)
}
