//! The error type of tl-core; every strategy crate's error converts from it.

use std::path::PathBuf;

/// Everything that can go wrong in the shared machinery.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A backend name that is not one of the known ones.
    #[error("unknown device `{0}`: expected one of flex, ndarray, wgpu, wgpu-cpu, auto")]
    UnknownDevice(String),
    /// A backend that exists but was not compiled into this binary.
    #[error("device `{device}` needs the `{feature}` feature: rebuild with `--features {feature}`")]
    BackendNotCompiled {
        /// The device asked for.
        device: String,
        /// The Cargo feature that brings it in.
        feature: &'static str,
    },
    /// The GPU runtime could not start (no adapter, driver missing...).
    #[error("device `{device}` could not start: {reason}")]
    DeviceInit {
        /// The device asked for.
        device: String,
        /// What the runtime said.
        reason: String,
    },
    /// A data set whose parts disagree (lengths, shapes, labels).
    #[error("invalid data `{name}`: {reason}")]
    InvalidData {
        /// Which set.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A transfer task that does not hold together.
    #[error("invalid transfer task: {0}")]
    InvalidTask(String),
    /// A strategy needs a part of the task that is absent or empty.
    #[error("strategy `{strategy}` needs the task's {part}, which is missing or empty")]
    MissingTaskPart {
        /// The strategy that needs it.
        strategy: String,
        /// The part it needs.
        part: crate::task::TaskPart,
    },
    /// No strategy of that name is registered.
    #[error("no strategy `{name}`; known: {known}")]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// A configuration value outside its valid range; checked before any work.
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A model that cannot take the requested surgery or input.
    #[error("model error: {0}")]
    Model(String),
    /// The loss or a metric became NaN or infinite.
    #[error(
        "training diverged: loss is {loss} at epoch {epoch}, step {step}; the last good checkpoint (if any) is kept"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The offending value.
        loss: f32,
    },
    /// An epoch whose loss stayed finite ended with something that is not: its weights (a
    /// NaN or infinite gradient in the last step), its validation loss or one of its
    /// figures. Nothing of the epoch is saved.
    #[error(
        "training diverged at the end of epoch {epoch}: {what}; the last good checkpoint (if any) is kept"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// What is not finite, by name.
        what: String,
    },
    /// A weights file that does not fit the model it is loaded into.
    #[error("checkpoint {path} does not fit this model: {reason}")]
    CheckpointMismatch {
        /// The file.
        path: PathBuf,
        /// Missing, unexpected or mis-shaped parameters, by name.
        reason: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file whose content is not what it should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A bad configuration field.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    /// Bad data in the set or file `name`.
    pub fn data(name: &str, reason: impl Into<String>) -> Self {
        Self::InvalidData {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}
