#![no_main]
//! gzip and bzip2 streams (the first bytes choose the decoder).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tl_data::io::decompress(data.to_vec(), "fuzz");
});
