//! Full fine-tuning: every parameter of the pretrained encoder and a new head train together.

use crate::common::{Start, check_common, start, trainer};
use burn::config::Config;
use burn::tensor::Device;
use tl_core::Result;
use tl_core::model::{Classifier, Encoder};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;

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

    /// Fine-tunes `encoder` with a new head on the task's labelled target set.
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
        let out =
            trainer(&self.train, &model, self.head_lr_factor).fit(model, train, None, device)?;
        let report = run.report(NAME, self, &out.model, out.history, test, device)?;
        Ok((out.model, report))
    }
}
