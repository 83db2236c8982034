//! What the alignment methods share: the objective (source cross-entropy plus a weighted
//! transfer term between the batches' encoder features) and the run around it.

use burn::tensor::Tensor;
use serde::Serialize;
use tl_core::Result;
use tl_core::domain::{AdaptationRun, Adapted, Monitored};
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::strategy::{Pretrained, RunContext};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, DomainBatch, Objective, Step, TrainConfig, scalar};

pub(crate) use tl_core::domain::{NEEDS, check_adaptation_config as check_common};

/// A transfer term between encoder features of a source batch and a target batch
/// (`[batch, features]` each), such as [`crate::loss::coral`] or [`crate::loss::mmd`].
pub type TransferLoss<'f> = &'f dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<1>;

/// Source cross-entropy plus `weight` x a transfer term between the encoder features of the
/// source and the target batch (none: source-only). History figures per epoch: `class_loss`,
/// `transfer_loss`.
pub struct Alignment<'f> {
    ce: CrossEntropy,
    transfer: Option<TransferLoss<'f>>,
    weight: f64,
}

impl<'f> Alignment<'f> {
    /// The objective on `device` with `transfer` weighted by `weight`.
    pub fn new(
        transfer: Option<TransferLoss<'f>>,
        weight: f64,
        device: &burn::tensor::Device,
    ) -> Self {
        Self {
            ce: CrossEntropy::new(device),
            transfer,
            weight,
        }
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, DomainBatch> for Alignment<'_> {
    fn step(&mut self, m: &Classifier<E>, b: &DomainBatch) -> Result<Step> {
        let fs = m.encoder.encode(b.source.inputs.clone());
        let logits = m.head.forward(fs.clone());
        let class_loss = self.ce.loss(logits.clone(), b.source.labels.clone());
        let mut stats = vec![("class_loss", scalar(&class_loss))];
        let loss = match self.transfer {
            Some(t) => {
                let ft = m.encoder.encode(b.target.clone());
                let tl = t(fs, ft);
                stats.push(("transfer_loss", scalar(&tl)));
                class_loss + tl * self.weight
            }
            None => class_loss,
        };
        let mut step = Step::new(loss).with_accuracy(logits, &b.source.labels);
        step.stats = stats;
        Ok(step)
    }
}

/// The [`Common`] settings of a config with `train`, `source_valid_fraction` and
/// `monitor_target` fields, under `name`.
macro_rules! common {
    ($config:expr, $name:expr) => {
        $crate::common::Common {
            name: $name,
            train: &$config.train,
            source_valid_fraction: $config.source_valid_fraction,
            monitor_target: $config.monitor_target,
        }
    };
}
pub(crate) use common;

/// The settings every alignment method has.
pub(crate) struct Common<'a> {
    pub(crate) name: &'a str,
    pub(crate) train: &'a TrainConfig,
    pub(crate) source_valid_fraction: f64,
    pub(crate) monitor_target: bool,
}

/// Trains the classifier (the start's, or a fresh head on its encoder) on the task's source
/// labels and unlabelled target with [`Alignment`]; the target test accuracy is recorded per
/// epoch (history only).
pub(crate) fn align<E: Encoder + 'static>(
    common: Common<'_>,
    config: &impl Serialize,
    start: Pretrained<E>,
    task: &TransferTask,
    ctx: &mut RunContext<'_>,
    transfer: Option<(TransferLoss<'_>, f64)>,
) -> Result<(Classifier<E>, FitReport)> {
    let (model, sets, run) =
        AdaptationRun::begin(common.name, start, task, common.source_valid_fraction, ctx)?;
    let train = ctx.train_config(common.train);
    let device = ctx.device().clone();
    let mut batches = sets.batches(&train);
    let (loss, weight) = (transfer.map(|t| t.0), transfer.map_or(0.0, |t| t.1));
    let alignment = Alignment::new(loss, weight, &device);
    let objective = Monitored::new(alignment, common.monitor_target, &sets, ctx);
    let out = ctx.trainer(train).train(
        model,
        &mut batches,
        objective,
        Some(&sets.source_valid),
        &device,
    )?;
    let adapted = Adapted::same(&out.model, out.history);
    let report = run.report(common.name, config, adapted, &sets, ctx)?;
    Ok((out.model, report))
}
