//! Discriminative learning rates (Howard and Ruder 2018): the new head trains at the base
//! rate, the top encoder block at `decay` times it, the block below at `decay^2`, and so on
//! towards the input, so general low-level features move least.

use crate::common::{NEEDS, Start, begin, check_common, finish};
use burn::config::Config;
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::strategy::{Family, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
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
    fn run(
        &self,
        start: Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, FitReport)> {
        let blocks = start.encoder.blocks();
        let factors = block_factors(blocks.len(), self.decay);
        let Start { model, train, test } =
            begin(NAME, start.encoder, task, &self.head_hidden, ctx)?;
        let device = ctx.device().clone();
        let out = {
            let mut trainer = ctx.trainer(ctx.train_config(&self.train));
            for (group, factor) in blocks.into_iter().zip(factors) {
                trainer = trainer.with_lr_factor(group, factor);
            }
            trainer.fit(model, train, None, &device)?
        };
        finish(ctx, NAME, self, out, test)
    }
}
