//! DANN (Ganin et al. 2016) and CDAN (Long et al. 2018): a domain discriminator learns to tell
//! source features from target features, and through the gradient-reversal layer the encoder
//! learns to make them indistinguishable, while the head learns the source task. CDAN
//! conditions the discriminator on the classifier's predictions (the outer product of
//! features and softmax output) and, with entropy conditioning (CDAN+E), weights each item by
//! how certain the classifier is.

use crate::discriminator::{DiscriminatorConfig, bce_with_logits, domain_accuracy, domain_labels};
use crate::grl::{dann_lambda, grad_reverse};
use crate::model::WithDiscriminator;
use burn::config::Config;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use tl_core::domain::{
    AdaptationRun, Adapted, Monitored, NEEDS, check_adaptation_config as check_common,
};
use tl_core::model::{Encoder, Sequential};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, DomainBatch, Objective, Step, TrainConfig, scalar};
use tl_core::{CoreError, Result};

/// Name of DANN in reports.
pub const DANN: &str = "dann";
/// Name of CDAN in reports.
pub const CDAN: &str = "cdan";
/// Name of CDAN with entropy conditioning in reports.
pub const CDAN_E: &str = "cdan+e";

/// What the discriminator sees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Conditioning {
    /// The features alone (DANN).
    None,
    /// Features x softmax predictions (CDAN).
    Predictions,
    /// As `Predictions`, each item weighted by `1 + exp(-entropy)` (CDAN+E).
    PredictionsEntropy,
}

/// DANN or CDAN(+E), by `conditioning`.
#[derive(Config, Debug)]
pub struct Dann {
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// The discriminator.
    #[config(default = "DiscriminatorConfig::new()")]
    pub discriminator: DiscriminatorConfig,
    /// The discriminator's learning rate as a multiple of `train.lr` (DANN: 10 for a new
    /// layer over a pretrained network).
    #[config(default = 1.0)]
    pub discriminator_lr_factor: f64,
    /// What the discriminator sees.
    #[config(default = "Conditioning::None")]
    pub conditioning: Conditioning,
    /// Largest reversal strength (the schedule rises to it).
    #[config(default = 1.0)]
    pub max_lambda: f64,
    /// Steepness of the schedule `2 / (1 + exp(-gamma p)) - 1`.
    #[config(default = 10.0)]
    pub gamma: f64,
    /// Source items held out per class (source accuracy, early stopping).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl Dann {
    /// CDAN+E with otherwise default fields.
    pub fn cdan_e() -> Self {
        Self::new().with_conditioning(Conditioning::PredictionsEntropy)
    }

    /// The name in reports.
    pub fn name(&self) -> &'static str {
        match self.conditioning {
            Conditioning::None => DANN,
            Conditioning::Predictions => CDAN,
            Conditioning::PredictionsEntropy => CDAN_E,
        }
    }

    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        self.discriminator.validate()?;
        if !(self.max_lambda >= 0.0 && self.max_lambda.is_finite()) {
            return Err(CoreError::config(
                "max_lambda",
                format!("{} must be >= 0", self.max_lambda),
            ));
        }
        if !(self.gamma > 0.0 && self.gamma.is_finite()) {
            return Err(CoreError::config(
                "gamma",
                format!("{} must be > 0", self.gamma),
            ));
        }
        let f = self.discriminator_lr_factor;
        if !(f > 0.0 && f * self.train.lr <= 1.0) {
            return Err(CoreError::config(
                "discriminator_lr_factor",
                format!("{f} must be > 0 with factor * lr <= 1"),
            ));
        }
        Ok(())
    }
}

/// What the discriminator of DANN or CDAN sees for features `f` (`[n, F]`, already through
/// gradient reversal) and class scores `logits` (`[n, C]`): the features alone (DANN), or
/// their outer product with the softmax predictions (CDAN, `[n, C * F]`; the predictions carry
/// no gradient); with entropy conditioning, also the items' weights (see [`entropy_weights`])
/// for `ns` source items followed by `nt` target items.
pub fn discriminator_input(
    conditioning: Conditioning,
    f: Tensor<2>,
    logits: Tensor<2>,
    ns: usize,
    nt: usize,
) -> (Tensor<2>, Option<Tensor<2>>) {
    match conditioning {
        Conditioning::None => (f, None),
        c => {
            let [n, features] = f.dims();
            let classes = logits.dims()[1];
            let g = softmax(logits.detach(), 1); // [n, C]
            let outer = g.clone().unsqueeze_dim::<3>(2) * f.unsqueeze_dim::<3>(1); // [n, C, F]
            let input = outer.reshape([n, classes * features]);
            let w = (c == Conditioning::PredictionsEntropy).then(|| entropy_weights(g, ns, nt));
            (input, w)
        }
    }
}

/// The domain-adversarial loss: `discriminator` tells the first `ns` rows of `input` (source)
/// from the other `nt` (target) by binary cross-entropy, averaged, or weighted by `weights`
/// (CDAN+E). Returns the loss, the discriminator's logits and the domain labels (for
/// [`domain_accuracy`]). Put [`grad_reverse`] between the features and `input` so that the
/// encoder learns to confuse it.
pub fn domain_adversarial_loss(
    discriminator: &Sequential,
    input: Tensor<2>,
    weights: Option<Tensor<2>>,
    ns: usize,
    nt: usize,
) -> (Tensor<1>, Tensor<2>, Tensor<2>) {
    let d = discriminator.forward(input);
    let y = domain_labels(ns, nt, &d.device());
    let per_item = bce_with_logits(d.clone(), y.clone());
    let loss = match weights {
        Some(w) => (per_item * w.clone()).sum() / w.sum(),
        None => per_item.mean(),
    };
    (loss, d, y)
}

/// DANN's and CDAN's objective: the source cross-entropy plus the domain-adversarial loss
/// through gradient reversal at strength `max_lambda * dann_lambda(progress, gamma)`. History
/// figures: `class_loss`, `domain_loss`, `domain_accuracy`, `lambda`.
pub struct DomainAdversarial {
    ce: CrossEntropy,
    conditioning: Conditioning,
    max_lambda: f64,
    gamma: f64,
}

impl DomainAdversarial {
    /// The objective of `config` on `device`.
    pub fn new(config: &Dann, device: &Device) -> Self {
        Self {
            ce: CrossEntropy::new(device),
            conditioning: config.conditioning,
            max_lambda: config.max_lambda,
            gamma: config.gamma,
        }
    }
}

impl<E: Encoder + 'static> Objective<WithDiscriminator<E>, DomainBatch> for DomainAdversarial {
    fn step(&mut self, m: &WithDiscriminator<E>, b: &DomainBatch) -> Result<Step> {
        let (ns, nt) = (b.source.len(), b.target.dims()[0]);
        let fs = m.classifier.encoder.encode(b.source.inputs.clone());
        let ft = m.classifier.encoder.encode(b.target.clone());
        let f = Tensor::cat(vec![fs, ft], 0);
        let logits = m.classifier.head.forward(f.clone());
        let source_logits = logits.clone().slice(0..ns);
        let class_loss = self.ce.loss(source_logits.clone(), b.source.labels.clone());
        let lambda = self.max_lambda * dann_lambda(b.progress, self.gamma);
        let reversed = grad_reverse(f, lambda);
        let (input, weights) = discriminator_input(self.conditioning, reversed, logits, ns, nt);
        let (domain_loss, d, y) = domain_adversarial_loss(&m.discriminator, input, weights, ns, nt);
        let mut step = Step::new(class_loss.clone() + domain_loss.clone())
            .with_accuracy(source_logits, &b.source.labels);
        step.stats = vec![
            ("class_loss", scalar(&class_loss)),
            ("domain_loss", scalar(&domain_loss)),
            ("domain_accuracy", domain_accuracy(&d, &y)),
            ("lambda", lambda),
        ];
        Ok(step)
    }
}

impl<E: Encoder + 'static> Strategy<E> for Dann {
    tl_core::strategy_basics!(fn Dann::name, Family::Adversarial, NEEDS);

    /// Adapts the classifier to the task's target; the report's history holds per epoch the
    /// discriminator's accuracy (`domain_accuracy`), its loss and the target test accuracy.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let name = self.name();
        let (model, sets, run) =
            AdaptationRun::begin(name, start, task, self.source_valid_fraction, ctx)?;
        let device = ctx.device().clone();
        let features = model.encoder.feature_dim();
        let width = match self.conditioning {
            Conditioning::None => features,
            _ => features * model.num_classes(),
        };
        let discriminator = self.discriminator.init(width, &device)?;
        let model = WithDiscriminator {
            classifier: model,
            discriminator,
        };
        let group = burn::module::ParamGroup::ids_from_module(model.discriminator.clone());
        let train = ctx.train_config(&self.train);
        let mut batches = sets.batches(&train);
        let objective = Monitored::new(
            DomainAdversarial::new(self, &device),
            self.monitor_target,
            &sets,
            ctx,
        );
        let out = ctx
            .trainer(train)
            .with_lr_factor(group, self.discriminator_lr_factor)
            .train(
                model,
                &mut batches,
                objective,
                Some(&sets.source_valid),
                &device,
            )?;
        let model = out.model.classifier;
        let adapted = Adapted::same(&model, out.history);
        let report = run.report(name, self, adapted, &sets, ctx)?;
        Ok((model, report))
    }
}

/// CDAN+E's item weights `1 + exp(-H(g))`, normalised to sum to 1 within each domain (so the
/// two domains weigh the same), as a `[n, 1]` tensor without gradient.
pub fn entropy_weights(g: Tensor<2>, ns: usize, nt: usize) -> Tensor<2> {
    let h = -(g.clone() * g.clamp_min(1e-12).log()).sum_dim(1); // [n, 1]
    let w = (-h).exp() + 1.0;
    let ws = w.clone().slice(0..ns);
    let wt = w.slice(ns..ns + nt);
    let ws = ws.clone() / ws.sum().unsqueeze::<2>();
    let wt = wt.clone() / wt.sum().unsqueeze::<2>();
    Tensor::cat(vec![ws, wt], 0).detach()
}
