//! Training inside the app: each job (basics, Path-SGD, DCGAN) runs off the main thread
//! on native (a worker fed by channels) or in a per-frame time budget (wasm, tests that
//! ask for it); a system drains the reports each frame into loss histories and images.
//! The frame never waits for a training step.

use crate::learn::live::{Command, Deferred, Job, NotReady, Report};
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::platform::cell::SyncCell;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Duration;

/// Builds a job (again on reset). Runs on the worker thread.
pub type Factory = Arc<dyn Fn() -> anyhow::Result<Box<dyn Job>> + Send + Sync>;

/// Points kept per curve; older points are thinned (every other one dropped) beyond it.
pub const MAX_POINTS: usize = 4000;

enum Ctl {
    Run(bool),
    Reset,
    Cmd(Command),
    /// End the worker after its current step.
    Quit,
}

enum Msg {
    Ready {
        series: Vec<&'static str>,
        log_scale: bool,
        image: Option<(Vec<u8>, u32, u32)>,
    },
    Report(Report),
    Error(String),
}

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
        reading: Option<bevy::tasks::Task<Report>>,
    },
}

/// The most of the wall time an inline (budgeted) job may spend training when its steps
/// overrun the frame budget.
pub const INLINE_SHARE: f64 = 0.4;

/// One training job as the app sees it.
pub struct JobState {
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
    /// The latest image the job produced (grey, w, h), and its Bevy image.
    pub last_image: Option<(Vec<u8>, u32, u32)>,
    pub image: Option<Handle<Image>>,
    pub error: Option<String>,
    /// The job is not built yet because what it needs is still on its way (e.g. the browser's
    /// download of the digits): what it waits for.
    pub waiting: Option<String>,
    /// Increases whenever the image changes.
    pub image_version: u64,
    /// How it steps; a `SyncCell` (reached only through `&mut self`) keeps the resource `Sync`.
    driver: SyncCell<Driver>,
}

impl JobState {
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
            image: None,
            error: None,
            waiting: None,
            image_version: 0,
            driver: SyncCell::new(driver),
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
        if let Driver::Thread { tx, handle, .. } = self.driver.get()
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

    pub fn steps_per_second(&self) -> f64 {
        let t = self.elapsed_now().as_secs_f64();
        if t > 0.0 { self.steps as f64 / t } else { 0.0 }
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
        if let Driver::Thread { tx, .. } = self.driver.get() {
            let _ = tx.send(Ctl::Run(run));
        }
    }

    /// Back to the initial state: history cleared, the job rebuilt, paused.
    pub fn reset(&mut self) {
        self.set_running(false);
        self.history.iter_mut().for_each(Vec::clear);
        (self.steps, self.elapsed, self.diverged, self.finished, self.error) = (0, Duration::ZERO, false, false, None);
        match self.driver.get() {
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
        match self.driver.get() {
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
        if let Some(img) = r.image {
            self.last_image = Some(img);
            self.image_version += 1;
        }
        if r.diverged || r.finished {
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
    fn poll(&mut self) {
        match self.driver.get() {
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
                if let Some(task) = reading.as_mut()
                    && let Some(mut r) = bevy::tasks::futures::check_ready(task)
                {
                    *reading = None;
                    if let Some(j) = job.as_mut() {
                        j.finish_deferred(&mut r);
                    }
                    reports.push(r);
                }
                let resting = rest_until.is_some_and(|t| Instant::now() < t) || reading.is_some();
                let stopped = reports.iter().any(|r| r.diverged || r.finished);
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
                            // In the browser the read resolves on a later frame.
                            #[cfg(target_arch = "wasm32")]
                            Deferred::Reading(read) => {
                                *reading = Some(bevy::tasks::AsyncComputeTaskPool::get().spawn(read));
                                break;
                            }
                            #[cfg(not(target_arch = "wasm32"))]
                            Deferred::Reading(read) => {
                                let mut r = bevy::tasks::block_on(read);
                                j.finish_deferred(&mut r);
                                r
                            }
                        };
                        let stop = r.diverged || r.finished;
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

fn worker(factory: Factory, ctl: Receiver<Ctl>, out: Sender<Msg>) {
    // Training yields to the render and simulation threads when the CPU is busy: it runs
    // under SCHED_IDLE (inherited by the threads it starts, e.g. the tensor kernels' pool).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sched_setscheduler on this thread (id 0) only changes its scheduling class.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
    let build = |out: &Sender<Msg>| -> Option<Box<dyn Job>> {
        match factory() {
            Ok(job) => {
                let _ = out.send(Msg::Ready {
                    series: job.series(),
                    log_scale: job.log_scale(),
                    image: job.image(),
                });
                Some(job)
            }
            Err(e) => {
                let _ = out.send(Msg::Error(format!("cannot start: {e}")));
                None
            }
        }
    };
    let mut job = build(&out);
    let mut running = false;
    loop {
        let next = if running {
            match ctl.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match ctl.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        match next {
            Some(Ctl::Run(r)) => running = r,
            Some(Ctl::Quit) => return,
            Some(Ctl::Reset) => {
                running = false;
                job = build(&out);
            }
            Some(Ctl::Cmd(c)) => {
                if let Some(j) = job.as_mut() {
                    j.command(&c);
                }
            }
            None => {}
        }
        if running {
            let Some(j) = job.as_mut() else {
                running = false;
                continue;
            };
            let r = j.step();
            if r.diverged || r.finished {
                running = false;
            }
            if out.send(Msg::Report(r)).is_err() {
                return;
            }
        }
    }
}

/// All training jobs of the app, in panel order.
#[derive(Resource, Default)]
pub struct Trainings {
    pub jobs: Vec<JobState>,
}

impl Drop for JobState {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Trainings {
    /// Stops every worker thread and waits for them.
    pub fn shutdown(&mut self) {
        for j in &mut self.jobs {
            j.shutdown();
        }
    }

    pub fn find(&self, name: &str) -> Option<&JobState> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// While true, jobs are not polled or stepped (the recorder holds the scene still while it
/// waits for a frame).
#[derive(Resource, Default, Clone, Copy)]
pub struct FreezeTraining(pub bool);

/// Drains reports and keeps each job's image asset in step with its latest picture.
pub struct TrainingPlugin;

impl Plugin for TrainingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Trainings>()
            .add_systems(
                Update,
                poll_jobs.run_if(|f: Option<Res<FreezeTraining>>| f.is_none_or(|f| !f.0)),
            )
            .add_systems(PostUpdate, stop_workers_on_exit);
    }
}

/// When the app is told to exit, the workers stop before the process does (a worker killed
/// mid-step by the process exit can crash a GPU driver).
fn stop_workers_on_exit(mut exits: MessageReader<AppExit>, mut trainings: ResMut<Trainings>) {
    if exits.read().next().is_some() {
        trainings.shutdown();
    }
}

fn grey_to_rgba(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|&v| [v, v, v, 255]).collect()
}

fn poll_jobs(mut trainings: ResMut<Trainings>, images: Option<ResMut<Assets<Image>>>, mut seen: Local<Vec<u64>>) {
    for job in &mut trainings.jobs {
        job.poll();
    }
    let Some(mut images) = images else { return };
    seen.resize(trainings.jobs.len(), 0);
    for (k, job) in trainings.jobs.iter_mut().enumerate() {
        if job.image_version == seen[k] {
            continue;
        }
        seen[k] = job.image_version;
        let Some((grey, w, h)) = &job.last_image else { continue };
        let rgba = grey_to_rgba(grey);
        let fits = job
            .image
            .as_ref()
            .and_then(|h| images.get(h))
            .is_some_and(|img| img.width() == *w && img.height() == *h);
        if fits {
            if let Some(mut img) = job.image.as_ref().and_then(|h| images.get_mut(h)) {
                img.data = Some(rgba);
            }
        } else {
            let mut img = Image::new(
                Extent3d {
                    width: *w,
                    height: *h,
                    depth_or_array_layers: 1,
                },
                TextureDimension::D2,
                rgba,
                TextureFormat::Rgba8UnormSrgb,
                RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
            );
            img.sampler = ImageSampler::nearest();
            job.image = Some(images.add(img));
        }
    }
}
