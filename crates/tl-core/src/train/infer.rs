//! Inference: predictions, features and metrics of a model on a set, batch by batch on the
//! plain (no autodiff) device, in inference mode.

use super::checks::check_scorable;
use crate::data::{BatchPlan, Inputs, LabelledSet};
use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::model::{Classifier, Encoder};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, ElementConversion, Int, Tensor};

/// Items per batch when a set is scored or encoded for inference (memory, not results:
/// any size gives the same figures).
pub const EVAL_BATCH_SIZE: usize = 256;

/// A model the loop can train and evaluate: inputs to class scores.
pub trait ClassifierModel: Module + 'static {
    /// Class scores.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]`
    /// - returns `[batch, num_classes]`
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;

    /// Shape of one input item.
    fn input_shape(&self) -> Vec<usize>;

    /// Number of classes.
    fn num_classes(&self) -> usize;
}

impl<E: Encoder + 'static> ClassifierModel for Classifier<E> {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }

    fn input_shape(&self) -> Vec<usize> {
        self.encoder.input_shape()
    }

    fn num_classes(&self) -> usize {
        Classifier::num_classes(self)
    }
}

/// The value of a one-element tensor (a loss, say).
pub fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>().elem()
}

pub(crate) fn count_correct(logits: Tensor<2>, labels: &Tensor<1, Int>) -> usize {
    let predicted = argmax_rows(logits.detach());
    let labels: Vec<i64> = labels.clone().into_data().iter::<i64>().collect();
    predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as i64 == **l)
        .count()
}

/// Row-wise argmax of `[batch, classes]` scores.
pub fn argmax_rows(scores: Tensor<2>) -> Vec<usize> {
    scores
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|v| v as usize)
        .collect()
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(CoreError::config("batch_size", "must be at least 1"));
    }
    Ok(())
}

/// Refuses inputs a model cannot run on (another item shape) and a zero batch size.
fn check_inputs(inputs: &Inputs, shape: &[usize], name: &str, batch_size: usize) -> Result<()> {
    check_batch_size(batch_size)?;
    inputs.check_fits(shape, name)
}

/// Predicted classes for every item of `set`, in order (inference mode, no gradients).
/// Refuses a set of another item shape than the model takes.
pub fn predict<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<usize>> {
    check_inputs(&set.inputs, &model.input_shape(), &set.domain, batch_size)?;
    let model = model.valid();
    Ok(map_batches(set, device, batch_size, |x| {
        argmax_rows(model.logits(x))
    }))
}

/// An encoder's features for every item of `set` (inference mode), row after row
/// (`set.len() * encoder.feature_dim()` values). Refuses a set of another item shape than
/// the encoder takes.
pub fn encode_all<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f32>> {
    check_inputs(&set.inputs, &encoder.input_shape(), &set.domain, batch_size)?;
    Ok(encode_checked(encoder, &set.inputs, device, batch_size))
}

/// The encoder's features of every item of `set` (inference mode, as [`encode_all`]), as a
/// labelled set of feature vectors with the same labels, class names and domain.
pub fn encode_set<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<LabelledSet> {
    let values = encode_all(encoder, set, device, batch_size)?;
    LabelledSet::new(
        Inputs::new(vec![encoder.feature_dim()], values)?,
        set.labels.clone(),
        set.class_names.clone(),
        set.domain.clone(),
    )
}

/// Runs `f` on every batch of `set`'s inputs, in order, on the plain (no autodiff) device,
/// and concatenates what it returns: the batched-inference loop behind [`predict`] and
/// feature extraction.
pub fn map_batches<T>(
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
    f: impl FnMut(Tensor<2>) -> Vec<T>,
) -> Vec<T> {
    map_input_batches(&set.inputs, device, batch_size, f)
}

/// [`map_batches`] over bare inputs (an unlabelled set's, say).
pub fn map_input_batches<T>(
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
    mut f: impl FnMut(Tensor<2>) -> Vec<T>,
) -> Vec<T> {
    let plain = device.clone().without_autodiff();
    let mut plan = BatchPlan::new(inputs.len(), batch_size, false, 0);
    plan.epoch()
        .iter()
        .flat_map(|idx| f(inputs.tensor(idx, &plain)))
        .collect()
}

/// An encoder's features of bare inputs (inference mode), row after row. Refuses inputs of
/// another item shape than the encoder takes.
pub fn encode_inputs<E: Encoder>(
    encoder: &E,
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f32>> {
    check_inputs(inputs, &encoder.input_shape(), "inputs", batch_size)?;
    Ok(encode_checked(encoder, inputs, device, batch_size))
}

/// The loop behind [`encode_all`] and [`encode_inputs`], for inputs they checked.
fn encode_checked<E: Encoder>(
    encoder: &E,
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
) -> Vec<f32> {
    let encoder = encoder.valid();
    map_input_batches(inputs, device, batch_size, |x| {
        encoder.encode(x).into_data().iter::<f32>().collect()
    })
}

/// Accuracy, macro-F1, confusion matrix, per-class accuracy and mean cross-entropy of
/// `model` on `set` (inference mode, no gradients). Refuses an invalid or empty set, items
/// of another shape than the model takes, and labels beyond its classes.
pub fn evaluate<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Metrics> {
    check_scorable(model, set, "evaluation")?;
    check_batch_size(batch_size)?;
    Ok(score(model, set, device, batch_size))
}

/// [`evaluate`] for a set already checked against the model (by [`check_set`] or
/// [`check_scorable`]) and a batch size of at least 1: the training loop scores its
/// validation set, checked once before the first epoch, after every epoch.
pub(crate) fn score<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Metrics {
    let model = model.valid();
    let plain = device.clone().without_autodiff();
    let loss = CrossEntropyLossConfig::new().init(&plain);
    let mut plan = BatchPlan::new(set.len(), batch_size, false, 0);
    let (mut predicted, mut loss_sum) = (Vec::with_capacity(set.len()), 0.0);
    for idx in plan.epoch() {
        let batch = set.batch(&idx, &plain);
        let logits = model.logits(batch.inputs);
        let l: f64 = loss
            .forward(logits.clone(), batch.labels)
            .into_scalar::<f32>()
            .elem();
        loss_sum += l * idx.len() as f64;
        predicted.extend(argmax_rows(logits));
    }
    let mut metrics = Metrics::from_predictions(
        &set.labels,
        &predicted,
        model.num_classes().max(set.num_classes()),
    );
    metrics.loss = Some(loss_sum / set.len().max(1) as f64);
    metrics
}
