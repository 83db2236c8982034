//! The shared vocabulary of the transfer-learning toolkit.
//!
//! Every strategy crate stands on these pieces: [`device`] turns a name into a Burn device;
//! [`data`] holds labelled and unlabelled sets and batches them; [`task`] states a transfer
//! problem; [`model`] has encoders, heads, classifiers and layer surgery; [`train`] is the
//! one training loop; [`strategy`] is the contract every method implements, and the registry
//! that finds methods by name; [`metrics`] and [`report`] measure and compare; [`checkpoint`]
//! saves weights atomically. No strategy lives here.
//!
//! ```
//! use tl_core::prelude::*;
//!
//! // A task with 2 classes, and an encoder whose widths are inferred from the input shape.
//! let set = LabelledSet::new(
//!     Inputs::new(vec![4], vec![0.0, 0.1, 0.2, 0.3, 1.0, 0.9, 0.8, 0.7])?,
//!     vec![0, 1],
//!     vec!["low".into(), "high".into()],
//!     "toy",
//! )?;
//! let task = TransferTask::new(2).with_target_labelled(set);
//! task.require("linear-probe", &[TaskPart::TargetLabelled])?;
//! assert!(task.require("dann", &[TaskPart::TargetUnlabelled]).is_err());
//!
//! let encoder = SequentialConfig::new(vec![4]).linear(8).relu();
//! assert_eq!(encoder.output_dim()?, 8);
//! # Ok::<(), tl_core::CoreError>(())
//! ```

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod domain;
mod error;
pub mod metrics;
pub mod model;
pub mod paths;
pub mod plot;
pub mod report;
pub mod strategy;
pub mod task;
pub mod train;

pub use error::{CoreError, Result};

/// The types most programs use.
pub mod prelude {
    pub use crate::checkpoint::{
        load_checkpoint, load_weights, save_checkpoint, save_checkpoint_with, save_weights,
    };
    pub use crate::data::{Batch, BatchPlan, Inputs, LabelledSet, UnlabelledSet};
    pub use crate::device::device;
    pub use crate::error::{CoreError, Result};
    pub use crate::metrics::{ConfusionMatrix, Metrics};
    pub use crate::model::{
        Classifier, Encoder, LayerConfig, ParamCount, Sequential, SequentialConfig, count_params,
        head_config,
    };
    pub use crate::report::{Comparison, EpochRecord, FitReport, PairedGain};
    pub use crate::strategy::{Family, Pretrained, Registry, RunContext, Strategy};
    pub use crate::task::{TaskPart, TransferTask};
    pub use crate::train::{
        BatchSource, ClassifierModel, CrossEntropy, DomainBatch, DomainBatches, EarlyStopping,
        LabelledBatches, Objective, OptimizerKind, ProgressEvent, Schedule, Step, TrainConfig,
        TrainOutcome, Trainer, UnlabelledBatch, UnlabelledBatches, evaluate, predict,
    };
}
