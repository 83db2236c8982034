//! Deep CORAL (Sun and Saenko 2016): align the second-order statistics (covariances) of the
//! source and target features while learning the source task.

use crate::common::{NEEDS, align, check_common, common};
use crate::loss::coral;
use burn::config::Config;
use tl_core::model::Encoder;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "deep-coral";

/// Source cross-entropy + `weight` x CORAL loss between the batches' encoder features.
#[derive(Config, Debug)]
pub struct DeepCoral {
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Weight of the CORAL term.
    #[config(default = 1.0)]
    pub weight: f64,
    /// Source items held out per class (source accuracy, early stopping).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl DeepCoral {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        if !(self.weight >= 0.0 && self.weight.is_finite()) {
            return Err(CoreError::config(
                "weight",
                format!("{} must be >= 0", self.weight),
            ));
        }
        if self.train.batch_size < 2 {
            return Err(CoreError::config(
                "train.batch_size",
                "covariances need at least 2 items per batch",
            ));
        }
        Ok(())
    }
}

impl<E: Encoder + 'static> Strategy<E> for DeepCoral {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    /// Adapts the classifier (a source-trained one, or a fresh head on the encoder) to the
    /// task's target.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        align(
            common!(self, NAME),
            self,
            start,
            task,
            ctx,
            Some((&coral, self.weight)),
        )
    }
}
