#![no_main]
//! Omniglot zips: the background layout and the one-shot runs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tl_data::images::omniglot_from_bytes(data, "fuzz", "fuzz", 8);
    let _ = tl_data::images::omniglot_runs_from_bytes(data, "fuzz", 8);
});
