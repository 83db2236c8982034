//! The strategy contract: what every transfer method of every family implements, the run
//! context it gets instead of long argument lists, and the registry that finds methods by
//! name.
//!
//! A method is a config (a `#[derive(Config)]` struct whose fields are its settings) that
//! implements [`Strategy`]: its name and family, the [`TaskPart`]s it needs (refused before
//! any training, naming both), and [`Strategy::run`], which takes the starting model
//! ([`Pretrained`]: an encoder, with or without the head it was trained with), the
//! [`TransferTask`] and a [`RunContext`], and returns the trained classifier and one
//! [`FitReport`]. A crate registers its methods in a [`Registry`] with their default configs;
//! examples, the command line and the comparison tables create them by name, with settings
//! given as JSON.
//!
//! ```
//! use tl_core::strategy::{Family, Registry};
//! let registry: Registry = Registry::new();
//! let err = registry.create("dan", &serde_json::json!({})).err().unwrap();
//! assert!(err.to_string().contains("no strategy `dan`"), "{err}");
//! assert_eq!(Family::Transductive.to_string(), "transductive");
//! ```

use crate::data::LabelledSet;
use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::model::{Classifier, Encoder, ParamCount, Sequential, count_params, head_config};
use crate::report::{EpochRecord, FitReport};
use crate::task::{TaskPart, TransferTask};
use crate::train::{
    ClassifierModel, EVAL_BATCH_SIZE, ProgressEvent, ProgressFn, TrainConfig, Trainer, evaluate,
};
use burn::tensor::Device;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

/// The families of transfer learning, one crate each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    /// Same domain, new task: fine-tuning a pretrained model (tl-inductive).
    Inductive,
    /// Same task, new domain without target labels (tl-transductive).
    Transductive,
    /// No labels in either domain first, then a few labels (tl-unsupervised).
    Unsupervised,
    /// A domain discriminator makes features indistinguishable (tl-adversarial).
    Adversarial,
    /// A teacher trains a student (tl-distill).
    Distillation,
    /// A few examples of classes never seen in training (tl-fewshot).
    FewShot,
    /// Content and style apart (tl-disentangle).
    Disentanglement,
    /// Images aligned with a text encoder (tl-crossmodal).
    CrossModal,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inductive => "inductive",
            Self::Transductive => "transductive",
            Self::Unsupervised => "unsupervised",
            Self::Adversarial => "adversarial",
            Self::Distillation => "distillation",
            Self::FewShot => "few-shot",
            Self::Disentanglement => "disentanglement",
            Self::CrossModal => "cross-modal",
        })
    }
}

/// The model a strategy starts from: a (usually pretrained) encoder, and the head it was
/// trained with when there is one. Methods that adapt a task keep only the encoder and put a
/// fresh head on it; methods that adapt a domain keep the head (or put a fresh one on when
/// there is none).
#[derive(Debug, Clone)]
pub struct Pretrained<E> {
    /// The encoder.
    pub encoder: E,
    /// The head it was trained with, if any.
    pub head: Option<Sequential>,
}

impl<E: Encoder> Pretrained<E> {
    /// An encoder without a head.
    pub fn encoder(encoder: E) -> Self {
        Self {
            encoder,
            head: None,
        }
    }

    /// A classifier: its encoder and its head.
    pub fn classifier(model: Classifier<E>) -> Self {
        Self {
            encoder: model.encoder,
            head: Some(model.head),
        }
    }

    /// The classifier for a task of `classes` classes: the head it came with (refused when it
    /// predicts another number of classes), or a fresh linear one on `device`.
    pub fn into_classifier(self, classes: usize, device: &Device) -> Result<Classifier<E>> {
        let head = match self.head {
            Some(head) => head,
            None => head_config(self.encoder.feature_dim(), &[], classes).init(device)?,
        };
        let model = Classifier::new(self.encoder, head)?;
        if model.num_classes() != classes {
            return Err(CoreError::data(
                "task",
                format!(
                    "the model predicts {} classes, the task has {classes}",
                    model.num_classes()
                ),
            ));
        }
        Ok(model)
    }
}

impl<E: Encoder> From<Classifier<E>> for Pretrained<E> {
    fn from(model: Classifier<E>) -> Self {
        Self::classifier(model)
    }
}

/// What a run gets besides its model and task: the device, the seed, the clock, the progress
/// callback, the checkpoint folder and the evaluation batch size.
pub struct RunContext<'a> {
    device: Device,
    seed: u64,
    eval_batch_size: usize,
    pad_items: usize,
    progress: Option<Box<ProgressFn<'a>>>,
    checkpoint_dir: Option<PathBuf>,
    started: Instant,
}

impl fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext")
            .field("device", &crate::device::device_label(&self.device))
            .field("seed", &self.seed)
            .field("eval_batch_size", &self.eval_batch_size)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .finish_non_exhaustive()
    }
}

impl<'a> RunContext<'a> {
    /// A context on `device` with seed 0, no progress callback and no checkpoints.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            seed: 0,
            eval_batch_size: EVAL_BATCH_SIZE,
            pad_items: crate::domain::PAD_ITEMS,
            progress: None,
            checkpoint_dir: None,
            started: Instant::now(),
        }
    }

    /// Sets the seed (it replaces the seed of every training config the run uses).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the batch size of evaluation and feature extraction (memory, not results).
    pub fn with_eval_batch_size(mut self, batch_size: usize) -> Self {
        self.eval_batch_size = batch_size.max(1);
        self
    }

    /// Sets how many items of each domain the proxy A-distance of domain adaptation runs is
    /// measured on (default [`crate::domain::PAD_ITEMS`]); 0 skips the measurement (and its
    /// `pad_before` / `pad_after` figures), which costs two passes of the encoder over that
    /// many items per run.
    pub fn with_pad_items(mut self, items: usize) -> Self {
        self.pad_items = items;
        self
    }

    /// Items per domain of the proxy A-distance (0: not measured).
    pub fn pad_items(&self) -> usize {
        self.pad_items
    }

    /// Calls `f` after every training step and epoch.
    pub fn with_progress(mut self, f: impl FnMut(&ProgressEvent) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Saves weights and history under `dir` after every epoch.
    pub fn with_checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The batch size of evaluation and feature extraction.
    pub fn eval_batch_size(&self) -> usize {
        self.eval_batch_size
    }

    /// Seeds the device's generator (fresh heads, dropout) and starts the clock: what a
    /// method does once its checks (and work that is not its own, such as a distance
    /// measured before adapting) are done.
    pub fn begin(&mut self) {
        self.device.seed(self.seed);
        self.started = Instant::now();
    }

    /// Seconds since the clock started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Reports `event` to the run's progress callback (for a method's own outer loop, such
    /// as rounds or meta-iterations; the trainer reports its steps and epochs itself).
    pub fn emit(&mut self, event: &ProgressEvent) {
        if let Some(progress) = self.progress.as_mut() {
            progress(event);
        }
    }

    /// `train` with the run's seed.
    pub fn train_config(&self, train: &TrainConfig) -> TrainConfig {
        train.clone().with_seed(self.seed)
    }

    /// A trainer for `train` (its seed as given) that reports to the run's progress callback
    /// and checkpoint folder.
    pub fn trainer(&mut self, train: TrainConfig) -> Trainer<'_> {
        let trainer = Trainer::new(train).with_checkpoint_dir_opt(self.checkpoint_dir.clone());
        match self.progress.as_mut() {
            Some(progress) => trainer.with_progress(move |event| progress(event)),
            None => trainer,
        }
    }

    /// `model`'s metrics on `set` (inference mode, the run's evaluation batch size).
    pub fn evaluate<M: ClassifierModel>(&self, model: &M, set: &LabelledSet) -> Result<Metrics> {
        evaluate(model, set, &self.device, self.eval_batch_size)
    }

    /// The report of a finished run, the device and the seed filled in; `wall_time_s` is the
    /// method's own time (taken by the caller before scoring, say).
    pub fn report(
        &self,
        strategy: &str,
        config: &impl Serialize,
        history: Vec<EpochRecord>,
        metrics: Metrics,
        params: ParamCount,
        wall_time_s: f64,
    ) -> Result<FitReport> {
        Ok(FitReport {
            strategy: strategy.to_string(),
            config: to_json(config)?,
            history,
            metrics,
            wall_time_s,
            params,
            device: crate::device::device_label(&self.device),
            seed: self.seed,
            extra: BTreeMap::new(),
        })
    }

    /// The report of a trained classifier scored on `test` (the wall time taken before
    /// scoring).
    pub fn finish<M: ClassifierModel>(
        &self,
        strategy: &str,
        config: &impl Serialize,
        model: &M,
        history: Vec<EpochRecord>,
        test: &LabelledSet,
    ) -> Result<FitReport> {
        let wall_time_s = self.elapsed();
        let metrics = self.evaluate(model, test)?;
        let params = count_params(model);
        self.report(strategy, config, history, metrics, params, wall_time_s)
    }
}

/// A config as JSON (for reports and the registry).
pub fn to_json(config: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(config)
        .map_err(|e| CoreError::config("config", format!("not serialisable: {e}")))
}

/// What a fit returns: the trained classifier and its report.
pub type Fitted<E> = Result<(Classifier<E>, FitReport)>;

/// The contract every transfer method implements.
///
/// Call [`Strategy::fit`]: it refuses bad settings and a task without the parts the method
/// needs (naming both) before any work, then runs the method.
pub trait Strategy<E: Encoder = Sequential> {
    /// The name in reports and in the registry (`"full-fine-tune"`, `"dann"`...).
    fn name(&self) -> &str;

    /// The family the method belongs to.
    fn family(&self) -> Family;

    /// The task parts the method needs.
    fn needs(&self) -> &'static [TaskPart];

    /// The settings, as JSON.
    fn config(&self) -> Result<serde_json::Value>;

    /// Refuses bad settings before any work.
    fn validate(&self) -> Result<()>;

    /// Whether the method trains (runs optimiser steps, and so reports a per-epoch
    /// history); false for a method that only re-estimates statistics, such as AdaBN.
    fn trains(&self) -> bool {
        true
    }

    /// Whether the method uses the start encoder only to compute features of the task's
    /// items (in inference mode, no augmentation), never training or changing it, and ignores
    /// the start head: then a fit on the task's features with an identity encoder gives the
    /// same predictions, and a caller that fits many tasks from one encoder (`tl run`'s
    /// few-shot episodes) computes each item's features once. False (the default) for
    /// everything else; the contract test checks every method that says true.
    fn reads_features_only(&self) -> bool {
        false
    }

    /// The method itself, on a task that has every part it needs and settings that passed
    /// [`Self::validate`]: the trained classifier and its report on the task's test set. The
    /// seed is the context's.
    fn run(
        &self,
        start: Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, FitReport)>;

    /// Checks the settings and the task, then runs the method.
    fn fit(
        &self,
        start: Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, FitReport)> {
        self.validate()?;
        task.require(self.name(), self.needs())?;
        self.run(start, task, ctx)
    }
}

/// The parts of a [`Strategy`] impl that every config writes the same way: the name, family
/// and needed task parts given, the settings as the config's JSON, and the config's own
/// (inherent) `validate`. Write it inside `impl Strategy<E> for Config { ... }` beside `run`.
///
/// The name is a constant or `fn Path::method` (a method of the config giving it, for one
/// config registered under several names); the needed parts likewise a constant or
/// `fn Path::method` (for parts that depend on the settings, such as whether a method trains
/// on the source first).
#[macro_export]
macro_rules! strategy_basics {
    (@needs fn $needs:path) => {
        fn needs(&self) -> &'static [$crate::task::TaskPart] {
            $needs(self)
        }
    };
    (@needs $needs:expr) => {
        fn needs(&self) -> &'static [$crate::task::TaskPart] {
            $needs
        }
    };
    (@rest $family:expr, $($needs:tt)+) => {
        fn family(&self) -> $crate::strategy::Family {
            $family
        }

        $crate::strategy_basics!(@needs $($needs)+);

        fn config(&self) -> $crate::Result<$crate::strategy::Json> {
            $crate::strategy::to_json(self)
        }

        fn validate(&self) -> $crate::Result<()> {
            // The config's inherent `validate` (inherent functions come first).
            Self::validate(self)
        }
    };
    (fn $name:path, $family:expr, $($needs:tt)+) => {
        fn name(&self) -> &str {
            $name(self)
        }

        $crate::strategy_basics!(@rest $family, $($needs)+);
    };
    ($name:expr, $family:expr, $($needs:tt)+) => {
        fn name(&self) -> &str {
            $name
        }

        $crate::strategy_basics!(@rest $family, $($needs)+);
    };
}

/// Settings as JSON.
pub use serde_json::Value as Json;

type Factory<E> = Box<dyn Fn(&serde_json::Value) -> Result<Box<dyn Strategy<E>>> + Send + Sync>;

/// One registered strategy: its name, family, a line on what it does, and how to make it.
pub struct Entry<E: Encoder = Sequential> {
    name: String,
    family: Family,
    summary: &'static str,
    needs: &'static [TaskPart],
    default_config: serde_json::Value,
    make: Factory<E>,
}

impl<E: Encoder> Entry<E> {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// What it does, in a line.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// The task parts it needs.
    pub fn needs(&self) -> &'static [TaskPart] {
        self.needs
    }

    /// Its default settings.
    pub fn default_config(&self) -> &serde_json::Value {
        &self.default_config
    }
}

impl<E: Encoder> fmt::Debug for Entry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Every strategy by name, with its default settings.
pub struct Registry<E: Encoder = Sequential> {
    entries: Vec<Entry<E>>,
}

impl<E: Encoder> Default for Registry<E> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<E: Encoder> fmt::Debug for Registry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.name))
            .finish()
    }
}

impl<E: Encoder + 'static> Registry<E> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the strategy `default()` makes, under its own name, with `summary`. A
    /// strategy made from the registry starts from `default()` with the settings given to
    /// [`Self::create`] laid over it. Refuses a name registered already.
    pub fn register<S>(&mut self, summary: &'static str, default: fn() -> S) -> Result<()>
    where
        S: Strategy<E> + Serialize + DeserializeOwned + 'static,
    {
        let strategy = default();
        let name = strategy.name().to_string();
        if self.entries.iter().any(|e| e.name == name) {
            return Err(CoreError::config(
                "strategy",
                format!("`{name}` is registered twice"),
            ));
        }
        let default_config = to_json(&strategy)?;
        let base = default_config.clone();
        let owner = name.clone();
        self.entries.push(Entry {
            family: strategy.family(),
            needs: strategy.needs(),
            summary,
            default_config,
            make: Box::new(move |settings| {
                let mut merged = base.clone();
                merge_settings(&mut merged, settings, &owner)?;
                let s: S = serde_json::from_value(merged)
                    .map_err(|e| CoreError::config("settings", format!("for `{owner}`: {e}")))?;
                Ok(Box::new(s))
            }),
            name,
        });
        Ok(())
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[Entry<E>] {
        &self.entries
    }

    /// Every name, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The entry called `name`; an unknown name is an error that lists the known ones.
    pub fn entry(&self, name: &str) -> Result<&Entry<E>> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CoreError::UnknownStrategy {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// The strategy called `name` with `settings` (a JSON object, possibly nested, such as
    /// `{"rank": 4, "train": {"epochs": 60}}`) laid over its defaults. A setting it does not
    /// have is an error naming it and listing the ones it has.
    pub fn create(&self, name: &str, settings: &serde_json::Value) -> Result<Box<dyn Strategy<E>>> {
        (self.entry(name)?.make)(settings)
    }
}

/// Lays `settings` over `base`, key by key (objects merge, anything else replaces); a key
/// `base` does not have is refused.
fn merge_settings(
    base: &mut serde_json::Value,
    settings: &serde_json::Value,
    path: &str,
) -> Result<()> {
    use serde_json::Value;
    match (base, settings) {
        (_, Value::Null) => Ok(()),
        (Value::Object(b), Value::Object(s)) => {
            for (key, value) in s {
                let Some(slot) = b.get_mut(key) else {
                    let known = b.keys().cloned().collect::<Vec<_>>().join(", ");
                    return Err(CoreError::config(
                        "settings",
                        format!("`{key}` is not a setting of `{path}` (it has: {known})"),
                    ));
                };
                // A tagged enum switched to another variant is replaced whole.
                let same_kind =
                    value.get("kind").is_none() || value.get("kind") == slot.get("kind");
                if slot.is_object() && value.is_object() && same_kind {
                    merge_settings(slot, value, &format!("{path}.{key}"))?;
                } else {
                    *slot = value.clone();
                }
            }
            Ok(())
        }
        (b, s) => {
            *b = s.clone();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_merge_nested_and_refuse_unknown_keys() {
        let mut base = json!({"rank": 8, "train": {"epochs": 10, "lr": 0.001}});
        merge_settings(&mut base, &json!({"train": {"epochs": 3}}), "lora").unwrap();
        assert_eq!(
            base,
            json!({"rank": 8, "train": {"epochs": 3, "lr": 0.001}})
        );
        let err = merge_settings(&mut base, &json!({"train": {"epoch": 3}}), "lora")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`epoch` is not a setting of `lora.train`"),
            "{err}"
        );
        assert!(err.contains("epochs"), "{err}");
    }
}
