//! AdaBN (Li et al. 2016): the weights stay; every batch-norm layer's statistics are
//! re-estimated on the unlabelled target, so each domain is normalised by its own.

use crate::common::NEEDS;
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tl_core::domain::{AdaptationRun, Adapted};
use tl_core::model::{Classifier, Layer, Sequential};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TaskPart;
use tl_core::task::TransferTask;
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "adabn";

/// Re-estimates the encoder's batch-norm statistics on the target (no training).
#[derive(Config, Debug)]
pub struct AdaBn {
    /// Target items per forward pass.
    #[config(default = 256)]
    pub batch_size: usize,
    /// At most this many target items, spread evenly over the set (the statistics are exact
    /// over them).
    #[config(default = 8192)]
    pub max_items: usize,
    /// Where an encoder trained without batch norm gets identity batch-norm layers first
    /// ([`AdaBn::insert_identity_batch_norm`], measured on the task's source): after these
    /// layers (indices into the stack), or, when `None`, after every ReLU. An encoder that
    /// has batch-norm layers is used as it is.
    #[config(default = "None")]
    pub insert_after: Option<Vec<usize>>,
}

impl AdaBn {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size < 2 || self.max_items < 2 {
            return Err(CoreError::config(
                "batch_size",
                "batch statistics need at least 2 items per pass",
            ));
        }
        Ok(())
    }

    /// Puts a batch-norm layer after each layer of `encoder` listed in `after` (indices into
    /// the stack as it is), set so that the encoder computes exactly what it did on `source`:
    /// each new layer's running statistics are the source's, and its scale and shift undo them
    /// (`gamma = sqrt(var + eps)`, `beta = mean`). AdaBN can then adapt an encoder that was
    /// trained without batch norm (the MNIST CNN): on the target, each such layer maps the
    /// target's statistics onto the source's.
    pub fn insert_identity_batch_norm(
        &self,
        encoder: Sequential,
        after: &[usize],
        source: &tl_core::data::UnlabelledSet,
        device: &Device,
    ) -> Result<Sequential> {
        self.validate()?;
        check_unlabelled(&encoder, source, "source")?;
        let mut positions: Vec<usize> = after.to_vec();
        positions.sort_unstable();
        positions.dedup();
        if let Some(&p) = positions.iter().find(|&&p| p >= encoder.len()) {
            return Err(CoreError::Model(format!(
                "no layer {p} to put batch norm after in a stack of {}",
                encoder.len()
            )));
        }
        let mut encoder = encoder;
        for &p in positions.iter().rev() {
            encoder =
                encoder.insert_layer(p + 1, tl_core::model::LayerConfig::BatchNorm, device)?;
        }
        // The new layers' indices, in order: each is set from the stack before it.
        let new: Vec<usize> = positions
            .iter()
            .enumerate()
            .map(|(k, &p)| p + 1 + k)
            .collect();
        let inputs = source.inputs.select(&spread(source.len(), self.max_items));
        for &j in &new {
            let (mean, var) = self.layer_stats(&encoder, j, &inputs, device)?;
            let Layer::BatchNorm(bn) = &mut encoder.layers_mut()[j] else {
                return Err(CoreError::Model(format!(
                    "layer {j} is not the batch norm put in"
                )));
            };
            let t = |v: &[f32]| vector(v, device);
            let eps = bn.epsilon as f32;
            let scale: Vec<f32> = var.iter().map(|v| (v + eps).sqrt()).collect();
            bn.running_mean = burn::module::RunningState::new(t(&mean));
            bn.running_var = burn::module::RunningState::new(t(&var));
            bn.gamma = burn::module::Param::from_tensor(t(&scale));
            bn.beta = burn::module::Param::from_tensor(t(&mean));
        }
        Ok(encoder)
    }

    /// `encoder` as it is when it has batch-norm layers; otherwise with identity batch-norm
    /// layers put in ([`Self::insert_identity_batch_norm`], measured on `source`) after the
    /// layers `insert_after` lists, or after every ReLU: what [`Self::restandardize`] can then
    /// adapt.
    pub fn with_batch_norm(
        &self,
        encoder: Sequential,
        source: &tl_core::data::UnlabelledSet,
        device: &Device,
    ) -> Result<Sequential> {
        if has_batch_norm(&encoder) {
            return Ok(encoder);
        }
        let after: Vec<usize> = match &self.insert_after {
            Some(after) => after.clone(),
            None => (encoder.layers().iter().enumerate())
                .filter(|(_, l)| matches!(l, Layer::Relu(_)))
                .map(|(i, _)| i)
                .collect(),
        };
        self.insert_identity_batch_norm(encoder, &after, source, device)
    }

    /// Replaces the running mean and variance of every batch-norm layer of `encoder` by their
    /// exact values over (at most `max_items` of) `target`.
    pub fn restandardize(
        &self,
        encoder: Sequential,
        target: &tl_core::data::UnlabelledSet,
        device: &Device,
    ) -> Result<Sequential> {
        self.validate()?;
        check_unlabelled(&encoder, target, "target")?;
        if !has_batch_norm(&encoder) {
            return Err(CoreError::Model(
                "AdaBN re-estimates batch-norm statistics, and this encoder has no batch-norm \
                 layer"
                    .into(),
            ));
        }
        let inputs = target.inputs.select(&spread(target.len(), self.max_items));
        // Layer by layer from the input: each batch norm's statistics are those of its input
        // over all the items (not averages of per-batch statistics, which miss the variance
        // between batches), with the layers before it already adapted, as at inference.
        let mut encoder = encoder.valid();
        let norms: Vec<usize> = (encoder.layers().iter().enumerate())
            .filter(|(_, l)| matches!(l, Layer::BatchNorm(_)))
            .map(|(j, _)| j)
            .collect();
        for j in norms {
            let (mean, var) = self.layer_stats(&encoder, j, &inputs, device)?;
            let Layer::BatchNorm(bn) = &mut encoder.layers_mut()[j] else {
                return Err(CoreError::Model(format!("layer {j} is not a batch norm")));
            };
            bn.running_mean = burn::module::RunningState::new(vector(&mean, device));
            bn.running_var = burn::module::RunningState::new(vector(&var, device));
        }
        Ok(encoder)
    }

    /// The mean and (biased) variance per channel of what the batch norm at layer `j` of
    /// `encoder` receives from `inputs` (the layers before it, at inference).
    fn layer_stats(
        &self,
        encoder: &Sequential,
        j: usize,
        inputs: &tl_core::data::Inputs,
        device: &Device,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let Layer::BatchNorm(bn) = &encoder.layers()[j] else {
            return Err(CoreError::Model(format!("layer {j} is not a batch norm")));
        };
        let channels = bn.gamma.val().dims()[0];
        let n = inputs.len();
        // A batch norm on the input reads the items themselves.
        let act: Vec<f32> = if j == 0 {
            inputs.values.clone()
        } else {
            let prefix = encoder.clone().drop_last(encoder.len() - j)?;
            tl_core::train::encode_inputs(&prefix, inputs, device, self.batch_size)?
        };
        let width = act.len() / n.max(1);
        if n == 0 || channels == 0 || !width.is_multiple_of(channels) {
            return Err(CoreError::Model(format!(
                "layer {j}: a batch norm of {channels} channels after activations {width} wide"
            )));
        }
        let spatial = width / channels;
        let (mut sum, mut sq) = (vec![0.0f64; channels], vec![0.0f64; channels]);
        for row in act.chunks(width) {
            for (c, plane) in row.chunks(spatial).enumerate() {
                for &v in plane {
                    sum[c] += v as f64;
                    sq[c] += (v as f64) * (v as f64);
                }
            }
        }
        let count = (n * spatial) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let var = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / count) - m * m).max(0.0) as f32)
            .collect();
        Ok((mean.into_iter().map(|m| m as f32).collect(), var))
    }
}

/// At most `max` item indices of `len`, spread evenly over them (a set ordered by class gives
/// every class its share).
fn spread(len: usize, max: usize) -> Vec<usize> {
    let n = len.min(max);
    (0..n).map(|i| i * len / n).collect()
}

/// A vector on `device`.
fn vector(v: &[f32], device: &Device) -> burn::tensor::Tensor<1> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v.to_vec(), [v.len()]), device)
}

impl Strategy<Sequential> for AdaBn {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    fn trains(&self) -> bool {
        false
    }

    /// The classifier with its encoder's batch-norm statistics taken from the task's
    /// unlabelled target (identity batch-norm layers put in first when it has none).
    fn run(
        &self,
        start: Pretrained<Sequential>,
        task: &TransferTask,
        ctx: &mut RunContext,
    ) -> Fitted<Sequential> {
        let device = ctx.device().clone();
        if start.head.is_none() {
            // No weight trains: a fresh head would score at chance.
            return Err(CoreError::Model(
                "AdaBN keeps the classifier's weights, and an encoder without a head was given: train a classifier on the source first (`Pretrained::classifier`)"
                    .into(),
            ));
        }
        let model = start.into_classifier(task.num_classes, &device)?;
        let model = if has_batch_norm(&model.encoder) {
            model
        } else {
            let source = task.labelled(TaskPart::SourceLabelled, NAME)?.unlabelled();
            let encoder = self.with_batch_norm(model.encoder, &source, &device)?;
            Classifier::new(encoder, model.head)?
        };
        let (model, sets, run) =
            AdaptationRun::begin(NAME, Pretrained::classifier(model), task, 0.1, ctx)?;
        let encoder = self.restandardize(model.encoder.clone(), sets.target, &device)?;
        let adapted = Classifier::new(encoder, model.head.clone())?;
        // The adapted model is for the target; on the source the original statistics hold.
        let out = Adapted {
            source: &model,
            adapted: &adapted,
            history: Vec::new(),
        };
        let mut report = run.report(NAME, self, out, &sets, ctx)?;
        report.params.trainable = 0;
        Ok((adapted, report))
    }
}

/// Whether `encoder` has a batch-norm layer.
fn has_batch_norm(encoder: &Sequential) -> bool {
    encoder
        .layers()
        .iter()
        .any(|l| matches!(l, Layer::BatchNorm(_)))
}

/// Refuses an empty set (no statistics to take) and items the encoder does not take.
fn check_unlabelled(
    encoder: &Sequential,
    set: &tl_core::data::UnlabelledSet,
    what: &str,
) -> Result<()> {
    if set.is_empty() {
        return Err(CoreError::data(
            &set.domain,
            format!("the {what} set is empty: AdaBN has no statistics to take"),
        ));
    }
    set.inputs
        .check_fits(&tl_core::model::Encoder::input_shape(encoder), &set.domain)
}
