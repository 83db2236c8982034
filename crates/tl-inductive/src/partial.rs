//! Partial fine-tuning: the first blocks of the encoder (the general features) stay frozen,
//! the rest trains with a new head. For [`Sequential`] encoders, [`replace_top`] also drops
//! the last (task-specific) layers and adds new ones before training.

use crate::common::{NEEDS, check_common, fine_tune, fine_tuning_fields};
use burn::config::Config;
use burn::tensor::Device;
use tl_core::model::{Classifier, Encoder, LayerConfig, Sequential};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, TrainConfig};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "partial-fine-tune";

/// Freeze the first `freeze_first` blocks, train the rest and a new head.
#[derive(Config, Debug)]
pub struct PartialFineTune {
    /// How many blocks, from the input, stay frozen.
    pub freeze_first: usize,
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the new head; empty for a linear head.
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
    /// The new head's learning rate as a multiple of `train.lr`.
    #[config(default = 1.0)]
    pub head_lr_factor: f64,
    /// Layer surgery before training ([`replace_top`], `Sequential` encoders): drop the
    /// encoder's last `drop_last` layers (the source task's top)...
    #[config(default = 0)]
    pub drop_last: usize,
    /// ...and append these freshly initialised layers (trained; they count as blocks for
    /// `freeze_first` like any other).
    #[config(default = "Vec::new()")]
    pub add: Vec<LayerConfig>,
}

impl PartialFineTune {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, &self.head_hidden, self.head_lr_factor)
    }

    /// The start model after `drop_last` / `add` (unchanged when both are empty); its old
    /// head goes with the dropped layers.
    fn surgery<E: Encoder + 'static>(
        &self,
        start: Pretrained<E>,
        device: &Device,
    ) -> Result<Pretrained<E>> {
        if self.drop_last == 0 && self.add.is_empty() {
            return Ok(start);
        }
        let any: Box<dyn std::any::Any> = Box::new(start.encoder);
        let Ok(encoder) = any.downcast::<Sequential>() else {
            return Err(CoreError::config(
                "drop_last",
                "layer surgery (drop_last, add) needs a Sequential encoder",
            ));
        };
        let encoder = replace_top(*encoder, self.drop_last, &self.add, device)?;
        let any: Box<dyn std::any::Any> = Box::new(encoder);
        let encoder = *any
            .downcast::<E>()
            .map_err(|_| CoreError::config("drop_last", "the encoder changed type in surgery"))?;
        Ok(Pretrained::encoder(encoder))
    }
}

impl<E: Encoder + 'static> Strategy<E> for PartialFineTune {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Freezes the first `freeze_first` blocks and fine-tunes the rest with a new head.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let start = self.surgery(start, ctx.device())?;
        let blocks = start.encoder.blocks().len();
        if self.freeze_first > blocks {
            return Err(CoreError::InvalidConfig {
                field: "freeze_first",
                reason: format!(
                    "{} exceeds the encoder's {blocks} blocks",
                    self.freeze_first
                ),
            });
        }
        let freeze = |model: Classifier<E>| model.freeze_first_blocks(self.freeze_first);
        fine_tune(self, NAME, start, task, ctx, freeze, CrossEntropy::new)
    }
}

/// Layer surgery on a stack: drops its last `drop_last` layers (e.g. the source task's top
/// layers) and appends freshly initialised `add` layers.
pub fn replace_top(
    encoder: Sequential,
    drop_last: usize,
    add: &[LayerConfig],
    device: &Device,
) -> Result<Sequential> {
    encoder.drop_last(drop_last)?.push_layers(add, device)
}

fine_tuning_fields!(PartialFineTune);
