//! What every method shares: the sets, the joint loop with its monitor, the report.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use serde::Serialize;
use std::collections::BTreeMap;
use tl_core::domain::{AdaptationRun, AdaptationSets};
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::{DomainBatch, DomainStep, TrainConfig, Trainer, evaluate};
use tl_core::{CoreError, Result};

/// Checks the fields every method has.
pub(crate) fn check_common(train: &TrainConfig, valid_fraction: f64) -> Result<()> {
    train.validate()?;
    if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
        return Err(CoreError::config(
            "source_valid_fraction",
            format!("{valid_fraction} not in (0, 1)"),
        ));
    }
    Ok(())
}

/// Refuses items the model does not take.
pub(crate) fn check_input<E: Encoder>(model: &Classifier<E>, task: &TransferTask) -> Result<()> {
    if let Some(shape) = task.item_shape()
        && shape != model.encoder.input_shape()
    {
        return Err(CoreError::data(
            "task",
            format!(
                "items of shape {shape:?} do not fit an encoder that takes {:?}",
                model.encoder.input_shape()
            ),
        ));
    }
    if model.num_classes() != task.num_classes {
        return Err(CoreError::data(
            "task",
            format!(
                "the model predicts {} classes, the task has {}",
                model.num_classes(),
                task.num_classes
            ),
        ));
    }
    Ok(())
}

/// Trains `model` on the task's source labels and unlabelled target with a source
/// cross-entropy plus `transfer(encoder features of source, of target)` weighted by
/// `weight(progress)`; the target test accuracy is recorded per epoch (history only).
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
    let sets = AdaptationSets::from_task(task, name, valid_fraction, train.seed)?;
    check_input(&model, task)?;
    let run = AdaptationRun::start(&model.encoder, &sets, train.seed, device)?;
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
        &out.model.encoder,
        &out.model.encoder,
        out.history,
        &sets,
        device,
    )?;
    Ok((out.model, report))
}

/// A monitor that records the target test accuracy (history only, never selection).
pub(crate) fn target_monitor<'a, M: tl_core::train::ClassifierModel>(
    on: bool,
    sets: &'a AdaptationSets<'_>,
    device: &'a Device,
) -> impl FnMut(&M) -> BTreeMap<String, f64> + 'a {
    let test = sets.target_test.clone();
    move |m: &M| {
        let mut out = BTreeMap::new();
        if on {
            out.insert(
                "target_accuracy".to_string(),
                evaluate(m, &test, device, 256).accuracy,
            );
        }
        out
    }
}

/// A one-element tensor's value.
pub(crate) fn scalar(t: &burn::tensor::Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}
