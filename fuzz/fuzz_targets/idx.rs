//! Fuzz the IDX parser and the dataset checks: any bytes give Ok or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::learn::data::{Digits, EmnistSplit, idx};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = idx::parse(data) {
        let elems: usize = a.dims.iter().product();
        assert_eq!(a.data.len(), elems * a.dtype.size());
    }
    // Split the input into an images file and a labels file.
    if data.len() > 2 {
        let cut = (data[0] as usize * 256 + data[1] as usize) % data.len();
        let (images, labels) = data[2..].split_at(cut.saturating_sub(2).min(data.len() - 2));
        let _ = Digits::from_idx_bytes(images, labels, None, "fuzz");
        let _ = Digits::from_idx_bytes(images, labels, Some(EmnistSplit::Letters), "fuzz");
    }
});
