#![no_main]
//! PyTorch `.pth` (pickle) weights into a model: never executes anything the pickle asks
//! for, never panics.
use libfuzzer_sys::fuzz_target;
#[path = "weights_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("w.pth", data);
    let _ = tl_models::import::load_pytorch(
        common::linear(&common::device()),
        &path,
        &common::key_map(),
    );
});
