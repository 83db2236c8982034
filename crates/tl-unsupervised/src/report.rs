//! What a pretraining run reports.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tl_core::model::{Encoder, ParamCount, count_params};
use tl_core::report::EpochRecord;
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

/// A pretraining run's clock and seed.
pub(crate) struct Run {
    started: Instant,
    seed: u64,
}

impl Run {
    pub(crate) fn start(seed: u64, device: &Device) -> Self {
        device.seed(seed);
        Self {
            started: Instant::now(),
            seed,
        }
    }

    pub(crate) fn report<E: Encoder>(
        &self,
        method: &str,
        config: &impl Serialize,
        encoder: &E,
        history: Vec<EpochRecord>,
        items: usize,
        device: &Device,
    ) -> Result<PretrainReport> {
        Ok(PretrainReport {
            method: method.to_string(),
            config: serde_json::to_value(config)
                .map_err(|e| CoreError::config("config", format!("not serialisable: {e}")))?,
            history,
            items,
            wall_time_s: self.started.elapsed().as_secs_f64(),
            encoder_params: count_params(encoder),
            device: tl_core::device::device_label(device),
            seed: self.seed,
        })
    }
}
