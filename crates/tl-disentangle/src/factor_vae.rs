//! FactorVAE (Kim and Mnih 2018): the VAE objective plus `gamma` times the total correlation
//! of the latent, estimated by a discriminator that tells samples of `q(z)` from samples of
//! `prod_d q(z_d)` (each latent dimension permuted independently across the batch). The
//! discriminator is trained alongside on its own cross-entropy with its own Adam
//! (disentanglement_lib: learning rate 1e-4, betas 0.5 and 0.9).
//!
//! With one logit `d(z) = log D(z) - log (1 - D(z))` (D the probability of "from `q(z)`"), the
//! density-ratio trick gives `TC(z) ~ E_q(z) [d(z)]`, which is what the VAE's side minimises.

use crate::vae::Vae;
use burn::module::{Module, ParamGroup};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::train::{
    Objective, Step, UnlabelledBatch, bernoulli_nll, gaussian_kl, reparameterize, scalar,
};
use tl_core::{CoreError, Result};

/// A VAE and the discriminator that estimates its latent's total correlation.
#[derive(Module, Debug)]
pub struct FactorVae<E> {
    /// The VAE.
    pub vae: Vae<E>,
    /// Latent to one logit: "drawn from `q(z)`" (positive) against "permuted" (negative).
    pub discriminator: Sequential,
}

impl<E: Encoder> FactorVae<E> {
    /// `vae` with a fresh discriminator of `hidden` widths (ReLU).
    pub fn new(vae: Vae<E>, hidden: &[usize], device: &Device) -> Result<Self> {
        if hidden.contains(&0) {
            return Err(CoreError::config(
                "discriminator_hidden",
                "hidden layer widths must be at least 1",
            ));
        }
        let mut c = SequentialConfig::new(vec![vae.latent]);
        for &h in hidden {
            c = c.linear(h).relu();
        }
        Ok(Self {
            discriminator: c.linear(1).init(device)?,
            vae,
        })
    }

    /// The discriminator's parameters (for their own optimiser).
    pub fn discriminator_group(&self) -> ParamGroup {
        ParamGroup::ids_from_module(self.discriminator.clone())
    }
}

/// Each column of `z` permuted independently across the rows (a sample of `prod_d q(z_d)`
/// from a sample of `q(z)`), the permutations drawn from `rng`.
///
/// # Shapes
/// - `z`: `[batch, latent]`
pub fn permute_dims(z: Tensor<2>, rng: &mut StdRng) -> Tensor<2> {
    let [m, l] = z.dims();
    let mut idx = vec![0i64; m * l];
    let mut order: Vec<i64> = (0..m as i64).collect();
    for d in 0..l {
        order.shuffle(rng);
        for (i, &o) in order.iter().enumerate() {
            idx[i * l + d] = o;
        }
    }
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [m, l]), &z.device());
    z.gather(0, idx)
}

/// `ln(1 + exp(x))` computed stably.
fn softplus(x: Tensor<2>) -> Tensor<2> {
    x.clone().clamp_min(0.0) + (-x.abs()).exp().log1p()
}

/// The FactorVAE objective: `reconstruction + KL + gamma * TC` for the VAE (the
/// discriminator held fixed), and the discriminator's cross-entropy on detached samples of
/// `q(z)` and their permutation. History: `reconstruction`, `kl`, `total_correlation`,
/// `discriminator_loss`, `discriminator_accuracy`.
#[derive(Debug)]
pub struct FactorVaeObjective {
    /// Weight of the total correlation.
    pub gamma: f64,
    rng: StdRng,
}

impl FactorVaeObjective {
    /// The objective with TC weight `gamma`; `seed` drives the permutations.
    pub fn new(gamma: f64, seed: u64) -> Result<Self> {
        if !(gamma.is_finite() && gamma >= 0.0) {
            return Err(CoreError::config("gamma", format!("{gamma}: must be >= 0")));
        }
        Ok(Self {
            gamma,
            rng: StdRng::seed_from_u64(seed ^ 0xFAC7_0BAE),
        })
    }
}

impl<E: Encoder> Objective<FactorVae<E>, UnlabelledBatch<'_>> for FactorVaeObjective {
    fn step(&mut self, model: &FactorVae<E>, batch: &UnlabelledBatch) -> Result<Step> {
        let x = batch.inputs();
        let (mean, log_var) = model.vae.encode(x.clone());
        let z = reparameterize(mean.clone(), log_var.clone());
        let reconstruction = bernoulli_nll(model.vae.decoder.forward(z.clone()), x);
        let kl = gaussian_kl(mean, log_var);
        // The VAE's side: the discriminator's logits on z, through a copy that tracks no
        // gradient of its own.
        let judge = model.discriminator.clone().no_grad();
        let tc = judge.forward(z.clone()).mean().reshape([1]);
        // The discriminator's side: z (label 1) against its permutation (label 0), detached.
        let zd = z.detach();
        let real = model.discriminator.forward(zd.clone());
        let fake = model.discriminator.forward(permute_dims(zd, &mut self.rng));
        // -log sigmoid(real) - log(1 - sigmoid(fake)), each averaged, halved.
        let d_loss =
            ((softplus(-real.clone()).mean() + softplus(fake.clone()).mean()) * 0.5).reshape([1]);
        let right = real
            .clone()
            .greater_elem(0.0)
            .int()
            .sum()
            .into_scalar::<i64>()
            + fake
                .clone()
                .lower_equal_elem(0.0)
                .int()
                .sum()
                .into_scalar::<i64>();
        let accuracy = right as f64 / (2 * real.dims()[0]) as f64;
        let loss = reconstruction.clone() + kl.clone() + tc.clone() * self.gamma + d_loss.clone();
        let mut step = Step::new(loss);
        step.stats = vec![
            ("reconstruction", scalar(&reconstruction)),
            ("kl", scalar(&kl)),
            ("total_correlation", scalar(&tc)),
            ("discriminator_loss", scalar(&d_loss)),
            ("discriminator_accuracy", accuracy),
        ];
        Ok(step)
    }
}
