//! Gradual unfreezing (Howard and Ruder 2018, ULMFiT): the first epoch trains only the new
//! head; each later epoch thaws one more encoder block, the top one first, until all train.
//! One optimiser, one learning-rate schedule and one history run through the whole fit.
//! Freezing here only withholds gradients: dropout and the like stay in training mode, as in
//! ULMFiT.

use crate::common::{Start, check_common, start, trainer};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tl_core::Result;
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;

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

    /// Fine-tunes with gradual unfreezing on the task's labelled target set.
    pub fn fit<E: Encoder + 'static>(
        &self,
        encoder: E,
        task: &TransferTask,
        device: &Device,
    ) -> Result<(Classifier<E>, FitReport)> {
        self.validate()?;
        let blocks = encoder.blocks();
        let Start {
            model,
            train,
            test,
            run,
        } = start(NAME, encoder, task, &self.train, &self.head_hidden, device)?;
        let encoder_group = model.encoder_group();
        let model = model.set_require_grad_group(encoder_group, false);
        let n = blocks.len();
        let mut thawed = 0;
        let out = trainer(&self.train, &model, self.head_lr_factor).fit_staged(
            model,
            train,
            None,
            device,
            &mut |epoch, mut model| {
                while thawed < thawed_blocks(epoch, n) {
                    thawed += 1;
                    model = model.set_require_grad_group(blocks[n - thawed].clone(), true);
                }
                model
            },
        )?;
        let report = run.report(NAME, self, &out.model, out.history, test, device)?;
        Ok((out.model, report))
    }
}
