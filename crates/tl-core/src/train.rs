//! The training loop every strategy shares.
//!
//! One loop, configured by [`TrainConfig`]: an optimiser (SGD with momentum, Adam, AdamW),
//! a learning-rate schedule (constant, step, cosine, each with an optional linear warm-up),
//! per-group learning-rate factors, gradient clipping, early stopping on validation
//! accuracy that restores the best weights, NaN/inf detection that stops with an error and
//! leaves the last good checkpoint in place, seeding, and a progress callback.
//! Strategies with extra loss terms pass their own loss function to [`Trainer::fit_with`].

use crate::checkpoint::{save_checkpoint, write_json};
use crate::data::{Batch, BatchPlan, Inputs, LabelledSet, UnlabelledSet};
use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::model::{Classifier, Encoder};
use crate::report::EpochRecord;
use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::module::{Module, ParamGroup};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, ElementConversion, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// A model the loop can train and evaluate: inputs to class scores.
pub trait ClassifierModel: Module + 'static {
    /// Class scores.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]`
    /// - returns `[batch, num_classes]`
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;

    /// Shape of one input item.
    fn input_shape(&self) -> Vec<usize>;

    /// Number of classes.
    fn num_classes(&self) -> usize;
}

impl<E: Encoder + 'static> ClassifierModel for Classifier<E> {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }

    fn input_shape(&self) -> Vec<usize> {
        self.encoder.input_shape()
    }

    fn num_classes(&self) -> usize {
        Classifier::num_classes(self)
    }
}

/// Which optimiser, with its own settings; the learning rate lives in [`TrainConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with (optional) momentum and L2 weight decay.
    Sgd {
        /// Momentum factor; 0 for none.
        momentum: f64,
        /// L2 penalty added to the gradient; 0 for none.
        weight_decay: f64,
    },
    /// Adam with L2 weight decay added to the gradient.
    Adam {
        /// L2 penalty; 0 for none.
        weight_decay: f64,
    },
    /// AdamW: decoupled weight decay.
    AdamW {
        /// Decoupled decay; 0 for none.
        weight_decay: f64,
    },
}

/// How the learning rate evolves over the run (per optimiser step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiply by `gamma` every `epochs` epochs.
    Step {
        /// Epochs between decays.
        epochs: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine annealing to `min_factor * lr` at the last step.
    Cosine {
        /// Final rate as a fraction of the initial one.
        min_factor: f64,
    },
}

/// Stop when validation accuracy has not improved for `patience` epochs, and keep the best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest gain that counts as an improvement.
    pub min_delta: f64,
}

/// Configuration of the shared training loop.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    #[config(default = 10)]
    pub epochs: usize,
    /// Items per optimiser step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Base learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// The optimiser.
    #[config(default = "OptimizerKind::Adam { weight_decay: 0.0 }")]
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule.
    #[config(default = "Schedule::Constant")]
    pub schedule: Schedule,
    /// Linear warm-up from `lr / 100` over this many steps; 0 for none.
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Clip the global gradient norm of each parameter to this value.
    #[config(default = "None")]
    pub grad_clip_norm: Option<f32>,
    /// Early stopping on validation accuracy (needs a validation set).
    #[config(default = "None")]
    pub early_stopping: Option<EarlyStopping>,
    /// Seed of the shuffling and of the device's random numbers (dropout).
    #[config(default = 0)]
    pub seed: u64,
}

impl TrainConfig {
    /// Refuses out-of-range values before any work.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(CoreError::config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr <= 1.0) {
            return Err(CoreError::config(
                "lr",
                format!("{} not in (0, 1]", self.lr),
            ));
        }
        let decay = match self.optimizer {
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(CoreError::config(
                        "optimizer.momentum",
                        format!("{momentum} not in [0, 1)"),
                    ));
                }
                weight_decay
            }
            OptimizerKind::Adam { weight_decay } | OptimizerKind::AdamW { weight_decay } => {
                weight_decay
            }
        };
        if !(decay >= 0.0 && decay.is_finite()) {
            return Err(CoreError::config(
                "optimizer.weight_decay",
                format!("{decay} must be >= 0"),
            ));
        }
        match self.schedule {
            Schedule::Step { epochs, gamma } => {
                if epochs == 0 || !(gamma > 0.0 && gamma <= 1.0) {
                    return Err(CoreError::config(
                        "schedule",
                        "step needs epochs >= 1 and gamma in (0, 1]",
                    ));
                }
            }
            Schedule::Cosine { min_factor } => {
                if !(0.0..=1.0).contains(&min_factor) {
                    return Err(CoreError::config(
                        "schedule.min_factor",
                        format!("{min_factor} not in [0, 1]"),
                    ));
                }
            }
            Schedule::Constant => {}
        }
        if let Some(clip) = self.grad_clip_norm
            && !(clip > 0.0 && clip.is_finite())
        {
            return Err(CoreError::config(
                "grad_clip_norm",
                format!("{clip} must be > 0"),
            ));
        }
        if let Some(stop) = &self.early_stopping
            && !(stop.min_delta >= 0.0 && stop.min_delta.is_finite())
        {
            return Err(CoreError::config(
                "early_stopping.min_delta",
                format!("{} must be finite and >= 0", stop.min_delta),
            ));
        }
        Ok(())
    }

    fn optimizer(&self) -> ModuleOptimizer {
        let clip = self.grad_clip_norm.map(GradientClippingConfig::Norm);
        let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
        match self.optimizer {
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(weight_decay))
                .with_gradient_clipping(clip)
                .init(),
            OptimizerKind::Adam { weight_decay } => AdamConfig::new()
                .with_weight_decay(decay(weight_decay))
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::AdamW { weight_decay } => AdamWConfig::new()
                .with_weight_decay(weight_decay as f32)
                .with_grad_clipping(clip)
                .init(),
        }
    }

    /// Burn's schedule for a group whose rate is `lr`, over `steps_per_epoch * epochs` steps.
    fn schedule_for(&self, lr: f64, steps_per_epoch: usize) -> LrSchedulerConfig {
        let total = (steps_per_epoch * self.epochs).max(1);
        if lr == 0.0 {
            // A group held at rate 0 (Burn's decaying schedules refuse a zero start).
            return LrSchedulerConfig::Constant(0.0);
        }
        let warmup = self.warmup_steps.min(total.saturating_sub(1));
        let main_steps = (total - warmup).max(1);
        let main = match self.schedule {
            Schedule::Constant => LrSchedulerConfig::Constant(lr),
            Schedule::Step { epochs, gamma } => LrSchedulerConfig::Step(
                StepLrSchedulerConfig::new(lr, epochs * steps_per_epoch).with_gamma(gamma),
            ),
            Schedule::Cosine { min_factor } => LrSchedulerConfig::Cosine(
                CosineAnnealingLrSchedulerConfig::new(lr, main_steps).with_min_lr(lr * min_factor),
            ),
        };
        if warmup == 0 {
            return main;
        }
        LrSchedulerConfig::Sequential(SequentialLrSchedulerConfig::new(
            vec![
                LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(lr / 100.0, lr, warmup)),
                main,
            ],
            vec![warmup],
        ))
    }
}

/// What the loop reports while it runs.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// After an optimiser step.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step in the epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// This step's loss.
        loss: f64,
    },
    /// After an epoch (and its validation).
    Epoch(EpochRecord),
}

/// A loss to minimise for one batch: returns a one-element tensor.
pub type LossFn<'a, M> = dyn FnMut(&M, &Batch) -> Tensor<1> + 'a;

/// A progress callback.
pub type ProgressFn<'a> = dyn FnMut(&ProgressEvent) + 'a;

type StepFn<'a, M> = dyn FnMut(&M, &Batch) -> (Tensor<1>, Option<Tensor<2>>) + 'a;

/// One step of [`Trainer::fit_domains`]: a labelled source batch and an unlabelled target
/// batch, on the autodiff device.
#[derive(Debug, Clone)]
pub struct DomainBatch {
    /// Source inputs and labels.
    pub source: Batch,
    /// Target inputs, `[batch, input_size]`.
    pub target: Tensor<2>,
    /// Steps done over all steps of the run, in [0, 1) (for schedules such as DANN's).
    pub progress: f64,
    /// 0-based step over the whole run.
    pub step: usize,
}

/// What a step of [`Trainer::fit_domains`] returns.
#[derive(Debug)]
pub struct DomainStep {
    /// The loss to minimise.
    pub loss: Tensor<1>,
    /// The source batch's logits, when computed (for the training accuracy).
    pub logits: Option<Tensor<2>>,
    /// Figures averaged over the epoch into the history (`"domain_accuracy"`...).
    pub stats: Vec<(&'static str, f64)>,
}

/// One batch of [`Trainer::fit_unlabelled`]: which items of the set, on which device.
#[derive(Debug, Clone, Copy)]
pub struct UnlabelledBatch<'s> {
    /// The whole set.
    pub set: &'s UnlabelledSet,
    /// The items of this batch.
    pub indices: &'s [usize],
    /// The autodiff device the model is on.
    pub device: &'s Device,
    /// A seed for this batch's random views or masks (fixed by the config's seed, the epoch
    /// and the step).
    pub seed: u64,
}

impl UnlabelledBatch<'_> {
    /// The batch's items as a `[batch, item_size]` tensor.
    pub fn inputs(&self) -> Tensor<2> {
        self.set.inputs.tensor(self.indices, self.device)
    }

    /// The batch's items as values, row after row (to corrupt, mask or augment them).
    pub fn values(&self) -> Vec<f32> {
        self.set.inputs.select(self.indices).values
    }

    /// `values` (one row of `item_size` per item of the batch, as [`Self::values`] gives
    /// them) as a `[batch, item_size]` tensor on the batch's device.
    pub fn tensor(&self, values: Vec<f32>) -> Tensor<2> {
        let shape = [self.len(), self.set.inputs.item_size()];
        Tensor::from_data(burn::tensor::TensorData::new(values, shape), self.device)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// What [`Trainer::fit`] returns.
#[derive(Debug)]
pub struct TrainOutcome<M> {
    /// The trained model (the best one when early stopping is on).
    pub model: M,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Runs [`TrainConfig`] on a model.
pub struct Trainer<'a> {
    config: TrainConfig,
    lr_factors: Vec<(ParamGroup, f64)>,
    progress: Option<Box<ProgressFn<'a>>>,
    checkpoint_dir: Option<PathBuf>,
}

impl<'a> Trainer<'a> {
    /// A trainer for `config`.
    pub fn new(config: TrainConfig) -> Self {
        Self {
            config,
            lr_factors: Vec::new(),
            progress: None,
            checkpoint_dir: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Gives `group` the learning rate `factor * lr` (the last matching group wins).
    pub fn with_lr_factor(mut self, group: ParamGroup, factor: f64) -> Self {
        self.lr_factors.push((group, factor));
        self
    }

    /// Calls `f` after every step and every epoch.
    pub fn with_progress(mut self, f: impl FnMut(&ProgressEvent) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Saves the weights to `dir` after every epoch (and the best ones under early stopping).
    pub fn with_checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Trains with cross-entropy on `train`, validating on `valid` after every epoch.
    pub fn fit<M: ClassifierModel>(
        &mut self,
        model: M,
        train: &LabelledSet,
        valid: Option<&LabelledSet>,
        device: &Device,
    ) -> Result<TrainOutcome<M>> {
        self.fit_staged(model, train, valid, device, &mut |_, m| m)
    }

    /// Like [`Self::fit`], calling `on_epoch_start(epoch, model)` before each epoch (1-based)
    /// and training the model it returns: schedules that change what trains (gradual
    /// unfreezing) keep one optimiser, one learning-rate schedule and one history.
    pub fn fit_staged<M: ClassifierModel>(
        &mut self,
        model: M,
        train: &LabelledSet,
        valid: Option<&LabelledSet>,
        device: &Device,
        on_epoch_start: &mut dyn FnMut(usize, M) -> M,
    ) -> Result<TrainOutcome<M>> {
        let loss = CrossEntropyLossConfig::new().init(&device.clone().autodiff());
        self.run(
            model,
            train,
            valid,
            device,
            &mut |m: &M, b: &Batch| {
                let logits = m.logits(b.inputs.clone());
                (loss.forward(logits.clone(), b.labels.clone()), Some(logits))
            },
            on_epoch_start,
            &mut |_| BTreeMap::new(),
        )
    }

    /// Trains with a caller's loss (cross-entropy plus a penalty, say).
    pub fn fit_with<M: ClassifierModel>(
        &mut self,
        model: M,
        train: &LabelledSet,
        valid: Option<&LabelledSet>,
        device: &Device,
        loss_fn: &mut LossFn<'_, M>,
    ) -> Result<TrainOutcome<M>> {
        self.run(
            model,
            train,
            valid,
            device,
            &mut |m: &M, b: &Batch| (loss_fn(m, b), None),
            &mut |_, m| m,
            &mut |_| BTreeMap::new(),
        )
    }

    /// Trains on two domains at once, the loop of domain adaptation: each step takes a batch
    /// of the labelled `source` and a batch of the unlabelled `target` (the target cycles
    /// when it is the shorter; an epoch is one pass over the source), and `step` returns the
    /// loss with figures to average over the epoch (a discriminator's accuracy, a transfer
    /// loss). After each epoch `monitor` may add figures of its own (accuracy on a labelled
    /// target test set, for the history only). `valid` is a *source* validation set: early
    /// stopping, when configured, stops on it, never on target labels.
    #[allow(clippy::too_many_arguments)]
    pub fn fit_domains<M: ClassifierModel>(
        &mut self,
        model: M,
        source: &LabelledSet,
        target: &UnlabelledSet,
        valid: Option<&LabelledSet>,
        device: &Device,
        step: &mut dyn FnMut(&M, &DomainBatch) -> DomainStep,
        monitor: &mut dyn FnMut(&M) -> BTreeMap<String, f64>,
    ) -> Result<TrainOutcome<M>> {
        if target.is_empty() {
            return Err(CoreError::data(&target.domain, "the target set is empty"));
        }
        target
            .inputs
            .check_fits(&model.input_shape(), &target.domain)?;
        let cfg = self.config.clone();
        let mut target_plan =
            BatchPlan::new(target.len(), cfg.batch_size, true, cfg.seed ^ 0x007A_26E7);
        let mut queue: Vec<Vec<usize>> = Vec::new();
        let total = (source.len().div_ceil(cfg.batch_size.max(1)) * cfg.epochs).max(1);
        let mut done = 0usize;
        let sums = std::cell::RefCell::new(BTreeMap::<String, (f64, usize)>::new());
        self.run(
            model,
            source,
            valid,
            device,
            &mut |m: &M, b: &Batch| {
                if queue.is_empty() {
                    queue = target_plan.epoch();
                    queue.reverse();
                }
                let indices = queue.pop().expect("refilled above");
                let batch = DomainBatch {
                    source: b.clone(),
                    target: target.inputs.tensor(&indices, &b.inputs.device()),
                    progress: done as f64 / total as f64,
                    step: done,
                };
                done += 1;
                let out = step(m, &batch);
                let mut sums = sums.borrow_mut();
                for (name, value) in out.stats {
                    let e = sums.entry(name.to_string()).or_insert((0.0, 0));
                    e.0 += value;
                    e.1 += 1;
                }
                (out.loss, out.logits)
            },
            &mut |_, m| m,
            &mut |m| {
                let mut extra: BTreeMap<String, f64> = std::mem::take(&mut *sums.borrow_mut())
                    .into_iter()
                    .map(|(k, (sum, n))| (k, sum / n.max(1) as f64))
                    .collect();
                extra.extend(monitor(m));
                extra
            },
        )
    }

    /// The loop; `step` returns the loss and, when it has them, the batch's logits (for the
    /// training accuracy, without a second forward pass).
    #[allow(clippy::too_many_arguments)]
    fn run<M: ClassifierModel>(
        &mut self,
        model: M,
        train: &LabelledSet,
        valid: Option<&LabelledSet>,
        device: &Device,
        step: &mut StepFn<'_, M>,
        on_epoch_start: &mut dyn FnMut(usize, M) -> M,
        epoch_extra: &mut dyn FnMut(&M) -> BTreeMap<String, f64>,
    ) -> Result<TrainOutcome<M>> {
        let cfg = self.config.clone();
        cfg.validate()?;
        check_set(&model, train, "training")?;
        if let Some(v) = valid {
            check_set(&model, v, "validation")?;
        }
        if cfg.early_stopping.is_some() && valid.is_none() {
            return Err(CoreError::config(
                "early_stopping",
                "needs a validation set, and none was given",
            ));
        }
        let ad_device = device.clone().autodiff();
        ad_device.seed(cfg.seed);
        let mut model = model.fork(&ad_device).train();
        let mut plan = BatchPlan::new(train.len(), cfg.batch_size, true, cfg.seed);
        let steps = plan.num_batches();
        let mut optim = cfg.optimizer();
        let mut scheduler = self.scheduler(steps)?;

        let mut history = Vec::new();
        let mut best: Option<(f64, usize, M)> = None;
        let mut since_best = 0;
        let mut stopped_early = false;
        for epoch in 1..=cfg.epochs {
            model = on_epoch_start(epoch, model);
            let start = Instant::now();
            let (mut loss_sum, mut lr) = (0.0, cfg.lr);
            let mut correct = Some(0usize);
            for (i, indices) in plan.epoch().into_iter().enumerate() {
                let batch = train.batch(&indices, &ad_device);
                let (loss, logits) = step(&model, &batch);
                let value = finite_loss(&loss, epoch, i + 1)?;
                correct = match (correct, logits) {
                    (Some(c), Some(logits)) => Some(c + count_correct(logits, &batch)),
                    _ => None,
                };
                (model, lr) = self.descend(model, loss, &mut optim, &mut scheduler);
                loss_sum += value;
                self.emit(ProgressEvent::Step {
                    epoch,
                    step: i + 1,
                    steps,
                    loss: value,
                });
            }
            let (valid_loss, valid_accuracy) = match valid {
                Some(v) => {
                    // `v` passed `check_set` before the first epoch.
                    let m = score(&model, v, device, cfg.batch_size.max(256));
                    (m.loss, Some(m.accuracy))
                }
                None => (None, None),
            };
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / steps as f64,
                train_accuracy: correct.map(|c| c as f64 / train.len() as f64),
                valid_loss,
                valid_accuracy,
                lr,
                seconds: start.elapsed().as_secs_f64(),
                extra: epoch_extra(&model),
            };
            self.end_epoch(record, &mut history, &model)?;
            if let (Some(stop), Some(acc)) = (&cfg.early_stopping, valid_accuracy) {
                let improved = best
                    .as_ref()
                    .is_none_or(|(b, _, _)| acc > b + stop.min_delta);
                if improved {
                    best = Some((acc, epoch, model.clone()));
                    since_best = 0;
                    if let Some(dir) = &self.checkpoint_dir {
                        save_checkpoint(&dir.join("best"), &model.valid(), &cfg, None)?;
                    }
                } else {
                    since_best += 1;
                    if since_best >= stop.patience {
                        stopped_early = epoch < cfg.epochs;
                        break;
                    }
                }
            }
        }
        let (model, best_epoch) = match best {
            Some((_, epoch, model)) => (model, epoch),
            None => (model, history.len()),
        };
        Ok(TrainOutcome {
            model,
            history,
            best_epoch,
            stopped_early,
        })
    }

    /// Trains `model` to minimise a caller's loss over seeded, shuffled batches of an
    /// unlabelled set: the loop of self-supervised objectives (reconstruction, contrastive).
    /// `loss_fn` gets the model and the batch (its indices, the autodiff device, a seed for
    /// the batch's random views) and returns a one-element loss. The same optimiser,
    /// schedule, learning-rate factors, NaN detection, progress and checkpoints as
    /// [`Self::fit`]; early stopping is refused (there is no validation accuracy).
    pub fn fit_unlabelled<M: Module + 'static>(
        &mut self,
        model: M,
        set: &UnlabelledSet,
        device: &Device,
        loss_fn: &mut dyn FnMut(&M, &UnlabelledBatch<'_>) -> Tensor<1>,
    ) -> Result<TrainOutcome<M>> {
        let cfg = self.config.clone();
        cfg.validate()?;
        if cfg.early_stopping.is_some() {
            return Err(CoreError::config(
                "early_stopping",
                "an unlabelled objective has no validation accuracy to stop on",
            ));
        }
        if set.is_empty() {
            return Err(CoreError::data(&set.domain, "the unlabelled set is empty"));
        }
        let ad_device = device.clone().autodiff();
        ad_device.seed(cfg.seed);
        let mut model = model.fork(&ad_device).train();
        let mut plan = BatchPlan::new(set.len(), cfg.batch_size, true, cfg.seed);
        let steps = plan.num_batches();
        let mut optim = cfg.optimizer();
        let mut scheduler = self.scheduler(steps)?;
        let mut history = Vec::new();
        for epoch in 1..=cfg.epochs {
            let start = Instant::now();
            let (mut loss_sum, mut lr) = (0.0, cfg.lr);
            for (i, indices) in plan.epoch().into_iter().enumerate() {
                let batch = UnlabelledBatch {
                    set,
                    indices: &indices,
                    device: &ad_device,
                    seed: cfg
                        .seed
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .wrapping_add(((epoch as u64) << 32) | i as u64),
                };
                let loss = loss_fn(&model, &batch);
                let value = finite_loss(&loss, epoch, i + 1)?;
                (model, lr) = self.descend(model, loss, &mut optim, &mut scheduler);
                loss_sum += value;
                self.emit(ProgressEvent::Step {
                    epoch,
                    step: i + 1,
                    steps,
                    loss: value,
                });
            }
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / steps as f64,
                train_accuracy: None,
                valid_loss: None,
                valid_accuracy: None,
                lr,
                seconds: start.elapsed().as_secs_f64(),
                extra: Default::default(),
            };
            self.end_epoch(record, &mut history, &model)?;
        }
        let best_epoch = history.len();
        Ok(TrainOutcome {
            model,
            history,
            best_epoch,
            stopped_early: false,
        })
    }

    /// An epoch's record: reported, kept, and (with a checkpoint folder) saved with the
    /// weights as they are now under `last/`.
    fn end_epoch<M: Module>(
        &mut self,
        record: EpochRecord,
        history: &mut Vec<EpochRecord>,
        model: &M,
    ) -> Result<()> {
        self.emit(ProgressEvent::Epoch(record.clone()));
        history.push(record);
        if let Some(dir) = &self.checkpoint_dir {
            save_checkpoint(&dir.join("last"), &model.valid(), &self.config, None)?;
            write_json(&dir.join("last").join("history.json"), history)?;
        }
        Ok(())
    }

    /// One optimiser step on `loss`'s gradients at the schedule's next rates; returns the
    /// model and the base rate used.
    fn descend<M: Module + 'static>(
        &self,
        model: M,
        loss: Tensor<1>,
        optim: &mut ModuleOptimizer,
        scheduler: &mut ModuleLrScheduler,
    ) -> (M, f64) {
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let rates = scheduler.step();
        let lr = rates.base();
        (optim.step(rates, model, grads), lr)
    }

    /// The per-group learning-rate schedule for `steps` steps per epoch (factors checked).
    fn scheduler(&self, steps: usize) -> Result<ModuleLrScheduler> {
        let cfg = &self.config;
        if let Some((_, factor)) = self
            .lr_factors
            .iter()
            .find(|(_, f)| !(f.is_finite() && *f >= 0.0 && cfg.lr * f <= 1.0))
        {
            return Err(CoreError::config(
                "lr_factor",
                format!("{factor} must be >= 0 with factor * lr <= 1"),
            ));
        }
        let mut lr_config = ModuleLrSchedulerConfig::new(cfg.schedule_for(cfg.lr, steps));
        for (group, factor) in &self.lr_factors {
            lr_config =
                lr_config.with_group(group.clone(), cfg.schedule_for(cfg.lr * factor, steps));
        }
        lr_config
            .init()
            .map_err(|reason| CoreError::config("schedule", reason))
    }

    fn emit(&mut self, event: ProgressEvent) {
        if let Some(progress) = self.progress.as_mut() {
            progress(&event);
        }
    }
}

/// Refuses a set the model cannot run on at all: invalid, empty, or items of another shape.
fn check_runnable<M: ClassifierModel>(model: &M, set: &LabelledSet, what: &str) -> Result<()> {
    set.validate()?;
    if set.is_empty() {
        return Err(CoreError::data(
            &set.domain,
            format!("the {what} set is empty"),
        ));
    }
    set.inputs.check_fits(&model.input_shape(), &set.domain)
}

/// Refuses a set `model` cannot train on or be scored on: invalid, empty, items of another
/// shape, or more classes than the model predicts (`what` names the set in the error).
pub fn check_set<M: ClassifierModel>(model: &M, set: &LabelledSet, what: &str) -> Result<()> {
    check_runnable(model, set, what)?;
    if set.num_classes() > model.num_classes() {
        return Err(CoreError::data(
            &set.domain,
            format!(
                "{} classes but the model predicts {}",
                set.num_classes(),
                model.num_classes()
            ),
        ));
    }
    Ok(())
}

/// The value of a one-element tensor (a loss, say).
pub fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>().elem()
}

/// The loss's value; a NaN or infinite one is an error naming the epoch and step.
fn finite_loss(loss: &Tensor<1>, epoch: usize, step: usize) -> Result<f64> {
    let value = scalar(loss);
    if value.is_finite() {
        Ok(value)
    } else {
        Err(CoreError::NonFinite {
            epoch,
            step,
            loss: value as f32,
        })
    }
}

fn count_correct(logits: Tensor<2>, batch: &Batch) -> usize {
    let predicted = argmax_rows(logits.detach());
    let labels: Vec<i64> = batch.labels.clone().into_data().iter::<i64>().collect();
    predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as i64 == **l)
        .count()
}

/// Row-wise argmax of `[batch, classes]` scores.
pub fn argmax_rows(scores: Tensor<2>) -> Vec<usize> {
    scores
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|v| v as usize)
        .collect()
}

/// Refuses a set `model` cannot be scored on: invalid, empty, items of another shape, or a
/// label the model cannot predict. Unlike [`check_set`] it looks at the labels, not the
/// class names: a test set may name more classes than it uses (`what` names the set).
pub fn check_scorable<M: ClassifierModel>(model: &M, set: &LabelledSet, what: &str) -> Result<()> {
    check_runnable(model, set, what)?;
    if let Some((i, &label)) = set
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l >= model.num_classes())
    {
        return Err(CoreError::data(
            &set.domain,
            format!(
                "label {label} of item {i} is beyond the model's {} classes",
                model.num_classes()
            ),
        ));
    }
    Ok(())
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(CoreError::config("batch_size", "must be at least 1"));
    }
    Ok(())
}

/// Refuses inputs a model cannot run on (another item shape) and a zero batch size.
fn check_inputs(inputs: &Inputs, shape: &[usize], name: &str, batch_size: usize) -> Result<()> {
    check_batch_size(batch_size)?;
    inputs.check_fits(shape, name)
}

/// Predicted classes for every item of `set`, in order (inference mode, no gradients).
/// Refuses a set of another item shape than the model takes.
pub fn predict<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<usize>> {
    check_inputs(&set.inputs, &model.input_shape(), &set.domain, batch_size)?;
    let model = model.valid();
    Ok(map_batches(set, device, batch_size, |x| {
        argmax_rows(model.logits(x))
    }))
}

/// An encoder's features for every item of `set` (inference mode), row after row
/// (`set.len() * encoder.feature_dim()` values). Refuses a set of another item shape than
/// the encoder takes.
pub fn encode_all<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f32>> {
    check_inputs(&set.inputs, &encoder.input_shape(), &set.domain, batch_size)?;
    Ok(encode_checked(encoder, &set.inputs, device, batch_size))
}

/// Runs `f` on every batch of `set`'s inputs, in order, on the plain (no autodiff) device,
/// and concatenates what it returns: the batched-inference loop behind [`predict`] and
/// feature extraction.
pub fn map_batches<T>(
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
    f: impl FnMut(Tensor<2>) -> Vec<T>,
) -> Vec<T> {
    map_input_batches(&set.inputs, device, batch_size, f)
}

/// [`map_batches`] over bare inputs (an unlabelled set's, say).
pub fn map_input_batches<T>(
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
    mut f: impl FnMut(Tensor<2>) -> Vec<T>,
) -> Vec<T> {
    let plain = device.clone().without_autodiff();
    let mut plan = BatchPlan::new(inputs.len(), batch_size, false, 0);
    plan.epoch()
        .iter()
        .flat_map(|idx| f(inputs.tensor(idx, &plain)))
        .collect()
}

/// An encoder's features of bare inputs (inference mode), row after row. Refuses inputs of
/// another item shape than the encoder takes.
pub fn encode_inputs<E: Encoder>(
    encoder: &E,
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f32>> {
    check_inputs(inputs, &encoder.input_shape(), "inputs", batch_size)?;
    Ok(encode_checked(encoder, inputs, device, batch_size))
}

/// The loop behind [`encode_all`] and [`encode_inputs`], for inputs they checked.
fn encode_checked<E: Encoder>(
    encoder: &E,
    inputs: &Inputs,
    device: &Device,
    batch_size: usize,
) -> Vec<f32> {
    let encoder = encoder.valid();
    map_input_batches(inputs, device, batch_size, |x| {
        encoder.encode(x).into_data().iter::<f32>().collect()
    })
}

/// Accuracy, macro-F1, confusion matrix, per-class accuracy and mean cross-entropy of
/// `model` on `set` (inference mode, no gradients). Refuses an invalid or empty set, items
/// of another shape than the model takes, and labels beyond its classes.
pub fn evaluate<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<Metrics> {
    check_scorable(model, set, "evaluation")?;
    check_batch_size(batch_size)?;
    Ok(score(model, set, device, batch_size))
}

/// [`evaluate`] for a set already checked against the model (by [`check_set`] or
/// [`check_scorable`]) and a batch size of at least 1: the training loop scores its
/// validation set, checked once before the first epoch, after every epoch.
fn score<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Metrics {
    let model = model.valid();
    let plain = device.clone().without_autodiff();
    let loss = CrossEntropyLossConfig::new().init(&plain);
    let mut plan = BatchPlan::new(set.len(), batch_size, false, 0);
    let (mut predicted, mut loss_sum) = (Vec::with_capacity(set.len()), 0.0);
    for idx in plan.epoch() {
        let batch = set.batch(&idx, &plain);
        let logits = model.logits(batch.inputs);
        let l: f64 = loss
            .forward(logits.clone(), batch.labels)
            .into_scalar::<f32>()
            .elem();
        loss_sum += l * idx.len() as f64;
        predicted.extend(argmax_rows(logits));
    }
    let mut metrics = Metrics::from_predictions(
        &set.labels,
        &predicted,
        model.num_classes().max(set.num_classes()),
    );
    metrics.loss = Some(loss_sum / set.len().max(1) as f64);
    metrics
}
