//! The VAE family's model and losses: a Gaussian encoder, a Bernoulli decoder, and the
//! objectives of the plain VAE (beta = 1), beta-VAE (Higgins et al. 2017) and beta-TCVAE
//! (Chen et al. 2018, minibatch-weighted sampling), as disentanglement_lib writes them:
//! reconstruction (summed over pixels) plus the analytic KL divergence, plus `(beta - 1) *`
//! the total correlation for beta-TCVAE.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::train::{
    Objective, Step, UnlabelledBatch, bernoulli_nll, gaussian_kl, gaussian_stats, reparameterize,
};
use tl_core::{CoreError, Result};

/// Which penalty the objective puts on the latent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Penalty {
    /// `beta * KL(q(z|x) || N(0, I))`: the VAE at `beta = 1`, beta-VAE above.
    Kl {
        /// Weight of the KL divergence.
        beta: f64,
    },
    /// `KL + (beta - 1) * TC(z)`, the total correlation estimated on the minibatch over a
    /// data set of `dataset_size` items by `estimator`.
    TotalCorrelation {
        /// Weight of the total correlation.
        beta: f64,
        /// Items in the training set (the estimator's `N`).
        dataset_size: usize,
        /// How `q(z)` is estimated from the minibatch (minibatch-weighted sampling when
        /// absent, as disentanglement_lib does).
        #[serde(default)]
        estimator: TcEstimator,
    },
}

/// How beta-TCVAE estimates the aggregate posterior `q(z)` at a minibatch's samples (Chen et
/// al. 2018, section 3 and appendix C).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcEstimator {
    /// Minibatch-weighted sampling: every item of the batch, the sample's own included,
    /// weighs `1 / (N M)`, so the own item counts as much as any other although it is one of
    /// `N` in the data set (the weights sum to `1 / N`; the constant this puts in the
    /// estimate does not reach the gradient).
    #[default]
    Mws,
    /// Minibatch-stratified sampling: the sample's own item weighs `1 / N`, one stratum
    /// partner `(N - M + 1) / (N (M - 1))`, every other item `1 / (M - 1)`; the weights of a
    /// row sum to 1, so `q(z_i)` is an average density over the data set, estimated mostly
    /// from the other items.
    Mss,
}

impl std::str::FromStr for TcEstimator {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mws" => Ok(Self::Mws),
            "mss" => Ok(Self::Mss),
            other => Err(CoreError::config(
                "estimator",
                format!("{other:?}: the total-correlation estimators are mws and mss"),
            )),
        }
    }
}

impl Penalty {
    /// Refuses a negative or non-finite beta and an empty data set.
    pub fn validate(&self) -> Result<()> {
        let (beta, size) = match *self {
            Self::Kl { beta } => (beta, 1),
            Self::TotalCorrelation {
                beta, dataset_size, ..
            } => (beta, dataset_size),
        };
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(CoreError::config("beta", format!("{beta}: must be >= 0")));
        }
        if size == 0 {
            return Err(CoreError::config("dataset_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// A VAE: `backbone` then `stats` map items to `[mean, log-variance]` of the latent,
/// `decoder` maps a latent to the items' pixel logits. Any [`Encoder`] is a backbone.
#[derive(Module, Debug)]
pub struct Vae<E> {
    /// Items to features.
    pub backbone: E,
    /// Features to `2 * latent` values (one linear layer).
    pub stats: Sequential,
    /// `latent` values to item logits.
    pub decoder: Sequential,
    /// Latent width.
    pub latent: usize,
}

/// The terms of a VAE objective on a batch, each averaged over the batch.
#[derive(Debug, Clone)]
pub struct VaeTerms {
    /// What is minimised.
    pub loss: Tensor<1>,
    /// Bernoulli negative log-likelihood, summed over pixels.
    pub reconstruction: Tensor<1>,
    /// Analytic `KL(q(z|x) || N(0, I))`, summed over latents.
    pub kl: Tensor<1>,
    /// Minibatch-weighted estimate of the total correlation (beta-TCVAE only).
    pub total_correlation: Option<Tensor<1>>,
}

/// A decoder from `codes` values to the logits of items of `item_shape`: `hidden` widths
/// (reversed, ReLU after each), then either one linear layer to every pixel (`conv` empty:
/// an MLP decoder) or, as disentanglement_lib's and DCGAN's decoders, a linear layer to a
/// `conv[0]`-channel image `2^n` times smaller than the items (`n = conv.len()`), then `n`
/// transposed convolutions (kernel 4, stride 2, padding 1; ReLU between) through the other
/// widths of `conv` to the items' channels. The VAE's and the content/style model's.
pub fn pixel_decoder(
    codes: usize,
    hidden: &[usize],
    conv: &[usize],
    item_shape: &[usize],
    device: &Device,
) -> Result<Sequential> {
    let mut dec = SequentialConfig::new(vec![codes]);
    for &h in hidden.iter().rev() {
        dec = dec.linear(h).relu();
    }
    if conv.is_empty() {
        return dec.linear(item_shape.iter().product()).init(device);
    }
    check_decoder_conv(conv)?;
    let refuse = |why: String| CoreError::config("decoder_conv", why);
    let &[channels, height, width] = item_shape else {
        return Err(refuse(format!(
            "transposed convolutions draw images, and the items are {item_shape:?}"
        )));
    };
    let factor = 1usize.checked_shl(conv.len() as u32).unwrap_or(0);
    if factor == 0 || height % factor != 0 || width % factor != 0 {
        return Err(refuse(format!(
            "{} stages of 2x upsampling do not divide {height}x{width} items",
            conv.len()
        )));
    }
    let (h0, w0) = (height / factor, width / factor);
    dec = dec
        .linear(conv[0] * h0 * w0)
        .relu()
        .unflatten(conv[0], h0, w0);
    for &c in &conv[1..] {
        dec = dec.conv_transpose(c, 2).relu();
    }
    dec.conv_transpose(channels, 2).init(device)
}

/// Refuses a `decoder_conv` with a stage of 0 channels (the configs check it before any
/// work, [`pixel_decoder`] again for direct callers).
pub(crate) fn check_decoder_conv(conv: &[usize]) -> Result<()> {
    if conv.contains(&0) {
        return Err(CoreError::config(
            "decoder_conv",
            "channel counts must be at least 1",
        ));
    }
    Ok(())
}

/// Pixel probabilities (the sigmoid of `logits`), one row per item.
pub(crate) fn pixel_rows(logits: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, width] = logits.dims();
    let pixels: Vec<f32> = burn::tensor::activation::sigmoid(logits)
        .into_data()
        .iter::<f32>()
        .collect();
    pixels.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

/// `log N(z; mean, exp(log_var))` elementwise.
pub fn gaussian_log_density(z: Tensor<3>, mean: Tensor<3>, log_var: Tensor<3>) -> Tensor<3> {
    let c = (2.0 * std::f64::consts::PI).ln();
    ((z - mean).powf_scalar(2.0) * (-log_var.clone()).exp() + log_var + c) * -0.5
}

/// Log-sum-exp over `dim` (the maximum taken out first), that dimension kept with size 1.
fn log_sum_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let max = x.clone().max_dim(dim).detach();
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// The minibatch-weighted sampling estimate of the total correlation of `z` (Chen et al.
/// 2018): `mean_i [log q(z_i) - sum_d log q(z_id)]`, with
/// `log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N M)` and likewise per dimension.
///
/// # Shapes
/// - `z`, `mean`, `log_var`: `[batch, latent]`
pub fn total_correlation(
    z: Tensor<2>,
    mean: Tensor<2>,
    log_var: Tensor<2>,
    dataset_size: usize,
) -> Tensor<1> {
    total_correlation_by(z, mean, log_var, dataset_size, TcEstimator::Mws)
}

/// The total correlation of `z` by either estimator ([`TcEstimator`]): the same sums over
/// the batch's pairwise densities, weighted by `1 / (N M)` throughout (`Mws`, as
/// [`total_correlation`]) or by [`stratified_log_weights`] (`Mss`).
///
/// # Shapes
/// - `z`, `mean`, `log_var`: `[batch, latent]`
pub fn total_correlation_by(
    z: Tensor<2>,
    mean: Tensor<2>,
    log_var: Tensor<2>,
    dataset_size: usize,
    estimator: TcEstimator,
) -> Tensor<1> {
    let [m, l] = z.dims();
    let device = z.device();
    let pairwise = gaussian_log_density(
        z.reshape([m, 1, l]),
        mean.reshape([1, m, l]),
        log_var.reshape([1, m, l]),
    ); // [m, m, l]: log q(z_i,d | x_j)
    let joint = pairwise.clone().sum_dim(2); // [m, m, 1]
    let (log_qz, log_marginals) = match estimator {
        TcEstimator::Mws => {
            let norm = ((dataset_size * m) as f64).ln();
            (
                log_sum_exp(joint, 1) - norm,
                log_sum_exp(pairwise, 1) - norm,
            )
        }
        TcEstimator::Mss => {
            let weights = Tensor::<2>::from_data(
                TensorData::new(stratified_log_weights(m, dataset_size), [m, m]),
                &device,
            )
            .reshape([m, m, 1]);
            (
                log_sum_exp(joint + weights.clone(), 1),
                log_sum_exp(pairwise + weights, 1),
            )
        }
    }; // [m, 1, 1] and [m, 1, l]
    (log_qz - log_marginals.sum_dim(2)).mean().reshape([1])
}

/// The `[m, m]` log importance weights of minibatch-stratified sampling for a batch of `m`
/// over `n` items, row by row (row `i`: the weights of the batch's items in `log q(z_i)`):
/// `1 / n` on the diagonal, `(n - m + 1) / (n (m - 1))` for the next item (cyclically),
/// `1 / (m - 1)` elsewhere; each row's weights sum to 1. A batch of one weighs its item 1; a
/// data set smaller than the batch gives the partner no weight.
pub fn stratified_log_weights(m: usize, n: usize) -> Vec<f32> {
    if m <= 1 {
        return vec![0.0; m];
    }
    let (n, k) = (n.max(1) as f64, (m - 1) as f64);
    let own = 1.0 / n;
    let partner = ((n - k) / (n * k)).max(0.0);
    let other = 1.0 / k;
    let mut w = vec![other.ln() as f32; m * m];
    for i in 0..m {
        w[i * m + i] = own.ln() as f32;
        w[i * m + (i + 1) % m] = if partner > 0.0 {
            partner.ln() as f32
        } else {
            f32::MIN / 4.0
        };
    }
    w
}

impl Vae<Sequential> {
    /// An MLP VAE over flat items of `input` values: `hidden` widths with ReLU each way.
    pub fn mlp(input: usize, hidden: &[usize], latent: usize, device: &Device) -> Result<Self> {
        let mut enc = SequentialConfig::new(vec![input]);
        for &h in hidden {
            enc = enc.linear(h).relu();
        }
        Self::on(enc.init(device)?, hidden, &[], latent, device)
    }
}

impl<E: Encoder> Vae<E> {
    /// A VAE on `backbone`: a linear layer to the latent's statistics, and a decoder of
    /// `hidden` widths (ReLU, reversed) back to the backbone's input size, through
    /// transposed convolutions of `conv` channels when `conv` is not empty
    /// ([`pixel_decoder`]).
    pub fn on(
        backbone: E,
        hidden: &[usize],
        conv: &[usize],
        latent: usize,
        device: &Device,
    ) -> Result<Self> {
        if latent == 0 {
            return Err(CoreError::config(
                "latent",
                "a latent size of 0 holds nothing",
            ));
        }
        // The statistics first, then the decoder: the order of the generator's draws.
        let stats = SequentialConfig::new(vec![backbone.feature_dim()])
            .linear(2 * latent)
            .init(device)?;
        let decoder = pixel_decoder(latent, hidden, conv, &backbone.input_shape(), device)?;
        Ok(Self {
            backbone,
            stats,
            decoder,
            latent,
        })
    }

    /// Mean and log-variance of `q(z | x)` (the log-variance clamped to [-10, 10]).
    pub fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        gaussian_stats(self.stats.forward(self.backbone.encode(x)), self.latent)
    }

    /// The means of `q(z | x)` of `inputs` in inference mode (the representation the metrics
    /// score), one row per item.
    pub fn means(&self, inputs: &tl_core::data::Inputs, device: &Device) -> Result<Vec<Vec<f32>>> {
        inputs.check_fits(&self.backbone.input_shape(), "VAE inputs")?;
        let vae = self.valid();
        let flat: Vec<f32> = tl_core::train::map_input_batches(inputs, device, 256, |x| {
            vae.encode(x).0.into_data().iter::<f32>().collect()
        });
        Ok(flat.chunks(self.latent).map(<[f32]>::to_vec).collect())
    }

    /// The pixels (probabilities, in [0, 1]) the decoder draws for each code, in inference
    /// mode; codes of another width than the latent are refused.
    pub fn decode(&self, codes: &[Vec<f32>], device: &Device) -> Result<Vec<Vec<f32>>> {
        if let Some(c) = codes.iter().find(|c| c.len() != self.latent) {
            return Err(CoreError::config(
                "codes",
                format!(
                    "a code of {} values for a latent of {}",
                    c.len(),
                    self.latent
                ),
            ));
        }
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let z = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(codes.concat(), [codes.len(), self.latent]),
            device,
        );
        Ok(pixel_rows(self.decoder.clone().valid().forward(z)))
    }

    /// A latent traversal of `code`: for each latent dimension in turn (one row each),
    /// `steps` codes with that dimension swept evenly over `[-limit, limit]` and the others
    /// kept, decoded to pixels (`latent * steps` items, row by row).
    pub fn traverse(
        &self,
        code: &[f32],
        steps: usize,
        limit: f32,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        if steps < 2 || !(limit.is_finite() && limit > 0.0) {
            return Err(CoreError::config(
                "traversal",
                format!("{steps} steps over +-{limit}: need at least 2 steps and a limit > 0"),
            ));
        }
        let mut codes = Vec::with_capacity(self.latent * steps);
        for d in 0..self.latent {
            for s in 0..steps {
                let mut c = code.to_vec();
                if let Some(v) = c.get_mut(d) {
                    *v = -limit + 2.0 * limit * s as f32 / (steps - 1) as f32;
                }
                codes.push(c);
            }
        }
        self.decode(&codes, device)
    }

    /// The objective's terms on items `x` (values in [0, 1]).
    pub fn terms(&self, x: Tensor<2>, penalty: &Penalty) -> VaeTerms {
        let (mean, log_var) = self.encode(x.clone());
        let z = reparameterize(mean.clone(), log_var.clone());
        let reconstruction = bernoulli_nll(self.decoder.forward(z.clone()), x);
        let kl = gaussian_kl(mean.clone(), log_var.clone());
        let (loss, tc) = match *penalty {
            Penalty::Kl { beta } => (reconstruction.clone() + kl.clone() * beta, None),
            Penalty::TotalCorrelation {
                beta,
                dataset_size,
                estimator,
            } => {
                let tc = total_correlation_by(z, mean, log_var, dataset_size, estimator);
                (
                    reconstruction.clone() + kl.clone() + tc.clone() * (beta - 1.0),
                    Some(tc),
                )
            }
        };
        VaeTerms {
            loss,
            reconstruction,
            kl,
            total_correlation: tc,
        }
    }
}

/// The VAE objective for tl-core's loop: the loss of [`Vae::terms`], with each term in the
/// epoch's history (`reconstruction`, `kl`, `total_correlation`).
#[derive(Debug, Clone)]
pub struct VaeObjective {
    /// The penalty on the latent.
    pub penalty: Penalty,
}

impl<E: Encoder> Objective<Vae<E>, UnlabelledBatch<'_>> for VaeObjective {
    fn step(&mut self, model: &Vae<E>, batch: &UnlabelledBatch) -> Result<Step> {
        let t = model.terms(batch.inputs(), &self.penalty);
        let scalar = |x: Tensor<1>| x.into_scalar::<f32>() as f64;
        let mut step = Step::new(t.loss)
            .with_stat("reconstruction", scalar(t.reconstruction))
            .with_stat("kl", scalar(t.kl));
        if let Some(tc) = t.total_correlation {
            step = step.with_stat("total_correlation", scalar(tc));
        }
        Ok(step)
    }
}
