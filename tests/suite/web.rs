//! The browser build's options (its query string), checked on native.

use shoal::app::web::options_from_query;
use shoal::app::{AppOptions, JobKind};
use shoal::boids::MAX_FISH;

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
    assert_eq!(o.backend, shoal::app::backend::BackendChoice::Flex);
    assert_eq!(o.fish, 500);
    assert_eq!(o.seed, 7);
    assert_eq!(o.jobs, vec![JobKind::Dcgan, JobKind::Basics]);
    assert!(o.autostart);
    assert_eq!(o.diagnostics, Some(None));
    assert_eq!(o.seconds, Some(2.5));
    let none = options_from_query("train=none&autostart=false").unwrap();
    assert!(none.jobs.is_empty() && !none.autostart);
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
        "'bundle'",
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
    use shoal_common::stats::frames_per_second;
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

/// A training's speed reads as steps a second, and as seconds a step when it is slow (a DCGAN
/// on a software GPU), never as "0.0 steps/s" once steps come.
#[test]
fn a_slow_trainings_speed_reads_as_seconds_a_step() {
    use shoal_common::text::rate_label;
    assert_eq!(rate_label(2.44), "2.4 steps/s");
    assert_eq!(rate_label(0.1), "0.1 steps/s");
    assert_eq!(rate_label(1.0 / 77.0), "77 s a step");
    assert_eq!(rate_label(0.05), "20 s a step");
    for none in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(rate_label(none), "0.0 steps/s", "{none}");
    }
}

/// What the page and a training worker say to each other survives the trip as bytes, and a
/// cut or corrupted message is an error, never a panic or a wrong value.
#[test]
fn worker_messages_round_trip_and_broken_ones_are_errors() {
    use shoal::learn::live::wire::{FromWorker, ToWorker};
    use shoal::learn::live::{BasicsJob, Command, Job, Quality};
    // A real step's report (the basics job's three losses), with a picture and a score added.
    let mut job = BasicsJob::new(3, 5);
    let mut report = job.step();
    assert_eq!(report.values.len(), 3);
    report.image = Some(((0..12).map(|v| v * 20).collect(), 4, 3));
    report.quality = Some(Quality {
        step: 7,
        score: 4.5,
        frechet: 80.25,
    });
    let from = [
        FromWorker::Hello,
        FromWorker::Waiting("loading the MNIST digits…".into()),
        FromWorker::Ready {
            series: job.series(),
            log_scale: job.log_scale(),
            image: Some((vec![7; 6], 3, 2)),
        },
        FromWorker::Report(report.clone()),
        FromWorker::Report(shoal::learn::live::Report {
            step: 9,
            error: Some("the training worker stopped".into()),
            ..Default::default()
        }),
        FromWorker::Error("cannot start: out of memory".into()),
    ];
    for m in &from {
        let bytes = m.encode();
        assert_eq!(&FromWorker::decode(&bytes).unwrap(), m);
        // Every cut is an error, and so is a byte too many.
        for n in 0..bytes.len() {
            assert!(FromWorker::decode(&bytes[..n]).is_err(), "{m:?} cut at {n}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(FromWorker::decode(&long).is_err());
    }
    // The names come back as the same curve names.
    let FromWorker::Report(back) = FromWorker::decode(&from[3].encode()).unwrap() else {
        panic!()
    };
    assert_eq!(back.values.iter().map(|v| v.0).collect::<Vec<_>>(), job.series());
    let to = [
        ToWorker::Start(vec![1, 2, 3]),
        ToWorker::Step,
        ToWorker::Cmd(Command::Rescale { layer: 1, c: 8.0 }),
        ToWorker::Cmd(Command::SetLr(0.003)),
    ];
    for m in &to {
        let bytes = m.encode();
        assert_eq!(&ToWorker::decode(&bytes).unwrap(), m);
        for n in 0..bytes.len() {
            assert!(ToWorker::decode(&bytes[..n]).is_err());
        }
    }
    // An unknown message, and an image whose size does not match its pixels.
    assert!(FromWorker::decode(&[9]).is_err() && ToWorker::decode(&[9]).is_err());
    let mut bad = FromWorker::Ready {
        series: vec![],
        log_scale: false,
        image: Some((vec![1; 6], 3, 2)),
    }
    .encode();
    let at = bad.len() - 6 - 8 - 8 - 8; // the image's width
    bad[at] = 4;
    assert!(FromWorker::decode(&bad).unwrap_err().contains("image of 4x2"));
    // A huge count in a short message is refused before anything is allocated.
    let mut huge = vec![3];
    huge.extend_from_slice(&[0; 10]);
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(FromWorker::decode(&huge).is_err());
}

/// The job a worker is told to build is the one the page's settings describe.
#[test]
fn a_training_spec_for_a_worker_round_trips_and_a_bad_one_is_an_error() {
    use shoal::learn::dcgan::OptimizerKind;
    use shoal::learn::live::spec::{JobSettings, decode_spec, encode_spec};
    let settings = JobSettings {
        path_sgd_p: 1.5,
        path_sgd_batch: 50,
        path_sgd_hidden: 128,
        dcgan_batch: 32,
        dcgan_optimizer: OptimizerKind::Sgd,
        dcgan_grid_every: 7,
        ..JobSettings::default()
    };
    assert_ne!(settings, JobSettings::default());
    for kind in [JobKind::Basics, JobKind::PathSgd, JobKind::Dcgan] {
        for s in [&settings, &JobSettings::default()] {
            for gpu in [false, true] {
                let bytes = encode_spec(kind, s, gpu);
                assert_eq!(decode_spec(&bytes).unwrap(), (kind, s.clone(), gpu));
                for n in 0..bytes.len() {
                    assert!(decode_spec(&bytes[..n]).is_err());
                }
            }
        }
    }
    let mut bad = encode_spec(JobKind::Dcgan, &settings, false);
    bad[0] = 7;
    assert!(decode_spec(&bad).unwrap_err().contains("unknown training 7"));
    let mut bad = encode_spec(JobKind::Dcgan, &settings, true);
    bad[1] = 3;
    assert!(decode_spec(&bad).unwrap_err().contains("unknown device 3"));
    let mut bad = encode_spec(JobKind::Dcgan, &settings, false);
    let opt = bad.len() - 9;
    bad[opt] = 5;
    assert!(decode_spec(&bad).unwrap_err().contains("unknown optimiser 5"));
}

/// One limit, one text: the page's address, a script's header and the command line (the app's
/// and the recorder's `--fish`) say the same about too many fish, and nothing starts.
#[test]
fn the_fish_limit_reads_the_same_everywhere() {
    let too_many = MAX_FISH + 1;
    let want = shoal::app::options::fish(too_many).unwrap_err();
    assert!(
        want.contains(&format!("0 to {MAX_FISH}")) && want.contains(&too_many.to_string()),
        "{want}"
    );
    let page = options_from_query(&format!("fish={too_many}")).unwrap_err();
    assert!(page.contains(&want), "the page: {page}");
    let script = shoal::record::script::Script::parse(&format!("fish = {too_many}\n")).unwrap_err();
    assert!(
        script.contains(&want) && script.contains("line 1"),
        "the script: {script}"
    );
    for args in [vec!["--fish"], vec!["record", "--out", "never.gif", "--fish"]] {
        let n = too_many.to_string();
        let all: Vec<&str> = args.iter().copied().chain([n.as_str()]).collect();
        let (code, _, err) = crate::cli::shoal(&all);
        assert_eq!(code, 2, "{all:?}: {err}");
        assert!(err.contains(&want), "{all:?}: {err}");
    }
    assert!(!std::path::Path::new("never.gif").exists());
    assert_eq!(
        shoal::app::options::parse_count("fish", "lots", shoal::app::options::fish).unwrap_err(),
        "fish must be a whole number, got 'lots'"
    );
}
