#![no_main]
//! A model folder's `tokenizer.json`, then a text through what it built.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tokenizer) = tl_text::TextTokenizer::from_bytes(data, 16) {
        if let Ok(ids) = tokenizer.encode("A great book, a terrible ending!") {
            assert!(ids.len() <= 16);
        }
    }
});
