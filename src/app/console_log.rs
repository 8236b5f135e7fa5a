//! The browser's log: warnings and errors (and shoal's own info lines) to the console, in
//! place of Bevy's `LogPlugin`, whose filter (tracing-subscriber's `EnvFilter`) brings a whole
//! regex engine into the .wasm. Compiled for wasm only; the level caps are also set at compile
//! time there (Cargo.toml: tracing's `release_max_level_info`, log's `release_max_level_warn`), so the trace and debug
//! lines of Bevy, wgpu and naga are not in the download at all.

use std::fmt::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber, span};
use web_sys::console;

/// Installs the console log for `tracing` (Bevy, shoal) and `log` (wgpu, naga, winit) events.
/// A second call changes nothing.
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Console);
    if log::set_logger(&ConsoleLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// Which events are printed: warnings and errors, and shoal's own info lines.
fn wanted(level: Level, target: &str) -> bool {
    level <= Level::WARN || (level <= Level::INFO && target.starts_with("shoal"))
}

fn print(level: Level, target: &str, message: &str) {
    let line = format!("{level} {target}: {message}").into();
    match level {
        Level::ERROR => console::error_1(&line),
        Level::WARN => console::warn_1(&line),
        _ => console::info_1(&line),
    }
}

struct Console;

/// An event's fields as one line: the message, then `name=value` for the others.
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = if field.name() == "message" {
            write!(self.0, "{value:?}")
        } else {
            write!(self.0, "{}={value:?}", field.name())
        };
    }
}

impl Subscriber for Console {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && wanted(*meta.level(), meta.target())
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        let meta = event.metadata();
        print(*meta.level(), meta.target(), &line.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

struct ConsoleLog;

impl log::Log for ConsoleLog {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = if record.level() == log::Level::Error {
                Level::ERROR
            } else {
                Level::WARN
            };
            print(level, record.target(), &record.args().to_string());
        }
    }
    fn flush(&self) {}
}
