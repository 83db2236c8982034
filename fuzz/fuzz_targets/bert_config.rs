#![no_main]
//! A model folder's `config.json`: parsed and checked (sizes, kinds), or refused.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = serde_json::from_slice::<tl_text::BertConfig>(data) {
        let _ = config.check(std::path::Path::new("fuzz/config.json"));
        let _ = config.num_params();
    }
});
