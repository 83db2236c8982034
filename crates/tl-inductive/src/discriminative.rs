//! Discriminative learning rates (Howard and Ruder 2018): the new head trains at the base
//! rate, the top encoder block at `decay` times it, the block below at `decay^2`, and so on
//! towards the input, so general low-level features move least.

use crate::common::{FineTuning, NEEDS, check_common, fine_tune};
use burn::config::Config;
use tl_core::model::Encoder;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, TrainConfig};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "discriminative-lr";

/// A learning rate per encoder block, decaying towards the input.
#[derive(Config, Debug)]
pub struct DiscriminativeLr {
    /// Factor between a block's rate and the rate of the block above it, in (0, 1]
    /// (ULMFiT uses 1 / 2.6).
    #[config(default = 0.5)]
    pub decay: f64,
    /// Training; `lr` is the head's rate.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the new head; empty for a linear head.
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
}

/// The rate factor of each encoder block, input first: `decay^(blocks - i)`.
pub fn block_factors(blocks: usize, decay: f64) -> Vec<f64> {
    (0..blocks)
        .map(|i| decay.powi((blocks - i) as i32))
        .collect()
}

impl DiscriminativeLr {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(CoreError::InvalidConfig {
                field: "decay",
                reason: format!("{} must be in (0, 1]", self.decay),
            });
        }
        check_common(&self.train, &self.head_hidden, 1.0)
    }
}

impl<E: Encoder + 'static> Strategy<E> for DiscriminativeLr {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Fine-tunes every block at its own rate with a new head.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        fine_tune(self, NAME, start, task, ctx, Ok, CrossEntropy::new)
    }
}

impl FineTuning for DiscriminativeLr {
    fn train(&self) -> &TrainConfig {
        &self.train
    }

    fn head_hidden(&self) -> &[usize] {
        &self.head_hidden
    }

    fn head_lr_factor(&self) -> f64 {
        1.0
    }

    fn block_lr_factors(&self, blocks: usize) -> Vec<f64> {
        block_factors(blocks, self.decay)
    }
}
