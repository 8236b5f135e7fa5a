//! Shuffled mini-batches of indices into a data set.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// A random source that can shuffle a batch order (both of shoal's: `rand`'s `StdRng` and
/// the DCGAN's own [`Rng64`](crate::rng::Rng64), whose state its checkpoints keep).
pub trait Shuffler {
    /// What a checkpoint keeps of the source to replay an epoch's shuffle (nothing for
    /// `StdRng`, which is not checkpointed).
    type State: Copy + std::fmt::Debug;
    fn shuffle_indices(&mut self, v: &mut [usize]);
    fn state(&self) -> Self::State;
}

impl Shuffler for StdRng {
    type State = ();
    fn shuffle_indices(&mut self, v: &mut [usize]) {
        v.shuffle(self);
    }
    fn state(&self) {}
}

impl Shuffler for crate::rng::Rng64 {
    type State = crate::rng::Rng64;
    fn shuffle_indices(&mut self, v: &mut [usize]) {
        self.shuffle(v);
    }
    fn state(&self) -> Self {
        *self
    }
}

/// Shuffled mini-batches of indices. Each epoch is a fresh shuffle of `0..len` drawn from
/// `rng` (so an epoch is reproducible from the random state at its start), cut into full
/// batches; the tail that cannot fill one is skipped.
#[derive(Debug)]
pub struct Batches<R: Shuffler = StdRng> {
    len: usize,
    order: Vec<usize>,
    batch: usize,
    cursor: usize,
    /// The random source: shuffles, and whatever else its owner draws from it.
    pub rng: R,
    /// `rng`'s state when the current epoch's shuffle was drawn.
    epoch_rng: R::State,
    /// Epochs completed.
    pub epoch: usize,
    /// The epoch ended; the next one is shuffled when its first batch is taken (so nothing
    /// its owner draws from `rng` in between changes the order it had at the epoch's end).
    reshuffle: bool,
}

impl Batches<StdRng> {
    /// Batches of `len` items seeded with `seed`.
    pub fn new(len: usize, batch: usize, seed: u64) -> Self {
        Self::with_rng(len, batch, StdRng::seed_from_u64(seed))
    }
}

impl<R: Shuffler> Batches<R> {
    /// Batches of `len` items, shuffled by `rng`; the first epoch is drawn at once.
    pub fn with_rng(len: usize, batch: usize, rng: R) -> Self {
        assert!(batch > 0, "batch size must be at least 1");
        let mut b = Self {
            len,
            order: Vec::new(),
            batch,
            cursor: 0,
            epoch_rng: rng.state(),
            rng,
            epoch: 0,
            reshuffle: false,
        };
        b.start_epoch();
        b
    }

    fn start_epoch(&mut self) {
        self.reshuffle = false;
        self.epoch_rng = self.rng.state();
        self.order = (0..self.len).collect();
        self.rng.shuffle_indices(&mut self.order);
        self.cursor = 0;
    }

    /// The next full batch, and whether it ended an epoch ([`Batches::epoch`] then counts it).
    pub fn next_batch(&mut self) -> (Vec<usize>, bool) {
        if self.reshuffle {
            self.start_epoch();
        }
        let n = self.batch.min(self.order.len());
        let idx = self.order[self.cursor..self.cursor + n].to_vec();
        self.cursor += n;
        let ended = self.cursor + n > self.order.len();
        if ended {
            self.epoch += 1;
            self.reshuffle = true;
        }
        (idx, ended)
    }

    /// Whether no batch of the current epoch has been taken yet.
    pub fn at_epoch_start(&self) -> bool {
        self.reshuffle || self.cursor == 0
    }

    /// Batches per epoch.
    pub fn per_epoch(&self) -> usize {
        (self.order.len() / self.batch).max(1)
    }

    /// The random state the current epoch's shuffle was (or, at its start, will be) drawn
    /// from: what [`Batches::restart_epoch`] replays it from.
    pub fn epoch_rng(&self) -> R::State {
        if self.reshuffle {
            self.rng.state()
        } else {
            self.epoch_rng
        }
    }

    /// Restarts at the beginning of epoch `epoch`, whose shuffle `rng` draws (a checkpoint's
    /// [`Batches::epoch_rng`]).
    pub fn restart_epoch(&mut self, epoch: usize, rng: R) {
        self.epoch = epoch;
        self.rng = rng;
        self.start_epoch();
    }
}
