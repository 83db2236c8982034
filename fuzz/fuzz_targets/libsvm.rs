#![no_main]
//! LIBSVM text, with and without a fixed width.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tl_data::libsvm::parse_libsvm(&text, "fuzz", Some(256));
    if let Ok(rows) = tl_data::libsvm::parse_libsvm(&text, "fuzz", None) {
        assert_eq!(rows.values.len(), rows.labels.len() * rows.dim);
    }
});
