//! Baseline and Baseline++ (Chen et al. 2019, "A Closer Look at Few-shot Classification"): a
//! backbone trained with an ordinary classifier on every base class, frozen, then a new head
//! trained on the support set only: linear (Baseline) or cosine (Baseline++).

use burn::config::Config;
use burn::module::Param;
use burn::tensor::{Device, Tensor};
use tl_core::data::{Batch, LabelledSet};
use tl_core::model::{Classifier, Encoder, Layer, Sequential, SequentialConfig, head_config};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{
    ClassifierModel, CrossEntropy, LabelledBatches, Objective, Step, TrainConfig, encode_set,
};
use tl_core::{CoreError, Result};

/// A cosine classifier's head: unit-norm features, then a linear map without bias.
pub fn cosine_head(features: usize, classes: usize, device: &Device) -> Result<Sequential> {
    SequentialConfig::new(vec![features])
        .l2_normalize()
        .linear(classes)
        .init(device)
}

fn cosine_weight(head: &Sequential) -> Result<Tensor<2>> {
    match head.layers() {
        [Layer::L2Normalize(_), Layer::Linear(l)] => Ok(l.weight.val()),
        _ => Err(CoreError::Model(
            "a cosine head is [L2Normalize, Linear] (see cosine_head)".into(),
        )),
    }
}

/// Columns of `w` (`[features, classes]`) scaled to unit norm.
fn unit_columns(w: Tensor<2>) -> Tensor<2> {
    let norm = w
        .clone()
        .powf_scalar(2.0)
        .sum_dim(0)
        .clamp_min(1e-12)
        .sqrt();
    w / norm
}

/// Cross-entropy of `scale * cos(features, w_c)` (Baseline++'s training loss); the head must
/// come from [`cosine_head`].
#[derive(Debug, Clone)]
pub struct CosineCrossEntropy {
    ce: CrossEntropy,
    scale: f64,
}

impl CosineCrossEntropy {
    /// The loss for a model trained on `device`, scores multiplied by `scale`.
    pub fn new(device: &Device, scale: f64) -> Self {
        Self {
            ce: CrossEntropy::new(device),
            scale,
        }
    }

    /// `scale * cos` scores of a cosine classifier.
    pub fn logits<E: Encoder>(&self, model: &Classifier<E>, x: Tensor<2>) -> Result<Tensor<2>> {
        let w = unit_columns(cosine_weight(&model.head)?);
        // The head's first layer normalises the features.
        let features = match model.head.layers().first() {
            Some(Layer::L2Normalize(n)) => n.forward(model.encoder.encode(x)),
            _ => unreachable!("checked by cosine_weight"),
        };
        Ok(features.matmul(w) * self.scale)
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, Batch> for CosineCrossEntropy {
    fn step(&mut self, model: &Classifier<E>, batch: &Batch) -> Result<Step> {
        let logits = self.logits(model, batch.inputs.clone())?;
        let loss = self.ce.loss(logits.clone(), batch.labels.clone());
        Ok(Step::new(loss).with_accuracy(logits, &batch.labels))
    }
}

/// Folds the scale and the weight norms into the cosine head's linear layer, so the plain
/// forward pass gives exactly `scale * cos` (and the bias, unused in training, is zeroed).
pub fn fold_cosine_head(mut head: Sequential, scale: f64) -> Result<Sequential> {
    let w = unit_columns(cosine_weight(&head)?) * scale;
    if let Some(Layer::Linear(l)) = head.layers_mut().get_mut(1) {
        l.weight = Param::from_tensor(w.detach());
        if let Some(b) = l.bias.take() {
            l.bias = Some(Param::from_tensor(b.val().zeros_like()));
        }
    }
    Ok(head)
}

/// Baseline (linear head) and Baseline++ (cosine head).
#[derive(Config, Debug)]
pub struct Baseline {
    /// Baseline++: cosine heads (in the pretraining on base classes and on the support).
    #[config(default = false)]
    pub cosine: bool,
    /// Scale of the cosine scores.
    #[config(default = 10.0)]
    pub scale: f64,
    /// Fine-tune the whole backbone with the new head on the support (false: the backbone
    /// frozen, only the head trains, as Chen et al.'s Baseline).
    #[config(default = false)]
    pub fine_tune: bool,
    /// Train the encoder with a head over the source's classes first (false: the encoder as
    /// given, e.g. pretrained elsewhere).
    #[config(default = true)]
    pub pretrain: bool,
    /// Training on the base classes.
    #[config(default = "TrainConfig::new()")]
    pub pretrain_train: TrainConfig,
    /// Training of the new head on the support set, the encoder frozen.
    #[config(default = "TrainConfig::new().with_epochs(100).with_batch_size(4).with_lr(1e-2)")]
    pub head_train: TrainConfig,
}

impl Baseline {
    /// Baseline++ with its defaults.
    pub fn plus_plus() -> Self {
        Self::new().with_cosine(true)
    }

    /// Fine-tuning: the backbone trained on the base classes, then trained with a new linear
    /// head on the support (lower learning rate, as the whole network moves).
    pub fn fine_tuning() -> Self {
        Self::new().with_fine_tune(true).with_head_train(
            TrainConfig::new()
                .with_epochs(100)
                .with_batch_size(4)
                .with_lr(1e-3),
        )
    }

    /// `baseline`, `baseline++`, `fine-tune` or `fine-tune++` (cosine heads).
    pub fn name(&self) -> &'static str {
        match (self.fine_tune, self.cosine) {
            (false, false) => "baseline",
            (false, true) => "baseline++",
            (true, false) => "fine-tune",
            (true, true) => "fine-tune++",
        }
    }

    /// The task parts it needs: the source only when it pretrains.
    pub fn parts(&self) -> &'static [TaskPart] {
        crate::episodes::episodic_parts(self.pretrain)
    }

    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(CoreError::config(
                "scale",
                format!("{} must be > 0", self.scale),
            ));
        }
        self.pretrain_train.validate()?;
        self.head_train.validate()
    }

    fn head(&self, features: usize, classes: usize, device: &Device) -> Result<Sequential> {
        if self.cosine {
            cosine_head(features, classes, device)
        } else {
            head_config(features, &[], classes).init(device)
        }
    }

    /// Trains `model` with this method's loss on `set` (cosine or plain cross-entropy).
    fn fit_head<E: Encoder + 'static>(
        &self,
        model: Classifier<E>,
        set: &LabelledSet,
        train: &TrainConfig,
        ctx: &mut RunContext,
    ) -> Result<(Classifier<E>, Vec<tl_core::report::EpochRecord>)> {
        let device = ctx.device().clone();
        let train = ctx.train_config(train);
        let mut batches = LabelledBatches::new(set, train.batch_size, train.seed);
        let out = if self.cosine {
            let objective = CosineCrossEntropy::new(&device, self.scale);
            ctx.trainer(train)
                .train(model, &mut batches, objective, None, &device)?
        } else {
            let objective = CrossEntropy::new(&device);
            ctx.trainer(train)
                .train(model, &mut batches, objective, None, &device)?
        };
        Ok((out.model, out.history))
    }

    /// Trains the encoder with a head over `base`'s classes (the first stage); returns the
    /// encoder and the history.
    pub fn pretrain_encoder<E: Encoder + 'static>(
        &self,
        encoder: E,
        base: &LabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(E, Vec<tl_core::report::EpochRecord>)> {
        let device = ctx.device().clone();
        let head = self.head(encoder.feature_dim(), base.num_classes(), &device)?;
        let (model, history) = self.fit_head(
            Classifier::new(encoder, head)?,
            base,
            &self.pretrain_train,
            ctx,
        )?;
        Ok((model.encoder, history))
    }

    /// The second stage: a new head for `classes` classes trained on `support` (the
    /// encoder frozen unless `fine_tune`); a cosine head comes back folded, so the plain
    /// forward pass scores as trained. A frozen encoder's features of the support are computed
    /// once, in inference mode, and the head trains on them, as Chen et al.'s code does (its
    /// features saved once, `model.eval()`): the same head as training through the frozen
    /// encoder (whose batch norms a frozen encoder already reads with their running
    /// statistics), without the encoder's forward pass at every step.
    pub fn adapt<E: Encoder + 'static>(
        &self,
        encoder: E,
        support: &LabelledSet,
        classes: usize,
        ctx: &mut RunContext,
    ) -> Result<(Classifier<E>, Vec<tl_core::report::EpochRecord>)> {
        crate::episodes::check_support(support, classes)?;
        let device = ctx.device().clone();
        let width = encoder.feature_dim();
        let head = self.head(width, classes, &device)?;
        let (mut model, history) = if self.fine_tune {
            let model = Classifier::new(encoder, head)?;
            self.fit_head(model, support, &self.head_train, ctx)?
        } else {
            let features = encode_set(&encoder, support, &device, ctx.eval_batch_size())?;
            let identity = SequentialConfig::new(vec![width]).init(&device)?;
            let probe = Classifier::new(identity, head)?;
            let (probe, history) = self.fit_head(probe, &features, &self.head_train, ctx)?;
            let model = Classifier::new(encoder, probe.head)?.freeze_encoder();
            (model, history)
        };
        if self.cosine {
            model.head = fold_cosine_head(model.head, self.scale)?;
        }
        Ok((model, history))
    }
}

impl<E: Encoder + 'static> Strategy<E> for Baseline {
    tl_core::strategy_basics!(fn Baseline::name, Family::FewShot, fn Baseline::parts);

    /// Without pretraining or fine-tuning it trains a head on the support's features alone.
    fn reads_features_only(&self) -> bool {
        !self.pretrain && !self.fine_tune
    }

    /// Trains the encoder on the source's classes (when asked), freezes it, and trains a new
    /// head on the support (the labelled target set); scored on the target test set. The
    /// history is the head's.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let name = self.name();
        let support = task.labelled(TaskPart::TargetLabelled, name)?;
        let test = task.labelled(TaskPart::TargetTest, name)?;
        let source = if self.pretrain {
            Some(task.labelled(TaskPart::SourceLabelled, name)?)
        } else {
            None
        };
        ctx.begin();
        let encoder = match source {
            Some(source) => self.pretrain_encoder(start.encoder, source, ctx)?.0,
            None => start.encoder,
        };
        let (model, history) = self.adapt(encoder, support, task.num_classes, ctx)?;
        debug_assert_eq!(ClassifierModel::num_classes(&model), task.num_classes);
        let report = ctx.finish(name, self, &model, history, test)?;
        Ok((model, report))
    }
}
