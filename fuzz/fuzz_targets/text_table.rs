#![no_main]
//! CSV and TSV with RFC 4180 quoting.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for delimiter in [',', '\t'] {
        if let Ok(set) = tl_data::text::parse_text_table(&text, delimiter, "fuzz", "text", "label")
        {
            assert_eq!(set.texts.len(), set.labels.len());
            assert!(set.labels.iter().all(|&l| l < set.class_names.len()));
        }
    }
});
