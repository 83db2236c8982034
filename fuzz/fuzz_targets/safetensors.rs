#![no_main]
//! safetensors weights into a model: Ok, or an error naming the problem (bad header, offsets
//! out of range or overlapping, a tensor of the wrong shape), never a panic or a huge
//! allocation.
use libfuzzer_sys::fuzz_target;
#[path = "weights_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let dev = common::device();
    let map = tl_models::import::KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")])
        .with_fresh("head.");
    let path = common::scratch("w.safetensors", data);
    let _ = tl_models::import::load_safetensors(common::linear(&dev), &path, &map);
});
