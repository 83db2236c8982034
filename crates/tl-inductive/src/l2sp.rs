//! L2-SP (Li, Grandvalet and Davoine 2018): fine-tuning with a penalty on the distance from
//! the pretrained weights instead of from zero,
//!
//! `loss = CE + alpha / 2 * ||w_encoder - w_pretrained||^2 + beta / 2 * ||w_head||^2`,
//!
//! so the encoder may adapt but is pulled back towards what it learned on the source task.

use crate::common::{NEEDS, check_common, fine_tune, fine_tuning_fields};
use burn::config::Config;
use burn::tensor::{Device, Tensor};
use tl_core::data::Batch;
use tl_core::model::{Classifier, Encoder};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, Objective, Step, TrainConfig};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "l2-sp";

/// Fine-tuning with the L2-SP penalty.
#[derive(Config, Debug)]
pub struct L2Sp {
    /// Strength of the pull towards the pretrained encoder weights.
    #[config(default = 0.01)]
    pub alpha: f64,
    /// Plain L2 strength on the new head's weights.
    #[config(default = 0.0)]
    pub beta: f64,
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the new head; empty for a linear head.
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
    /// The new head's learning rate as a multiple of `train.lr`.
    #[config(default = 1.0)]
    pub head_lr_factor: f64,
}

pub use tl_core::model::flat_params;

/// `sum_i ||a_i - b_i||^2` over matching tensors.
fn squared_distance(a: &[Tensor<1>], b: &[Tensor<1>]) -> Option<Tensor<1>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.clone() - y.clone()).powi_scalar(2).sum())
        .reduce(|s, t| s + t)
}

impl L2Sp {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::InvalidConfig {
                    field,
                    reason: format!("{v} must be finite and >= 0"),
                });
            }
        }
        check_common(&self.train, &self.head_hidden, self.head_lr_factor)
    }
}

/// The L2-SP objective: cross-entropy plus `alpha / 2 ||w - w0||^2` over the encoder's
/// parameters (`w0` the weights it starts from) plus `beta / 2 ||v||^2` over the head's. The
/// starting point is taken (detached) from the model at the first step: the pretrained
/// weights, on the training device.
pub struct L2SpPenalty {
    alpha: f64,
    beta: f64,
    start: Option<Vec<Tensor<1>>>,
    loss: CrossEntropy,
}

impl L2SpPenalty {
    /// The objective with weights `alpha` (towards the start) and `beta` (head decay).
    pub fn new(alpha: f64, beta: f64, device: &Device) -> Self {
        Self {
            alpha,
            beta,
            start: None,
            loss: CrossEntropy::new(device),
        }
    }

    /// `loss` plus the penalty for `model`.
    pub fn add_penalty<E: Encoder>(&mut self, model: &Classifier<E>, loss: Tensor<1>) -> Tensor<1> {
        let (alpha, beta) = (self.alpha, self.beta);
        if alpha == 0.0 && beta == 0.0 {
            return loss;
        }
        let current = flat_params(&model.encoder);
        let start = self
            .start
            .get_or_insert_with(|| current.iter().map(|t| t.clone().detach()).collect());
        let mut loss = loss;
        if alpha > 0.0
            && let Some(d) = squared_distance(&current, start)
        {
            loss = loss + d * (alpha / 2.0);
        }
        if beta > 0.0
            && let Some(n) = flat_params(&model.head)
                .into_iter()
                .map(|w| w.powi_scalar(2).sum())
                .reduce(|a, b| a + b)
        {
            loss = loss + n * (beta / 2.0);
        }
        loss
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, Batch> for L2SpPenalty {
    fn step(&mut self, model: &Classifier<E>, batch: &Batch) -> Result<Step> {
        let loss = self
            .loss
            .loss(model.forward(batch.inputs.clone()), batch.labels.clone());
        Ok(Step::new(self.add_penalty(model, loss)))
    }
}

impl<E: Encoder + 'static> Strategy<E> for L2Sp {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Fine-tunes the encoder and a new head with the L2-SP penalty.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let (alpha, beta) = (self.alpha, self.beta);
        let objective = |device: &Device| L2SpPenalty::new(alpha, beta, device);
        fine_tune(self, NAME, start, task, ctx, Ok, objective)
    }
}

fine_tuning_fields!(L2Sp);
