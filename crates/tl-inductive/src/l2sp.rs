//! L2-SP (Li, Grandvalet and Davoine 2018): fine-tuning with a penalty on the distance from
//! the pretrained weights instead of from zero,
//!
//! `loss = CE + alpha / 2 * ||w_encoder - w_pretrained||^2 + beta / 2 * ||w_head||^2`,
//!
//! so the encoder may adapt but is pulled back towards what it learned on the source task.

use crate::common::{Start, check_common, start, trainer};
use burn::config::Config;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Tensor};
use tl_core::data::Batch;
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
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

    /// Fine-tunes `encoder` and a new head with the L2-SP penalty.
    pub fn fit<E: Encoder + 'static>(
        &self,
        encoder: E,
        task: &TransferTask,
        device: &Device,
    ) -> Result<(Classifier<E>, FitReport)> {
        self.validate()?;
        let Start {
            model,
            train,
            test,
            run,
        } = start(NAME, encoder, task, &self.train, &self.head_hidden, device)?;
        let ce = CrossEntropyLossConfig::new().init(&device.clone().autodiff());
        let (alpha, beta) = (self.alpha, self.beta);
        // The starting point, taken (detached) from the model the trainer hands to the first
        // step: the pretrained weights, on the training device.
        let mut start: Option<Vec<Tensor<1>>> = None;
        let mut loss = |m: &Classifier<E>, b: &Batch| -> Tensor<1> {
            let loss = ce.forward(m.forward(b.inputs.clone()), b.labels.clone());
            if alpha == 0.0 && beta == 0.0 {
                return loss;
            }
            let current = flat_params(&m.encoder);
            let start =
                start.get_or_insert_with(|| current.iter().map(|t| t.clone().detach()).collect());
            let mut loss = loss;
            if alpha > 0.0
                && let Some(d) = squared_distance(&current, start)
            {
                loss = loss + d * (alpha / 2.0);
            }
            if beta > 0.0 {
                let head = flat_params(&m.head);
                if let Some(n) = head
                    .into_iter()
                    .map(|w| w.powi_scalar(2).sum())
                    .reduce(|a, b| a + b)
                {
                    loss = loss + n * (beta / 2.0);
                }
            }
            loss
        };
        let out = trainer(&self.train, &model, self.head_lr_factor)
            .fit_with(model, train, None, device, &mut loss)?;
        let report = run.report(NAME, self, &out.model, out.history, test, device)?;
        Ok((out.model, report))
    }
}
