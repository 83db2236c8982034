//! Reptile (Nichol, Achiam and Schulman 2018), a first-order meta-learner: for each training
//! task (an N-way K-shot episode of the base classes, labels drawn anew) a copy of the model
//! takes a few optimiser steps on the support, and the meta-parameters move part of the way
//! towards the result, `theta += eps * (theta' - theta)`, `eps` annealed linearly to 0. At test
//! time the meta-learned initialisation is fine-tuned on the task's support. First-order: no
//! second derivatives (the meta-gradient is the difference of weights).
//!
//! Both loops use plain SGD, as the paper's analysis (and MAML's inner loop) does: with Adam
//! inside, every weight moves by about the learning rate whatever its gradient, and on the
//! digits the meta-learned start collapsed to chance (measured: 20 % at 5-way).

use crate::episodes::{EpisodeShape, data_error};
use burn::config::Config;
use burn::module::Module;
use std::time::Instant;
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, ema_update};
use tl_core::report::EpochRecord;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{OptimizerKind, ProgressEvent, TrainConfig, Trainer};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "reptile";

/// Reptile: meta-learned initialisation, fine-tuned on the support.
#[derive(Config, Debug)]
pub struct Reptile {
    /// Meta-train on the source first (false: fine-tune the start as given).
    #[config(default = true)]
    pub meta_train: bool,
    /// Training tasks' shape; `way` must equal the task's classes (the head is meta-learned).
    /// The queries are not used in training.
    #[config(default = "EpisodeShape::new(5, 5, 1)")]
    pub episodes: EpisodeShape,
    /// Meta-iterations (one training task each).
    #[config(default = 1000)]
    pub meta_iterations: usize,
    /// Outer step `eps` at the start, annealed linearly to 0.
    #[config(default = 1.0)]
    pub meta_step: f64,
    /// The inner loop on each training task's support: `epochs` SGD steps of the whole support.
    #[config(default = "sgd(5, 0.1)")]
    pub inner: TrainConfig,
    /// Fine-tuning on the task's support at test time (SGD, as the inner loop).
    #[config(default = "sgd(50, 0.1)")]
    pub adapt: TrainConfig,
}

/// `epochs` steps of plain SGD at `lr` on batches of 25 (a 5-way 5-shot support whole).
pub fn sgd(epochs: usize, lr: f64) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(25)
        .with_lr(lr)
        .with_optimizer(OptimizerKind::Sgd {
            momentum: 0.0,
            weight_decay: 0.0,
        })
}

impl Reptile {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if self.meta_train && self.meta_iterations == 0 {
            return Err(CoreError::config("meta_iterations", "must be at least 1"));
        }
        if !(self.meta_step.is_finite() && self.meta_step > 0.0 && self.meta_step <= 1.0) {
            return Err(CoreError::config(
                "meta_step",
                format!("{} is outside (0, 1]", self.meta_step),
            ));
        }
        self.inner.validate()?;
        self.adapt.validate()
    }

    /// The task parts it needs: the source only when it meta-trains.
    pub fn parts(&self) -> &'static [TaskPart] {
        crate::episodes::episodic_parts(self.meta_train)
    }

    /// Meta-trains `model` (its head predicts `episodes.way` classes) on tasks drawn from
    /// `set`; one history record per tenth of the iterations (the inner loops' last loss and
    /// accuracy, averaged; `lr` is the outer step).
    pub fn meta_train<E: Encoder + 'static>(
        &self,
        model: Classifier<E>,
        set: &LabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(Classifier<E>, Vec<EpochRecord>)> {
        let device = ctx.device().clone();
        let seed = ctx.seed();
        let mut sampler = self.episodes.sampler(set, seed)?;
        let block = self.meta_iterations.div_ceil(10).max(1);
        let mut theta = model;
        let mut history = Vec::new();
        let (mut losses, mut accs, mut started) = (Vec::new(), Vec::new(), Instant::now());
        for it in 0..self.meta_iterations {
            let episode = sampler.sample(set).map_err(data_error)?;
            let inner = self
                .inner
                .clone()
                .with_seed(seed.wrapping_mul(1_000_003).wrapping_add(it as u64));
            let out = Trainer::new(inner).fit(theta.clone(), &episode.support, None, &device)?;
            if let Some(last) = out.history.last() {
                losses.push(last.train_loss);
                accs.extend(last.train_accuracy);
            }
            let eps = self.meta_step * (1.0 - it as f64 / self.meta_iterations as f64);
            theta = ema_update(theta, &out.model.valid(), 1.0 - eps)?;
            if (it + 1) % block == 0 || it + 1 == self.meta_iterations {
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let record = EpochRecord {
                    epoch: history.len() + 1,
                    train_loss: mean(&losses),
                    train_accuracy: (!accs.is_empty()).then(|| mean(&accs)),
                    valid_loss: None,
                    valid_accuracy: None,
                    lr: eps,
                    seconds: started.elapsed().as_secs_f64(),
                    extra: Default::default(),
                };
                if !record.train_loss.is_finite() {
                    return Err(CoreError::NonFinite {
                        epoch: record.epoch,
                        step: it + 1,
                        loss: record.train_loss as f32,
                    });
                }
                ctx.emit(&ProgressEvent::Epoch(record.clone()));
                history.push(record);
                (losses, accs, started) = (Vec::new(), Vec::new(), Instant::now());
            }
        }
        Ok((theta, history))
    }
}

impl<E: Encoder + 'static> Strategy<E> for Reptile {
    tl_core::strategy_basics!(NAME, Family::FewShot, fn Reptile::parts);

    /// Meta-trains on the source (when asked), then fine-tunes on the support (the labelled
    /// target set) and scores the target test set. The history is the fine-tuning's; the
    /// meta-training's last inner accuracy is `meta_inner_accuracy` in `extra`.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let support = task.labelled(TaskPart::TargetLabelled, NAME)?;
        let test = task.labelled(TaskPart::TargetTest, NAME)?;
        if self.meta_train && self.episodes.way != task.num_classes {
            return Err(CoreError::config(
                "episodes",
                format!(
                    "Reptile meta-learns a {}-way head; the task has {} classes",
                    self.episodes.way, task.num_classes
                ),
            ));
        }
        let source = crate::episodes::episodic_source(task, self.meta_train, self.episodes, NAME)?;
        ctx.begin();
        let device = ctx.device().clone();
        let mut model = start.into_classifier(task.num_classes, &device)?;
        let mut meta = Vec::new();
        if let Some(s) = source {
            (model, meta) = self.meta_train(model, s, ctx)?;
        }
        let adapt = ctx.train_config(&self.adapt);
        let out = ctx.trainer(adapt).fit(model, support, None, &device)?;
        let mut report = ctx.finish(NAME, self, &out.model, out.history, test)?;
        if let Some(acc) = meta.last().and_then(|r| r.train_accuracy) {
            report.extra.insert("meta_inner_accuracy".into(), acc);
        }
        Ok((out.model, report))
    }
}
