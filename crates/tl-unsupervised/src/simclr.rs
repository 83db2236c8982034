//! SimCLR (Chen et al. 2020): two random views of each image, a projection head, and the
//! NT-Xent loss that pulls the two views of an image together and pushes the other images of
//! the batch away. The projection head is dropped afterwards; the encoder's features transfer.

use crate::augment::ViewAugment;
use crate::report::pretrain;
use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor, TensorData};
use tl_core::data::UnlabelledSet;
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::report::EpochRecord;
use tl_core::strategy::RunContext;
use tl_core::train::{TrainConfig, UnlabelledBatch};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "simclr";

/// An encoder with a projection head, as SimCLR trains it.
#[derive(Module, Debug)]
pub struct Contrastive<E> {
    /// Input to features (kept after pretraining).
    pub encoder: E,
    /// Features to the space the loss compares in (dropped after pretraining).
    pub projection: Sequential,
}

impl<E: Encoder> Contrastive<E> {
    /// Projections of a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]`
    /// - returns `[batch, projection_dim]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.projection.forward(self.encoder.encode(x))
    }
}

/// SimCLR pretraining.
#[derive(Config, Debug)]
pub struct SimClr {
    /// Training (epochs, batch size = images per batch, each seen twice; optimiser; seed).
    #[config(default = "TrainConfig::new().with_batch_size(256)")]
    pub train: TrainConfig,
    /// The two views' augmentations.
    #[config(default = "ViewAugment::new()")]
    pub augment: ViewAugment,
    /// NT-Xent temperature.
    #[config(default = 0.5)]
    pub temperature: f32,
    /// Hidden width of the projection head (one ReLU layer).
    #[config(default = 256)]
    pub projection_hidden: usize,
    /// Output width of the projection head.
    #[config(default = 64)]
    pub projection_dim: usize,
    /// The few-label step of the strategy (a linear probe on the pretrained features).
    #[config(default = "crate::report::default_probe()")]
    pub probe: tl_inductive::LinearProbe,
    /// As a strategy, pretrain on the task's unlabelled images before the probe (false: the
    /// probe on the encoder as given, one pretrained already: `tl run`'s `[episodes]`
    /// pretrains once per seed, then probes each episode).
    #[config(default = true)]
    pub pretrain: bool,
}

/// NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR: rows `i` of `z1` and
/// `z2` are two views of one item. Every row is L2-normalised; each of the `2n` rows must
/// pick its partner among the other `2n - 1` by cosine similarity / `temperature`; the loss
/// is the mean cross-entropy of those choices.
///
/// # Shapes
/// - `z1`, `z2`: `[n, d]`, `n >= 2`
/// - returns `[1]`
pub fn nt_xent(z1: Tensor<2>, z2: Tensor<2>, temperature: f32) -> Tensor<1> {
    let [n, _] = z1.dims();
    let device = z1.device();
    let z = Tensor::cat(vec![z1, z2], 0);
    let norm = z.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    let z = z / norm;
    let sim = z.clone().matmul(z.transpose()) / temperature;
    // An item is not its own partner: its self-similarity is taken out of the softmax.
    let sim = sim - Tensor::<2>::eye(2 * n, &device) * 1e9;
    let targets: Vec<i64> = (0..2 * n).map(|i| ((i + n) % (2 * n)) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [2 * n]), &device);
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(sim, targets)
}

impl SimClr {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        crate::report::check_pretraining(&self.train, &self.probe)?;
        self.augment.validate()?;
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(CoreError::config(
                "temperature",
                format!("{} must be > 0", self.temperature),
            ));
        }
        if self.projection_hidden == 0 || self.projection_dim == 0 {
            return Err(CoreError::config(
                "projection_dim",
                "projection widths must be at least 1",
            ));
        }
        if self.train.batch_size < 2 {
            return Err(CoreError::config(
                "train.batch_size",
                "contrastive batches need at least 2 images (the others are the negatives)",
            ));
        }
        Ok(())
    }

    /// Pretrains `encoder` on `data` with the run's seed, progress and checkpoints; returns
    /// the encoder (the objective's decoder or projection head dropped) and the per-epoch
    /// history.
    pub fn pretrain<E: Encoder + 'static>(
        &self,
        encoder: E,
        data: &UnlabelledSet,
        ctx: &mut RunContext<'_>,
    ) -> Result<(E, Vec<EpochRecord>)> {
        let device = &ctx.device().clone();
        self.validate()?;
        // Checked here, not at the first batch: a shape the views cannot take.
        self.augment.views(&data.inputs, &[], 0)?;
        pretrain(
            &self.train,
            encoder,
            data,
            ctx,
            |encoder| {
                let projection = SequentialConfig::new(vec![encoder.feature_dim()])
                    .linear(self.projection_hidden)
                    .relu()
                    .linear(self.projection_dim)
                    .init(device)?;
                Ok(Contrastive {
                    encoder,
                    projection,
                })
            },
            |m| m.encoder,
            |m: &Contrastive<E>, b: &UnlabelledBatch| {
                let [v1, v2] = [b.seed, b.seed ^ 0x5DEE_CE66_D1CE_5EED].map(|s| {
                    b.tensor(
                        self.augment
                            .views(&data.inputs, &b.indices, s)
                            .expect("checked before training"),
                    )
                });
                // One forward pass over both views (batch statistics see all 2n images).
                let z = m.forward(Tensor::cat(vec![v1, v2], 0));
                let n = b.len();
                nt_xent(z.clone().slice(0..n), z.slice(n..2 * n), self.temperature)
            },
        )
    }
}

crate::report::unsupervised_strategy!(SimClr, NAME);
