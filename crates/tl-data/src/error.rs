//! The error type of tl-data.

use std::path::PathBuf;

/// What can go wrong while reading or splitting data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file (or embedded resource) whose content is malformed.
    #[error("{source_name}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Parse {
        /// The file or resource.
        source_name: String,
        /// 1-based line, where there is one.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A file that could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A request the data cannot satisfy (too few items of a class, unknown class...).
    #[error("{0}")]
    Request(String),
    /// A shared-vocabulary error (invalid set...).
    #[error(transparent)]
    Core(#[from] tl_core::CoreError),
}

/// Result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;
