//! Drives a [`Job`] for an app: on a worker thread fed by channels (native), or on the
//! caller's thread within a per-frame time budget or at a fixed number of steps per frame
//! (the browser, recordings, tests). Reports become per-curve histories, thinned beyond
//! [`MAX_POINTS`]. The caller polls once per frame and never waits for a training step.

use super::worker::{Ctl, Msg, worker};
use super::{Command, Deferred, FIRST_DIGITS_SCORE, Factory, Job, NotReady, Report};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Duration;
#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;
#[cfg(target_arch = "wasm32")]
use web_time::Instant;

/// A value reached only through `&mut` (so sharing `&` of its holder across threads shares
/// nothing of it): makes the driver's channels, which are `Send` but not `Sync`, fit a `Sync`
/// holder.
struct Exclusive<T>(T);

// SAFETY: `Exclusive` gives no access through `&self`; all access needs `&mut self`, which
// is unique.
unsafe impl<T: Send> Sync for Exclusive<T> {}

/// Runs a future to completion on this thread (native: the reads of a GPU job driven inline).
#[cfg(not(target_arch = "wasm32"))]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Points kept per curve; older points are thinned (every other one dropped) beyond it.
pub const MAX_POINTS: usize = 4000;

enum Driver {
    Thread {
        tx: Sender<Ctl>,
        rx: Receiver<Msg>,
        /// Joined on shutdown, so no worker is mid-step (e.g. submitting GPU work) while the
        /// process exits.
        handle: Option<std::thread::JoinHandle<()>>,
    },
    /// Steps on the main thread: within `budget` per frame, or exactly `per_frame` steps
    /// per frame on average (deterministic, for recordings).
    Inline {
        factory: Factory,
        job: Option<Box<dyn Job>>,
        budget: Duration,
        per_frame: Option<f64>,
        acc: f64,
        /// After a frame whose steps overran the budget, no steps until then: a job whose
        /// single step is longer than the budget (a DCGAN step in the browser) trains at most
        /// [`INLINE_SHARE`] of the time, and the frames between its steps stay smooth.
        rest_until: Option<Instant>,
        /// A step whose numbers are being read from the device (the browser's GPU): the job
        /// steps again once they are in.
        reading: Option<Receiver<Report>>,
    },
}

/// The most of the wall time an inline (budgeted) job may spend training when its steps
/// overrun the frame budget.
pub const INLINE_SHARE: f64 = 0.4;

/// One training job as an app drives it: its driver (a worker thread, or steps on the caller's
/// thread within a time budget), its state, and the curves and picture it reported.
pub struct Runner {
    pub name: String,
    pub series: Vec<&'static str>,
    pub log_scale: bool,
    /// Per curve: `[step, value]` points.
    pub history: Vec<Vec<[f64; 2]>>,
    pub running: bool,
    pub diverged: bool,
    pub finished: bool,
    pub steps: u64,
    /// Time spent running (excludes pauses).
    pub elapsed: Duration,
    since: Option<Instant>,
    /// The latest image the job produced (grey, w, h).
    pub last_image: Option<(Vec<u8>, u32, u32)>,
    pub error: Option<String>,
    /// The job is not built yet because what it needs is still on its way (e.g. the browser's
    /// download of the digits): what it waits for.
    pub waiting: Option<String>,
    /// Increases whenever the image changes.
    pub image_version: u64,
    /// Quality measurements: `[step, classifier score, Fréchet distance]`.
    pub quality: Vec<[f64; 3]>,
    /// Running time when the classifier score first reached [`FIRST_DIGITS_SCORE`].
    pub first_digits: Option<Duration>,
    /// The job's step count before its first report here.
    start_step: Option<u64>,
    /// How it steps; reached only through `&mut self`, so the runner is `Sync` (an app may keep
    /// it in shared state) while its channels are not.
    driver: Exclusive<Driver>,
}

impl Runner {
    fn new(name: &str, driver: Driver) -> Self {
        Self {
            name: name.to_string(),
            series: Vec::new(),
            log_scale: true,
            history: Vec::new(),
            running: false,
            diverged: false,
            finished: false,
            steps: 0,
            elapsed: Duration::ZERO,
            since: None,
            last_image: None,
            error: None,
            waiting: None,
            image_version: 0,
            quality: Vec::new(),
            first_digits: None,
            start_step: None,
            driver: Exclusive(driver),
        }
    }

    /// A job on its own worker thread.
    pub fn threaded(name: &str, factory: Factory) -> Self {
        let (ctl_tx, ctl_rx) = channel::<Ctl>();
        let (msg_tx, msg_rx) = channel::<Msg>();
        let handle = std::thread::Builder::new()
            .name(format!("train {name}"))
            .spawn(move || worker(factory, ctl_rx, msg_tx))
            .expect("spawn a training thread");
        Self::new(
            name,
            Driver::Thread {
                tx: ctl_tx,
                rx: msg_rx,
                handle: Some(handle),
            },
        )
    }

    /// Stops a worker thread and waits for it (at most one training step). Idempotent; a
    /// no-op for jobs stepped on the main thread.
    pub fn shutdown(&mut self) {
        if let Driver::Thread { tx, handle, .. } = &mut self.driver.0
            && let Some(h) = handle.take()
        {
            let _ = tx.send(Ctl::Quit);
            let _ = h.join();
        }
    }

    /// A job stepped on the main thread within `budget` per frame (wasm, tests).
    pub fn inline(name: &str, factory: Factory, budget: Duration) -> Self {
        Self::new(
            name,
            Driver::Inline {
                factory,
                job: None,
                budget,
                per_frame: None,
                acc: 0.0,
                rest_until: None,
                reading: None,
            },
        )
    }

    /// A job stepped on the main thread, `per_frame` steps per frame on average (e.g. 0.25 =
    /// one step every fourth frame): the same frames give the same steps.
    pub fn stepped(name: &str, factory: Factory, per_frame: f64) -> Self {
        let driver = Driver::Inline {
            factory,
            job: None,
            budget: Duration::ZERO,
            per_frame: Some(per_frame),
            acc: 0.0,
            rest_until: None,
            reading: None,
        };
        Self::new(name, driver)
    }

    /// Steps per second of running time, counting only the steps taken here (a job resumed
    /// from a checkpoint starts past step 0).
    pub fn steps_per_second(&self) -> f64 {
        let t = self.elapsed_now().as_secs_f64();
        let taken = self.steps.saturating_sub(self.start_step.unwrap_or(0));
        if t > 0.0 { taken as f64 / t } else { 0.0 }
    }

    pub fn elapsed_now(&self) -> Duration {
        self.elapsed + self.since.map(|s| s.elapsed()).unwrap_or_default()
    }

    pub fn set_running(&mut self, run: bool) {
        if run == self.running || (run && (self.diverged || self.finished)) {
            return;
        }
        self.running = run;
        if run {
            self.since = Some(Instant::now());
        } else if let Some(s) = self.since.take() {
            self.elapsed += s.elapsed();
        }
        if let Driver::Thread { tx, .. } = &mut self.driver.0 {
            let _ = tx.send(Ctl::Run(run));
        }
    }

    /// Back to the initial state: history cleared, the job rebuilt, paused.
    pub fn reset(&mut self) {
        self.set_running(false);
        self.history.iter_mut().for_each(Vec::clear);
        self.quality.clear();
        self.first_digits = None;
        self.start_step = None;
        (self.steps, self.elapsed, self.diverged, self.finished, self.error) = (0, Duration::ZERO, false, false, None);
        match &mut self.driver.0 {
            Driver::Thread { tx, .. } => {
                let _ = tx.send(Ctl::Reset);
            }
            Driver::Inline { job, reading, .. } => {
                *job = None;
                *reading = None;
            }
        }
    }

    pub fn command(&mut self, cmd: Command) {
        match &mut self.driver.0 {
            Driver::Thread { tx, .. } => {
                let _ = tx.send(Ctl::Cmd(cmd));
            }
            Driver::Inline { job: Some(job), .. } => job.command(&cmd),
            Driver::Inline { job: None, .. } => {}
        }
    }

    fn ready(&mut self, series: Vec<&'static str>, log_scale: bool, image: Option<(Vec<u8>, u32, u32)>) {
        self.history = vec![Vec::new(); series.len()];
        self.series = series;
        self.log_scale = log_scale;
        if image.is_some() {
            self.last_image = image;
            self.image_version += 1;
        }
    }

    fn absorb(&mut self, r: Report) {
        let stops = r.stops();
        self.start_step.get_or_insert(r.step.saturating_sub(1));
        self.steps = r.step;
        for (k, (_, v)) in r.values.iter().enumerate() {
            if let Some(h) = self.history.get_mut(k) {
                if h.len() >= MAX_POINTS {
                    let thinned: Vec<[f64; 2]> = h.iter().step_by(2).copied().collect();
                    *h = thinned;
                }
                h.push([r.step as f64, *v]);
            }
        }
        if let Some(q) = r.quality {
            // In step order (a measurement made aside can arrive after a later one).
            let at = self.quality.partition_point(|p| p[0] <= q.step as f64);
            self.quality.insert(at, [q.step as f64, q.score, q.frechet]);
            if self.first_digits.is_none() && q.score >= FIRST_DIGITS_SCORE {
                self.first_digits = Some(self.elapsed_now());
            }
        }
        if let Some(img) = r.image {
            self.last_image = Some(img);
            self.image_version += 1;
        }
        if let Some(e) = r.error {
            self.error = Some(e);
        }
        if stops {
            // The job stopped itself (the worker already did): account the time, stay paused.
            self.diverged |= r.diverged;
            self.finished |= r.finished;
            self.running = false;
            if let Some(s) = self.since.take() {
                self.elapsed += s.elapsed();
            }
        }
    }

    /// Drains reports (threaded) or steps within the frame budget (inline).
    pub fn poll(&mut self) {
        match &mut self.driver.0 {
            Driver::Thread { rx, .. } => {
                let mut msgs = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(m) => msgs.push(m),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            self.error.get_or_insert_with(|| "the training thread stopped".into());
                            break;
                        }
                    }
                }
                for m in msgs {
                    match m {
                        Msg::Ready {
                            series,
                            log_scale,
                            image,
                        } => self.ready(series, log_scale, image),
                        Msg::Report(r) => self.absorb(r),
                        Msg::Error(e) => {
                            self.error = Some(e);
                            self.set_running(false);
                        }
                    }
                }
            }
            Driver::Inline {
                factory,
                job,
                budget,
                per_frame,
                acc,
                rest_until,
                reading,
            } => {
                let budget = *budget;
                let mut ready = None;
                if job.is_none() {
                    // A job that could not be built stays so until Reset.
                    if self.error.is_some() {
                        return;
                    }
                    match factory() {
                        Ok(j) => {
                            self.waiting = None;
                            ready = Some((j.series(), j.log_scale(), j.image()));
                            *job = Some(j);
                        }
                        // Something it needs is still on its way: say what, and build it
                        // on a later frame.
                        Err(e) if e.is::<NotReady>() => {
                            self.waiting = Some(e.to_string());
                            return;
                        }
                        Err(e) => {
                            self.error = Some(e.to_string());
                            return;
                        }
                    }
                }
                let mut reports = Vec::new();
                // A step read from the device: its report once the numbers are in.
                if let Some(rx) = reading.as_ref()
                    && let Ok(mut r) = rx.try_recv()
                {
                    *reading = None;
                    if let Some(j) = job.as_mut() {
                        j.finish_deferred(&mut r);
                    }
                    reports.push(r);
                }
                let resting = rest_until.is_some_and(|t| Instant::now() < t) || reading.is_some();
                let stopped = reports.iter().any(Report::stops);
                if let (true, false, false, Some(j)) = (self.running, resting, stopped, job.as_mut()) {
                    // A fixed count per frame (whole steps of the running total), or at least
                    // one step and then as many as fit the time budget.
                    let quota = per_frame.map(|n| {
                        *acc += n;
                        let k = acc.floor();
                        *acc -= k;
                        k as usize
                    });
                    let start = Instant::now();
                    loop {
                        if quota.is_some_and(|k| reports.len() >= k) {
                            break;
                        }
                        let r = match j.step_deferred() {
                            Deferred::Ready(r) => r,
                            // The rest of the step on a later frame.
                            Deferred::Half => break,
                            // In the browser the read resolves on a later frame.
                            #[cfg(target_arch = "wasm32")]
                            Deferred::Reading(read) => {
                                let (tx, rx) = channel();
                                wasm_bindgen_futures::spawn_local(async move {
                                    let _ = tx.send(read.await);
                                });
                                *reading = Some(rx);
                                break;
                            }
                            #[cfg(not(target_arch = "wasm32"))]
                            Deferred::Reading(read) => {
                                let mut r = block_on(read);
                                j.finish_deferred(&mut r);
                                r
                            }
                        };
                        let stop = r.stops();
                        reports.push(r);
                        if stop || (quota.is_none() && start.elapsed() >= budget) {
                            break;
                        }
                    }
                    let spent = start.elapsed();
                    *rest_until = (quota.is_none() && spent > budget)
                        .then(|| Instant::now() + spent.mul_f64((1.0 - INLINE_SHARE) / INLINE_SHARE));
                }
                if let Some((series, log, image)) = ready {
                    self.ready(series, log, image);
                }
                for r in reports {
                    self.absorb(r);
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.shutdown();
    }
}
