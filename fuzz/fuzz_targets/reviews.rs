#![no_main]
//! The Amazon reviews' pseudo-XML.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tl_data::text::parse_reviews(&String::from_utf8_lossy(data), "fuzz");
});
