//! How much of the machine the trainings get while they run, against the renderer.
//!
//! The share is one number in `[0, MAX_TRAIN_SHARE]`. At 0 the training threads run under
//! `SCHED_IDLE` (Linux): they only use what the frames leave idle. Above 0 they run at normal
//! priority, and the app paces its frames so that drawing leaves the CPU free for the rest
//! (the app's `app::pacing`). The threads' priority follows the share whenever it changes.

use std::sync::atomic::{AtomicU64, Ordering};

/// The app's default: the trainings get a real share (what each share gives:
/// docs/performance.md, "Digits in the tank").
pub const DEFAULT_TRAIN_SHARE: f64 = 0.5;
/// The most the trainings may take: frames keep at least a tenth.
pub const MAX_TRAIN_SHARE: f64 = 0.9;

static SHARE: AtomicU64 = AtomicU64::new(DEFAULT_TRAIN_SHARE.to_bits());

/// Prefix of every training thread's name (the job workers and the tensor kernels' pool), by
/// which their priority is found and changed.
pub const THREAD_PREFIX: &str = "train";

/// A share outside `[0, MAX_TRAIN_SHARE]` (or not a number): the message names the range.
pub fn check_train_share(s: f64) -> Result<f64, String> {
    if s.is_finite() && (0.0..=MAX_TRAIN_SHARE).contains(&s) {
        Ok(s)
    } else {
        Err(format!(
            "the training share must be a number from 0 (frames first) to {MAX_TRAIN_SHARE} (training first), got {s}"
        ))
    }
}

/// Sets the share (clamped to `[0, MAX_TRAIN_SHARE]`; not-a-number counts as 0).
pub fn set_train_share(s: f64) {
    let s = if s.is_nan() { 0.0 } else { s.clamp(0.0, MAX_TRAIN_SHARE) };
    SHARE.store(s.to_bits(), Ordering::Relaxed);
}

pub fn train_share() -> f64 {
    f64::from_bits(SHARE.load(Ordering::Relaxed))
}

/// Whether the app splits a small machine (at most two cores) between drawing and training:
/// when the trainings start with the app at a share above 0, the software rasterizer (Mesa's
/// lavapipe, `LP_NUM_THREADS`) and the tensor kernels' pool get one thread each instead of
/// both fighting over both cores, which is slower for the trainings and no smoother for the
/// frames. Without trainings the frames keep two rasterizer threads (one would slow them), so
/// the app without trainings at its start is unchanged.
pub fn split_two_cores(cores: usize, trainings_start: bool, share: f64) -> bool {
    cores <= 2 && trainings_start && share > 0.0
}

/// Starts the tensor kernels' thread pool (rayon's global pool, used by burn Flex and gemm)
/// with named threads at normal priority, so their priority can follow the share; `threads`
/// (`None`: one per core) as [`split_two_cores`] decides. Call it before any training runs;
/// later calls (or a pool someone else started) change nothing.
#[cfg(not(target_arch = "wasm32"))]
pub fn start_training_pool(threads: Option<usize>) {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .thread_name(|i| format!("{THREAD_PREFIX} pool {i}"))
        .build_global();
}

/// Makes the calling thread (a job's worker) run the tensor kernels' parallel loops itself when
/// their pool has a single thread ([`split_two_cores`], or a one-core machine). A one-thread
/// pool only adds a hand-over to every kernel call: the caller wakes the pool's thread (a futex
/// wake: 11 % of all CPU samples of `bench dcgan --batch 64` with `RAYON_NUM_THREADS=1` here)
/// and sleeps until it is done (in the app the woken thread can also wait its turn behind the
/// renderer). The kernels then run in a pool of one made of this thread (rayon's
/// `use_current_thread`), so nothing is handed over. Keep the returned pool alive for as long as
/// the thread trains; `None` when the kernels' pool has several threads (they stay shared) or
/// when called from a pool thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn kernels_on_this_thread() -> Option<rayon::ThreadPool> {
    kernels_here(rayon::current_num_threads())
}

/// [`kernels_on_this_thread`] for a kernel pool of `pool_threads` threads.
#[cfg(not(target_arch = "wasm32"))]
pub fn kernels_here(pool_threads: usize) -> Option<rayon::ThreadPool> {
    if pool_threads != 1 || rayon::current_thread_index().is_some() {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
        .ok()
}

/// The share last applied to the threads' priority (NaN: never).
static APPLIED: AtomicU64 = AtomicU64::new(f64::NAN.to_bits());

/// Puts every training thread (named [`THREAD_PREFIX`]…) in the scheduling class the share
/// asks for, if it changed since the last call: `SCHED_IDLE` at 0, normal above. Called by
/// the job workers before each step; cheap when nothing changed.
pub fn follow_share() {
    let s = train_share();
    let idle_now = s == 0.0;
    let before = f64::from_bits(APPLIED.swap(s.to_bits(), Ordering::Relaxed));
    if before.is_nan() || (before == 0.0) != idle_now {
        set_training_threads_idle(idle_now);
    }
}

/// Scheduling classes are Linux's: elsewhere the share only paces the frames.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_training_threads_idle(_idle: bool) {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_training_threads_idle(idle: bool) {
    let policy = if idle { libc::SCHED_IDLE } else { libc::SCHED_OTHER };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        if name.starts_with(THREAD_PREFIX) {
            set_policy(tid, policy);
        }
    }
}

/// Puts thread `tid` of this process (0: the calling thread) in scheduling class `policy`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_policy(tid: libc::pid_t, policy: libc::c_int) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler only changes the scheduling class of one of this process's
    // threads; the parameter is a valid sched_param.
    unsafe {
        libc::sched_setscheduler(tid, policy, &param);
    }
}

/// Puts the calling thread under `SCHED_IDLE` (Linux): it then only runs on what the other
/// threads leave idle.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn idle_this_thread() {
    set_policy(0, libc::SCHED_IDLE);
}
