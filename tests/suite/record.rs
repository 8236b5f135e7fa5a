//! `shoal record`: frames off-screen with the panels in them, videos through ffmpeg, scripted
//! demos; and the app's layout (the panels dock beside the tank, not over it).

use crate::cli::{png_pixels, run, shoal};
use std::path::Path;
use std::process::Command;

fn record(args: &[&str]) -> (i32, String) {
    let mut all = vec!["record"];
    all.extend(args);
    let (code, _, err) = shoal(&all);
    (code, err)
}

/// Every file and folder under `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Two recordings with the same flags, as PNG frames in `dir/a/` and `dir/b/`.
fn record_twice(dir: &Path, args: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    for d in [&a, &b] {
        let out = format!("{}/", d.display());
        let mut all = args.to_vec();
        all.extend(["--out", &out]);
        let (code, err) = record(&all);
        assert_eq!(code, 0, "{err}");
    }
    (a, b)
}

#[test]
fn record_renders_headless_deterministic_moving_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = record_twice(
        dir.path(),
        &["--frames", "10", "--size", "160x96", "--fish", "200", "--seed", "4"],
    );
    let names: Vec<_> = (0..10).map(|k| format!("frame_{k:04}.png")).collect();
    assert_eq!(listing(&a), names, "only the frames, no partial files");
    for n in &names {
        assert_eq!(
            png_pixels(&a.join(n)),
            png_pixels(&b.join(n)),
            "{n} differs between two runs with the same seed"
        );
    }
    let first = png_pixels(&a.join(&names[0]));
    let last = png_pixels(&a.join(&names[9]));
    assert_eq!(first.len(), 160 * 96 * 4);
    let mut colours: Vec<&[u8]> = first.chunks_exact(4).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 20,
        "a non-blank frame has many colours, got {}",
        colours.len()
    );
    let moved = first
        .chunks_exact(4)
        .zip(last.chunks_exact(4))
        .filter(|(p, q)| p != q)
        .count();
    assert!(
        moved > 50,
        "fish pixels move between the first and last frame ({moved} changed)"
    );
    // A GIF with the requested number of frames.
    let gif_path = dir.path().join("clip.gif");
    let (code, err) = record(&["--frames", "4", "--size", "64x32", "--out", gif_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut decoder = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(&gif_path).unwrap())
        .unwrap();
    let mut n = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
}

/// Frames of the training scene with its panels (curves, samples, scores) are the same in two
/// runs with one seed: the panels show steps, not wall-clock numbers.
#[test]
fn training_frames_with_panels_repeat_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = record_twice(
        dir.path(),
        &[
            "--scene", "training", "--frames", "6", "--warmup", "4", "--size", "320x180", "--fish", "60",
        ],
    );
    for k in 0..6 {
        let n = format!("frame_{k:04}.png");
        assert!(
            png_pixels(&a.join(&n)) == png_pixels(&b.join(&n)),
            "{n} differs between two runs"
        );
    }
}

/// Share of pixels in columns `[x0, x1)` (fractions of the width) that are egui's dark panel grey.
fn panel_grey_share(rgba: &[u8], w: usize, x0: f32, x1: f32) -> f64 {
    let h = rgba.len() / 4 / w;
    let (c0, c1) = ((x0 * w as f32) as usize, (x1 * w as f32) as usize);
    let mut grey = 0;
    for y in 0..h {
        for x in c0..c1 {
            let p = &rgba[(y * w + x) * 4..][..3];
            let (lo, hi) = (*p.iter().min().unwrap(), *p.iter().max().unwrap());
            if hi < 60 && hi - lo < 8 {
                grey += 1;
            }
        }
    }
    grey as f64 / ((c1 - c0) * h) as f64
}

#[test]
fn panels_are_in_the_frame_and_no_panels_gives_the_bare_tank() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    let w = 640;
    for (d, extra) in [(&with, None), (&without, Some("--no-panels"))] {
        let out = format!("{}/", d.display());
        let mut args = vec![
            "--scene", "training", "--frames", "1", "--warmup", "6", "--size", "640x360", "--out", &out,
        ];
        args.extend(extra);
        let (code, err) = record(&args);
        assert_eq!(code, 0, "{err}");
    }
    let a = png_pixels(&with.join("frame_0000.png"));
    let b = png_pixels(&without.join("frame_0000.png"));
    // The tank panel docks left, the training panel right; the bare tank has water there.
    for (x0, x1) in [(0.0, 0.12), (0.88, 1.0)] {
        let (pa, pb) = (panel_grey_share(&a, w, x0, x1), panel_grey_share(&b, w, x0, x1));
        assert!(pa > 0.5, "columns {x0}..{x1}: {pa:.2} panel grey with panels");
        assert!(pb < 0.05, "columns {x0}..{x1}: {pb:.2} panel grey without panels");
    }
}

fn ffprobe(path: &Path) -> serde_json::Value {
    let (code, out, err) = run(Command::new("ffprobe").args([
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,width,height,pix_fmt,nb_read_frames",
        "-of",
        "json",
        path.to_str().unwrap(),
    ]));
    assert_eq!(
        code,
        0,
        "ffprobe (Debian's ffmpeg package) on {}: {err}",
        path.display()
    );
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["streams"][0].clone()
}

#[test]
fn videos_have_the_asked_frames_and_size() {
    let dir = tempfile::tempdir().unwrap();
    for (name, codec) in [("clip.mp4", "h264"), ("clip.webm", "vp9")] {
        let path = dir.path().join(name);
        let (code, err) = record(&[
            "--frames",
            "12",
            "--fps",
            "12",
            "--size",
            "320x180",
            "--fish",
            "100",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        let s = ffprobe(&path);
        assert_eq!(s["codec_name"], codec, "{s}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(320), Some(180)),
            "{s}"
        );
        assert_eq!(s["pix_fmt"], "yuv420p", "{s}");
        assert_eq!(
            s["nb_read_frames"].as_str().and_then(|n| n.parse::<u64>().ok()),
            Some(12),
            "{s}"
        );
    }
    assert_eq!(listing(dir.path()), ["clip.mp4", "clip.webm"], "no partial files");
}

#[test]
fn a_video_without_ffmpeg_or_with_an_odd_size_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("x.mp4");
    // No ffmpeg on the PATH.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "record",
            "--frames",
            "2",
            "--size",
            "64x32",
            "--out",
            mp4.to_str().unwrap(),
        ])
        .env("PATH", empty.path()));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ffmpeg") && err.contains("apt-get install ffmpeg"),
        "{err}"
    );
    let (code, err) = record(&["--frames", "2", "--size", "65x32", "--out", mp4.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("even"), "{err}");
    assert!(
        listing(dir.path()).is_empty(),
        "nothing written: {:?}",
        listing(dir.path())
    );
}

#[test]
fn bad_record_flags_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("x.gif");
    let g = gif.to_str().unwrap();
    let avi = dir.path().join("x.avi");
    for (args, needle) in [
        (vec!["--frames", "0", "--out", g], "--frames"),
        (vec!["--size", "0x0", "--out", g], "--size"),
        (vec!["--size", "wide", "--out", g], "--size"),
        (vec!["--fps", "0", "--out", g], "--fps"),
        (vec!["--out", avi.to_str().unwrap()], "FILE.mp4"),
        (vec!["--out", "/nonexistent-dir/x.gif"], "does not exist"),
        (vec!["--out", "/nonexistent-dir/frames/"], "does not exist"),
        (vec!["--scene", "ocean", "--out", g], "unknown scene"),
    ] {
        let (code, err) = record(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(listing(dir.path()).is_empty(), "no partial files");
}

#[test]
fn record_without_a_graphics_adapter_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("x.gif");
    let frames = dir.path().join("frames");
    for out in [gif.to_str().unwrap().to_string(), format!("{}/", frames.display())] {
        let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["record", "--frames", "2", "--size", "64x32", "--out", &out])
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("WGPU_BACKEND", "vulkan")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("no graphics adapter found"), "{err}");
    }
    assert!(
        listing(dir.path()).is_empty(),
        "nothing written: {:?}",
        listing(dir.path())
    );
}

/// Writes `text` as a script and records with it (PNG frames into `out/`).
fn record_script(dir: &Path, text: &str, out: &Path, extra: &[&str]) -> (i32, String) {
    let script = dir.join("demo.toml");
    std::fs::write(&script, text).unwrap();
    let out = format!("{}/", out.display());
    let mut args = vec!["--script", script.to_str().unwrap(), "--out", &out];
    args.extend(extra);
    record(&args)
}

#[test]
fn bad_scripts_name_their_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frames");
    let head = "scene = \"training\"\ntrainings = [\"path-sgd\"]\nseconds = 2\nfps = 10\nsize = \"64x32\"\n";
    for (steps, line, needle) in [
        // Line 6 is blank; a step's errors name its `[[step]]` line (7, or 10 for the second).
        ("[[step]]\nat = 0\ndo = \"dance\"\n", 7, "unknown action `dance`"),
        (
            "[[step]]\nat = 1\ndo = \"start\"\n[[step]]\nat = 0.5\ndo = \"pause\"\n",
            10,
            "time order",
        ),
        (
            "[[step]]\nat = 0\ndo = \"set\"\nparam = \"cohesion\"\nvalue = -1\n",
            7,
            "cohesion",
        ),
        (
            "[[step]]\nat = 0\ndo = \"set\"\nparam = \"wobble\"\nvalue = 1\n",
            7,
            "unknown boid parameter `wobble`",
        ),
        ("[[step]]\nat = 0\ndo = \"rescale\"\nlayer = 3\nc = 10\n", 7, "1 or 2"),
        ("[[step]]\nat = 0\ndo = \"rescale\"\nlayer = 1\nc = 0\n", 7, "`c`"),
        (
            "[[step]]\nat = 0\ndo = \"start\"\ntraining = \"dcgan\"\n",
            7,
            "no DCGAN training",
        ),
        (
            "[[step]]\nat = 0\ndo = \"caption\"\ntext = \"hi\"\nzoom = 2\n",
            7,
            "`zoom` does not apply to `caption`",
        ),
        (
            "[[step]]\nat = 5\ndo = \"caption\"\ntext = \"late\"\n",
            7,
            "after the recording's end",
        ),
        // Serde's own errors name the key's line.
        (
            "[[step]]\nat = 0\ndo = \"start\"\ncolour = 1\n",
            10,
            "unknown field `colour`",
        ),
    ] {
        let text = format!("{head}\n{steps}");
        let (code, err) = record_script(dir.path(), &text, &out, &[]);
        assert_eq!(code, 2, "{steps}: {err}");
        assert!(
            err.contains(&format!("line {line}:")),
            "{steps}: wants line {line}: {err}"
        );
        assert!(err.contains(needle), "{steps}: wants {needle}: {err}");
        assert!(!out.exists(), "{steps}: nothing written");
    }
    // A bad header value names its line too.
    let (code, err) = record_script(dir.path(), "fish = 10\nfps = 500\n", &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2:") && err.contains("fps"), "{err}");
    // A huge number is written short, once.
    let (code, err) = record_script(dir.path(), "fish = 10\nseconds = 1e308\n", &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("line 2:") && err.contains("seconds must be 0.01 to 3600, got 1e308"),
        "{err}"
    );
    assert!(!err.contains("0000000000"), "{err}");
}

#[test]
fn script_steps_change_the_frames_on_their_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let head = "fish = 120\nfps = 10\nframes = 3\nwarmup = 4\nsize = \"320x180\"\n";
    // Hiding the panels at 0 gives the bare tank's frames exactly.
    let (hidden, bare) = (dir.path().join("hidden"), dir.path().join("bare"));
    let (code, err) = record_script(
        dir.path(),
        &format!("{head}[[step]]\nat = 0\ndo = \"panels\"\nshow = false\n"),
        &hidden,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = record_script(dir.path(), head, &bare, &["--no-panels"]);
    assert_eq!(code, 0, "{err}");
    for k in 0..3 {
        let n = format!("frame_{k:04}.png");
        assert!(png_pixels(&hidden.join(&n)) == png_pixels(&bare.join(&n)), "{n}");
    }
    // A zoom at 0.2 s: frames 0 and 1 as the bare tank, frame 2 differs.
    let zoomed = dir.path().join("zoomed");
    let (code, err) = record_script(
        dir.path(),
        &format!("{head}[[step]]\nat = 0.2\ndo = \"camera\"\nzoom = 3\n"),
        &zoomed,
        &["--no-panels"],
    );
    assert_eq!(code, 0, "{err}");
    for (k, same) in [(0, true), (1, true), (2, false)] {
        let n = format!("frame_{k:04}.png");
        assert_eq!(png_pixels(&zoomed.join(&n)) == png_pixels(&bare.join(&n)), same, "{n}");
    }
}

#[test]
fn the_shipped_demo_scripts_are_valid() {
    let demos = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demos");
    let mut n = 0;
    for e in std::fs::read_dir(&demos).unwrap() {
        let path = e.unwrap().path();
        // Beside the scripts: the videos and pictures they made.
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let script = shoal::record::script::Script::load(&path).unwrap();
        let h = &script.header;
        let seconds = h
            .seconds
            .unwrap_or(h.frames.unwrap_or(60) as f64 / h.fps.unwrap_or(20) as f64);
        let trainings = h.trainings.clone().unwrap_or_default();
        script
            .check(seconds, &trainings)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!script.steps.is_empty());
        n += 1;
    }
    assert!(n >= 2, "at least two demos ship");
}

/// The camera's fit: the whole field inside the free area between the panels, as large as fits.
#[test]
fn the_field_fits_between_the_panels() {
    use bevy::math::Vec2;
    use shoal::ui::layout::{CameraView, fit};
    for (target, free) in [
        (Vec2::new(1280.0, 720.0), (0.2, 0.73)),
        (Vec2::new(1920.0, 1080.0), (0.0, 1.0)),
        (Vec2::new(800.0, 900.0), (0.3, 0.9)),
    ] {
        let field = Vec2::new(1000.0, 500.0);
        let (height, pos) = fit(field, target, free, &CameraView::default());
        let per_px = height / target.y;
        // The field's left and right edges in target pixels.
        let to_px = |world_x: f32| (world_x - pos.x) / per_px + target.x / 2.0;
        let (l, r) = (to_px(-field.x / 2.0), to_px(field.x / 2.0));
        assert!(
            l >= free.0 * target.x - 0.5 && r <= free.1 * target.x + 0.5,
            "{target} {free:?}: {l}..{r}"
        );
        assert!(field.y / per_px <= target.y + 0.5);
        // Tight: one of the two limits is (nearly) reached.
        let fill = ((r - l) / ((free.1 - free.0) * target.x)).max(field.y / per_px / target.y);
        assert!(fill > 0.9, "{target} {free:?}: fills {fill}");
    }
}

/// The app (headless, panels and trainings): the panels dock at the sides and the field is drawn
/// between them.
#[test]
fn in_the_app_no_panel_covers_the_tank() {
    use bevy::prelude::*;
    use shoal::tank::TankCamera;
    use shoal::ui::layout::Docking;
    let opts = shoal::app::AppOptions {
        headless: true,
        backend: shoal::app::backend::BackendChoice::Flex,
        ..Default::default()
    };
    let mut app = shoal::app::build_app(&opts);
    app.finish();
    app.cleanup();
    for _ in 0..12 {
        app.update();
    }
    let docking = app.world().resource::<Docking>().clone();
    assert!(docking.left > 0.1 && docking.right > 0.1, "{docking:?}");
    let params = *app.world().resource::<shoal::boids::BoidParams>();
    let world = app.world_mut();
    let mut q = world.query_filtered::<(&Camera, &GlobalTransform), With<TankCamera>>();
    let (camera, at) = q.single(world).unwrap();
    let size = camera.logical_viewport_size().unwrap();
    let (hw, hh) = (params.width / 2.0, params.height / 2.0);
    for corner in [
        Vec2::new(-hw, -hh),
        Vec2::new(hw, hh),
        Vec2::new(-hw, hh),
        Vec2::new(hw, -hh),
    ] {
        let p = camera.world_to_viewport(at, corner.extend(0.0)).unwrap();
        assert!(
            p.x >= docking.left * size.x - 1.0 && p.x <= (1.0 - docking.right) * size.x + 1.0,
            "corner {corner} at x = {} px, panels end at {} and start at {} px",
            p.x,
            docking.left * size.x,
            (1.0 - docking.right) * size.x
        );
        assert!(p.y >= -1.0 && p.y <= size.y + 1.0, "corner {corner} at y = {}", p.y);
    }
}
