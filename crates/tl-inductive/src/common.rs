//! What every method shares: the task parts it needs, a fresh head, the report.

use burn::tensor::Device;
use serde::Serialize;
use std::time::Instant;
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, Sequential, count_params, head_config};
use tl_core::report::{EpochRecord, FitReport};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{TrainConfig, Trainer, evaluate};
use tl_core::{CoreError, Result};

/// The labelled target set (to train on) and the target test set (to report on); every
/// inductive method needs both and nothing else.
pub(crate) fn target_sets<'t>(
    task: &'t TransferTask,
    strategy: &str,
) -> Result<(&'t LabelledSet, &'t LabelledSet)> {
    task.require(strategy, &[TaskPart::TargetLabelled, TaskPart::TargetTest])?;
    match (&task.target_labelled, &task.target_test) {
        (Some(train), Some(test)) => Ok((train, test)),
        _ => unreachable!("require() checked both parts"),
    }
}

/// What every fit starts from: the task's sets, the pretrained encoder under a fresh head, and
/// the run's clock (the device seeded first, so the head is the same for every method).
pub(crate) struct Start<'t, E> {
    pub(crate) model: Classifier<E>,
    pub(crate) train: &'t LabelledSet,
    pub(crate) test: &'t LabelledSet,
    pub(crate) run: Run,
}

/// Takes the task's labelled and test sets (refusing a task without them) and puts a fresh
/// head on `encoder`. Call it after the config's `validate()`.
pub(crate) fn start<'t, E: Encoder>(
    strategy: &str,
    encoder: E,
    task: &'t TransferTask,
    train: &TrainConfig,
    hidden: &[usize],
    device: &Device,
) -> Result<Start<'t, E>> {
    let (train_set, test) = target_sets(task, strategy)?;
    check_input(&encoder, train_set)?;
    let run = Run::start(train.seed, device);
    let head = new_head(encoder.feature_dim(), hidden, task.num_classes, device)?;
    Ok(Start {
        model: Classifier::new(encoder, head)?,
        train: train_set,
        test,
        run,
    })
}

/// Refuses a task whose items the encoder does not take (the test set has the same shape:
/// the task checked that).
pub(crate) fn check_input<E: Encoder>(encoder: &E, set: &LabelledSet) -> Result<()> {
    set.inputs.check_fits(&encoder.input_shape(), &set.domain)
}

/// A fresh head from the encoder's features to the task's classes.
pub(crate) fn new_head(
    features: usize,
    hidden: &[usize],
    classes: usize,
    device: &Device,
) -> Result<Sequential> {
    head_config(features, hidden, classes).init(device)
}

/// A trainer whose new head learns at `head_lr_factor` times the base rate (a fresh head
/// usually wants a larger rate than pretrained weights).
pub(crate) fn trainer<'a, E: Encoder>(
    train: &TrainConfig,
    model: &Classifier<E>,
    head_lr_factor: f64,
) -> Trainer<'a> {
    let trainer = Trainer::new(train.clone());
    if head_lr_factor == 1.0 {
        trainer
    } else {
        trainer.with_lr_factor(model.head_group(), head_lr_factor)
    }
}

/// Checks the shared fields of a method's config.
pub(crate) fn check_common(
    train: &TrainConfig,
    hidden: &[usize],
    head_lr_factor: f64,
) -> Result<()> {
    train.validate()?;
    if train.early_stopping.is_some() {
        return Err(CoreError::InvalidConfig {
            field: "early_stopping",
            reason: "inductive methods train on all the labelled target data, with no \
                     validation split; choose epochs and rates with HyperSearch instead"
                .into(),
        });
    }
    if !(head_lr_factor.is_finite() && head_lr_factor > 0.0 && head_lr_factor * train.lr <= 1.0) {
        return Err(CoreError::InvalidConfig {
            field: "head_lr_factor",
            reason: format!("{head_lr_factor} must be > 0 with head_lr_factor * lr <= 1"),
        });
    }
    if hidden.contains(&0) {
        return Err(CoreError::InvalidConfig {
            field: "head_hidden",
            reason: "hidden layer widths must be at least 1".into(),
        });
    }
    Ok(())
}

/// One fit's clock and seed, turned into its report at the end.
pub(crate) struct Run {
    started: Instant,
    seed: u64,
}

impl Run {
    /// Starts the clock and seeds `device`'s generator (fresh heads, dropout).
    pub(crate) fn start(seed: u64, device: &Device) -> Self {
        device.seed(seed);
        Self {
            started: Instant::now(),
            seed,
        }
    }

    /// A report for a trained classifier, measured on the task's test set.
    pub(crate) fn report<E: Encoder + 'static>(
        &self,
        strategy: &str,
        config: &impl Serialize,
        model: &Classifier<E>,
        history: Vec<EpochRecord>,
        test: &LabelledSet,
        device: &Device,
    ) -> Result<FitReport> {
        let wall_time_s = self.started.elapsed().as_secs_f64();
        Ok(FitReport {
            strategy: strategy.to_string(),
            config: serde_json::to_value(config).map_err(|e| CoreError::InvalidConfig {
                field: "config",
                reason: format!("not serialisable: {e}"),
            })?,
            history,
            metrics: evaluate(model, test, device, 256)?,
            wall_time_s,
            params: count_params(model),
            device: tl_core::device::device_label(device),
            seed: self.seed,
            extra: Default::default(),
        })
    }
}
