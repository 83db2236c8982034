//! Full fine-tuning: every parameter of the pretrained encoder and a new head train together.

use crate::common::{NEEDS, check_common, fine_tune, fine_tuning_fields};
use burn::config::Config;
use tl_core::Result;
use tl_core::model::Encoder;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, TrainConfig};

/// Name in reports.
pub const NAME: &str = "full-fine-tune";

/// Train the whole pretrained encoder with a new head.
#[derive(Config, Debug)]
pub struct FullFineTune {
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

impl FullFineTune {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, &self.head_hidden, self.head_lr_factor)
    }
}

impl<E: Encoder + 'static> Strategy<E> for FullFineTune {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Fine-tunes the encoder with a new head on the task's labelled target set.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        fine_tune(self, NAME, start, task, ctx, Ok, CrossEntropy::new)
    }
}

fine_tuning_fields!(FullFineTune);
