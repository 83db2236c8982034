//! Shared by the weight-file targets: a one-layer classifier on flex and a file to load from.
use tl_core::model::{Classifier, Sequential, SequentialConfig, head_config};

pub fn device() -> burn::tensor::Device {
    tl_core::device::device("flex").expect("flex is compiled in")
}

/// A linear classifier 3 -> 2 (the layout the seed files describe).
pub fn linear(dev: &burn::tensor::Device) -> Classifier<Sequential> {
    let encoder = SequentialConfig::new(vec![3]).linear(2).init(dev).unwrap();
    let head = head_config(2, &[], 2).init(dev).unwrap();
    Classifier::new(encoder, head).unwrap()
}

/// Writes `data` to this process's scratch file named `name` and returns its path (the
/// loaders read files, as users' weights are).
pub fn scratch(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// How the seed files' tensor names map onto the model (`body.0.*` is its first layer).
pub fn key_map() -> tl_models::import::KeyMap {
    tl_models::import::KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")]).with_fresh("head.")
}
