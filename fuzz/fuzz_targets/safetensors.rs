#![no_main]
//! safetensors weights into a model: Ok, or an error naming the problem (bad header, offsets
//! out of range or overlapping, a tensor of the wrong shape), never a panic or a huge
//! allocation.
use libfuzzer_sys::fuzz_target;
#[path = "weights_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("w.safetensors", data);
    let _ = tl_models::import::load_safetensors(
        common::linear(&common::device()),
        &path,
        &common::key_map(),
    );
});
