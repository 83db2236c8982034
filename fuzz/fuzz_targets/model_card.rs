#![no_main]
//! Model cards (JSON): parsed and checked, or refused naming the problem.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tl_models::card::ModelCard::parse(text, std::path::Path::new("fuzz/card.json"));
    }
});
