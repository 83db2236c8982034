//! Training and inference: one loop every strategy shares.
//!
//! The loop ([`Trainer`]) is configured by [`TrainConfig`]: an optimiser (SGD with momentum,
//! Adam, AdamW), a learning-rate schedule (constant, step, cosine, each with an optional
//! linear warm-up), per-group learning-rate factors, gradient clipping, early stopping on
//! validation accuracy that restores the best weights, NaN/inf detection that stops with an
//! error and leaves the last good checkpoint in place, seeding, a progress callback and
//! per-epoch checkpoints. It draws its steps from a [`BatchSource`] (labelled batches,
//! source/target pairs, unlabelled batches) and minimises an [`Objective`] (cross-entropy, or
//! a method's loss): a new method adds an objective, a new kind of data a batch source, and
//! neither adds a loop.
//!
//! - [`config`]: the configuration;
//! - [`batches`] and [`objective`]: the two things a method supplies;
//! - [`checks`]: what a set must satisfy before a model trains or is scored on it;
//! - [`infer`]: predictions, features and metrics in inference mode.

pub mod batches;
pub mod checks;
pub mod config;
pub mod infer;
pub mod objective;
mod trainer;

pub use batches::{
    BatchSource, DomainBatch, DomainBatches, LabelledBatches, StepAt, UnlabelledBatch,
    UnlabelledBatches,
};
pub use checks::{check_runnable, check_scorable, check_set, check_trainable, check_unlabelled};
pub use config::{EarlyStopping, OptimizerKind, Schedule, TrainConfig};
pub use infer::{
    ClassifierModel, EVAL_BATCH_SIZE, argmax_rows, encode_all, encode_inputs, encode_set, evaluate,
    map_batches, map_input_batches, predict, scalar,
};
pub use objective::{
    CrossEntropy, FnObjective, Objective, Step, bernoulli_nll, gaussian_kl, gaussian_stats,
    objective_fn, reparameterize,
};
pub use trainer::{
    HISTORY_FILE, LOOP_FILE, OPTIMIZER_FILE, ProgressEvent, ProgressFn, TrainOutcome, Trainer,
};
