//! Fuzz the IDX parser and the dataset checks: any bytes give Ok or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_learn::data::{Digits, EmnistSplit, idx};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = idx::parse(data) {
        // Many dims with a zero among them: the product of the others may overflow usize.
        let elems = a.dims.iter().fold(1u128, |acc, &d| acc.saturating_mul(d as u128));
        assert_eq!(a.data.len() as u128, elems * a.dtype.size() as u128);
    }
    // Split the input into an images file and a labels file.
    if data.len() > 2 {
        let cut = (data[0] as usize * 256 + data[1] as usize) % data.len();
        let (images, labels) = data[2..].split_at(cut.saturating_sub(2).min(data.len() - 2));
        let _ = Digits::from_idx_bytes(images, labels, None, "fuzz");
        let _ = Digits::from_idx_bytes(images, labels, Some(EmnistSplit::Letters), "fuzz");
    }
});
