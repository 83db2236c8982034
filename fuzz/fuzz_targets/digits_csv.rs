#![no_main]
//! scikit-learn's digits CSV layout.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tl_data::parse_digits_csv(&String::from_utf8_lossy(data), "fuzz");
});
