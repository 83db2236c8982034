//! What a pretraining run reports.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tl_core::data::UnlabelledSet;
use tl_core::model::{Encoder, ParamCount, count_params};
use tl_core::report::EpochRecord;
use tl_core::train::{ProgressEvent, TrainConfig, Trainer, UnlabelledBatch};
use tl_core::{CoreError, Result};

/// A self-supervised pretraining run: the objective, its configuration and loss history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Name of the objective (`"denoising-ae"`, `"masked-ae"`, `"simclr"`).
    pub method: String,
    /// The objective's configuration, as JSON.
    pub config: serde_json::Value,
    /// Per-epoch loss (no accuracies: nothing here sees a label).
    pub history: Vec<EpochRecord>,
    /// Items in the unlabelled set.
    pub items: usize,
    /// Wall-clock seconds.
    pub wall_time_s: f64,
    /// Parameters of the encoder that is kept (decoders and projection heads are dropped).
    pub encoder_params: ParamCount,
    /// The device it ran on.
    pub device: String,
    /// The seed it ran with.
    pub seed: u64,
}

impl PretrainReport {
    /// The last epoch's mean loss.
    pub fn final_loss(&self) -> Option<f64> {
        self.history.last().map(|r| r.train_loss)
    }
}

/// The path every objective takes: checks that `encoder` takes `data`'s items, seeds
/// `device`, puts the objective's head on the encoder (`attach`), trains the pair on `loss`
/// through `Trainer::fit_unlabelled`, takes the encoder back out (`detach`) and reports.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pretrain<E: Encoder + 'static, M: Module + 'static>(
    method: &str,
    config: &impl Serialize,
    train: &TrainConfig,
    encoder: E,
    data: &UnlabelledSet,
    device: &Device,
    progress: impl FnMut(&ProgressEvent),
    attach: impl FnOnce(E) -> Result<M>,
    detach: impl FnOnce(M) -> E,
    loss: &mut dyn FnMut(&M, &UnlabelledBatch<'_>) -> Tensor<1>,
) -> Result<(E, PretrainReport)> {
    data.inputs
        .check_fits(&encoder.input_shape(), &data.domain)?;
    device.seed(train.seed);
    let started = Instant::now();
    let model = attach(encoder)?;
    let out = Trainer::new(train.clone())
        .with_progress(progress)
        .fit_unlabelled(model, data, device, loss)?;
    let encoder = detach(out.model).valid();
    let report = PretrainReport {
        method: method.to_string(),
        config: serde_json::to_value(config)
            .map_err(|e| CoreError::config("config", format!("not serialisable: {e}")))?,
        history: out.history,
        items: data.len(),
        wall_time_s: started.elapsed().as_secs_f64(),
        encoder_params: count_params(&encoder),
        device: tl_core::device::device_label(device),
        seed: train.seed,
    };
    Ok((encoder, report))
}
