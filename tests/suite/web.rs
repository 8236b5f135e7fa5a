//! The browser build's options (its query string), checked on native.

use shoal::boids::MAX_FISH;
use shoal::scene::web::options_from_query;
use shoal::scene::{AppOptions, JobKind};

#[test]
fn empty_query_gives_the_defaults() {
    let d = AppOptions::default();
    for q in ["", "?", "?&"] {
        let o = options_from_query(q).unwrap();
        assert_eq!((o.fish, o.seed, o.autostart), (d.fish, d.seed, d.autostart));
        assert_eq!(o.jobs, d.jobs);
        assert!(o.diagnostics.is_none() && o.seconds.is_none());
    }
}

#[test]
fn query_sets_every_option() {
    let o = options_from_query("?fish=500&seed=7&train=dcgan,basics&autostart=1&diagnostics&seconds=2.5&backend=flex")
        .unwrap();
    assert_eq!(o.backend, shoal::scene::backend::BackendChoice::Flex);
    assert_eq!(o.fish, 500);
    assert_eq!(o.seed, 7);
    assert_eq!(o.jobs, vec![JobKind::Dcgan, JobKind::Basics]);
    assert!(o.autostart);
    assert_eq!(o.diagnostics, Some(None));
    assert_eq!(o.seconds, Some(2.5));
    let none = options_from_query("train=none&autostart=false").unwrap();
    assert!(none.jobs.is_empty() && !none.autostart);
    // The page reads `bundle`; the app accepts its two values.
    assert!(options_from_query("bundle=webgl2").is_ok() && options_from_query("bundle=webgpu").is_ok());
}

#[test]
fn bad_query_is_refused_with_every_problem_named() {
    let e =
        options_from_query("fish=lots&seed=-1&train=gan&autostart=maybe&seconds=0&colour=red&backend=cuda&bundle=gl")
            .unwrap_err();
    for word in [
        "fish",
        "seed",
        "'gan'",
        "autostart",
        "seconds",
        "colour",
        "'cuda'",
        "bundle",
        "'gl'",
    ] {
        assert!(e.contains(word), "{word} missing from: {e}");
    }
    let too_many = format!("fish={}", MAX_FISH + 1);
    assert!(options_from_query(&too_many).unwrap_err().contains("fish"));
    assert!(options_from_query("seconds=NaN").is_err());
    assert_eq!(options_from_query(&format!("fish={MAX_FISH}")).unwrap().fish, MAX_FISH);
}

/// The tank panel's fps label: what the frames take, not moved by the odd near-zero interval
/// (two updates in one browser frame) or one long training frame; nothing without frames.
#[test]
fn the_fps_label_reads_the_usual_frame() {
    use shoal::util::frames_per_second;
    let mut page: Vec<f64> = vec![55.0; 14];
    page.extend([0.2, 0.3, 0.1, 420.0, 0.2, 610.0]);
    let fps = frames_per_second(page.iter().copied()).unwrap();
    assert!((fps - 1000.0 / 55.0).abs() < 0.01, "{fps}");
    // A plain mean of 1/dt or of the times would be far off.
    let mean_ms = page.iter().sum::<f64>() / page.len() as f64;
    assert!((1000.0 / mean_ms - fps).abs() > 5.0);
    let steady = frames_per_second([16.0, 17.0, 16.5, 16.0, 17.0].into_iter()).unwrap();
    assert!((57.0..=63.0).contains(&steady), "{steady}");
    assert_eq!(frames_per_second(std::iter::empty()), None);
    assert_eq!(frames_per_second([0.0, 0.0, 0.0].into_iter()), None);
}
