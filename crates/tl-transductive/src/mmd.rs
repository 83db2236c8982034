//! Maximum mean discrepancy with a multi-kernel Gaussian (DAN, Long et al. 2015): pull the
//! source and target feature distributions together in a kernel space.

use crate::common::{NEEDS, TransferLoss, align, check_common, common};
use burn::config::Config;
use burn::tensor::Tensor;
use tl_core::model::Encoder;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "mmd";

/// Source cross-entropy + `weight` x multi-kernel MMD² between the batches' encoder features.
#[derive(Config, Debug)]
pub struct Mmd {
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Weight of the MMD term.
    #[config(default = 1.0)]
    pub weight: f64,
    /// Kernel bandwidths as multiples of the mean squared distance (DAN: 2^-2 .. 2^2).
    #[config(default = "vec![0.25, 0.5, 1.0, 2.0, 4.0]")]
    pub bandwidths: Vec<f32>,
    /// Source items held out per class (source accuracy, early stopping).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl Mmd {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        if !(self.weight >= 0.0 && self.weight.is_finite()) {
            return Err(CoreError::config(
                "weight",
                format!("{} must be >= 0", self.weight),
            ));
        }
        if self.bandwidths.is_empty() || self.bandwidths.iter().any(|b| !b.is_finite() || *b <= 0.0)
        {
            return Err(CoreError::config(
                "bandwidths",
                "give at least one bandwidth multiplier, each > 0",
            ));
        }
        Ok(())
    }
}

impl<E: Encoder + 'static> Strategy<E> for Mmd {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    /// Adapts the classifier (a source-trained one, or a fresh head on the encoder) to the
    /// task's target.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let bandwidths = self.bandwidths.clone();
        let transfer = move |s: Tensor<2>, t: Tensor<2>| crate::loss::mmd(s, t, &bandwidths);
        let transfer = Some((&transfer as TransferLoss<'_>, self.weight));
        align(common!(self, NAME), self, start, task, ctx, transfer)
    }
}
