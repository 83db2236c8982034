//! The one training loop: a [`BatchSource`] and an [`Objective`] under a [`TrainConfig`].

use super::batches::{BatchSource, LabelledBatches, StepAt};
use super::checks::check_set;
use super::config::TrainConfig;
use super::infer::{ClassifierModel, scalar, score};
use super::objective::{CrossEntropy, Objective};
use crate::checkpoint::{
    CONFIG_FILE, checkpoint_folder, json_bytes, load_checkpoint, save_checkpoint,
    save_checkpoint_with,
};
use crate::data::LabelledSet;
use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::report::EpochRecord;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{Adam, AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The history file of a checkpoint folder written by the loop.
pub const HISTORY_FILE: &str = "history.json";
/// The optimiser state (burnpack) of a checkpoint folder written by the loop.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// Where the loop stands (epochs done, early-stopping state) in a checkpoint folder.
pub const LOOP_FILE: &str = "loop.json";

/// Where the loop stands after an epoch: what, with the weights, the optimiser state and the
/// history, a resumed run needs to go on as if it had never stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LoopState {
    epochs_done: usize,
    steps_per_epoch: usize,
    /// Validation accuracy and epoch of the best weights so far (early stopping).
    best: Option<(f64, usize)>,
    since_best: usize,
    stopped_early: bool,
    /// FNV-1a (64-bit, hex) of the optimiser state saved beside it: a damaged file is
    /// refused by name rather than fed to the optimiser.
    optimizer_fnv1a64: String,
}

/// What a resumed run starts from.
struct Resumed<M> {
    state: LoopState,
    model: M,
    best: Option<M>,
    optimizer: Vec<u8>,
    history: Vec<crate::report::EpochRecord>,
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
    resume: bool,
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
            resume: false,
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

    /// Saves a checkpoint under `dir` after every epoch: `last/` (weights, config, history,
    /// optimiser state, where the loop stands), and `best/` (the best weights under early
    /// stopping). Each folder is replaced as a whole, so a crash leaves the previous one.
    pub fn with_checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Like [`Self::with_checkpoint_dir`], for a folder that may be absent.
    pub fn with_checkpoint_dir_opt(mut self, dir: Option<PathBuf>) -> Self {
        self.checkpoint_dir = dir;
        self
    }

    /// Continues from the checkpoint folder's `last/` when it holds one: its weights,
    /// optimiser state, schedule position, history and early-stopping state, with the data
    /// order and the device's random stream of the epochs done replayed, so that a run killed
    /// at any point and started again reaches the same weights as one that never stopped.
    /// The config must be the one the checkpoint was written with, the objective one that
    /// keeps no state of its own ([`Objective::resumable`]), and the model the freshly built
    /// one (its weights are replaced). Without a checkpoint yet, the run starts from epoch 1.
    pub fn resuming(mut self) -> Self {
        self.resume = true;
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
        let steps = batches.steps_per_epoch();
        let total = (steps * cfg.epochs).max(1);
        let mut optim = cfg.optimizer();
        for (group, adam) in &self.group_optimizers {
            optim = optim.with_group(group.clone(), adam.clone(), None);
        }
        let mut scheduler = self.scheduler(steps)?;
        let resumed = if self.resume {
            if !objective.resumable() {
                return Err(CoreError::config(
                    "resume",
                    "this objective keeps state of its own between steps (a discriminator, a \
                     teacher, a generator), which a checkpoint does not hold; run it from the start",
                ));
            }
            self.resume_state(&model, steps)?
        } else {
            None
        };

        let mut history = Vec::new();
        let mut best: Option<(f64, usize, M)> = None;
        let mut since_best = 0;
        let mut stopped_early = false;
        let mut first_epoch = 1;
        let mut model = match resumed {
            None => model.fork(&ad_device).train(),
            Some(r) => {
                let done = r.state.epochs_done;
                optim = load_optimizer(optim, r.optimizer, &self.last_dir().join(OPTIMIZER_FILE))?;
                for _ in 0..done * steps {
                    scheduler.step();
                }
                let mut model = r.model.fork(&ad_device).train();
                for epoch in 1..=done {
                    ad_device.seed(epoch_seed(cfg.seed, epoch));
                    model = objective.start_epoch(epoch, model);
                    batches.skip_epoch(epoch, total, &ad_device);
                }
                best = match (r.state.best, r.best) {
                    (Some((accuracy, epoch)), Some(m)) => {
                        Some((accuracy, epoch, m.fork(&ad_device).train()))
                    }
                    _ => None,
                };
                since_best = r.state.since_best;
                stopped_early = r.state.stopped_early;
                history = r.history;
                first_epoch = if stopped_early {
                    cfg.epochs + 1
                } else {
                    done + 1
                };
                model
            }
        };
        for epoch in first_epoch..=cfg.epochs {
            // A resumable run draws each epoch's random numbers (dropout, noise) from a seed of
            // the epoch's own, so that a resumed run draws what an uninterrupted one would
            // (Burn's generator cannot be saved). A run that is not resumable keeps one stream
            // from the start, as it always has.
            if self.resume {
                ad_device.seed(epoch_seed(cfg.seed, epoch));
            }
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
            // Before anything of the epoch is kept: a finite loss can still leave NaN weights
            // (a NaN gradient in the last step), and JSON cannot hold a NaN figure.
            check_epoch_finite(&model, &record)?;
            let mut stop_now = false;
            if let (Some(stop), Some(acc)) = (&cfg.early_stopping, valid_accuracy) {
                let improved = best
                    .as_ref()
                    .is_none_or(|(b, _, _)| acc > b + stop.min_delta);
                if improved {
                    best = Some((acc, epoch, model.clone()));
                    since_best = 0;
                    // Saved before `last/`, which says it is the best: a crash between the
                    // two leaves a `best/` at least as new as what `last/` refers to.
                    if let Some(dir) = &self.checkpoint_dir {
                        save_checkpoint(&dir.join("best"), &model.valid(), &cfg, None)?;
                    }
                } else {
                    since_best += 1;
                    stop_now = since_best >= stop.patience;
                }
            }
            stopped_early = stop_now && epoch < cfg.epochs;
            let state = LoopState {
                epochs_done: epoch,
                steps_per_epoch: steps,
                best: best.as_ref().map(|(acc, epoch, _)| (*acc, *epoch)),
                since_best,
                stopped_early,
                optimizer_fnv1a64: String::new(),
            };
            self.end_epoch(record, &mut history, &model, &optim, &state)?;
            if stop_now {
                break;
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
        optim: &ModuleOptimizer,
        state: &LoopState,
    ) -> Result<()> {
        self.emit(ProgressEvent::Epoch(record.clone()));
        history.push(record);
        if self.checkpoint_dir.is_some() {
            // The history, the optimiser state and where the loop stands travel in the same
            // folder swap as the weights they go with.
            let last = self.last_dir();
            let history_bytes = json_bytes(&last.join(HISTORY_FILE), history)?.into_bytes();
            let optimizer_bytes = optim
                .into_bytes()
                .map_err(|e| CoreError::Format {
                    path: last.join(OPTIMIZER_FILE),
                    reason: e.to_string(),
                })?
                .to_vec();
            let state = LoopState {
                optimizer_fnv1a64: format!("{:016x}", fnv1a64(&optimizer_bytes)),
                ..state.clone()
            };
            let loop_bytes = json_bytes(&last.join(LOOP_FILE), &state)?.into_bytes();
            save_checkpoint_with(
                &last,
                &model.valid(),
                &self.config,
                None,
                &[
                    (HISTORY_FILE, history_bytes),
                    (OPTIMIZER_FILE, optimizer_bytes),
                    (LOOP_FILE, loop_bytes),
                ],
            )?;
        }
        Ok(())
    }

    /// The folder of the checkpoint after the last epoch.
    fn last_dir(&self) -> PathBuf {
        self.checkpoint_dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join("last")
    }

    /// What a resumed run starts from: `None` when the checkpoint folder holds no epoch yet;
    /// an error naming the file when it holds one that this run cannot continue (another
    /// config, other data, a missing or unreadable file).
    fn resume_state<M: Module>(&self, model: &M, steps: usize) -> Result<Option<Resumed<M>>> {
        let Some(dir) = &self.checkpoint_dir else {
            return Err(CoreError::config(
                "resume",
                "needs a checkpoint folder to resume from (with_checkpoint_dir)",
            ));
        };
        let last = dir.join("last");
        let folder = checkpoint_folder(&last);
        if !folder.exists() {
            return Ok(None);
        }
        let read = |name: &str| {
            let path = folder.join(name);
            std::fs::read(&path).map_err(|e| CoreError::io(&path, e))
        };
        let parse = |name: &str| -> Result<serde_json::Value> {
            serde_json::from_slice(&read(name)?).map_err(|e| CoreError::Format {
                path: folder.join(name),
                reason: e.to_string(),
            })
        };
        let saved = parse(CONFIG_FILE)?;
        let now = serde_json::to_value(&self.config).map_err(|e| CoreError::Format {
            path: folder.join(CONFIG_FILE),
            reason: e.to_string(),
        })?;
        if saved != now {
            return Err(CoreError::config(
                "resume",
                format!(
                    "{} was written by another training config ({}); resume with that one \
                     or start in another folder",
                    folder.join(CONFIG_FILE).display(),
                    first_difference(&saved, &now, "")
                ),
            ));
        }
        let state: LoopState =
            serde_json::from_value(parse(LOOP_FILE)?).map_err(|e| CoreError::Format {
                path: folder.join(LOOP_FILE),
                reason: e.to_string(),
            })?;
        if state.steps_per_epoch != steps || state.epochs_done > self.config.epochs {
            return Err(CoreError::config(
                "resume",
                format!(
                    "{} is {} epoch(s) of {} steps; this run has {} steps per epoch over {} \
                     epochs (other data or batch size?)",
                    folder.display(),
                    state.epochs_done,
                    state.steps_per_epoch,
                    steps,
                    self.config.epochs
                ),
            ));
        }
        let history =
            serde_json::from_value(parse(HISTORY_FILE)?).map_err(|e| CoreError::Format {
                path: folder.join(HISTORY_FILE),
                reason: e.to_string(),
            })?;
        let optimizer = read(OPTIMIZER_FILE)?;
        if format!("{:016x}", fnv1a64(&optimizer)) != state.optimizer_fnv1a64 {
            return Err(CoreError::Format {
                path: folder.join(OPTIMIZER_FILE),
                reason: format!(
                    "does not match the checksum {LOOP_FILE} holds for it (damaged or replaced)"
                ),
            });
        }
        let best = match state.best {
            Some(_) => Some(load_checkpoint(model.clone(), &dir.join("best"))?),
            None => None,
        };
        let model = load_checkpoint(model.clone(), &last)?;
        Ok(Some(Resumed {
            state,
            model,
            best,
            optimizer,
            history,
        }))
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

/// The seed of epoch `epoch`'s random stream: the run's seed for the first epoch (so a one-epoch
/// run draws exactly what seeding the device once would), a mix of the two after.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    if epoch <= 1 {
        return seed;
    }
    // SplitMix64's finaliser over the seed and the epoch.
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The optimiser with the state in `bytes`: an unreadable record is a [`CoreError::Format`]
/// naming `path`, and so is one that Burn's loader would panic on (a state tensor without
/// its parameter's id).
fn load_optimizer(optim: ModuleOptimizer, bytes: Vec<u8>, path: &Path) -> Result<ModuleOptimizer> {
    let bytes = burn::tensor::Bytes::from_bytes_vec(bytes);
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| optim.from_bytes(bytes)));
    let fail = |reason: String| CoreError::Format {
        path: path.to_path_buf(),
        reason,
    };
    match loaded {
        Ok(Ok(optim)) => Ok(optim),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail("an optimiser state Burn cannot read back".into())),
    }
}

/// The first key where two JSON values differ, with both values.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> String {
    use serde_json::Value;
    if let (Value::Object(x), Value::Object(y)) = (a, b) {
        for key in x.keys().chain(y.keys()) {
            let (u, v) = (x.get(key), y.get(key));
            if u != v {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                return match (u, v) {
                    (Some(u), Some(v)) => first_difference(u, v, &path),
                    _ => format!("{path}: {} there, {} here", show(u), show(v)),
                };
            }
        }
    }
    format!("{at}: {a} there, {b} here")
}

fn show(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "absent".into(), |v| v.to_string())
}

/// Refuses an epoch whose validation loss, figures or weights are NaN or infinite
/// ([`CoreError::Diverged`], naming which).
fn check_epoch_finite<M: Module>(model: &M, record: &EpochRecord) -> Result<()> {
    let diverged = |what: String| {
        Err(CoreError::Diverged {
            epoch: record.epoch,
            what,
        })
    };
    if let Some(loss) = record.valid_loss
        && !loss.is_finite()
    {
        return diverged(format!("the validation loss is {loss}"));
    }
    if let Some((name, value)) = record.extra.iter().find(|(_, v)| !v.is_finite()) {
        return diverged(format!("`{name}` is {value}"));
    }
    struct NonFinite(i64);
    impl ModuleVisitor for NonFinite {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param
                .val()
                .is_finite()
                .bool_not()
                .int()
                .sum()
                .into_scalar::<i64>();
        }
    }
    let mut count = NonFinite(0);
    model.visit(&mut count);
    if count.0 > 0 {
        return diverged(format!("{} weights are NaN or infinite", count.0));
    }
    Ok(())
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
