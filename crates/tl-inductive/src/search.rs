//! Hyperparameter search on a validation split of the labelled target set: grid or random
//! over learning rate, weight decay and a method's regularisation strength.
//!
//! The task's test set is never seen: each trial trains on part of the labelled target set
//! and is scored on the rest; the caller refits the best configuration on all of it.

use burn::config::Config;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tl_core::model::Encoder;
use tl_core::report::FitReport;
use tl_core::strategy::{Json, Pretrained, Registry, RunContext};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{OptimizerKind, TrainConfig};
use tl_core::{CoreError, Result};
use tl_data::split::stratified_split;

/// One point of the search space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HyperParams {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay of the optimiser.
    pub weight_decay: f64,
    /// The method's regularisation strength (L2-SP's alpha); ignored by methods without one.
    pub reg: f64,
}

/// How the space is walked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchMode {
    /// Every combination.
    Grid,
    /// `trials` combinations drawn without replacement (seeded).
    Random {
        /// How many.
        trials: usize,
    },
}

/// A search over learning rate x weight decay x regularisation.
#[derive(Config, Debug)]
pub struct HyperSearch {
    /// Learning rates to try.
    #[config(default = "vec![1e-3, 3e-3, 1e-2]")]
    pub lr: Vec<f64>,
    /// Weight decays to try.
    #[config(default = "vec![0.0]")]
    pub weight_decay: Vec<f64>,
    /// Regularisation strengths to try.
    #[config(default = "vec![0.0]")]
    pub reg: Vec<f64>,
    /// Grid or random.
    #[config(default = "SearchMode::Grid")]
    pub mode: SearchMode,
    /// Share of the labelled target set held out for validation (stratified).
    #[config(default = 0.25)]
    pub valid_fraction: f64,
    /// Seed of the split and of random draws.
    #[config(default = 0)]
    pub seed: u64,
}

/// One trained and scored configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// What was tried.
    pub params: HyperParams,
    /// Accuracy on the validation split (0 for a trial that failed).
    pub valid_accuracy: f64,
    /// Why the trial failed (a diverging rate, say); `None` when it trained.
    #[serde(default)]
    pub error: Option<String>,
    /// Seconds it took.
    pub wall_time_s: f64,
}

/// Every trial and the best one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// In the order they ran.
    pub trials: Vec<Trial>,
    /// Index of the best trial (highest validation accuracy; the first one on ties).
    pub best: usize,
}

impl SearchResult {
    /// The best configuration.
    pub fn best_params(&self) -> HyperParams {
        self.trials[self.best].params
    }

    /// A Markdown table of all trials, the best marked.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| lr | weight decay | reg | validation accuracy | seconds |\n|---:|---:|---:|---:|---:|\n",
        );
        for (i, t) in self.trials.iter().enumerate() {
            let mark = match (&t.error, i == self.best) {
                (Some(_), _) => " (diverged)",
                (None, true) => " **best**",
                (None, false) => "",
            };
            s += &format!(
                "| {:e} | {:e} | {:e} | {:.2} %{mark} | {:.1} |\n",
                t.params.lr,
                t.params.weight_decay,
                t.params.reg,
                100.0 * t.valid_accuracy,
                t.wall_time_s
            );
        }
        s
    }
}

/// A registered strategy to search: its name, its settings beyond the searched ones, and the
/// setting the regularisation strengths go to (L2-SP: `alpha`), if any.
pub struct Tuned<'r, E: Encoder = tl_core::model::Sequential> {
    /// Where the strategy is registered.
    pub registry: &'r Registry<E>,
    /// Its name.
    pub name: &'r str,
    /// Its settings (JSON, laid over its defaults).
    pub settings: &'r Json,
    /// The setting `reg` values go to.
    pub reg_setting: Option<&'r str>,
}

impl<E: Encoder + 'static> Tuned<'_, E> {
    /// The settings of a trial: `train` with `params`' rate and weight decay, and `params.reg`
    /// in the regularisation setting.
    pub fn settings_for(&self, train: &TrainConfig, params: &HyperParams) -> Result<Json> {
        let mut settings = self.settings.clone();
        settings["train"] = tl_core::strategy::to_json(&apply(train, params))?;
        if let Some(field) = self.reg_setting {
            settings[field] = serde_json::json!(params.reg);
        }
        Ok(settings)
    }
}

/// `train` with the learning rate and weight decay of `params` (the optimiser kind kept).
pub fn apply(train: &TrainConfig, params: &HyperParams) -> TrainConfig {
    let optimizer = match train.optimizer {
        OptimizerKind::Sgd { momentum, .. } => OptimizerKind::Sgd {
            momentum,
            weight_decay: params.weight_decay,
        },
        OptimizerKind::Adam { .. } => OptimizerKind::Adam {
            weight_decay: params.weight_decay,
        },
        OptimizerKind::AdamW { .. } => OptimizerKind::AdamW {
            weight_decay: params.weight_decay,
        },
    };
    train.clone().with_lr(params.lr).with_optimizer(optimizer)
}

impl HyperSearch {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(CoreError::InvalidConfig { field, reason });
        for (field, values) in [
            ("lr", &self.lr),
            ("weight_decay", &self.weight_decay),
            ("reg", &self.reg),
        ] {
            if values.is_empty() {
                return bad(field, "give at least one value".into());
            }
            if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                return bad(field, format!("{v} must be finite and >= 0"));
            }
        }
        if let Some(v) = self.lr.iter().find(|v| **v == 0.0 || **v > 1.0) {
            return bad("lr", format!("{v} is outside (0, 1]"));
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            return bad(
                "valid_fraction",
                format!("{} must be in (0, 1)", self.valid_fraction),
            );
        }
        if let SearchMode::Random { trials: 0 } = self.mode {
            return bad("mode", "a random search needs at least one trial".into());
        }
        Ok(())
    }

    /// The configurations to try, in order.
    pub fn candidates(&self) -> Vec<HyperParams> {
        let mut grid = Vec::new();
        for &lr in &self.lr {
            for &weight_decay in &self.weight_decay {
                for &reg in &self.reg {
                    grid.push(HyperParams {
                        lr,
                        weight_decay,
                        reg,
                    });
                }
            }
        }
        match self.mode {
            SearchMode::Grid => grid,
            SearchMode::Random { trials } => {
                grid.shuffle(&mut StdRng::seed_from_u64(self.seed));
                grid.truncate(trials);
                grid
            }
        }
    }

    /// Searches a registered strategy: each trial creates `strategy.name` from the registry
    /// with `strategy.settings`, the trial's learning rate and weight decay laid into its
    /// `train` settings and its `reg` into `strategy.reg_setting` (when given), fits it from
    /// `start` on the training split of the task's labelled target set with the run's seed,
    /// and scores it on the validation split. `progress(done, total, trial)` follows along.
    /// Refit the best on all the labels with [`Tuned::settings`].
    pub fn run<E: Encoder + Clone + 'static>(
        &self,
        strategy: &Tuned<'_, E>,
        start: &Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
        progress: impl FnMut(usize, usize, &Trial),
    ) -> Result<SearchResult> {
        self.validate()?;
        let base = strategy
            .registry
            .create(strategy.name, strategy.settings)?
            .config()?;
        let train: TrainConfig = serde_json::from_value(base["train"].clone()).map_err(|_| {
            CoreError::config(
                "strategy",
                format!("`{}` has no training settings to search", strategy.name),
            )
        })?;
        if strategy.reg_setting.is_none() && self.reg.iter().any(|r| *r != 0.0) {
            return Err(CoreError::config(
                "reg",
                "regularisation strengths need the setting they go to (Tuned::reg_setting)",
            ));
        }
        self.run_with(
            task,
            |params, inner| {
                let settings = strategy.settings_for(&train, params)?;
                let method = strategy.registry.create(strategy.name, &settings)?;
                Ok(method.fit(start.clone(), inner, ctx)?.1)
            },
            progress,
        )
    }

    /// Runs `fit` once per candidate on a task whose labelled set is the training split and
    /// whose test set is the validation split; `fit` returns the method's report, whose
    /// accuracy is then the validation accuracy. `progress(done, total, trial)` follows along.
    /// [`Self::run`] is this for a registered strategy.
    pub fn run_with(
        &self,
        task: &TransferTask,
        mut fit: impl FnMut(&HyperParams, &TransferTask) -> Result<FitReport>,
        mut progress: impl FnMut(usize, usize, &Trial),
    ) -> Result<SearchResult> {
        self.validate()?;
        let labelled = task.labelled(TaskPart::TargetLabelled, "hyperparameter search")?;
        let (valid, train) =
            stratified_split(labelled, self.valid_fraction, self.seed).map_err(|e| {
                CoreError::InvalidData {
                    name: labelled.domain.clone(),
                    reason: e.to_string(),
                }
            })?;
        if train.is_empty() || valid.is_empty() {
            return Err(CoreError::InvalidData {
                name: labelled.domain.clone(),
                reason: format!(
                    "{} labelled items are too few to hold out {} for validation",
                    labelled.len(),
                    self.valid_fraction
                ),
            });
        }
        let inner = TransferTask::new(task.num_classes)
            .with_target_labelled(train)
            .with_target_test(valid);
        let candidates = self.candidates();
        let mut trials = Vec::with_capacity(candidates.len());
        for params in candidates.iter() {
            let started = Instant::now();
            // A rate that diverges is an answer, not the end of the search; a bad config or
            // bad data would fail every trial, so those end it.
            let (valid_accuracy, error) = match fit(params, &inner) {
                Ok(report) => (report.metrics.accuracy, None),
                Err(e @ (CoreError::NonFinite { .. } | CoreError::Diverged { .. })) => {
                    (0.0, Some(e.to_string()))
                }
                Err(e) => return Err(e),
            };
            let trial = Trial {
                params: *params,
                valid_accuracy,
                error,
                wall_time_s: started.elapsed().as_secs_f64(),
            };
            progress(trials.len() + 1, candidates.len(), &trial);
            trials.push(trial);
        }
        // The first of the best among the trials that trained; a diverged one never wins.
        let mut best: Option<usize> = None;
        for (i, t) in trials.iter().enumerate() {
            if t.error.is_none() && best.is_none_or(|b| t.valid_accuracy > trials[b].valid_accuracy)
            {
                best = Some(i);
            }
        }
        match best {
            Some(best) => Ok(SearchResult { trials, best }),
            None => Err(CoreError::InvalidConfig {
                field: "search space",
                reason: format!(
                    "every one of the {} trials diverged (the last: {})",
                    trials.len(),
                    trials
                        .last()
                        .and_then(|t| t.error.as_deref())
                        .unwrap_or("no trial")
                ),
            }),
        }
    }
}
