//! The limits of the options a run of the app starts with, in one place for the command line,
//! the page's address and a script's header. Each check gives the value back, or one error text
//! that names the option, what was found and what is accepted; each front end only adds where
//! the value came from (a flag, a line of the script).

use crate::boids::MAX_FISH;
use crate::tank::playground::MAX_SHARKS;
use shoal_common::text::number;

/// `fish`: how many fish the school starts with.
pub fn fish(n: usize) -> Result<usize, String> {
    if n <= MAX_FISH {
        Ok(n)
    } else {
        Err(format!("fish must be 0 to {MAX_FISH}, got {n}"))
    }
}

/// `sharks`: how many autonomous sharks swim in the tank.
pub fn sharks(n: usize) -> Result<usize, String> {
    if n <= MAX_SHARKS {
        Ok(n)
    } else {
        Err(format!("sharks must be 0 to {MAX_SHARKS}, got {n}"))
    }
}

/// `seconds`: how long a measured run lasts.
pub fn seconds(s: f64) -> Result<f64, String> {
    if s.is_finite() && s > 0.0 {
        Ok(s)
    } else {
        Err(format!("seconds must be a positive number, got {}", number(s)))
    }
}

/// `steps_per_second`: the school's fixed timestep.
pub fn steps_per_second(v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("steps_per_second must be a positive number, got {}", number(v)))
    }
}

/// `text` read as a whole number and checked: "fish must be a whole number, got 'lots'" where
/// it is not one.
pub fn parse_count(name: &str, text: &str, check: fn(usize) -> Result<usize, String>) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .map_err(|_| format!("{name} must be a whole number, got '{text}'"))
        .and_then(check)
}

/// `text` read as a number and checked.
pub fn parse_number(name: &str, text: &str, check: fn(f64) -> Result<f64, String>) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("{name} must be a number, got '{text}'"))
        .and_then(check)
}
