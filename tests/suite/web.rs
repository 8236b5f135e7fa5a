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
