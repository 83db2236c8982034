#![no_main]
//! PyTorch `.pth` (pickle) weights into a model: never executes anything the pickle asks
//! for, never panics.
use libfuzzer_sys::fuzz_target;
#[path = "weights_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let dev = common::device();
    let map = tl_models::import::KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")])
        .with_fresh("head.");
    let path = common::scratch("w.pth", data);
    let _ = tl_models::import::load_pytorch(common::linear(&dev), &path, &map);
});
