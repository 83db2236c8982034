//! Objectives: what a method minimises on one batch. The loop owns everything else
//! (optimiser, schedule, clipping, NaN guard, early stopping, progress, checkpoints, history);
//! a method's loss is an objective, so it can be combined with others or used in a user's
//! own loop.

use super::infer::{ClassifierModel, count_correct};
use crate::data::Batch;
use crate::error::Result;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::tensor::{Device, Int, Tensor};
use std::collections::BTreeMap;

/// What one step of an objective gives the loop.
#[derive(Debug)]
pub struct Step {
    /// The loss to minimise (one element).
    pub loss: Tensor<1>,
    /// Items predicted right and items scored in this batch, when the objective classified
    /// labelled items (the epoch's training accuracy).
    pub correct: Option<(usize, usize)>,
    /// Figures averaged over the epoch into the history (`"domain_accuracy"`...).
    pub stats: Vec<(&'static str, f64)>,
}

impl Step {
    /// A step with only a loss.
    pub fn new(loss: Tensor<1>) -> Self {
        Self {
            loss,
            correct: None,
            stats: Vec::new(),
        }
    }

    /// Counts how many rows of `logits` (`[batch, classes]`) pick `labels` (`[batch]`), for
    /// the training accuracy.
    pub fn with_accuracy(mut self, logits: Tensor<2>, labels: &Tensor<1, Int>) -> Self {
        let n = labels.dims()[0];
        self.correct = Some((count_correct(logits, labels), n));
        self
    }

    /// Adds a figure to average over the epoch.
    pub fn with_stat(mut self, name: &'static str, value: f64) -> Self {
        self.stats.push((name, value));
        self
    }
}

/// A loss over batches of type `B` for a model of type `M`, with optional hooks at the start
/// and end of each epoch.
pub trait Objective<M, B> {
    /// The loss of one batch (and what the loop records of it).
    fn step(&mut self, model: &M, batch: &B) -> Result<Step>;

    /// Called before each epoch (1-based) with the model; the loop trains the model returned
    /// (schedules that change what trains, such as gradual unfreezing, keep one optimiser,
    /// one schedule and one history).
    fn start_epoch(&mut self, _epoch: usize, model: M) -> M {
        model
    }

    /// Figures added to the epoch's record after validation (a target accuracy recorded for
    /// the reader, say).
    fn end_epoch(&mut self, _model: &M) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }

    /// Whether a run with this objective can continue from a checkpoint
    /// ([`super::Trainer::resuming`]): true only for an objective that keeps nothing between
    /// steps that the checkpoint would miss (no discriminator or optimiser of its own, no
    /// moving-average teacher, no random generator of its own). False unless it says so, so
    /// that a resumed run is never silently different from an uninterrupted one.
    fn resumable(&self) -> bool {
        false
    }
}

impl<M, B, O: Objective<M, B> + ?Sized> Objective<M, B> for &mut O {
    fn step(&mut self, model: &M, batch: &B) -> Result<Step> {
        (**self).step(model, batch)
    }

    fn start_epoch(&mut self, epoch: usize, model: M) -> M {
        (**self).start_epoch(epoch, model)
    }

    fn end_epoch(&mut self, model: &M) -> BTreeMap<String, f64> {
        (**self).end_epoch(model)
    }

    fn resumable(&self) -> bool {
        (**self).resumable()
    }
}

/// Cross-entropy of a classifier's scores against the batch's labels (with the training
/// accuracy).
#[derive(Debug, Clone)]
pub struct CrossEntropy {
    loss: CrossEntropyLoss,
}

impl CrossEntropy {
    /// Cross-entropy for a model trained on `device` (plain or autodiff).
    pub fn new(device: &Device) -> Self {
        Self {
            loss: CrossEntropyLossConfig::new().init(&device.clone().autodiff()),
        }
    }

    /// The loss of `logits` (`[batch, classes]`) against `labels` (`[batch]`).
    pub fn loss(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        self.loss.forward(logits, labels)
    }
}

impl<M: ClassifierModel> Objective<M, Batch> for CrossEntropy {
    fn step(&mut self, model: &M, batch: &Batch) -> Result<Step> {
        let logits = model.logits(batch.inputs.clone());
        let loss = self.loss(logits.clone(), batch.labels.clone());
        Ok(Step::new(loss).with_accuracy(logits, &batch.labels))
    }

    fn resumable(&self) -> bool {
        true
    }
}

/// An objective from a closure (for a loss written in place, as in a test or a script).
pub struct FnObjective<F>(pub F);

impl<M, B, F: FnMut(&M, &B) -> Result<Step>> Objective<M, B> for FnObjective<F> {
    fn step(&mut self, model: &M, batch: &B) -> Result<Step> {
        (self.0)(model, batch)
    }
}

/// Wraps a closure as an [`Objective`].
pub fn objective_fn<M, B, F: FnMut(&M, &B) -> Result<Step>>(f: F) -> FnObjective<F> {
    FnObjective(f)
}

/// A diagonal Gaussian's statistics from `[batch, 2 * latent]` values: the mean (first half)
/// and the log-variance (second half), the latter clamped to [-10, 10] so that `exp` stays
/// finite.
pub fn gaussian_stats(stats: Tensor<2>, latent: usize) -> (Tensor<2>, Tensor<2>) {
    let [n, _] = stats.dims();
    let mean = stats.clone().slice([0..n, 0..latent]);
    let log_var = stats.slice([0..n, latent..2 * latent]).clamp(-10.0, 10.0);
    (mean, log_var)
}

/// A draw `mean + exp(log_var / 2) * eps`, `eps ~ N(0, I)` from the device's seed (the
/// reparameterisation: gradients flow to the mean and log-variance).
pub fn reparameterize(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<2> {
    let noise = mean.random_like(burn::tensor::Distribution::Normal(0.0, 1.0));
    mean + (log_var * 0.5).exp() * noise
}

/// `KL(N(mean, exp(log_var)) || N(0, I))`, summed over the latent, averaged over the batch.
pub fn gaussian_kl(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let n = mean.dims()[0] as f64;
    (mean.powf_scalar(2.0) + log_var.clone().exp() - log_var - 1.0).sum() * 0.5 / n
}

/// Bernoulli negative log-likelihood of `targets` (values in [0, 1]) under pixel `logits`,
/// `-(x log s(l) + (1 - x) log s(-l))`, summed over values, averaged over the batch.
pub fn bernoulli_nll(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    use burn::tensor::activation::log_sigmoid;
    let n = targets.dims()[0] as f64;
    let nll = -(targets.clone() * log_sigmoid(logits.clone())
        + (targets.ones_like() - targets) * log_sigmoid(-logits));
    nll.sum() / n
}
