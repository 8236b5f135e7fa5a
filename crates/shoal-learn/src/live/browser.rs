//! The browser's trainings run in Web Workers, off the page's one thread: each job gets a
//! worker (`web/worker.js`) that runs a bundle of shoal's: the page's own for a CPU job, the GPU
//! trainer bundle (no renderer; burn's wgpu backend on the browser's WebGPU) for a GPU job.
//! Its start finds no window and calls [`serve_jobs`]. On the page the job is a [`Job`] that
//! stands for the worker: each step is a message out and a report back ([`Deferred::Reading`]),
//! so neither a DCGAN step of a second on the CPU nor the GPU's kernel launches hold the page's
//! frames. The messages are [`super::wire`]'s; the job to build, [`super::spec`]'s.

use super::fetch::{judge_files_done, need_digits};
use super::spec::{Device, JobKind, decode_spec};
use super::wire::{FromWorker, ToWorker, intern};
use super::{Command, Deferred, Factory, Job, NotReady, Report};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// wasm32-unknown-unknown (built without atomics) has one thread, so a value that is not
/// `Send` may stand where the job interfaces ask for `Send`/`Sync`: no other thread exists.
struct OneThread<T>(T);
// SAFETY: this module is compiled for wasm32 only, where the program has a single thread.
unsafe impl<T> Send for OneThread<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for OneThread<T> {}

fn js_text(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// The bytes a message carries (both sides post a `Uint8Array`).
fn message_bytes(e: &web_sys::MessageEvent) -> Result<Vec<u8>, String> {
    e.data()
        .dyn_into::<js_sys::Uint8Array>()
        .map(|a| a.to_vec())
        .map_err(|_| "not bytes".to_string())
}

/// What a worker sent that nobody has read yet.
#[derive(Default)]
struct Inbox {
    messages: VecDeque<FromWorker>,
    /// The worker failed (an uncaught error, a message that could not be read): why.
    failed: Option<String>,
    waker: Option<Waker>,
}

impl Inbox {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// One worker and its inbox; the worker ends when this is dropped (the job's reset).
struct Handle {
    worker: web_sys::Worker,
    inbox: Rc<RefCell<Inbox>>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Handle {
    fn spawn(script: &str) -> Result<Self, String> {
        let opts = web_sys::WorkerOptions::new();
        opts.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(script, &opts).map_err(js_text)?;
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let to = inbox.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let mut inbox = to.borrow_mut();
            let read = message_bytes(&e).and_then(|b| FromWorker::decode(&b));
            match read {
                Ok(m) => inbox.messages.push_back(m),
                Err(why) => {
                    inbox
                        .failed
                        .get_or_insert(format!("a message from the training worker could not be read: {why}"));
                }
            }
            inbox.wake();
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let to = inbox.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            e.prevent_default();
            let why = match e.dyn_ref::<web_sys::ErrorEvent>() {
                Some(err) => err.message(),
                None => "its script could not be loaded".into(),
            };
            let mut inbox = to.borrow_mut();
            inbox
                .failed
                .get_or_insert(format!("the training worker stopped: {why}"));
            inbox.wake();
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            inbox,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    fn send(&self, m: &ToWorker) {
        let bytes = js_sys::Uint8Array::from(&m.encode()[..]);
        if let Err(e) = self.worker.post_message(&bytes) {
            let mut inbox = self.inbox.borrow_mut();
            inbox
                .failed
                .get_or_insert(format!("cannot reach the training worker: {}", js_text(e)));
            inbox.wake();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.worker.terminate();
        // A read still waiting ends (its report goes nowhere: the job was reset).
        let mut inbox = self.inbox.borrow_mut();
        inbox.failed.get_or_insert("the training worker was ended".into());
        inbox.wake();
    }
}

/// No worker could be made, or it failed before its job was built (e.g. the page forbids
/// workers, or the browser runs no module workers): the caller may train on the page's thread
/// instead.
#[derive(Debug, thiserror::Error)]
#[error("no Web Worker for the training: {0}")]
pub struct NoWorker(pub String);

/// A worker on its way to a built job.
struct Pending {
    handle: Handle,
    /// What the worker said it waits for.
    waiting: &'static str,
}

/// A factory whose jobs train in a Web Worker started from `script` (a module worker script
/// that loads this bundle, relative to the page). `spec` describes the job as the worker's
/// [`serve`] expects it; it is asked when a job is (re)built, so it carries the settings of
/// that moment. [`NotReady`] until the worker has built its job; [`NoWorker`] if the browser
/// gives no worker or it fails before then; the job's own errors (e.g. no digits) as they are.
pub fn worker_factory(script: String, spec: impl Fn() -> Vec<u8> + 'static) -> Factory {
    let state = OneThread((RefCell::new(None::<Pending>), spec));
    std::sync::Arc::new(move || {
        // The whole wrapper, not its fields (a closure captures only the fields it names).
        let state = &state;
        let (slot, spec) = &state.0;
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            let handle = Handle::spawn(&script).map_err(NoWorker)?;
            *slot = Some(Pending {
                handle,
                waiting: "starting the training worker…",
            });
        }
        let Some(p) = slot.as_mut() else {
            return Err(NotReady {
                what: "starting the training worker…",
            }
            .into());
        };
        let ready = loop {
            let next = p.handle.inbox.borrow_mut().messages.pop_front();
            match next {
                None => break None,
                Some(FromWorker::Hello) => p.handle.send(&ToWorker::Start(spec())),
                Some(FromWorker::Waiting(what)) => p.waiting = intern(&what),
                Some(FromWorker::Error(why)) => {
                    *slot = None;
                    return Err(anyhow::anyhow!(why));
                }
                Some(FromWorker::Ready {
                    series,
                    log_scale,
                    image,
                }) => break Some((series, log_scale, image)),
                // A worker reports only after it is asked to step, which needs its job.
                Some(FromWorker::Report(_)) => {}
            }
        };
        // A worker that fails before its job is built (its script cannot load, e.g. a browser
        // without module workers) counts as no worker: the caller may train on the page.
        let failed = p.handle.inbox.borrow().failed.clone();
        if let Some(why) = failed {
            *slot = None;
            return Err(NoWorker(why).into());
        }
        let waiting = p.waiting;
        match (ready, slot.take()) {
            (Some((series, log_scale, image)), Some(p)) => Ok(Box::new(WorkerJob {
                handle: OneThread(p.handle),
                series,
                log_scale,
                image,
                last_step: OneThread(Rc::new(Cell::new(0))),
            }) as Box<dyn Job>),
            (_, p) => {
                *slot = p;
                Err(NotReady { what: waiting }.into())
            }
        }
    })
}

/// A job training in a worker, as the page drives it.
struct WorkerJob {
    handle: OneThread<Handle>,
    series: Vec<&'static str>,
    log_scale: bool,
    image: Option<(Vec<u8>, u32, u32)>,
    last_step: OneThread<Rc<Cell<u64>>>,
}

/// The worker's next report (or, if it failed, a report that says so).
struct NextReport {
    inbox: Rc<RefCell<Inbox>>,
    last_step: Rc<Cell<u64>>,
}

impl std::future::Future for NextReport {
    type Output = Report;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Report> {
        let mut inbox = self.inbox.borrow_mut();
        while let Some(m) = inbox.messages.pop_front() {
            if let FromWorker::Report(r) = m {
                self.last_step.set(r.step);
                return Poll::Ready(r);
            }
        }
        if let Some(why) = inbox.failed.clone() {
            return Poll::Ready(Report {
                step: self.last_step.get(),
                error: Some(why),
                ..Default::default()
            });
        }
        inbox.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Job for WorkerJob {
    fn name(&self) -> &'static str {
        "training worker"
    }
    /// Never called by the runner (it steps a job through `step_deferred`); a synchronous step
    /// cannot wait for another thread in the browser.
    fn step(&mut self) -> Report {
        Report {
            step: self.last_step.0.get(),
            error: Some("a job in a Web Worker steps asynchronously only".into()),
            ..Default::default()
        }
    }
    fn step_deferred(&mut self) -> Deferred {
        self.handle.0.send(&ToWorker::Step);
        Deferred::Reading(Box::pin(NextReport {
            inbox: self.handle.0.inbox.clone(),
            last_step: self.last_step.0.clone(),
        }))
    }
    fn command(&mut self, cmd: &Command) {
        self.handle.0.send(&ToWorker::Cmd(cmd.clone()));
    }
    fn series(&self) -> Vec<&'static str> {
        self.series.clone()
    }
    fn log_scale(&self) -> bool {
        self.log_scale
    }
    fn image(&self) -> Option<(Vec<u8>, u32, u32)> {
        self.image.clone()
    }
}

/// Builds a job from the spec the page sent.
type BuildJob = Box<dyn Fn(&[u8]) -> anyhow::Result<Box<dyn Job>>>;

/// The worker's side of one job.
struct Served {
    scope: web_sys::DedicatedWorkerGlobalScope,
    build: BuildJob,
    spec: Option<Vec<u8>>,
    job: Option<Box<dyn Job>>,
    /// How long to rest before the next step (a light job's duty, see [`Job::duty`]), ms.
    rest_ms: f64,
    said_waiting: Option<String>,
}

type Shared = Rc<RefCell<Served>>;

fn post(scope: &web_sys::DedicatedWorkerGlobalScope, m: &FromWorker) {
    let bytes = js_sys::Uint8Array::from(&m.encode()[..]);
    if let Err(e) = scope.post_message(&bytes) {
        web_sys::console::error_1(&format!("shoal training worker: cannot reply: {}", js_text(e)).into());
    }
}

fn later(s: &Shared, ms: f64, f: impl FnOnce(Shared) + 'static) {
    let me = s.clone();
    let callback = Closure::once_into_js(move || f(me));
    let _ = s
        .borrow()
        .scope
        .set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), ms.round() as i32);
}

fn try_build(s: Shared) {
    let built = {
        let me = s.borrow();
        let Some(spec) = me.spec.as_deref() else { return };
        (me.build)(spec)
    };
    match built {
        Ok(job) => {
            let ready = FromWorker::Ready {
                series: job.series(),
                log_scale: job.log_scale(),
                image: job.image(),
            };
            let mut me = s.borrow_mut();
            post(&me.scope, &ready);
            me.job = Some(job);
        }
        Err(e) if e.is::<NotReady>() => {
            let what = e.to_string();
            {
                let mut me = s.borrow_mut();
                if me.said_waiting.as_ref() != Some(&what) {
                    post(&me.scope, &FromWorker::Waiting(what.clone()));
                    me.said_waiting = Some(what);
                }
            }
            later(&s, 200.0, try_build);
        }
        Err(e) => post(&s.borrow().scope, &FromWorker::Error(format!("cannot start: {e:#}"))),
    }
}

fn step(s: Shared) {
    let start = web_time::Instant::now();
    let deferred = {
        let mut me = s.borrow_mut();
        let Some(job) = me.job.as_mut() else { return };
        // A job that steps in halves (none built here does) takes both at once.
        loop {
            match job.step_deferred() {
                Deferred::Half => continue,
                other => break other,
            }
        }
    };
    match deferred {
        Deferred::Ready(report) => reply(&s, start, report),
        Deferred::Half => {}
        // A GPU job's numbers are read asynchronously (WebGPU has no synchronous read).
        Deferred::Reading(read) => wasm_bindgen_futures::spawn_local(async move {
            let mut report = read.await;
            if let Some(job) = s.borrow_mut().job.as_mut() {
                job.finish_deferred(&mut report);
            }
            reply(&s, start, report);
        }),
    }
}

/// Sends a step's report, and rests as the job's duty asks before the next step.
fn reply(s: &Shared, start: web_time::Instant, report: Report) {
    let mut me = s.borrow_mut();
    let duty = me.job.as_ref().map_or(1.0, |j| j.duty()).clamp(0.05, 1.0);
    me.rest_ms = start.elapsed().as_secs_f64() * 1000.0 * (1.0 - duty) / duty;
    post(&me.scope, &FromWorker::Report(report));
}

/// Serves one job for the page, in this worker: `build` turns the page's spec into a job
/// ([`NotReady`] while something it needs is on its way: it is tried again shortly). Call it
/// from the bundle's start when there is no window.
pub fn serve(build: impl Fn(&[u8]) -> anyhow::Result<Box<dyn Job>> + 'static) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let s: Shared = Rc::new(RefCell::new(Served {
        scope: scope.clone(),
        build: Box::new(build),
        spec: None,
        job: None,
        rest_ms: 0.0,
        said_waiting: None,
    }));
    let me = s.clone();
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
        let read = message_bytes(&e).and_then(|b| ToWorker::decode(&b));
        match read {
            Ok(ToWorker::Start(spec)) => {
                if me.borrow().spec.is_none() {
                    me.borrow_mut().spec = Some(spec);
                    try_build(me.clone());
                }
            }
            Ok(ToWorker::Step) => {
                let rest = me.borrow().rest_ms;
                if rest > 0.5 {
                    later(&me, rest, step);
                } else {
                    step(me.clone());
                }
            }
            Ok(ToWorker::Cmd(c)) => {
                if let Some(job) = me.borrow_mut().job.as_mut() {
                    job.command(&c);
                }
            }
            Err(why) => post(
                &me.borrow().scope,
                &FromWorker::Error(format!("a message from the page could not be read: {why}")),
            ),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the page keeps it: so does its message handler.
    on_message.forget();
    post(&scope, &FromWorker::Hello);
}

/// Serves the job the page asks for in this worker ([`super::spec::encode_spec`]'s spec), on the
/// CPU or, in a bundle with the `gpu` feature, on the browser's WebGPU.
pub fn serve_jobs() {
    serve(build_from_spec)
}

/// In a training worker: the job the page asked for. It fetches what the job needs first (the
/// digits; for the DCGAN the classifier of its live score; for a GPU job the device):
/// [`NotReady`] until they are in.
fn build_from_spec(spec: &[u8]) -> anyhow::Result<Box<dyn Job>> {
    let (kind, settings, gpu) = decode_spec(spec).map_err(|e| anyhow::anyhow!("a bad training spec: {e}"))?;
    if kind != JobKind::Basics {
        need_digits();
    }
    // The DCGAN scores its samples here, off the page's thread: it starts with the classifier.
    if kind == JobKind::Dcgan && !judge_files_done() {
        return Err(NotReady {
            what: "loading the classifier for the live score…",
        }
        .into());
    }
    let device = if gpu { browser_gpu()? } else { Device::Cpu };
    super::spec::build(kind, &settings, &device, super::spec::Host::InOrder)
}

/// The browser's WebGPU device for this worker's job (opened once; [`NotReady`] meanwhile).
#[cfg(feature = "gpu")]
fn browser_gpu() -> anyhow::Result<Device> {
    type Opened = Option<Result<crate::gpu::WgpuDevice, String>>;
    thread_local! {
        static ASKED: Cell<bool> = const { Cell::new(false) };
        static OPENED: RefCell<Opened> = const { RefCell::new(None) };
    }
    if !ASKED.replace(true) {
        wasm_bindgen_futures::spawn_local(async {
            let opened = crate::gpu::browser_device()
                .await
                .map(|(dev, _)| dev)
                .map_err(|e| format!("{e:#}"));
            OPENED.set(Some(opened));
        });
    }
    match OPENED.with_borrow(Clone::clone) {
        None => Err(NotReady {
            what: "opening the browser's WebGPU device…",
        }
        .into()),
        Some(Ok(dev)) => Ok(Device::Gpu(dev)),
        Some(Err(why)) => Err(anyhow::anyhow!(why)),
    }
}

#[cfg(not(feature = "gpu"))]
fn browser_gpu() -> anyhow::Result<Device> {
    anyhow::bail!("this bundle has no GPU training (the GPU trainer bundle has)")
}
