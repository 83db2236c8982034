//! What the adversarial methods share.

use burn::tensor::Device;
use std::collections::BTreeMap;
use tl_core::domain::AdaptationSets;
use tl_core::model::{Classifier, Encoder};
use tl_core::task::TransferTask;
use tl_core::train::{ClassifierModel, TrainConfig, evaluate};
use tl_core::{CoreError, Result};

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

/// Records the target test accuracy per epoch (history only, never selection).
pub(crate) fn target_monitor<'a, M: ClassifierModel>(
    on: bool,
    sets: &'a AdaptationSets<'_>,
    device: &'a Device,
) -> impl FnMut(&M) -> BTreeMap<String, f64> + 'a {
    move |m: &M| {
        let mut out = BTreeMap::new();
        if on {
            out.insert(
                "target_accuracy".to_string(),
                evaluate(m, sets.target_test, device, 256).accuracy,
            );
        }
        out
    }
}

pub(crate) fn scalar(t: &burn::tensor::Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}
