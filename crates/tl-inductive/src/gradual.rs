//! Gradual unfreezing (Howard and Ruder 2018, ULMFiT): the first epoch trains only the new
//! head; each later epoch thaws one more encoder block, the top one first, until all train.
//! One optimiser, one learning-rate schedule and one history run through the whole fit.
//! Freezing here only withholds gradients: dropout and the like stay in training mode, as in
//! ULMFiT.

use crate::common::{NEEDS, check_common, fine_tune, fine_tuning_fields};
use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::tensor::Device;
use tl_core::Result;
use tl_core::data::Batch;
use tl_core::model::{Classifier, Encoder};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, Objective, Step, TrainConfig};

/// Name in reports.
pub const NAME: &str = "gradual-unfreezing";

/// Thaw one encoder block per epoch, top first, after a head-only first epoch.
#[derive(Config, Debug)]
pub struct GradualUnfreezing {
    /// Training; `epochs` counts the head-only epoch too.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the new head; empty for a linear head.
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
    /// The new head's learning rate as a multiple of `train.lr`.
    #[config(default = 1.0)]
    pub head_lr_factor: f64,
}

/// How many encoder blocks (counted from the top) train in `epoch` (1-based): none in the
/// first epoch, then one more per epoch, at most `blocks`.
pub fn thawed_blocks(epoch: usize, blocks: usize) -> usize {
    epoch.saturating_sub(1).min(blocks)
}

impl GradualUnfreezing {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, &self.head_hidden, self.head_lr_factor)
    }
}

/// Cross-entropy while thawing one more encoder block (top first) at the start of each epoch,
/// as [`thawed_blocks`] says: one optimiser, one schedule and one history for the whole run.
pub struct Unfreezing {
    blocks: Vec<ParamGroup>,
    thawed: usize,
    loss: CrossEntropy,
}

impl Unfreezing {
    /// Thaws `blocks` (bottom first, as [`Encoder::blocks`] lists them) from the top.
    pub fn new(blocks: Vec<ParamGroup>, device: &Device) -> Self {
        Self {
            blocks,
            thawed: 0,
            loss: CrossEntropy::new(device),
        }
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, Batch> for Unfreezing {
    fn step(&mut self, model: &Classifier<E>, batch: &Batch) -> Result<Step> {
        self.loss.step(model, batch)
    }

    fn start_epoch(&mut self, epoch: usize, mut model: Classifier<E>) -> Classifier<E> {
        let n = self.blocks.len();
        while self.thawed < thawed_blocks(epoch, n) {
            self.thawed += 1;
            model = model.set_require_grad_group(self.blocks[n - self.thawed].clone(), true);
        }
        model
    }
}

impl<E: Encoder + 'static> Strategy<E> for GradualUnfreezing {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Fine-tunes with gradual unfreezing on the task's labelled target set.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let blocks = start.encoder.blocks();
        let freeze = |model: Classifier<E>| {
            let encoder_group = model.encoder_group();
            Ok(model.set_require_grad_group(encoder_group, false))
        };
        let objective = |device: &Device| Unfreezing::new(blocks, device);
        fine_tune(self, NAME, start, task, ctx, freeze, objective)
    }
}

fine_tuning_fields!(GradualUnfreezing);
