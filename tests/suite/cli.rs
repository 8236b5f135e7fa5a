//! The command line: bad input gives a clear error and exit code 2, never a panic.

use std::process::Command;

fn shoal(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .output()
        .expect("run shoal");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_boids_prints_one_json_line() {
    let (code, out, err) = shoal(&["bench", "boids", "--fish", "200", "--steps", "20", "--threads", "1"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["fish"], 200);
    assert_eq!(v["steps"], 20);
    let ms = v["ms_per_step"].as_f64().unwrap();
    assert!(ms > 0.0 && ms.is_finite());
    let ups = v["fish_updates_per_s"].as_f64().unwrap();
    assert!((ups - 200.0 / (ms / 1e3)).abs() / ups < 1e-6);
}

#[test]
fn bad_bench_values_are_clear_errors() {
    for (args, needle) in [
        (vec!["--fish", "0"], "--fish"),
        (vec!["--vision", "0"], "vision must be greater than 0"),
        (vec!["--vision", "NaN"], "vision must be a finite number"),
        (vec!["--avoid=-1"], "avoid must not be negative"),
        (vec!["--avoid", "150"], "must not exceed vision"),
        (vec!["--steps", "0"], "--steps"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--width=-5"], "width must be greater than 0"),
    ] {
        let mut all = vec!["bench", "boids", "--steps", "1"];
        all.extend(args.iter());
        let (code, _, err) = shoal(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn bad_preset_for_the_app_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "vision = 10.0\navoid = 50.0").unwrap();
    let (code, _, err) = shoal(&["--preset", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must not exceed vision"), "{err}");
    let (code, _, err) = shoal(&["run", "--preset", "/nonexistent/preset.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot access preset"), "{err}");
}
