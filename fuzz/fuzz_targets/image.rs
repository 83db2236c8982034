#![no_main]
//! PNG/JPEG decoding, grey and RGB, with a resize.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((values, shape)) = tl_data::images::decode_image(data, "fuzz", 1, Some((8, 8))) {
        assert_eq!(values.len(), shape.size());
    }
    let _ = tl_data::images::decode_image(data, "fuzz", 3, None);
});
