//! Episodes as a batch source for tl-core's loop, and episodic evaluation with a confidence
//! interval.

use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use tl_core::data::LabelledSet;
use tl_core::task::TaskPart;
use tl_core::train::{BatchSource, StepAt};
use tl_core::{CoreError, Result};
use tl_data::split::{Episode, EpisodeSampler};

/// The shape of an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeShape {
    /// Classes per episode (N).
    pub way: usize,
    /// Labelled examples per class (K).
    pub shot: usize,
    /// Examples to classify per class.
    pub query: usize,
}

impl EpisodeShape {
    /// N-way K-shot with `query` queries per class.
    pub fn new(way: usize, shot: usize, query: usize) -> Self {
        Self { way, shot, query }
    }

    /// A sampler of this shape over `set`: refused when fewer than `way` classes have
    /// `shot + query` items, naming the set and the counts.
    pub fn sampler(&self, set: &LabelledSet, seed: u64) -> Result<EpisodeSampler> {
        if self.query == 0 {
            return Err(CoreError::config(
                "query",
                "an episode needs at least one query per class",
            ));
        }
        EpisodeSampler::new(set, self.way, self.shot, self.query, seed).map_err(data_error)
    }
}

/// Refuses training episodes that cannot train (fewer than 2 ways, no shot or query) or an
/// epoch without episodes.
pub fn check_training_episodes(e: EpisodeShape, per_epoch: usize) -> Result<()> {
    if e.way < 2 || e.shot == 0 || e.query == 0 {
        return Err(CoreError::config(
            "episodes",
            format!(
                "{}-way {}-shot with {} queries: need 2 ways, 1 shot, 1 query",
                e.way, e.shot, e.query
            ),
        ));
    }
    if per_epoch == 0 {
        return Err(CoreError::config(
            "episodes_per_epoch",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// The task parts of a method that may train on the base classes: the labelled source only
/// when it does.
pub fn episodic_parts(trains_on_source: bool) -> &'static [TaskPart] {
    use TaskPart::*;
    if trains_on_source {
        &[SourceLabelled, TargetLabelled, TargetTest]
    } else {
        &[TargetLabelled, TargetTest]
    }
}

/// The task's labelled source when a method trains on it (`trains`), refusing one that
/// cannot give episodes of `shape` before any work; `None` otherwise.
pub fn episodic_source<'t>(
    task: &'t tl_core::task::TransferTask,
    trains: bool,
    shape: EpisodeShape,
    name: &str,
) -> Result<Option<&'t LabelledSet>> {
    if !trains {
        return Ok(None);
    }
    let source = task.labelled(TaskPart::SourceLabelled, name)?;
    shape.sampler(source, 0)?;
    Ok(Some(source))
}

/// Trains `encoder` on `per_epoch` episodes of `shape` from `set` per epoch with `objective`,
/// through tl-core's loop (progress, checkpoints, NaN checks and history from `ctx`).
pub fn train_episodic<E, O>(
    encoder: E,
    set: &LabelledSet,
    shape: EpisodeShape,
    per_epoch: usize,
    train: &tl_core::train::TrainConfig,
    objective: O,
    ctx: &mut tl_core::strategy::RunContext,
) -> Result<(E, Vec<tl_core::report::EpochRecord>)>
where
    E: tl_core::model::Encoder + 'static,
    O: tl_core::train::Objective<E, EpisodeBatch>,
{
    let train = ctx.train_config(train);
    let mut batches = EpisodeBatches::new(set, shape, per_epoch, train.seed)?;
    let device = ctx.device().clone();
    let out = ctx
        .trainer(train)
        .train_module(encoder, &mut batches, objective, &device)?;
    Ok((out.model, out.history))
}

/// Refuses a support set without an example of each of the task's `classes`, naming the
/// first class missing.
pub fn check_support(support: &LabelledSet, classes: usize) -> Result<()> {
    let counts = support.class_counts();
    match (0..classes).find(|&c| counts.get(c).copied().unwrap_or(0) == 0) {
        Some(c) => Err(CoreError::data(
            &support.domain,
            format!(
                "class {c} ({}) has no support example",
                support.class_names.get(c).map_or("?", String::as_str)
            ),
        )),
        None => Ok(()),
    }
}

/// The examples of `set` under `encoder` (inference mode) as a labelled set of feature
/// vectors with the same labels in the same order: episodes drawn from it with a seed are
/// the episodes drawn from `set` with that seed, so methods on a frozen encoder embed each
/// item once instead of once per episode.
pub fn embed_set<E: tl_core::model::Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
) -> Result<LabelledSet> {
    let features = tl_core::train::encode_all(encoder, set, device, 256)?;
    let dim = encoder.feature_dim();
    LabelledSet::new(
        tl_core::data::Inputs::new(vec![dim], features)?,
        set.labels.clone(),
        set.class_names.clone(),
        &set.domain,
    )
}

/// An encoder that returns its input (`dim` features): the backbone of methods run on
/// embedded sets (see [`embed_set`]).
pub fn identity_encoder(dim: usize, device: &Device) -> Result<tl_core::model::Sequential> {
    tl_core::model::SequentialConfig::new(vec![dim]).init(device)
}

/// A tl-data error as the shared error (its message kept).
pub fn data_error(e: tl_data::DataError) -> CoreError {
    match e {
        tl_data::DataError::Core(c) => c,
        other => CoreError::data("episodes", other.to_string()),
    }
}

/// One episode on the training device: support and query items, labels `0..way`.
#[derive(Debug, Clone)]
pub struct EpisodeBatch {
    /// `[way * shot, item_size]`.
    pub support: Tensor<2>,
    /// `[way * shot]`.
    pub support_labels: Tensor<1, Int>,
    /// The support labels on the host, for prototypes.
    pub support_label_values: Vec<usize>,
    /// `[way * query, item_size]`.
    pub query: Tensor<2>,
    /// `[way * query]`.
    pub query_labels: Tensor<1, Int>,
    /// Classes in the episode.
    pub way: usize,
}

impl EpisodeBatch {
    /// An episode's parts as tensors on `device`.
    pub fn new(episode: &Episode, device: &Device) -> Self {
        let all = |s: &LabelledSet| s.batch(&(0..s.len()).collect::<Vec<_>>(), device);
        let (s, q) = (all(&episode.support), all(&episode.query));
        Self {
            support: s.inputs,
            support_labels: s.labels,
            support_label_values: episode.support.labels.clone(),
            query: q.inputs,
            query_labels: q.labels,
            way: episode.classes.len(),
        }
    }
}

/// Seeded episodes of a labelled set, `per_epoch` of them per epoch (the loop's steps).
#[derive(Debug, Clone)]
pub struct EpisodeBatches<'s> {
    set: &'s LabelledSet,
    sampler: EpisodeSampler,
    per_epoch: usize,
}

impl<'s> EpisodeBatches<'s> {
    /// `per_epoch` episodes of `shape` per epoch from `set`, seeded; refused when the set
    /// cannot give such episodes.
    pub fn new(
        set: &'s LabelledSet,
        shape: EpisodeShape,
        per_epoch: usize,
        seed: u64,
    ) -> Result<Self> {
        if per_epoch == 0 {
            return Err(CoreError::config(
                "episodes_per_epoch",
                "must be at least 1",
            ));
        }
        Ok(Self {
            set,
            sampler: shape.sampler(set, seed)?,
            per_epoch,
        })
    }
}

impl BatchSource for EpisodeBatches<'_> {
    type Batch = EpisodeBatch;

    fn steps_per_epoch(&self) -> usize {
        self.per_epoch
    }

    fn check(&self, input_shape: Option<&[usize]>, _classes: Option<usize>) -> Result<()> {
        if let Some(shape) = input_shape {
            self.set.inputs.check_fits(shape, &self.set.domain)?;
        }
        Ok(())
    }

    fn start_epoch(&mut self) {}

    fn batch(&mut self, _at: StepAt, device: &Device) -> EpisodeBatch {
        let episode = self
            .sampler
            .sample(self.set)
            .expect("the sampler was built on this set");
        EpisodeBatch::new(&episode, device)
    }
}

/// Mean accuracy over episodes with its 95 % confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeScore {
    /// Mean accuracy.
    pub mean: f64,
    /// Half-width of the 95 % confidence interval, `1.96 * std / sqrt(episodes)` (sample
    /// standard deviation).
    pub ci95: f64,
    /// Number of episodes.
    pub episodes: usize,
}

impl EpisodeScore {
    /// The score of per-episode accuracies.
    pub fn of(values: &[f64]) -> Self {
        let (mean, std) = tl_core::report::mean_std(values);
        let n = values.len();
        Self {
            mean,
            ci95: if n > 0 {
                1.96 * std / (n as f64).sqrt()
            } else {
                f64::NAN
            },
            episodes: n,
        }
    }
}

impl std::fmt::Display for EpisodeScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} % ± {:.2}", 100.0 * self.mean, 100.0 * self.ci95)
    }
}

/// Scores `classify` (an episode to its query accuracy) on `episodes` seeded episodes of
/// `shape` from `set`: every method given the same seed sees the same episodes.
pub fn evaluate_episodes(
    set: &LabelledSet,
    shape: EpisodeShape,
    episodes: usize,
    seed: u64,
    mut classify: impl FnMut(&Episode) -> Result<f64>,
) -> Result<EpisodeScore> {
    if episodes == 0 {
        return Err(CoreError::config(
            "episodes",
            "0 episodes: a score needs at least one",
        ));
    }
    let mut sampler = shape.sampler(set, seed)?;
    let mut values = Vec::with_capacity(episodes);
    for _ in 0..episodes {
        let episode = sampler.sample(set).map_err(data_error)?;
        values.push(classify(&episode)?);
    }
    Ok(EpisodeScore::of(&values))
}
