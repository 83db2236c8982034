//! The VAE family as strategies: pretrain on the task's images without labels, then a linear
//! probe on the labelled target (tl-unsupervised's path), reporting the last epoch's terms.

use crate::factor_vae::{FactorVae, FactorVaeObjective};
use crate::vae::{Penalty, Vae, VaeObjective};
use burn::config::Config;
use burn::optim::AdamConfig;
use serde::{Deserialize, Serialize};
use tl_core::data::UnlabelledSet;
use tl_core::model::Encoder;
use tl_core::report::EpochRecord;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{TrainConfig, UnlabelledBatches};
use tl_core::{CoreError, Result};
use tl_inductive::LinearProbe;

/// Which member of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaeKind {
    /// KL weight `beta` (the plain VAE at 1).
    BetaVae,
    /// KL plus `(beta - 1)` times the total correlation.
    BetaTcVae,
    /// KL plus `beta` (FactorVAE's gamma) times the total correlation, estimated by a
    /// discriminator on permuted latents trained alongside with its own Adam.
    FactorVae,
}

/// VAE, beta-VAE and beta-TCVAE: the encoder given (any [`Encoder`]) with a linear layer to
/// the latent's mean and log-variance, an MLP decoder, Bernoulli pixels (items in [0, 1]).
#[derive(Config, Debug)]
pub struct BetaVae {
    /// Which objective.
    #[config(default = "VaeKind::BetaVae")]
    pub kind: VaeKind,
    /// Weight of the KL divergence (beta-VAE) or of the total correlation (beta-TCVAE).
    #[config(default = 4.0)]
    pub beta: f64,
    /// Latent width.
    #[config(default = 10)]
    pub latent: usize,
    /// Hidden widths of FactorVAE's discriminator (ReLU; the paper: 6 x 1,000 leaky ReLU).
    #[config(default = "vec![1000, 1000]")]
    pub discriminator_hidden: Vec<usize>,
    /// Hidden widths of the decoder (reversed from the latent).
    #[config(default = "vec![256]")]
    pub decoder_hidden: Vec<usize>,
    /// Training (epochs, batch size, optimiser, schedule, seed).
    #[config(default = "TrainConfig::new().with_epochs(20).with_batch_size(64).with_lr(1e-3)")]
    pub train: TrainConfig,
    /// The few-label step (a linear probe on the pretrained backbone's features).
    #[config(default = "tl_unsupervised::report::default_probe()")]
    pub probe: LinearProbe,
}

impl BetaVae {
    /// The plain VAE (beta = 1).
    pub fn vae() -> Self {
        Self::new().with_beta(1.0)
    }

    /// beta-TCVAE with beta = 6 (disentanglement_lib's middle setting).
    pub fn tc() -> Self {
        Self::new().with_kind(VaeKind::BetaTcVae).with_beta(6.0)
    }

    /// FactorVAE with gamma = 10 (disentanglement_lib's smallest setting).
    pub fn factor() -> Self {
        Self::new().with_kind(VaeKind::FactorVae).with_beta(10.0)
    }

    /// `vae`, `beta-vae`, `beta-tcvae` or `factor-vae`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            VaeKind::BetaVae if self.beta == 1.0 => "vae",
            VaeKind::BetaVae => "beta-vae",
            VaeKind::BetaTcVae => "beta-tcvae",
            VaeKind::FactorVae => "factor-vae",
        }
    }

    /// The penalty for a data set of `items`.
    pub fn penalty(&self, items: usize) -> Penalty {
        match self.kind {
            VaeKind::BetaVae | VaeKind::FactorVae => Penalty::Kl { beta: self.beta },
            VaeKind::BetaTcVae => Penalty::TotalCorrelation {
                beta: self.beta,
                dataset_size: items,
            },
        }
    }

    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        self.penalty(1).validate()?;
        if self.latent == 0 {
            return Err(CoreError::config(
                "latent",
                "a latent size of 0 holds nothing",
            ));
        }
        if self.decoder_hidden.contains(&0) || self.discriminator_hidden.contains(&0) {
            return Err(CoreError::config(
                "decoder_hidden",
                "hidden layer widths (decoder and discriminator) must be at least 1",
            ));
        }
        self.train.validate()?;
        self.probe.validate()
    }

    /// Trains a VAE on `encoder` over `data` (values in [0, 1]); the trained VAE and the
    /// per-epoch history (`extra`: `reconstruction`, `kl`, and `total_correlation` for
    /// beta-TCVAE).
    pub fn fit_vae<E: Encoder + 'static>(
        &self,
        encoder: E,
        data: &UnlabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(Vae<E>, Vec<EpochRecord>)> {
        self.validate()?;
        data.inputs
            .check_fits(&encoder.input_shape(), &data.domain)?;
        if let Some(v) = data
            .inputs
            .values
            .iter()
            .find(|v| !(0.0..=1.0).contains(*v))
        {
            return Err(CoreError::data(
                &data.domain,
                format!("value {v} outside [0, 1]: the VAE's pixels are Bernoulli probabilities"),
            ));
        }
        let device = ctx.device().clone();
        let vae = Vae::on(encoder, &self.decoder_hidden, self.latent, &device)?;
        let train = ctx.train_config(&self.train);
        let mut batches = UnlabelledBatches::new(data, train.batch_size, train.seed);
        if self.kind == VaeKind::FactorVae {
            let model = FactorVae::new(vae, &self.discriminator_hidden, &device)?;
            let group = model.discriminator_group();
            let objective = FactorVaeObjective::new(self.beta, train.seed)?;
            let adam = AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9);
            let out = ctx
                .trainer(train)
                .with_group_adam(group, &adam)
                .train_module(model, &mut batches, objective, &device)?;
            return Ok((out.model.vae, out.history));
        }
        let objective = VaeObjective {
            penalty: self.penalty(data.len()),
        };
        let out = ctx
            .trainer(train)
            .train_module(vae, &mut batches, objective, &device)?;
        Ok((out.model, out.history))
    }
}

impl<E: Encoder + 'static> tl_unsupervised::Pretraining<E> for BetaVae {
    fn pretrain_encoder(
        &self,
        encoder: E,
        data: &UnlabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(E, Vec<EpochRecord>)> {
        let (vae, history) = self.fit_vae(encoder, data, ctx)?;
        Ok((vae.backbone, history))
    }

    fn probe(&self) -> &LinearProbe {
        &self.probe
    }
}

impl<E: Encoder + 'static> Strategy<E> for BetaVae {
    tl_core::strategy_basics!(
        fn BetaVae::name,
        Family::Disentanglement,
        tl_unsupervised::report::NEEDS
    );

    /// Trains the VAE on the task's images without labels (the unlabelled target, and the
    /// source's inputs when there is a source), then fits the probe on the labelled target.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        tl_unsupervised::report::pretrain_then_probe(self, start, task, ctx)
    }
}
