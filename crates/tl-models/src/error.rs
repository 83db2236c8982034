//! The error type of tl-models.

use std::path::PathBuf;

/// What can go wrong with pretrained models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A weights file that cannot be read as what it claims to be.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Weights that do not fit the architecture.
    #[error("{path} does not fit the model: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Which parameters are missing, mis-shaped or unmatched.
        reason: String,
    },
    /// A key map that is not a valid regex, or that matches nothing.
    #[error("key map: {0}")]
    KeyMap(String),
    /// A model card that does not parse or is inconsistent.
    #[error("model card {path}: {reason}")]
    Card {
        /// The card file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A shared-vocabulary error.
    #[error(transparent)]
    Core(#[from] tl_core::CoreError),
}

/// Result with [`ModelError`].
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
