//! The error type of tl-text.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a text encoder.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The model folder itself is absent.
    #[error(
        "model folder {0} does not exist: fetch the model first (scripts/fetch-minilm.sh) or point to a Hugging Face download"
    )]
    MissingFolder(PathBuf),
    /// A file the model folder must contain is absent.
    #[error("model folder {folder} has no `{file}`: {hint}")]
    MissingFile {
        /// The folder.
        folder: PathBuf,
        /// The file that is missing.
        file: String,
        /// What to do about it.
        hint: String,
    },
    /// A configuration that names an architecture or option this loader does not support.
    #[error("{path}: unsupported model: {reason}")]
    Unsupported {
        /// The configuration file.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
    /// A file whose content is not what it should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The tokenizer and the weights disagree (vocabulary size, special tokens).
    #[error("tokenizer does not match the model: {0}")]
    TokenizerMismatch(String),
    /// The tokenizer failed on an input.
    #[error("tokenizer error: {0}")]
    Tokenize(String),
    /// Token ids or lengths that the model cannot take.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An error of the shared core.
    #[error(transparent)]
    Core(#[from] tl_core::CoreError),
    /// An error of the weight importer.
    #[error(transparent)]
    Model(#[from] tl_models::ModelError),
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result with [`TextError`].
pub type Result<T, E = TextError> = std::result::Result<T, E>;

impl TextError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
