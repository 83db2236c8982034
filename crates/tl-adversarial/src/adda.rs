//! ADDA (Tzeng et al. 2017): the source encoder and head stay as the source taught them; a
//! separate target encoder, initialised from the source encoder, learns to fool a
//! discriminator into taking its target features for source features (the GAN loss with
//! inverted labels), and the source head then classifies them.
//!
//! With `distill_weight > 0` it is **AAD**, adversarial adaptation with distillation (Ryu and
//! Lee 2020, for BERT across review domains): the target encoder also learns, on source
//! batches, to give the source classifier the same soft predictions (temperature `T`,
//! tl-distill's soft-target term) as the source encoder does. The distillation term keeps the
//! target encoder from drifting away from what the source classifier reads while the
//! discriminator pulls its target features towards the source ones, the failure ADDA shows
//! when the encoder is a large pretrained network.

use crate::discriminator::{DiscriminatorConfig, bce_with_logits, domain_accuracy, domain_labels};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use tl_core::domain::{
    AdaptationRun, Adapted, Monitored, NEEDS, check_adaptation_config as check_common,
};
use tl_core::model::{Classifier, Encoder, Sequential, independent_copy};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{ClassifierModel, DomainBatch, Objective, Step, TrainConfig, scalar};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "adda";

/// Name in reports of ADDA with distillation.
pub const AAD_NAME: &str = "aad";

/// The frozen source encoder and head, the target encoder and the discriminator.
#[derive(Module, Debug)]
pub struct AddaModel<E> {
    /// The source encoder (frozen).
    pub source: E,
    /// The target encoder (trained).
    pub target: E,
    /// The source head (frozen), applied to target features.
    pub head: Sequential,
    /// Tells source features (1) from target features (0).
    pub discriminator: Sequential,
}

impl<E: Encoder + 'static> ClassifierModel for AddaModel<E> {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.forward(self.target.encode(x))
    }

    fn input_shape(&self) -> Vec<usize> {
        self.target.input_shape()
    }

    fn num_classes(&self) -> usize {
        self.head.output_dim()
    }
}

/// ADDA's adversarial stage (the given model is the source stage's result).
#[derive(Config, Debug)]
pub struct Adda {
    /// Training of the target encoder and the discriminator (epochs = passes over the source).
    /// The GAN game is touchy: at high rates the target encoder maps every image to one
    /// place the discriminator accepts, and the head predicts one class; 1e-4 by default
    /// (the paper: 2e-4 with Adam's beta1 = 0.5, on LeNet).
    #[config(default = "TrainConfig::new().with_lr(1e-4)")]
    pub train: TrainConfig,
    /// The discriminator (ADDA: 500, 500 on LeNet features).
    #[config(default = "DiscriminatorConfig::new().with_hidden(vec![500, 500])")]
    pub discriminator: DiscriminatorConfig,
    /// Source items held out per class (the source accuracy).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
    /// Weight of the distillation term (0: plain ADDA; above 0 the method is AAD).
    #[config(default = 0.0)]
    pub distill_weight: f64,
    /// Temperature of the distillation term (AAD: 20).
    #[config(default = 20.0)]
    pub temperature: f64,
}

impl Adda {
    /// AAD's settings (Ryu and Lee 2020): distillation weight 1 at temperature 20.
    pub fn aad() -> Self {
        Self::new().with_distill_weight(1.0)
    }

    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        if !(self.distill_weight.is_finite() && self.distill_weight >= 0.0) {
            return Err(CoreError::config(
                "distill_weight",
                format!("{} must be finite and at least 0", self.distill_weight),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(CoreError::config(
                "temperature",
                format!("{} must be finite and above 0", self.temperature),
            ));
        }
        self.discriminator.validate()?;
        if self.train.early_stopping.is_some() {
            return Err(CoreError::config(
                "early_stopping",
                "ADDA's source classifier is fixed, so source validation cannot tell epochs apart",
            ));
        }
        Ok(())
    }
}

/// ADDA's game on one batch: the discriminator's loss (source features real, target features
/// fake, both detached) and the target encoder's loss (its target features labelled as source,
/// through a copy of the discriminator that tracks no gradient). Returns both losses, the
/// discriminator's logits and the domain labels (for [`domain_accuracy`]).
///
/// # Shapes
/// - `fs`: `[ns, F]` source features (of the fixed source encoder)
/// - `ft`: `[nt, F]` target features (of the target encoder, with gradient)
pub fn adda_losses(
    discriminator: &Sequential,
    fs: Tensor<2>,
    ft: Tensor<2>,
) -> (Tensor<1>, Tensor<1>, Tensor<2>, Tensor<2>) {
    let (ns, nt) = (fs.dims()[0], ft.dims()[0]);
    let d = discriminator.forward(Tensor::cat(vec![fs.detach(), ft.clone().detach()], 0));
    let y = domain_labels(ns, nt, &d.device());
    let d_loss = bce_with_logits(d.clone(), y.clone()).mean();
    let judge = discriminator.clone().no_grad();
    let g = judge.forward(ft);
    let ones = domain_labels(nt, 0, &g.device());
    let g_loss = bce_with_logits(g, ones).mean();
    (d_loss, g_loss, d, y)
}

/// ADDA as an objective: [`adda_losses`] summed (the discriminator and the target encoder
/// each get the gradient of their own term), plus AAD's distillation term on the source
/// batch when its weight is above 0. History figures: `domain_loss`, `target_encoder_loss`,
/// `domain_accuracy`, and with distillation `distill_loss`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddaGame {
    /// Weight of the distillation term (0: plain ADDA).
    pub distill_weight: f64,
    /// Its temperature.
    pub temperature: f64,
}

impl<E: Encoder + 'static> Objective<AddaModel<E>, DomainBatch> for AddaGame {
    fn step(&mut self, m: &AddaModel<E>, b: &DomainBatch) -> Result<Step> {
        let fs = m.source.encode(b.source.inputs.clone()).detach();
        if self.distill_weight <= 0.0 {
            let ft = m.target.encode(b.target.clone());
            let (d_loss, g_loss, d, y) = adda_losses(&m.discriminator, fs, ft);
            let mut step = Step::new(d_loss.clone() + g_loss.clone());
            step.stats = vec![
                ("domain_loss", scalar(&d_loss)),
                ("target_encoder_loss", scalar(&g_loss)),
                ("domain_accuracy", domain_accuracy(&d, &y)),
            ];
            return Ok(step);
        }
        // One pass of the target encoder over both batches: its source features feed the
        // distillation term, its target features the game.
        let ns = b.source.inputs.dims()[0];
        let both = m.target.encode(Tensor::cat(
            vec![b.source.inputs.clone(), b.target.clone()],
            0,
        ));
        let [n, f] = both.dims();
        let ft_source = both.clone().slice([0..ns, 0..f]);
        let ft = both.slice([ns..n, 0..f]);
        let teacher = m.head.forward(fs.clone());
        let student = m.head.forward(ft_source);
        let kd = tl_distill::loss::soft_target_loss(student, teacher, self.temperature);
        let (d_loss, g_loss, d, y) = adda_losses(&m.discriminator, fs, ft);
        let mut step =
            Step::new(d_loss.clone() + g_loss.clone() + kd.clone() * self.distill_weight);
        step.stats = vec![
            ("domain_loss", scalar(&d_loss)),
            ("target_encoder_loss", scalar(&g_loss)),
            ("distill_loss", scalar(&kd)),
            ("domain_accuracy", domain_accuracy(&d, &y)),
        ];
        Ok(step)
    }
}

fn adda_name(config: &Adda) -> &'static str {
    if config.distill_weight > 0.0 {
        AAD_NAME
    } else {
        NAME
    }
}

impl<E: Encoder + 'static> Strategy<E> for Adda {
    tl_core::strategy_basics!(fn adda_name, Family::Adversarial, NEEDS);

    /// Trains a target encoder for the classifier (trained on the source); returns the target
    /// encoder with the source head.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let name = adda_name(self);
        if start.head.is_none() {
            // The head stays frozen: a fresh one would score at chance.
            return Err(CoreError::Model(format!(
                "{name} keeps the source classifier's head, and an encoder without a head was given: train a classifier on the source first (`Pretrained::classifier`)"
            )));
        }
        let (model, sets, run) =
            AdaptationRun::begin(name, start, task, self.source_valid_fraction, ctx)?;
        let device = ctx.device().clone();
        let discriminator = self
            .discriminator
            .init(model.encoder.feature_dim(), &device)?;
        let adda = AddaModel {
            target: independent_copy(&model.encoder),
            source: model.encoder.freeze(),
            head: model.head.freeze(),
            discriminator,
        };
        let train = ctx.train_config(&self.train);
        let mut batches = sets.batches(&train);
        let game = AddaGame {
            distill_weight: self.distill_weight,
            temperature: self.temperature,
        };
        let objective = Monitored::new(game, self.monitor_target, &sets, ctx);
        let out = ctx
            .trainer(train)
            .train(adda, &mut batches, objective, None, &device)?;
        let trained = out.model;
        // The source keeps its own (frozen) encoder and the head: that classifier serves it.
        let source = Classifier::new(trained.source, trained.head.clone())?;
        let adapted = Classifier::new(trained.target, trained.head)?;
        let out = Adapted {
            source: &source,
            adapted: &adapted,
            history: out.history,
        };
        let report = run.report(name, self, out, &sets, ctx)?;
        Ok((adapted, report))
    }
}
