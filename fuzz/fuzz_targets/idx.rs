#![no_main]
//! IDX headers and bodies: must return Ok or a Parse error, never panic or over-allocate.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tl_data::idx::parse_idx(data, "fuzz");
});
