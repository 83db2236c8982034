//! What every method shares: the sets, the joint loop with its monitor, the report.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use serde::Serialize;
use tl_core::Result;
use tl_core::domain::AdaptationRun;
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::{DomainBatch, DomainStep, TrainConfig, Trainer, scalar};

pub(crate) use tl_core::domain::{check_adaptation_config as check_common, target_monitor};

/// Trains `model` on the task's source labels and unlabelled target with a source
/// cross-entropy plus `weight` x `transfer(encoder features of source, of target)`; the target
/// test accuracy is recorded per epoch (history only).
#[allow(clippy::too_many_arguments)]
pub(crate) fn align<E: Encoder + 'static>(
    name: &str,
    config: &impl Serialize,
    train: &TrainConfig,
    valid_fraction: f64,
    monitor_target: bool,
    model: Classifier<E>,
    task: &TransferTask,
    device: &Device,
    transfer: Option<
        &dyn Fn(burn::tensor::Tensor<2>, burn::tensor::Tensor<2>) -> burn::tensor::Tensor<1>,
    >,
    weight: f64,
) -> Result<(Classifier<E>, FitReport)> {
    let (sets, run) = AdaptationRun::begin(name, &model, task, valid_fraction, train.seed, device)?;
    let ce = CrossEntropyLossConfig::new().init(&device.clone().autodiff());
    let out = Trainer::new(train.clone()).fit_domains(
        model,
        &sets.source_train,
        sets.target,
        Some(&sets.source_valid),
        device,
        &mut |m: &Classifier<E>, b: &DomainBatch| {
            let fs = m.encoder.encode(b.source.inputs.clone());
            let logits = m.head.forward(fs.clone());
            let class_loss = ce.forward(logits.clone(), b.source.labels.clone());
            let mut stats = vec![("class_loss", scalar(&class_loss))];
            let loss = match transfer {
                Some(t) => {
                    let ft = m.encoder.encode(b.target.clone());
                    let tl = t(fs, ft);
                    stats.push(("transfer_loss", scalar(&tl)));
                    class_loss + tl * weight
                }
                None => class_loss,
            };
            DomainStep {
                loss,
                logits: Some(logits),
                stats,
            }
        },
        &mut target_monitor(monitor_target, &sets, device),
    )?;
    let report = run.report(
        name,
        config,
        &out.model,
        &out.model,
        out.history,
        &sets,
        device,
    )?;
    Ok((out.model, report))
}
