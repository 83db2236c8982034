//! The path every objective takes (pretraining through the shared loop), and the strategy
//! every objective is: pretrain on the task's unlabelled images, then a linear probe on its
//! few labels, scored on its test set.

use burn::module::Module;
use burn::tensor::Tensor;
use std::time::Instant;
use tl_core::data::{Inputs, UnlabelledSet};
use tl_core::model::{Classifier, Encoder};
use tl_core::report::{EpochRecord, FitReport};
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{Step, TrainConfig, UnlabelledBatch, UnlabelledBatches, objective_fn};
use tl_core::{CoreError, Result};
use tl_inductive::LinearProbe;

/// What an unsupervised strategy needs: unlabelled target images to pretrain on, a few
/// labelled target items for the probe, and the target test set. A labelled source, when the
/// task has one, is pretrained on too (without its labels).
pub const NEEDS: &[TaskPart] = &[
    TaskPart::TargetUnlabelled,
    TaskPart::TargetLabelled,
    TaskPart::TargetTest,
];

/// What an objective's strategy needs without its pretraining (`pretrain = false`).
pub const PROBE_NEEDS: &[TaskPart] = &[TaskPart::TargetLabelled, TaskPart::TargetTest];

/// Checks that `encoder` takes `data`'s items, seeds the device, puts the objective's head on
/// the encoder (`attach`), trains the pair on `loss` through the shared loop, and takes the
/// encoder back out (`detach`): the encoder and the per-epoch history.
pub(crate) fn pretrain<E: Encoder + 'static, M: Module + 'static>(
    train: &TrainConfig,
    encoder: E,
    data: &UnlabelledSet,
    ctx: &mut RunContext<'_>,
    attach: impl FnOnce(E) -> Result<M>,
    detach: impl FnOnce(M) -> E,
    mut loss: impl FnMut(&M, &UnlabelledBatch<'_>) -> Tensor<1>,
) -> Result<(E, Vec<EpochRecord>)> {
    data.inputs
        .check_fits(&encoder.input_shape(), &data.domain)?;
    ctx.begin();
    let model = attach(encoder)?;
    let train = ctx.train_config(train);
    let device = ctx.device().clone();
    let mut batches = UnlabelledBatches::new(data, train.batch_size, train.seed);
    let objective = objective_fn(|m: &M, b: &UnlabelledBatch<'_>| Ok(Step::new(loss(m, b))));
    let out = ctx
        .trainer(train)
        .train_module(model, &mut batches, objective, &device)?;
    Ok((detach(out.model).valid(), out.history))
}

/// The checks every pretraining method's `validate` shares, so that a bad setting is refused
/// before pretraining rather than after it: the pretraining's training (without early
/// stopping: there are no class scores to stop on) and the few-label probe after it.
pub(crate) fn check_pretraining(train: &TrainConfig, probe: &LinearProbe) -> Result<()> {
    train.validate()?;
    if train.early_stopping.is_some() {
        return Err(CoreError::config(
            "train.early_stopping",
            "pretraining has no class scores to validate, so no accuracy to stop on (the probe's `probe.train` may stop early)",
        ));
    }
    probe
        .validate()
        .map_err(|e| CoreError::config("probe", e.to_string()))
}

/// An objective that pretrains an encoder without labels.
pub trait Pretraining<E: Encoder> {
    /// Pretrains `encoder` on `data`; the encoder and the per-epoch history.
    fn pretrain_encoder(
        &self,
        encoder: E,
        data: &UnlabelledSet,
        ctx: &mut RunContext<'_>,
    ) -> Result<(E, Vec<EpochRecord>)>;

    /// The few-label step after it.
    fn probe(&self) -> &LinearProbe;

    /// Whether the strategy pretrains before its probe (the config's `pretrain`; false: the
    /// probe alone, on the encoder as given).
    fn pretrains(&self) -> bool {
        true
    }
}

/// The images a task offers without labels: the unlabelled target, and the source's inputs
/// when it has a source.
pub fn unlabelled_images(task: &TransferTask, strategy: &str) -> Result<UnlabelledSet> {
    let target = task.unlabelled_target(strategy)?;
    match &task.source {
        Some(source) if !source.is_empty() => {
            let mut values = source.inputs.values.clone();
            values.extend_from_slice(&target.inputs.values);
            UnlabelledSet::new(
                Inputs::new(target.inputs.item_shape.clone(), values)?,
                format!("{}+{}", source.domain, target.domain),
            )
        }
        _ => Ok(target.clone()),
    }
}

/// The strategy of every objective: pretrain on [`unlabelled_images`], then the probe on the
/// labelled target, scored on the target test set. The report's history is the pretraining's;
/// `extra` holds `pretrain_loss` (the last epoch's), `pretrain_items` and `pretrain_seconds`.
pub fn pretrain_then_probe<E, P>(
    method: &P,
    start: Pretrained<E>,
    task: &TransferTask,
    ctx: &mut RunContext<'_>,
) -> Result<(Classifier<E>, FitReport)>
where
    E: Encoder + 'static,
    P: Pretraining<E> + Strategy<E> + serde::Serialize,
{
    let name = method.name().to_string();
    let started = Instant::now();
    if !method.pretrains() {
        let (model, mut report) = method.probe().fit(start, task, ctx)?;
        report.strategy = name;
        report.config = tl_core::strategy::to_json(method)?;
        return Ok((model, report));
    }
    let data = unlabelled_images(task, &name)?;
    // The pretraining model's fresh parts (a decoder, a projection head) are drawn from the
    // run's seed, not from whatever the device's generator last did.
    ctx.begin();
    let (encoder, history) = method.pretrain_encoder(start.encoder, &data, ctx)?;
    let pretrain_seconds = started.elapsed().as_secs_f64();
    let pretrain_loss = history
        .last()
        .map(|r| r.train_loss)
        .ok_or_else(|| CoreError::config("train.epochs", "pretraining ran no epoch"))?;
    let (model, probe) = method
        .probe()
        .fit(Pretrained::encoder(encoder), task, ctx)?;
    let wall_time_s = started.elapsed().as_secs_f64();
    let mut report = ctx.report(
        &name,
        method,
        history,
        probe.metrics,
        probe.params,
        wall_time_s,
    )?;
    report.extra.insert("pretrain_loss".into(), pretrain_loss);
    report
        .extra
        .insert("pretrain_items".into(), data.len() as f64);
    report
        .extra
        .insert("pretrain_seconds".into(), pretrain_seconds);
    report.extra.insert(
        "probe_train_loss".into(),
        probe.history.last().map_or(f64::NAN, |r| r.train_loss),
    );
    Ok((model, report))
}

/// The default few-label step: a linear probe, 100 epochs at 1e-2.
pub fn default_probe() -> LinearProbe {
    LinearProbe::new().with_train(
        TrainConfig::new()
            .with_epochs(100)
            .with_lr(1e-2)
            .with_batch_size(32),
    )
}

/// The [`Pretraining`] and `Strategy` impls of an objective config with a `train` field, a
/// `probe` field and an inherent `pretrain`.
macro_rules! unsupervised_strategy {
    ($config:ty, $name:expr) => {
        impl $config {
            /// What the strategy needs: the unlabelled images only when it pretrains.
            pub fn parts(&self) -> &'static [tl_core::task::TaskPart] {
                if self.pretrain {
                    $crate::report::NEEDS
                } else {
                    $crate::report::PROBE_NEEDS
                }
            }
        }

        impl<E: tl_core::model::Encoder + 'static> $crate::report::Pretraining<E> for $config {
            fn pretrain_encoder(
                &self,
                encoder: E,
                data: &tl_core::data::UnlabelledSet,
                ctx: &mut tl_core::strategy::RunContext<'_>,
            ) -> tl_core::Result<(E, Vec<tl_core::report::EpochRecord>)> {
                self.pretrain(encoder, data, ctx)
            }

            fn probe(&self) -> &tl_inductive::LinearProbe {
                &self.probe
            }

            fn pretrains(&self) -> bool {
                self.pretrain
            }
        }

        impl<E: tl_core::model::Encoder + 'static> tl_core::strategy::Strategy<E> for $config {
            tl_core::strategy_basics!(
                $name,
                tl_core::strategy::Family::Unsupervised,
                fn Self::parts
            );

            /// Without pretraining it is the probe alone, on the encoder's features.
            fn reads_features_only(&self) -> bool {
                !self.pretrain
            }

            /// Pretrains the encoder on the task's unlabelled images, then fits the probe on
            /// its labelled target set.
            fn run(
                &self,
                start: tl_core::strategy::Pretrained<E>,
                task: &tl_core::task::TransferTask,
                ctx: &mut tl_core::strategy::RunContext<'_>,
            ) -> tl_core::Result<(tl_core::model::Classifier<E>, tl_core::report::FitReport)> {
                $crate::report::pretrain_then_probe(self, start, task, ctx)
            }
        }
    };
}
pub(crate) use unsupervised_strategy;
