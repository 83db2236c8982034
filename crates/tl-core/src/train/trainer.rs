//! The one training loop: a [`BatchSource`] and an [`Objective`] under a [`TrainConfig`].

use super::batches::{BatchSource, LabelledBatches, StepAt};
use super::checks::check_set;
use super::config::TrainConfig;
use super::infer::{ClassifierModel, scalar, score};
use super::objective::{CrossEntropy, Objective};
use crate::checkpoint::{save_checkpoint, save_checkpoint_with};
use crate::data::LabelledSet;
use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::report::EpochRecord;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::module::{Module, ParamGroup};
use burn::optim::{Adam, AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

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

/// A progress callback.
pub type ProgressFn<'a> = dyn FnMut(&ProgressEvent) + 'a;

/// What the loop returns.
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
    group_optimizers: Vec<(ParamGroup, Adam)>,
    progress: Option<Box<ProgressFn<'a>>>,
    checkpoint_dir: Option<PathBuf>,
}

/// Scores the model after an epoch (validation loss and accuracy).
type ScoreFn<'v, M> = dyn FnMut(&M) -> Metrics + 'v;

impl<'a> Trainer<'a> {
    /// A trainer for `config`.
    pub fn new(config: TrainConfig) -> Self {
        Self {
            config,
            lr_factors: Vec::new(),
            group_optimizers: Vec::new(),
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

    /// Gives `group` its own Adam (its own betas and state) in place of the configured
    /// optimiser; combine with [`Self::with_lr_factor`] for its own learning rate. For models
    /// with two players trained alongside (FactorVAE's discriminator, say).
    pub fn with_group_adam(mut self, group: ParamGroup, adam: &AdamConfig) -> Self {
        self.group_optimizers.push((group, adam.build()));
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

    /// Like [`Self::with_checkpoint_dir`], for a folder that may be absent.
    pub fn with_checkpoint_dir_opt(mut self, dir: Option<PathBuf>) -> Self {
        self.checkpoint_dir = dir;
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
        let mut batches = LabelledBatches::new(train, self.config.batch_size, self.config.seed);
        self.train(
            model,
            &mut batches,
            CrossEntropy::new(device),
            valid,
            device,
        )
    }

    /// The loop, for a classifier: minimises `objective` over the batches of `batches`,
    /// scoring `valid` after every epoch (early stopping, when configured, stops on it and
    /// keeps the best weights). Every method's training goes through here or through
    /// [`Self::train_module`].
    pub fn train<M: ClassifierModel, S: BatchSource>(
        &mut self,
        model: M,
        batches: &mut S,
        mut objective: impl Objective<M, S::Batch>,
        valid: Option<&LabelledSet>,
        device: &Device,
    ) -> Result<TrainOutcome<M>> {
        self.config.validate()?;
        batches.check(Some(&model.input_shape()), Some(model.num_classes()))?;
        match valid {
            Some(v) => {
                check_set(&model, v, "validation")?;
                let batch_size = self.config.batch_size.max(256);
                // `v` passed `check_set` above: score it without checking it every epoch.
                let mut scorer = |m: &M| score(m, v, device, batch_size);
                self.run(model, batches, &mut objective, Some(&mut scorer), device)
            }
            None => self.run(model, batches, &mut objective, None, device),
        }
    }

    /// The loop for a model without class scores (an encoder with a decoder or a projection
    /// head): the same optimiser, schedule, learning-rate factors, NaN detection, progress
    /// and checkpoints as [`Self::train`], with no validation; early stopping is refused.
    pub fn train_module<M: Module + 'static, S: BatchSource>(
        &mut self,
        model: M,
        batches: &mut S,
        mut objective: impl Objective<M, S::Batch>,
        device: &Device,
    ) -> Result<TrainOutcome<M>> {
        self.config.validate()?;
        if self.config.early_stopping.is_some() {
            return Err(CoreError::config(
                "early_stopping",
                "this model has no class scores to validate, so no accuracy to stop on",
            ));
        }
        batches.check(None, None)?;
        self.run(model, batches, &mut objective, None, device)
    }

    fn run<M: Module + 'static, S: BatchSource>(
        &mut self,
        model: M,
        batches: &mut S,
        objective: &mut dyn Objective<M, S::Batch>,
        mut valid: Option<&mut ScoreFn<'_, M>>,
        device: &Device,
    ) -> Result<TrainOutcome<M>> {
        let cfg = self.config.clone();
        if cfg.early_stopping.is_some() && valid.is_none() {
            return Err(CoreError::config(
                "early_stopping",
                "needs a validation set, and none was given",
            ));
        }
        let ad_device = device.clone().autodiff();
        ad_device.seed(cfg.seed);
        let mut model = model.fork(&ad_device).train();
        let steps = batches.steps_per_epoch();
        let total = (steps * cfg.epochs).max(1);
        let mut optim = cfg.optimizer();
        for (group, adam) in &self.group_optimizers {
            optim = optim.with_group(group.clone(), adam.clone(), None);
        }
        let mut scheduler = self.scheduler(steps)?;

        let mut history = Vec::new();
        let mut best: Option<(f64, usize, M)> = None;
        let mut since_best = 0;
        let mut stopped_early = false;
        for epoch in 1..=cfg.epochs {
            model = objective.start_epoch(epoch, model);
            let start = Instant::now();
            let (mut loss_sum, mut lr) = (0.0, cfg.lr);
            let mut correct = Some((0usize, 0usize));
            let mut sums = BTreeMap::<String, (f64, usize)>::new();
            batches.start_epoch();
            for i in 0..steps {
                let at = StepAt {
                    epoch,
                    step: i,
                    global: (epoch - 1) * steps + i,
                    total,
                };
                let batch = batches.batch(at, &ad_device);
                let out = objective.step(&model, &batch)?;
                let value = finite_loss(&out.loss, epoch, i + 1)?;
                correct = match (correct, out.correct) {
                    (Some((c, n)), Some((dc, dn))) => Some((c + dc, n + dn)),
                    _ => None,
                };
                for (name, v) in out.stats {
                    let e = sums.entry(name.to_string()).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
                (model, lr) = self.descend(model, out.loss, &mut optim, &mut scheduler);
                loss_sum += value;
                self.emit(ProgressEvent::Step {
                    epoch,
                    step: i + 1,
                    steps,
                    loss: value,
                });
            }
            let (valid_loss, valid_accuracy) = match valid.as_mut() {
                Some(score) => {
                    let m = score(&model);
                    (m.loss, Some(m.accuracy))
                }
                None => (None, None),
            };
            let mut extra: BTreeMap<String, f64> = sums
                .into_iter()
                .map(|(k, (sum, n))| (k, sum / n.max(1) as f64))
                .collect();
            extra.extend(objective.end_epoch(&model));
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / steps.max(1) as f64,
                train_accuracy: correct
                    .filter(|(_, n)| *n > 0)
                    .map(|(c, n)| c as f64 / n as f64),
                valid_loss,
                valid_accuracy,
                lr,
                seconds: start.elapsed().as_secs_f64(),
                extra,
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
            // The history travels in the same folder swap as the weights it describes.
            let history_bytes =
                serde_json::to_vec_pretty(history).map_err(|e| CoreError::Format {
                    path: dir.join("last").join("history.json"),
                    reason: e.to_string(),
                })?;
            save_checkpoint_with(
                &dir.join("last"),
                &model.valid(),
                &self.config,
                None,
                &[("history.json", history_bytes)],
            )?;
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
