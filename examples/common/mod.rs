//! Helpers the examples share: the main job's digits setup.
#![allow(dead_code)] // each example uses what it needs

/// The main job's setup on the embedded digits, shared by `compare` and
/// `pretraining_variants` so that both transfer the same model the same way.
pub mod digits {
    use tl::prelude::*;

    /// Features of the encoder at width 1.
    pub const FEATURES: usize = 64;

    /// Two conv blocks (32 x 2 x 2 = 128 values at width 1) and a fully connected layer to
    /// `FEATURES` features; every layer `width` times as wide.
    pub fn encoder_config(width: usize) -> SequentialConfig {
        SequentialConfig::new(vec![1, 8, 8])
            .conv(16 * width, 3, 1)
            .relu()
            .max_pool(2)
            .conv(32 * width, 3, 1)
            .relu()
            .max_pool(2)
            .linear(FEATURES * width)
            .relu()
    }

    /// The embedded digits split into the source task (0-4) and the target task (5-9), each
    /// relabelled from 0.
    pub fn source_and_target() -> Result<(LabelledSet, LabelledSet), Box<dyn std::error::Error>> {
        let digits = tl::tl_data::digits()?;
        let select = tl::tl_data::split::select_classes;
        Ok((
            select(&digits, &[0, 1, 2, 3, 4])?,
            select(&digits, &[5, 6, 7, 8, 9])?,
        ))
    }

    /// Pretraining on the source digits.
    pub fn pretrain_config(seed: u64) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(15)
            .with_batch_size(32)
            .with_lr(2e-3)
            .with_seed(seed)
    }

    /// Training on the 50 labelled target digits.
    pub fn target_config(seed: u64, lr: f64, epochs: usize) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(10)
            .with_lr(lr)
            .with_schedule(Schedule::Cosine { min_factor: 0.1 })
            .with_seed(seed)
    }
}
