//! Reconstruction objectives: a denoising autoencoder and a masked autoencoder. Both put a
//! decoder (an MLP from the encoder's features back to the input) on the encoder, train the
//! two to rebuild clean inputs from corrupted ones, and keep only the encoder.

use crate::report::pretrain;
use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_core::data::UnlabelledSet;
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::report::EpochRecord;
use tl_core::strategy::RunContext;
use tl_core::train::{TrainConfig, UnlabelledBatch};
use tl_core::{CoreError, Result};

/// Name of the denoising autoencoder in reports.
pub const DAE: &str = "denoising-ae";
/// Name of the masked autoencoder in reports.
pub const MAE: &str = "masked-ae";

/// An encoder with a decoder back to its input space.
#[derive(Module, Debug)]
pub struct Reconstructor<E> {
    /// Input to features (kept after pretraining).
    pub encoder: E,
    /// Features to a reconstructed input (dropped after pretraining).
    pub decoder: Sequential,
}

impl<E: Encoder> Reconstructor<E> {
    /// Puts a fresh MLP decoder (`hidden` widths with ReLU, then a linear layer to the input
    /// size) on `encoder`.
    pub fn new(encoder: E, hidden: &[usize], device: &Device) -> Result<Self> {
        let mut config = SequentialConfig::new(vec![encoder.feature_dim()]);
        for &h in hidden {
            config = config.linear(h).relu();
        }
        let out = encoder.input_shape().iter().product();
        let decoder = config.linear(out).init(device)?;
        Ok(Self { encoder, decoder })
    }

    /// Reconstructions of a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]`
    /// - returns `[batch, input_size]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(self.encoder.encode(x))
    }
}

/// Denoising autoencoder (Vincent et al. 2008): the input is corrupted by Gaussian noise and
/// by masking noise (each value zeroed with probability `drop_prob`), and the clean input is
/// rebuilt (mean squared error over every value).
#[derive(Config, Debug)]
pub struct DenoisingAutoencoder {
    /// Training (epochs, batch size, optimiser, schedule, seed).
    #[config(default = "TrainConfig::new().with_batch_size(128)")]
    pub train: TrainConfig,
    /// Standard deviation of the additive Gaussian noise (on [0, 1] pixels).
    #[config(default = 0.3)]
    pub noise_std: f32,
    /// Probability that a value is set to 0.
    #[config(default = 0.2)]
    pub drop_prob: f32,
    /// Clamp corrupted values to [0, 1] (pixels).
    #[config(default = true)]
    pub clamp_unit: bool,
    /// Hidden widths of the decoder.
    #[config(default = "vec![512]")]
    pub decoder_hidden: Vec<usize>,
    /// The few-label step of the strategy (a linear probe on the pretrained features).
    #[config(default = "crate::report::default_probe()")]
    pub probe: tl_inductive::LinearProbe,
    /// As a strategy, pretrain on the task's unlabelled images before the probe (false: the
    /// probe on the encoder as given, one pretrained already: `tl run`'s `[episodes]`
    /// pretrains once per seed, then probes each episode).
    #[config(default = true)]
    pub pretrain: bool,
}

/// Masked autoencoder for images (He et al. 2022, with a convolutional encoder as SimMIM):
/// square patches covering `mask_ratio` of the image are replaced by `fill`, and the loss is
/// the squared error on the masked pixels only, so the encoder must infer what it cannot see.
#[derive(Config, Debug)]
pub struct MaskedAutoencoder {
    /// Training (epochs, batch size, optimiser, schedule, seed).
    #[config(default = "TrainConfig::new().with_batch_size(128)")]
    pub train: TrainConfig,
    /// Side of a square patch, in pixels.
    #[config(default = 4)]
    pub patch: usize,
    /// Fraction of the patches masked in each image.
    #[config(default = 0.5)]
    pub mask_ratio: f32,
    /// Value written into masked patches (0.5: grey, told apart from a white or black
    /// background).
    #[config(default = 0.5)]
    pub fill: f32,
    /// Hidden widths of the decoder.
    #[config(default = "vec![512]")]
    pub decoder_hidden: Vec<usize>,
    /// The few-label step of the strategy (a linear probe on the pretrained features).
    #[config(default = "crate::report::default_probe()")]
    pub probe: tl_inductive::LinearProbe,
    /// As a strategy, pretrain on the task's unlabelled images before the probe (false: the
    /// probe on the encoder as given, one pretrained already: `tl run`'s `[episodes]`
    /// pretrains once per seed, then probes each episode).
    #[config(default = true)]
    pub pretrain: bool,
}

fn check_hidden(hidden: &[usize]) -> Result<()> {
    if hidden.contains(&0) {
        return Err(CoreError::config(
            "decoder_hidden",
            "hidden layer widths must be at least 1",
        ));
    }
    Ok(())
}

/// A standard normal sample (`rand_distr::StandardNormal`, the ziggurat method).
pub(crate) fn normal(rng: &mut StdRng) -> f32 {
    rng.sample(rand_distr::StandardNormal)
}

impl DenoisingAutoencoder {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        crate::report::check_pretraining(&self.train, &self.probe)?;
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(CoreError::config(
                "noise_std",
                format!("{} must be >= 0", self.noise_std),
            ));
        }
        if !(0.0..1.0).contains(&self.drop_prob) {
            return Err(CoreError::config(
                "drop_prob",
                format!("{} not in [0, 1)", self.drop_prob),
            ));
        }
        if self.noise_std == 0.0 && self.drop_prob == 0.0 {
            return Err(CoreError::config(
                "noise_std",
                "with no noise and no dropped values the autoencoder only learns to copy",
            ));
        }
        check_hidden(&self.decoder_hidden)
    }

    /// Corrupts `x` (one batch, row after row) with the batch's seed.
    pub fn corrupt(&self, x: &[f32], seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        x.iter()
            .map(|&v| {
                let mut v = v + self.noise_std * normal(&mut rng);
                if self.drop_prob > 0.0 && rng.random::<f32>() < self.drop_prob {
                    v = 0.0;
                }
                if self.clamp_unit {
                    v.clamp(0.0, 1.0)
                } else {
                    v
                }
            })
            .collect()
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
        if self.clamp_unit {
            // Clamping a noisy copy of values outside [0, 1] (sentence vectors, standardised
            // pixels) would zero them while the target keeps them.
            data.inputs.check_unit_interval(
                &data.domain,
                "clamp_unit keeps the noisy copy in [0, 1], for pixels; set clamp_unit = false for other items",
            )?;
        }
        pretrain(
            &self.train,
            encoder,
            data,
            ctx,
            |e| Reconstructor::new(e, &self.decoder_hidden, device),
            |m| m.encoder,
            |m: &Reconstructor<E>, b: &UnlabelledBatch| {
                let clean = b.values();
                let noisy = b.tensor(self.corrupt(&clean, b.seed));
                (m.forward(noisy) - b.tensor(clean)).powi_scalar(2).mean()
            },
        )
    }
}

impl MaskedAutoencoder {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        crate::report::check_pretraining(&self.train, &self.probe)?;
        if self.patch == 0 {
            return Err(CoreError::config("patch", "must be at least 1 pixel"));
        }
        if !(self.mask_ratio > 0.0 && self.mask_ratio < 1.0) {
            return Err(CoreError::config(
                "mask_ratio",
                format!("{} not in (0, 1)", self.mask_ratio),
            ));
        }
        if !self.fill.is_finite() {
            return Err(CoreError::config("fill", "must be finite"));
        }
        check_hidden(&self.decoder_hidden)
    }

    /// For each of `n` images of shape `[c, h, w]`, a 0/1 mask (1 = hidden) of whole patches,
    /// `round(mask_ratio * patches)` of them (at least one) chosen at random with `seed`.
    /// Refuses bad fields and a shape with a zero side.
    pub fn masks(&self, n: usize, shape: [usize; 3], seed: u64) -> Result<Vec<f32>> {
        self.validate()?;
        if shape.contains(&0) {
            return Err(CoreError::config(
                "shape",
                format!("{shape:?} has a zero side"),
            ));
        }
        Ok(self.masks_unchecked(n, shape, seed))
    }

    /// [`masks`](Self::masks) for fields and a shape already checked.
    fn masks_unchecked(&self, n: usize, shape: [usize; 3], seed: u64) -> Vec<f32> {
        let [c, h, w] = shape;
        let (ph, pw) = (h.div_ceil(self.patch), w.div_ceil(self.patch));
        let patches = ph * pw;
        let hidden = ((self.mask_ratio * patches as f32).round() as usize).clamp(1, patches);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = vec![0.0; n * c * h * w];
        let mut order: Vec<usize> = (0..patches).collect();
        for item in out.chunks_mut(c * h * w) {
            // Partial Fisher-Yates: the first `hidden` entries are a uniform choice.
            for i in 0..hidden {
                let j = rng.random_range(i..patches);
                order.swap(i, j);
            }
            for &p in &order[..hidden] {
                let (py, px) = (p / pw, p % pw);
                for ch in 0..c {
                    for y in py * self.patch..((py + 1) * self.patch).min(h) {
                        let row = ch * h * w + y * w;
                        for x in px * self.patch..((px + 1) * self.patch).min(w) {
                            item[row + x] = 1.0;
                        }
                    }
                }
            }
        }
        out
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
        let shape: [usize; 3] = data.inputs.item_shape.as_slice().try_into().map_err(|_| {
            CoreError::data(
                &data.domain,
                format!(
                    "masked patches need image items [c, h, w], not {:?}",
                    data.inputs.item_shape
                ),
            )
        })?;
        pretrain(
            &self.train,
            encoder,
            data,
            ctx,
            |e| Reconstructor::new(e, &self.decoder_hidden, device),
            |m| m.encoder,
            |m: &Reconstructor<E>, b: &UnlabelledBatch| {
                let clean = b.values();
                let mask = self.masks_unchecked(b.len(), shape, b.seed);
                let masked: Vec<f32> = clean
                    .iter()
                    .zip(&mask)
                    .map(|(&v, &m)| if m > 0.0 { self.fill } else { v })
                    .collect();
                let hidden: f32 = mask.iter().sum();
                let (clean, masked, mask) = (b.tensor(clean), b.tensor(masked), b.tensor(mask));
                ((m.forward(masked) - clean).powi_scalar(2) * mask).sum() / hidden
            },
        )
    }
}

crate::report::unsupervised_strategy!(DenoisingAutoencoder, DAE);

crate::report::unsupervised_strategy!(MaskedAutoencoder, MAE);
