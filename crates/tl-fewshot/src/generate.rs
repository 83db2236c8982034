//! One-shot generation: given one drawing of a class never seen in training, draw new
//! examples of it.
//!
//! The model is a conditional variational autoencoder whose condition is the one example,
//! in the spirit of the Neural Statistician (Edwards and Storkey 2017) with a set of one: the
//! context is the example's pixels and its embedding under a frozen few-shot encoder (a
//! ProtoNet's, say), and a latent `z ~ N(0, I)` carries what varies between drawings of one
//! class. The decoder is a spatial transformer: from `z` and the embedding it draws an affine
//! map and a coarse displacement field (`grid x grid`, upsampled), and warps the example
//! with them (bilinear sampling), so what it learns on the base classes is *how drawings
//! vary* (slant, size, position, local wobble of strokes), which holds for any class. (A first
//! version decoded pixels with an MLP: it drew base-class strokes over the example.) Training pairs two *different* drawings of one base class: the condition is one,
//! the target the other, so copying the example is not enough to rebuild the target; the
//! decoder must learn how drawings of a class vary. The loss is the negative evidence lower
//! bound: Bernoulli cross-entropy of the target's pixels (summed) plus the KL divergence of
//! `q(z | x, c)` from `N(0, I)`, averaged over the batch.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::grid::affine_grid_2d;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{GridSampleOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_core::data::{BatchPlan, LabelledSet};
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::report::EpochRecord;
use tl_core::strategy::RunContext;
use tl_core::train::{
    BatchSource, Objective, Step, StepAt, TrainConfig, bernoulli_nll, encode_all, gaussian_kl,
    gaussian_stats, reparameterize,
};
use tl_core::{CoreError, Result};

/// A conditional VAE over square one-channel images, conditioned on one example of the
/// class, decoding by warping the example.
#[derive(Module, Debug)]
pub struct OneShotVae {
    /// `[item, condition]` to `[mean, log-variance]` of the latent.
    pub recognition: Sequential,
    /// `[latent, embedding]` to the warp: 6 affine offsets from the identity, then the
    /// `2 x grid x grid` displacement field.
    pub decoder: Sequential,
    /// Contrast and offset of the pixel logits: `a * (2 warped - 1) + b`.
    pub contrast: Param<Tensor<1>>,
    /// Latent width.
    pub latent: usize,
    /// Image side.
    pub side: usize,
    /// Side of the displacement grid.
    pub grid: usize,
}

impl OneShotVae {
    /// Pixel logits of items drawn from latents `z` given `conditions` (the example's pixels,
    /// then its embedding).
    fn decode(&self, z: Tensor<2>, conditions: Tensor<2>) -> Tensor<2> {
        let [n, k] = conditions.dims();
        let (side, g) = (self.side, self.grid);
        let size = side * side;
        let example = conditions
            .clone()
            .slice([0..n, 0..size])
            .reshape([n, 1, side, side]);
        let embedding = conditions.slice([0..n, size..k]);
        let warp = self.decoder.forward(Tensor::cat(vec![z, embedding], 1));
        let device = warp.device();
        let identity = Tensor::<2>::from_data(
            TensorData::new(vec![1f32, 0.0, 0.0, 0.0, 1.0, 0.0], [1, 6]),
            &device,
        );
        let affine = (warp.clone().slice([0..n, 0..6]) * 0.1 + identity).reshape([n, 2, 3]);
        let base = affine_grid_2d(affine, [n, 1, side, side]);
        let field = warp.slice([0..n, 6..6 + 2 * g * g]).reshape([n, 2, g, g]);
        let field = interpolate(
            field,
            InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([side, side]),
        )
        .permute([0, 2, 3, 1]);
        let grid = base + field * (2.0 / side as f64);
        let warped = example
            .grid_sample_2d(grid, GridSampleOptions::default())
            .reshape([n, size]);
        let ab = self.contrast.val();
        let a = ab.clone().slice(0..1).unsqueeze_dim(0);
        let b = ab.slice(1..2).unsqueeze_dim(0);
        (warped * 2.0 - 1.0) * a + b
    }

    /// The negative evidence lower bound of `items` given `conditions`, and its two terms
    /// (reconstruction, KL), each averaged over the batch.
    ///
    /// # Shapes
    /// - `items`: `[batch, item_size]`, values in [0, 1]
    /// - `conditions`: `[batch, condition_size]`
    pub fn loss(
        &self,
        items: Tensor<2>,
        conditions: Tensor<2>,
    ) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
        let stats = self
            .recognition
            .forward(Tensor::cat(vec![items.clone(), conditions.clone()], 1));
        let (mean, log_var) = gaussian_stats(stats, self.latent);
        let z = reparameterize(mean.clone(), log_var.clone());
        let reconstruction = bernoulli_nll(self.decode(z, conditions), items);
        let kl = gaussian_kl(mean, log_var);
        (reconstruction.clone() + kl.clone(), reconstruction, kl)
    }

    /// `count` new items for each condition row (`z ~ N(0, I)` from the device's seed),
    /// pixel probabilities in [0, 1]; rows `i * count .. (i + 1) * count` belong to
    /// condition `i`.
    pub fn sample(&self, conditions: Tensor<2>, count: usize) -> Tensor<2> {
        let [n, k] = conditions.dims();
        let repeated = conditions
            .reshape([n, 1, k])
            .repeat_dim(1, count)
            .reshape([n * count, k]);
        let z = Tensor::<2>::random(
            [n * count, self.latent],
            Distribution::Normal(0.0, 1.0),
            &repeated.device(),
        );
        sigmoid(self.decode(z, repeated))
    }
}

/// One-shot generation: a [`OneShotVae`] conditioned on an example's pixels and its
/// embedding under a frozen encoder.
#[derive(Config, Debug)]
pub struct OneShotGenerator {
    /// Latent width.
    #[config(default = 16)]
    pub latent: usize,
    /// Width of the two hidden layers of the recognition and decoder MLPs.
    #[config(default = 256)]
    pub hidden: usize,
    /// Side of the decoder's displacement grid (0: affine warps only).
    #[config(default = 4)]
    pub grid: usize,
    /// Training.
    #[config(default = "TrainConfig::new().with_epochs(30).with_batch_size(64).with_lr(1e-3)")]
    pub train: TrainConfig,
}

/// Conditions of items: each item's pixels followed by its embedding under `encoder`.
pub fn conditions<E: Encoder>(encoder: &E, set: &LabelledSet, device: &Device) -> Result<Vec<f32>> {
    let dim = encoder.feature_dim();
    let features = encode_all(encoder, set, device, 256)?;
    let size = set.inputs.item_size();
    let mut out = Vec::with_capacity(set.len() * (size + dim));
    for i in 0..set.len() {
        out.extend_from_slice(set.inputs.item(i));
        out.extend_from_slice(&features[i * dim..(i + 1) * dim]);
    }
    Ok(out)
}

impl OneShotGenerator {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if self.latent == 0 || self.hidden == 0 {
            return Err(CoreError::config(
                "latent",
                format!(
                    "latent {} and hidden {} must be at least 1",
                    self.latent, self.hidden
                ),
            ));
        }
        self.train.validate()
    }

    /// A fresh model for square one-channel images of `item_shape` (`[1, side, side]`) and
    /// conditions of `condition_size` values (the pixels, then an embedding); the warp
    /// starts at the identity.
    pub fn init(
        &self,
        item_shape: &[usize],
        condition_size: usize,
        device: &Device,
    ) -> Result<OneShotVae> {
        self.validate()?;
        let side = match *item_shape {
            [1, h, w] if h == w && h >= 2 => h,
            _ => {
                return Err(CoreError::config(
                    "item_shape",
                    format!(
                        "{item_shape:?}: one-shot generation warps square one-channel images [1, side, side]"
                    ),
                ));
            }
        };
        let size = side * side;
        if condition_size < size {
            return Err(CoreError::config(
                "conditions",
                format!("{condition_size} values cannot hold the example's {size} pixels"),
            ));
        }
        let embedding = condition_size - size;
        let mlp = |input: usize, out: usize| {
            SequentialConfig::new(vec![input])
                .linear(self.hidden)
                .relu()
                .linear(self.hidden)
                .relu()
                .linear(out)
                .init(device)
        };
        let mut decoder = mlp(self.latent + embedding, 6 + 2 * self.grid * self.grid)?;
        // The last layer at zero: the identity warp, the example itself, to start from.
        if let Some(tl_core::model::Layer::Linear(l)) = decoder.layers_mut().last_mut() {
            l.weight = Param::from_tensor(l.weight.val().zeros_like());
            if let Some(b) = l.bias.take() {
                l.bias = Some(Param::from_tensor(b.val().zeros_like()));
            }
        }
        Ok(OneShotVae {
            recognition: mlp(size + condition_size, 2 * self.latent)?,
            decoder,
            contrast: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![3f32, -1.0], [2]),
                device,
            )),
            latent: self.latent,
            side,
            grid: self.grid,
        })
    }

    /// Trains a generator on the base classes of `set` (pairs of different drawings of one
    /// class; every class needs two), conditioned through the frozen `encoder`. Progress,
    /// checkpoints and history come from tl-core's loop; `extra` holds each epoch's
    /// `reconstruction` and `kl`.
    pub fn fit<E: Encoder>(
        &self,
        encoder: &E,
        set: &LabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(OneShotVae, Vec<EpochRecord>)> {
        self.validate()?;
        // The reconstruction is Bernoulli: standardised pixels would make its loss unbounded.
        set.inputs.check_unit_interval(
            &set.domain,
            "the generator's pixels are Bernoulli probabilities",
        )?;
        let device = ctx.device().clone();
        let conds = conditions(encoder, set, &device)?;
        let train = ctx.train_config(&self.train);
        let mut batches = PairBatches::new(set, conds, train.batch_size, train.seed)?;
        let model = self.init(&set.inputs.item_shape, batches.condition_size, &device)?;
        let out = ctx
            .trainer(train)
            .train_module(model, &mut batches, VaeLoss, &device)?;
        Ok((out.model, out.history))
    }
}

/// The generator's objective: the negative ELBO of [`OneShotVae::loss`].
#[derive(Debug, Clone, Copy)]
pub struct VaeLoss;

/// A batch of target items and the conditions (other drawings of their classes).
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// `[batch, item_size]`.
    pub items: Tensor<2>,
    /// `[batch, condition_size]`.
    pub conditions: Tensor<2>,
}

impl Objective<OneShotVae, PairBatch> for VaeLoss {
    fn step(&mut self, model: &OneShotVae, b: &PairBatch) -> Result<Step> {
        let (loss, reconstruction, kl) = model.loss(b.items.clone(), b.conditions.clone());
        let scalar = |t: Tensor<1>| t.into_scalar::<f32>() as f64;
        Ok(Step::new(loss)
            .with_stat("reconstruction", scalar(reconstruction))
            .with_stat("kl", scalar(kl)))
    }
}

/// Seeded batches of (item, condition of another item of its class).
struct PairBatches<'s> {
    set: &'s LabelledSet,
    conditions: Vec<f32>,
    condition_size: usize,
    by_class: Vec<Vec<usize>>,
    plan: BatchPlan,
    order: Vec<Vec<usize>>,
    rng: StdRng,
}

impl<'s> PairBatches<'s> {
    fn new(
        set: &'s LabelledSet,
        conditions: Vec<f32>,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        let mut by_class = vec![Vec::new(); set.num_classes()];
        for (i, &l) in set.labels.iter().enumerate() {
            by_class[l].push(i);
        }
        if let Some(c) = by_class.iter().position(|items| items.len() < 2) {
            return Err(CoreError::data(
                &set.domain,
                format!(
                    "class {c} ({}) has {} item(s): one-shot generation trains on pairs of drawings of one class",
                    set.class_names[c],
                    by_class[c].len()
                ),
            ));
        }
        let condition_size = conditions.len() / set.len().max(1);
        Ok(Self {
            set,
            conditions,
            condition_size,
            by_class,
            plan: BatchPlan::new(set.len(), batch_size, true, seed),
            order: Vec::new(),
            rng: StdRng::seed_from_u64(seed.wrapping_add(17)),
        })
    }
}

impl BatchSource for PairBatches<'_> {
    type Batch = PairBatch;

    fn steps_per_epoch(&self) -> usize {
        self.plan.num_batches()
    }

    fn check(&self, _input_shape: Option<&[usize]>, _classes: Option<usize>) -> Result<()> {
        Ok(())
    }

    fn start_epoch(&mut self) {
        self.order = self.plan.epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> PairBatch {
        let items = &self.order[at.step.min(self.order.len() - 1)];
        let size = self.set.inputs.item_size();
        let k = self.condition_size;
        let mut pixels = Vec::with_capacity(items.len() * size);
        let mut conds = Vec::with_capacity(items.len() * k);
        for &i in items {
            pixels.extend_from_slice(self.set.inputs.item(i));
            let class = &self.by_class[self.set.labels[i]];
            // Another drawing of the same class.
            let j = loop {
                let j = class[self.rng.random_range(0..class.len())];
                if j != i {
                    break j;
                }
            };
            conds.extend_from_slice(&self.conditions[j * k..(j + 1) * k]);
        }
        let n = items.len();
        PairBatch {
            items: Tensor::from_data(TensorData::new(pixels, [n, size]), device),
            conditions: Tensor::from_data(TensorData::new(conds, [n, k]), device),
        }
    }
}

/// `count` generated siblings of each item of `examples` (pixel probabilities, one row per
/// sample, the samples of example `i` at rows `i * count .. (i + 1) * count`), conditioned
/// through the same frozen `encoder` the model was trained with.
pub fn generate<E: Encoder>(
    model: &OneShotVae,
    encoder: &E,
    examples: &LabelledSet,
    count: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let conds = conditions(encoder, examples, device)?;
    let k = conds.len() / examples.len().max(1);
    let expected = model.recognition.config().input_shape[0] - model.side * model.side;
    if k != expected {
        return Err(CoreError::Model(format!(
            "the generator takes conditions of {expected} values, these examples give {k}"
        )));
    }
    let model = model.valid();
    let plain = device.clone().without_autodiff();
    let conds = Tensor::<2>::from_data(TensorData::new(conds, [examples.len(), k]), &plain);
    let samples = model.sample(conds, count);
    let size = samples.dims()[1];
    let values: Vec<f32> = samples.into_data().iter::<f32>().collect();
    Ok(values.chunks(size.max(1)).map(<[f32]>::to_vec).collect())
}
