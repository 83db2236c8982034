//! The VAE family as strategies: pretrain on the task's images without labels, then a linear
//! probe on the labelled target (tl-unsupervised's path), reporting the last epoch's terms.

use crate::content_style::{ContentStyle, ContentStyleObjective, ContentStyleShape, pair_set};
use crate::factor_vae::{FactorVae, FactorVaeObjective};
use crate::vae::{Penalty, TcEstimator, Vae, VaeObjective};
use burn::config::Config;
use burn::module::Module;
use burn::optim::AdamConfig;
use serde::{Deserialize, Serialize};
use tl_core::data::{LabelledSet, UnlabelledSet};
use tl_core::model::Classifier;
use tl_core::model::Encoder;
use tl_core::report::EpochRecord;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
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
    /// beta-TCVAE's estimator of the aggregate posterior (minibatch-weighted sampling, as
    /// disentanglement_lib, or minibatch-stratified sampling).
    #[config(default = "TcEstimator::Mws")]
    pub tc_estimator: TcEstimator,
    /// Hidden widths of FactorVAE's discriminator (ReLU; the paper: 6 x 1,000 leaky ReLU).
    #[config(default = "vec![1000, 1000]")]
    pub discriminator_hidden: Vec<usize>,
    /// Hidden widths of the decoder (reversed from the latent).
    #[config(default = "vec![256]")]
    pub decoder_hidden: Vec<usize>,
    /// Channels of the decoder's transposed convolutions after its hidden layers (empty:
    /// an MLP decoder; `[64, 32, 32, 32]` is disentanglement_lib's for 64x64 images; see
    /// [`crate::vae::pixel_decoder`]).
    #[config(default = "vec![]")]
    pub decoder_conv: Vec<usize>,
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
                estimator: self.tc_estimator,
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
        crate::vae::check_decoder_conv(&self.decoder_conv)?;
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
        data.inputs
            .check_unit_interval(&data.domain, "the pixels are Bernoulli probabilities")?;
        let device = ctx.device().clone();
        let vae = Vae::on(
            encoder,
            &self.decoder_hidden,
            &self.decoder_conv,
            self.latent,
            &device,
        )?;
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

/// The content/style model as a strategy ([`crate::content_style`]): pairs of labelled items
/// of one class (across the task's two domains when it has a source: a source item with a
/// target item, so that the domain is style), then a linear probe on the content codes of the
/// labelled items (the target's, and the source's when there is one). The report adds what the codes hold (`extra`): `domain_from_style` and
/// `domain_from_content` (a probe telling source from target items by that code, on held-out
/// halves; chance is 0.5) and `class_from_style` (a probe for the class on the style code of
/// the target's labelled items, held-out halves).
#[derive(Config, Debug)]
pub struct ContentStyleModel {
    /// Content code width.
    #[config(default = 16)]
    pub content: usize,
    /// Style code width.
    #[config(default = 2)]
    pub style: usize,
    /// Hidden widths of the decoder (reversed from the codes).
    #[config(default = "vec![256]")]
    pub decoder_hidden: Vec<usize>,
    /// Channels of the decoder's transposed convolutions (empty: an MLP decoder; see
    /// [`crate::vae::pixel_decoder`]).
    #[config(default = "vec![]")]
    pub decoder_conv: Vec<usize>,
    /// Weight of the swap reconstructions.
    #[config(default = 1.0)]
    pub swap: f64,
    /// Weight of the style-swap reconstructions (pairs ordered by domain; the strategy
    /// turns it off when the task has no source, whose pairs then come from one domain).
    #[config(default = 1.0)]
    pub style_swap: f64,
    /// Weight of the style codes' KL.
    #[config(default = 1.0)]
    pub style_beta: f64,
    /// Weight of the content agreement within a pair.
    #[config(default = 1.0)]
    pub align: f64,
    /// Weight of the domain term (the style code must tell the pair's two domains apart;
    /// pairs ordered by domain: the strategy turns it off when the task has no source).
    #[config(default = 0.0)]
    pub domain: f64,
    /// Pairs drawn per labelled item and epoch (each item with a fresh partner).
    #[config(default = 4)]
    pub pairs_per_item: usize,
    /// Training (epochs, batch size, optimiser, schedule, seed).
    #[config(default = "TrainConfig::new().with_epochs(20).with_batch_size(64).with_lr(1e-3)")]
    pub train: TrainConfig,
    /// The probe on the content codes.
    #[config(default = "tl_unsupervised::report::default_probe()")]
    pub probe: LinearProbe,
}

/// Name in reports.
pub const CONTENT_STYLE: &str = "content-style";

/// The parts it needs (a labelled source is used when there is one).
const CONTENT_STYLE_NEEDS: &[TaskPart] = &[TaskPart::TargetLabelled, TaskPart::TargetTest];

impl ContentStyleModel {
    /// The model's widths.
    pub fn shape(&self) -> ContentStyleShape {
        ContentStyleShape {
            content: self.content,
            style: self.style,
            decoder_hidden: self.decoder_hidden.clone(),
            decoder_conv: self.decoder_conv.clone(),
        }
    }

    /// The objective.
    pub fn objective(&self) -> ContentStyleObjective {
        ContentStyleObjective {
            swap: self.swap,
            style_swap: self.style_swap,
            style_beta: self.style_beta,
            align: self.align,
            domain: self.domain,
        }
    }

    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        self.shape().validate()?;
        self.objective().validate()?;
        if self.pairs_per_item == 0 {
            return Err(CoreError::config("pairs_per_item", "must be at least 1"));
        }
        self.train.validate()?;
        self.probe.validate()
    }

    /// Trains a content/style model on `encoder` over `pairs` (from [`pair_set`]: each item
    /// two items that share content, values in [0, 1]).
    pub fn fit_pairs<E: Encoder + 'static>(
        &self,
        encoder: E,
        pairs: &UnlabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(ContentStyle<E>, Vec<EpochRecord>)> {
        self.validate()?;
        let size: usize = encoder.input_shape().iter().product();
        if pairs.inputs.item_shape != [2, size] {
            return Err(CoreError::data(
                &pairs.domain,
                format!(
                    "pairs of shape {:?}, the encoder takes items of {size} values: expected [2, {size}]",
                    pairs.inputs.item_shape
                ),
            ));
        }
        pairs
            .inputs
            .check_unit_interval(&pairs.domain, "the pixels are Bernoulli probabilities")?;
        let device = ctx.device().clone();
        let model = ContentStyle::on(encoder, &self.shape(), &device)?;
        let train = ctx.train_config(&self.train);
        let mut batches = UnlabelledBatches::new(pairs, train.batch_size, train.seed);
        let out =
            ctx.trainer(train)
                .train_module(model, &mut batches, self.objective(), &device)?;
        Ok((out.model, out.history))
    }
}

/// Pairs of one class: each item of `a` with `per_item` random items of the same class from
/// `b` (every class of `a` must be in `b`), as a [`pair_set`].
pub fn class_pairs(
    a: &LabelledSet,
    b: &LabelledSet,
    per_item: usize,
    seed: u64,
) -> Result<UnlabelledSet> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); b.num_classes().max(a.num_classes())];
    for (i, &y) in b.labels.iter().enumerate() {
        by_class[y].push(i);
    }
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, &y) in a.labels.iter().enumerate() {
        let pool = &by_class[y];
        if pool.is_empty() {
            return Err(CoreError::data(
                &b.domain,
                format!(
                    "no item of class {} ({}) to pair with",
                    y,
                    a.class_names.get(y).map_or("?", String::as_str)
                ),
            ));
        }
        for _ in 0..per_item {
            first.push(i);
            second.push(pool[rand::Rng::random_range(&mut rng, 0..pool.len())]);
        }
    }
    pair_set(
        &a.inputs.select(&first),
        &b.inputs.select(&second),
        &format!("{}+{}", a.domain, b.domain),
    )
}

/// Pairs of one class ordered by domain: every item of `a` with `per_item` random items of
/// its class in `b`, and every item of `b` with `per_item` random items of its class in `a`,
/// each pair written `(a item, b item)` (so the style swap of
/// [`ContentStyleObjective`] draws styles from the right domain).
pub fn class_pairs_both_ways(
    a: &LabelledSet,
    b: &LabelledSet,
    per_item: usize,
    seed: u64,
) -> Result<UnlabelledSet> {
    let forward = class_pairs(a, b, per_item, seed)?;
    let back = class_pairs(b, a, per_item, seed.wrapping_add(1))?;
    let d = a.inputs.item_size();
    let mut values = forward.inputs.values;
    for pair in back.inputs.values.chunks(2 * d) {
        values.extend_from_slice(&pair[d..]);
        values.extend_from_slice(&pair[..d]);
    }
    UnlabelledSet::new(
        tl_core::data::Inputs::new(vec![2, d], values)?,
        forward.domain,
    )
}

/// Codes as a labelled set of flat items.
fn code_set(codes: &[Vec<f32>], labels: &[usize], classes: usize) -> Result<LabelledSet> {
    let width = codes.first().map_or(0, Vec::len);
    if codes.len() != labels.len() || codes.iter().any(|c| c.len() != width) || width == 0 {
        return Err(CoreError::data(
            "codes",
            format!(
                "{} codes (of one width > 0) for {} labels",
                codes.len(),
                labels.len()
            ),
        ));
    }
    LabelledSet::new(
        tl_core::data::Inputs::new(vec![width], codes.concat())?,
        labels.to_vec(),
        (0..classes).map(|c| c.to_string()).collect(),
        "codes",
    )
}

/// A linear probe fitted on codes `train` and scored on codes `test` (accuracy): how much of
/// a factor a code holds, linearly.
pub fn probe_codes(
    probe: &LinearProbe,
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
    classes: usize,
    ctx: &mut RunContext,
) -> Result<f64> {
    let (train, test) = (
        code_set(train.0, train.1, classes)?,
        code_set(test.0, test.1, classes)?,
    );
    let (head, _) = probe.fit_head(&train, classes, ctx)?;
    let identity =
        tl_core::model::SequentialConfig::new(vec![train.inputs.item_size()]).init(ctx.device())?;
    let model = Classifier::new(identity, head)?;
    Ok(ctx.evaluate(&model, &test)?.accuracy)
}

/// [`probe_codes`] trained on the even items and scored on the odd ones.
fn probe_accuracy(
    probe: &LinearProbe,
    codes: Vec<Vec<f32>>,
    labels: Vec<usize>,
    classes: usize,
    ctx: &mut RunContext,
) -> Result<f64> {
    let half = |parity: usize| -> (Vec<Vec<f32>>, Vec<usize>) {
        (0..codes.len())
            .filter(|i| i % 2 == parity)
            .map(|i| (codes[i].clone(), labels[i]))
            .unzip()
    };
    let ((a, ya), (b, yb)) = (half(0), half(1));
    probe_codes(probe, (&a, &ya), (&b, &yb), classes, ctx)
}

impl<E: Encoder + 'static> Strategy<E> for ContentStyleModel {
    tl_core::strategy_basics!(CONTENT_STYLE, Family::Disentanglement, CONTENT_STYLE_NEEDS);

    /// Pairs the labelled items by class (source with target when there is a source), trains
    /// the model, then fits the probe on the target's content codes; the classifier is the
    /// backbone, the content-mean layer and the probe.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        self.validate()?;
        let labelled = task.labelled(TaskPart::TargetLabelled, CONTENT_STYLE)?;
        let test = task.labelled(TaskPart::TargetTest, CONTENT_STYLE)?;
        ctx.begin();
        let seed = ctx.seed();
        let pairs = match &task.source {
            Some(source) => class_pairs_both_ways(source, labelled, self.pairs_per_item, seed)?,
            None => class_pairs(labelled, labelled, self.pairs_per_item, seed)?,
        };
        let method = match task.source {
            Some(_) => self.clone(),
            None => self.clone().with_style_swap(0.0).with_domain(0.0),
        };
        let (model, history) = method.fit_pairs(start.encoder, &pairs, ctx)?;
        let device = ctx.device().clone();
        let (content, style) = model.codes_of(&labelled.inputs, &device)?;
        // Content is what the domains share: the probe learns from the source's labelled
        // content codes too (when there is a source), not only from the target's few.
        let (mut values, mut labels) = (content.concat(), labelled.labels.clone());
        if let Some(source) = &task.source {
            values.extend(model.codes_of(&source.inputs, &device)?.0.concat());
            labels.extend(&source.labels);
        }
        let features = LabelledSet::new(
            tl_core::data::Inputs::new(vec![self.content], values)?,
            labels,
            labelled.class_names.clone(),
            labelled.domain.clone(),
        )?;
        let (probe, probe_history) = self.probe.fit_head(&features, task.num_classes, ctx)?;
        let trainable = probe.num_params();
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(
            "class_from_style".to_string(),
            probe_accuracy(
                &self.probe,
                style.clone(),
                labelled.labels.clone(),
                task.num_classes,
                ctx,
            )?,
        );
        if let Some(source) = &task.source {
            let (sc, ss) = model.codes_of(&source.inputs, &device)?;
            // As many source items as target ones, interleaved so both halves hold both.
            let n = labelled.len().min(source.len());
            let mix = |s: &[Vec<f32>], t: &[Vec<f32>]| -> (Vec<Vec<f32>>, Vec<usize>) {
                // Alternating which comes first, so that the even and the odd items (the
                // probe's two halves) each hold both domains.
                (0..n)
                    .flat_map(|i| {
                        let (a, b) = ((s[i].clone(), 0), (t[i].clone(), 1));
                        if i % 2 == 0 { [a, b] } else { [b, a] }
                    })
                    .unzip()
            };
            let (codes, domains) = mix(&ss, &style);
            extra.insert(
                "domain_from_style".to_string(),
                probe_accuracy(&self.probe, codes, domains, 2, ctx)?,
            );
            let (tc, _) = model.codes_of(&labelled.inputs, &device)?;
            let (codes, domains) = mix(&sc, &tc);
            extra.insert(
                "domain_from_content".to_string(),
                probe_accuracy(&self.probe, codes, domains, 2, ctx)?,
            );
        }
        let head = model.content_head().then(probe)?;
        let classifier = Classifier::new(model.backbone, head)?;
        let mut history = history;
        history.extend(probe_history);
        let mut report = ctx.finish(CONTENT_STYLE, self, &classifier, history, test)?;
        report.params.trainable = trainable;
        report.extra.extend(extra);
        Ok((classifier, report))
    }
}
