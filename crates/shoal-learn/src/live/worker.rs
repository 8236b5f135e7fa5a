//! A job's own worker thread (native): it builds the job, steps it while running, takes
//! commands between steps, and sends reports back to its [`Runner`](super::Runner).

use super::{Command, Factory, Job, Report};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

pub(super) enum Ctl {
    Run(bool),
    Reset,
    Cmd(Command),
    /// End the worker after its current step.
    Quit,
}

pub(super) enum Msg {
    Ready {
        series: Vec<&'static str>,
        log_scale: bool,
        image: Option<(Vec<u8>, u32, u32)>,
    },
    Report(Report),
    Error(String),
}

pub(super) fn worker(factory: Factory, ctl: Receiver<Ctl>, out: Sender<Msg>) {
    // With a training share of 0 the worker yields to the render and simulation threads: it
    // runs under SCHED_IDLE (see `share`); above 0 at normal priority.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if super::share::train_share() == 0.0 {
        super::share::idle_this_thread();
    }
    // With a one-thread kernel pool, this thread runs the kernels itself (see `share`).
    #[cfg(not(target_arch = "wasm32"))]
    let _kernels = super::share::kernels_on_this_thread();
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
    // A light job (`Job::duty` below 1) rests after each step; commands still arrive.
    let mut rest = Duration::ZERO;
    loop {
        let next = if running {
            match ctl.recv_timeout(std::mem::take(&mut rest)) {
                Ok(c) => Some(c),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
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
            super::share::follow_share();
            let start = Instant::now();
            let r = j.step();
            let duty = j.duty().clamp(0.05, 1.0);
            rest = start.elapsed().mul_f64((1.0 - duty) / duty);
            if r.stops() {
                running = false;
            }
            if out.send(Msg::Report(r)).is_err() {
                return;
            }
        }
    }
}
