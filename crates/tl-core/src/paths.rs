//! Where real data and pretrained models live: `TL_DATA_DIR` and `TL_MODEL_DIR`.
//!
//! Tests and examples that need real files are opt-in: they run only when the variable is
//! set (`.ci/run` sets both). `TL_DATA_DIR` is only ever read; `TL_MODEL_DIR` may be written
//! by scripts that fetch models.

use std::path::PathBuf;

/// Environment variable naming the root of the data folders.
pub const DATA_DIR_VAR: &str = "TL_DATA_DIR";
/// Environment variable naming the root of the pretrained-model folders.
pub const MODEL_DIR_VAR: &str = "TL_MODEL_DIR";

fn dir_from(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The data root, when `TL_DATA_DIR` is set.
pub fn data_dir() -> Option<PathBuf> {
    dir_from(DATA_DIR_VAR)
}

/// The model root, when `TL_MODEL_DIR` is set.
pub fn model_dir() -> Option<PathBuf> {
    dir_from(MODEL_DIR_VAR)
}
