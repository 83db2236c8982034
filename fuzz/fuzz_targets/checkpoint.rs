#![no_main]
//! A checkpoint's burnpack weights (what tl-core saves and `tl predict` loads).
use libfuzzer_sys::fuzz_target;
#[path = "weights_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let dev = common::device();
    let path = common::scratch("weights.bpk", data);
    let _ = tl_core::checkpoint::load_weights(common::linear(&dev), &path);
});
