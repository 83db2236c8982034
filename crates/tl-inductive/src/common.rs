//! What every method shares: the task parts it needs, a fresh head, the report.

use burn::tensor::Device;
use serde::Serialize;
use tl_core::data::Batch;
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, Sequential, head_config};
use tl_core::report::FitReport;
use tl_core::strategy::{Pretrained, RunContext};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{LabelledBatches, Objective, TrainConfig, Trainer};
use tl_core::{CoreError, Result};

/// What every inductive method needs: the labelled target set (to train on) and the target
/// test set (to report on).
pub(crate) const NEEDS: &[TaskPart] = &[TaskPart::TargetLabelled, TaskPart::TargetTest];

/// The task's labelled target set and test set (refusing a task without them).
pub(crate) fn target_sets<'t>(
    task: &'t TransferTask,
    strategy: &str,
) -> Result<(&'t LabelledSet, &'t LabelledSet)> {
    Ok((
        task.labelled(TaskPart::TargetLabelled, strategy)?,
        task.labelled(TaskPart::TargetTest, strategy)?,
    ))
}

/// What every fit starts from: the task's sets and the pretrained encoder under a fresh head
/// (the device seeded first, so the head is the same for every method).
pub(crate) struct Start<'t, E> {
    pub(crate) model: Classifier<E>,
    pub(crate) train: &'t LabelledSet,
    pub(crate) test: &'t LabelledSet,
}

/// Takes the task's labelled and test sets (refusing a task without them), starts the run
/// ([`RunContext::begin`]) and puts a fresh head on `encoder`.
pub(crate) fn begin<'t, E: Encoder>(
    strategy: &str,
    encoder: E,
    task: &'t TransferTask,
    hidden: &[usize],
    ctx: &mut RunContext<'_>,
) -> Result<Start<'t, E>> {
    let (train_set, test) = target_sets(task, strategy)?;
    check_input(&encoder, train_set)?;
    ctx.begin();
    let head = new_head(
        encoder.feature_dim(),
        hidden,
        task.num_classes,
        ctx.device(),
    )?;
    Ok(Start {
        model: Classifier::new(encoder, head)?,
        train: train_set,
        test,
    })
}

/// The settings every fine-tuning method has.
pub(crate) trait FineTuning: Serialize {
    /// The training.
    fn train(&self) -> &TrainConfig;
    /// Hidden widths of the new head.
    fn head_hidden(&self) -> &[usize];
    /// The new head's rate as a multiple of the base rate.
    fn head_lr_factor(&self) -> f64;
    /// A rate factor for each encoder block, bottom first (none: the base rate).
    fn block_lr_factors(&self, _blocks: usize) -> Vec<f64> {
        Vec::new()
    }
}

/// Every fine-tuning method: a fresh head on the start's encoder (after [`begin`]), `prepare`
/// to change the classifier before training (freezing, adapters), `objective` (made for the
/// run's device) minimised over the task's labelled target set, and the report on its test
/// set.
pub(crate) fn fine_tune<E, C, O>(
    config: &C,
    name: &str,
    start: Pretrained<E>,
    task: &TransferTask,
    ctx: &mut RunContext<'_>,
    prepare: impl FnOnce(Classifier<E>) -> Result<Classifier<E>>,
    objective: impl FnOnce(&Device) -> O,
) -> Result<(Classifier<E>, FitReport)>
where
    E: Encoder + 'static,
    C: FineTuning,
    O: Objective<Classifier<E>, Batch>,
{
    let blocks = start.encoder.blocks();
    let factors = config.block_lr_factors(blocks.len());
    let Start { model, train, test } = begin(name, start.encoder, task, config.head_hidden(), ctx)?;
    let model = prepare(model)?;
    let device = ctx.device().clone();
    let train_config = ctx.train_config(config.train());
    let mut batches = LabelledBatches::new(train, train_config.batch_size, train_config.seed);
    let out = {
        let mut trainer = trainer(ctx, config.train(), &model, config.head_lr_factor());
        for (group, factor) in blocks.into_iter().zip(factors) {
            trainer = trainer.with_lr_factor(group, factor);
        }
        trainer.train(model, &mut batches, objective(&device), None, &device)?
    };
    let report = ctx.finish(name, config, &out.model, out.history, test)?;
    Ok((out.model, report))
}

/// The [`FineTuning`] impl of a config with `train`, `head_hidden` and `head_lr_factor`
/// fields.
macro_rules! fine_tuning_fields {
    ($config:ty) => {
        impl $crate::common::FineTuning for $config {
            fn train(&self) -> &tl_core::train::TrainConfig {
                &self.train
            }

            fn head_hidden(&self) -> &[usize] {
                &self.head_hidden
            }

            fn head_lr_factor(&self) -> f64 {
                self.head_lr_factor
            }
        }
    };
}
pub(crate) use fine_tuning_fields;

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
pub(crate) fn trainer<'c, E: Encoder>(
    ctx: &'c mut RunContext<'_>,
    train: &TrainConfig,
    model: &Classifier<E>,
    head_lr_factor: f64,
) -> Trainer<'c> {
    let trainer = ctx.trainer(ctx.train_config(train));
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
