//! The baseline every method must beat: training on the source labels alone, with the same
//! loop, steps and held-out source as the adaptation methods.

use crate::common::{NEEDS, align, check_common, common};
use burn::config::Config;
use tl_core::Result;
use tl_core::model::Encoder;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;

/// Name in reports.
pub const NAME: &str = "source-only";

/// Source cross-entropy only; the unlabelled target is drawn (so the steps match) but unused.
#[derive(Config, Debug)]
pub struct SourceOnly {
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Source items held out per class (source accuracy, early stopping).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl SourceOnly {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)
    }
}

impl<E: Encoder + 'static> Strategy<E> for SourceOnly {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    /// Trains the classifier on the source labels alone, with the same loop and steps as the adaptation methods.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        align(common!(self, NAME), self, start, task, ctx, None)
    }
}
