//! The command line: bad input gives a clear error and exit code 2, never a panic.

use std::process::Command;

pub(crate) fn shoal(args: &[&str]) -> (i32, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_shoal")).args(args))
}

/// Runs `cmd` to its end: exit code, stdout, stderr.
pub(crate) fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run shoal");
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
fn bench_boids_with_sharks_and_rocks_prints_both_schools() {
    let (code, out, err) = shoal(&[
        "bench",
        "boids",
        "--fish",
        "300",
        "--steps",
        "10",
        "--threads",
        "1",
        "--sharks",
        "4",
        "--rocks",
        "20",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        (lines[0]["sharks"].as_u64(), lines[0]["rocks"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (lines[1]["sharks"].as_u64(), lines[1]["rocks"].as_u64()),
        (Some(4), Some(20))
    );
    let ratio = lines[1]["ratio_to_plain"].as_f64().unwrap();
    let want = lines[1]["ms_per_step"].as_f64().unwrap() / lines[0]["ms_per_step"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-9 && ratio > 0.0, "{ratio} vs {want}");
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
        (vec!["--fish", "999999999"], "at most"),
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
    for (args, needle) in [
        (&["--train-share", "1.5"][..], "from 0 (frames first) to 0.9"),
        (&["--train-share", "lots"], "is not a number (0 to 0.9)"),
        (
            &["--dcgan-from", "/nonexistent/gan"],
            "cannot read the DCGAN checkpoint /nonexistent/gan",
        ),
        (&["--backend", "cuda"], "use auto, flex or wgpu"),
    ] {
        let (code, _, err) = shoal(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let not_ckpt = dir.path().join("not.bin");
    std::fs::write(&not_ckpt, b"hello").unwrap();
    let (code, _, err) = shoal(&["--dcgan-from", not_ckpt.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a usable DCGAN checkpoint"), "{err}");
    let (code, _, err) = shoal(&["run", "--preset", "/nonexistent/preset.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read preset /nonexistent/preset.toml"), "{err}");
}

/// Runs `shoal` under a virtual X display when none is set (CI installs xvfb).
fn shoal_windowed(args: &[&str]) -> (i32, String) {
    let exe = env!("CARGO_BIN_EXE_shoal");
    let mut cmd = if std::env::var_os("DISPLAY").is_some() {
        Command::new(exe)
    } else {
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x720x24", exe]);
        c
    };
    let out = cmd.args(args).output().expect("run shoal (is xvfb-run installed?)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn screenshot_writes_a_real_frame_of_the_tank() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tank.png");
    let (code, err) = shoal_windowed(&[
        "screenshot",
        "--out",
        path.to_str().unwrap(),
        "--fish",
        "300",
        "--frames",
        "30",
    ]);
    assert_eq!(code, 0, "{err}");
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    let px = &buf[..info.buffer_size()];
    // Not blank: many distinct colours (water, sand, fish, panel text).
    let mut colours: Vec<[u8; 3]> = px.chunks_exact(3).step_by(7).map(|c| [c[0], c[1], c[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
    // Nothing else left in the folder (written atomically).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Bad output paths are refused before anything runs.
    let (code, _, err) = shoal(&["screenshot", "--out", dir.path().join("x.jpg").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains(".png"), "{err}");
    let (code, _, err) = shoal(&["screenshot", "--out", "/nonexistent-dir/x.png"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

/// `shoal ARGS` with no display at all (the headless app must not need one).
fn shoal_no_display(args: &[&str]) -> (i32, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY"))
}

#[test]
fn headless_app_measures_frames_and_screenshots_without_a_display() {
    let (code, out, err) = shoal_no_display(&[
        "--headless",
        "--fish",
        "250",
        "--no-train",
        "--seconds",
        "4",
        "--diagnostics",
    ]);
    assert_eq!(code, 0, "{err}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().expect("a report")).unwrap();
    assert_eq!(last["kind"], "final", "{out}");
    assert_eq!(last["fish"], 250, "{out}");
    let run = &last["run"];
    assert!(run["frames"].as_u64().unwrap() > 5, "{out}");
    let (p50, p95) = (run["p50_ms"].as_f64().unwrap(), run["p95_ms"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p95 && p95.is_finite(), "{out}");

    // Without --seconds nothing would ever end it: refused up front.
    let (code, _, err) = shoal_no_display(&["--headless", "--no-train"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--headless needs --seconds"), "{err}");

    // A screenshot of the off-screen frame: the tank and its panels.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headless.png");
    let (code, _, err) = shoal_no_display(&[
        "screenshot",
        "--headless",
        "--fish",
        "300",
        "--frames",
        "20",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut reader = png::Decoder::new(std::io::Cursor::new(std::fs::read(&path).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    let mut colours: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(3)
        .step_by(7)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
}

/// A PNG's pixels as the file stores them (RGB or RGBA rows).
pub(crate) fn png_pixels(path: &std::path::Path) -> Vec<u8> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(std::fs::read(path).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

#[test]
fn bad_backend_names_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gan");
    let out_s = out.to_str().unwrap();
    for args in [
        vec!["dcgan", "--backend", "cuda", "--out", out_s],
        vec!["bench", "dcgan", "--backend", "cuda"],
    ] {
        let (code, _, err) = shoal(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("unknown backend 'cuda'; use auto, flex or wgpu"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!out.exists(), "nothing written for a bad backend");
    // The app's flag is checked by the parser before any window opens.
    let (code, _, err) = shoal(&["--backend", "cuda", "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown backend 'cuda'; use auto, flex or wgpu"), "{err}");
    let (code, _, err) = shoal(&["--backend", "wgpu", "--gpu-device", "mine", "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown GPU device 'mine'; use shared or own"), "{err}");
    let (code, _, err) = shoal(&["--backend", "flex", "--gpu-device", "own", "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--gpu-device applies to --backend wgpu or auto, not flex"),
        "{err}"
    );
}

/// `shoal dcgan --ema`: the CSV scores the average and the current weights; a resume without
/// `--ema` is refused (the average would be lost); a bad decay is refused before anything is
/// written.
#[test]
fn dcgan_runs_with_a_generator_average_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gan");
    let out_s = out.to_str().unwrap();
    let (code, _, err) = shoal(&["dcgan", "--ema", "1.5", "--out", out_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a decay in [0, 1)"), "{err}");
    assert!(!out.exists(), "nothing written for a bad decay");
    for lr in ["0", "2", "nan", "fast"] {
        let (code, _, err) = shoal(&["dcgan", "--lr", lr, "--out", out_s]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("between 1e-6 and 0.1") || err.contains("not a number"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written for a bad learning rate");
    }
    let base = ["dcgan", "--train-limit", "128", "--batch", "64", "--out", out_s];
    let with = |extra: &[&'static str]| -> Vec<&str> { base.iter().copied().chain(extra.iter().copied()).collect() };
    let (code, _, err) = shoal(&with(&["--epochs", "1", "--ema", "0.9"]));
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("dcgan.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].ends_with("score,frechet,seconds,score_current,frechet_current"),
        "{csv}"
    );
    let fields: Vec<f64> = lines[1].split(',').map(|f| f.parse().unwrap()).collect();
    assert_eq!(fields.len(), 10, "{csv}");
    assert!(fields.iter().all(|v| v.is_finite()), "{csv}");
    let (code, _, err) = shoal(&with(&["--epochs", "2", "--resume"]));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("resume with --ema"), "{err}");
    let (code, _, err) = shoal(&with(&["--epochs", "2", "--resume", "--ema", "0.9"]));
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("dcgan.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    sample_and_score(&out);
}

/// `shoal dcgan sample` writes digits from a run's checkpoint as IDX (and a grid);
/// `shoal classifier score` scores them and real digits, as JSON; bad input writes nothing.
fn sample_and_score(run: &std::path::Path) {
    let dir = run.parent().unwrap();
    let (idx, grid) = (dir.join("fake.idx.gz"), dir.join("fake.png"));
    let (idx_s, grid_s, run_s) = (idx.to_str().unwrap(), grid.to_str().unwrap(), run.to_str().unwrap());
    for (n, needle) in [("0", "between 1 and 200000"), ("300000", "between 1 and 200000")] {
        let (code, _, err) = shoal(&["dcgan", "sample", "--from", run_s, "--n", n, "--out", idx_s]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    let (code, _, err) = shoal(&[
        "dcgan",
        "sample",
        "--from",
        dir.join("nothing").to_str().unwrap(),
        "--out",
        idx_s,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the checkpoint"), "{err}");
    assert!(!idx.exists(), "nothing written for bad input");
    let (code, out, err) = shoal(&[
        "dcgan", "sample", "--from", run_s, "--n", "300", "--out", idx_s, "--grid", grid_s, "--seed", "4",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("moving average"), "samples come from G's average: {out}");
    let arr = shoal::learn::data::idx::parse(&std::fs::read(&idx).unwrap()).unwrap();
    assert_eq!(arr.dims, [300, 28, 28]);
    assert_eq!(png_pixels(&grid).len(), (8 * 30 + 2) * 2 * (8 * 30 + 2) * 2 * 3);
    // The same seed gives the same digits; another seed others.
    let again = dir.join("again.idx");
    let (code, _, err) = shoal(&[
        "dcgan",
        "sample",
        "--from",
        run_s,
        "--n",
        "300",
        "--out",
        again.to_str().unwrap(),
        "--seed",
        "4",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        shoal::learn::data::idx::parse(&std::fs::read(&again).unwrap()).unwrap(),
        arr
    );

    let score = |file: &std::path::Path| -> serde_json::Value {
        let (code, out, err) = shoal(&["classifier", "score", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 1, "{out}");
        serde_json::from_str(out.trim()).unwrap()
    };
    let fake = score(&idx);
    assert_eq!(fake["images"], 300);
    let classes: Vec<u64> = fake["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!((classes.len(), classes.iter().sum::<u64>()), (10, 300), "{fake}");
    // Real digits (the bundled training split, not the held-out reference) score near 10 and
    // lie far closer to the reference than a generator after one epoch on 128 images.
    let train = shoal::learn::data::Digits::bundled(shoal::learn::data::Split::Train);
    let real = dir.join("real.idx");
    let n = 1000;
    let body = shoal::learn::data::idx::encode(
        shoal::learn::data::idx::IdxType::U8,
        &[n as u32, 28, 28],
        &train.images[..n * 784],
    );
    std::fs::write(&real, body).unwrap();
    let real = score(&real);
    let (fs, ff) = (fake["score"].as_f64().unwrap(), fake["frechet"].as_f64().unwrap());
    let (rs, rf) = (real["score"].as_f64().unwrap(), real["frechet"].as_f64().unwrap());
    assert!((1.0..=10.0).contains(&fs) && ff.is_finite() && ff >= 0.0, "{fake}");
    assert!(rs > 9.0 && rs > fs, "real {real} vs generated {fake}");
    assert!(rf < ff / 5.0, "real {real} vs generated {fake}");
    // Not digits: a clear error.
    let bad = dir.join("bad.idx");
    std::fs::write(
        &bad,
        shoal::learn::data::idx::encode(shoal::learn::data::idx::IdxType::U8, &[2, 5], &[0; 10]),
    )
    .unwrap();
    let (code, _, err) = shoal(&["classifier", "score", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("n x 28 x 28"), "{err}");
    std::fs::write(&bad, b"hello").unwrap();
    let (code, _, err) = shoal(&["classifier", "score", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an IDX file"), "{err}");
}

/// `shoal dcgan --resume` refuses a checkpoint made with another seed, batch or data (naming
/// both values, changing nothing), and a crash between an epoch's CSV row and its checkpoint
/// does not leave a duplicated row.
#[test]
fn dcgan_resume_refuses_other_settings_and_never_duplicates_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gan");
    let out_s = out.to_str().unwrap();
    let base = ["dcgan", "--batch", "64", "--out", out_s];
    let with = |extra: &[&'static str]| -> Vec<&str> { base.iter().copied().chain(extra.iter().copied()).collect() };
    let (code, _, err) = shoal(&with(&["--train-limit", "128", "--epochs", "1"]));
    assert_eq!(code, 0, "{err}");
    let ckpt = std::fs::read(out.join("checkpoint.bin")).unwrap();
    for (extra, needles) in [
        (
            &["--train-limit", "128", "--batch", "32"][..],
            &["batch 64", "batch 32"][..],
        ),
        (&["--train-limit", "128", "--seed", "7"], &["seed 1", "seed 7"]),
        (
            &["--train-limit", "192"],
            &["128 images", "192 images", "--train-limit"],
        ),
    ] {
        let mut args = vec!["dcgan", "--out", out_s, "--epochs", "2", "--resume"];
        if !extra.contains(&"--batch") {
            args.extend(["--batch", "64"]);
        }
        args.extend(extra);
        let (code, _, err) = shoal(&args);
        assert_ne!(code, 0, "{extra:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{extra:?}: '{n}' missing from: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read(out.join("checkpoint.bin")).unwrap(),
            ckpt,
            "{extra:?} changed the checkpoint"
        );
    }
    // A crash after epoch 2's row was written but before its checkpoint: the row is there, the
    // checkpoint still says epoch 1. The resumed run writes epoch 2 once.
    let csv_path = out.join("dcgan.csv");
    let mut csv = std::fs::read_to_string(&csv_path).unwrap();
    csv.push_str("2,9,9,0.5,0.5,1,100,1.00,,\n");
    std::fs::write(&csv_path, csv).unwrap();
    let (code, _, err) = shoal(&with(&["--train-limit", "128", "--epochs", "2", "--resume"]));
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let epochs: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(epochs, ["1", "2"], "{csv}");
    assert!(!csv.contains("2,9,9,0.5"), "the stale row is gone: {csv}");
}
