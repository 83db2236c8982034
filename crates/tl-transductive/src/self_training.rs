//! Self-training with class-balanced pseudo-labels (as CBST, Zou et al. 2018): the model labels
//! the target items it is confident about, an equal share per class so that easy classes do
//! not crowd out the rest, trains on them with the source, and repeats with a growing share.

use crate::common::{NEEDS, check_common};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::softmax;
use tl_core::data::{Batch, Inputs, LabelledSet};
use tl_core::domain::{AdaptationRun, Adapted, TargetMonitor};
use tl_core::model::{Classifier, Encoder};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{
    ClassifierModel, CrossEntropy, LabelledBatches, Objective, Step, TrainConfig, map_input_batches,
};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "self-training";

/// Iterated, confidence-thresholded, class-balanced pseudo-labelling.
#[derive(Config, Debug)]
pub struct SelfTraining {
    /// Training of each round (on source + pseudo-labelled target).
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Rounds of labelling and training.
    #[config(default = 3)]
    pub rounds: usize,
    /// Least softmax confidence for a pseudo-label.
    #[config(default = 0.9)]
    pub threshold: f32,
    /// Share of the target labelled in round 1 (per class: this share of `n_target / classes`).
    #[config(default = 0.2)]
    pub start_portion: f32,
    /// Share in the last round (linear in between).
    #[config(default = 0.6)]
    pub end_portion: f32,
    /// Source items held out per class (source accuracy, early stopping).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the target test accuracy after each epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl SelfTraining {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        if self.rounds == 0 {
            return Err(CoreError::config("rounds", "must be at least 1"));
        }
        if !(self.threshold >= 0.0 && self.threshold < 1.0) {
            return Err(CoreError::config(
                "threshold",
                format!("{} not in [0, 1)", self.threshold),
            ));
        }
        let ok = |p: f32| p > 0.0 && p <= 1.0;
        if !(ok(self.start_portion) && ok(self.end_portion)) {
            return Err(CoreError::config(
                "start_portion",
                "portions must be in (0, 1]",
            ));
        }
        Ok(())
    }

    /// The pseudo-labels of one round: (target index, class), an equal share per class of
    /// the most confident predictions at or above the threshold. `probs` holds one row of
    /// `classes` probabilities per target item; refuses a ragged `probs`, no classes and a
    /// `portion` outside (0, 1].
    pub fn pseudo_labels(
        &self,
        probs: &[f32],
        classes: usize,
        portion: f32,
    ) -> Result<Vec<(usize, usize)>> {
        self.validate()?;
        if classes == 0 || !probs.len().is_multiple_of(classes) {
            return Err(CoreError::config(
                "classes",
                format!("{} probabilities are not rows of {classes}", probs.len()),
            ));
        }
        if !(portion > 0.0 && portion <= 1.0) {
            return Err(CoreError::config(
                "portion",
                format!("{portion} not in (0, 1]"),
            ));
        }
        Ok(self.pseudo_labels_unchecked(probs, classes, portion))
    }

    /// [`pseudo_labels`](Self::pseudo_labels) for arguments already checked.
    fn pseudo_labels_unchecked(
        &self,
        probs: &[f32],
        classes: usize,
        portion: f32,
    ) -> Vec<(usize, usize)> {
        let n = probs.len() / classes;
        let quota = ((portion * n as f32 / classes as f32).ceil() as usize).max(1);
        let mut by_class: Vec<Vec<(f32, usize)>> = vec![Vec::new(); classes];
        for (i, row) in probs.chunks(classes).enumerate() {
            let (c, &p) = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("classes >= 1");
            if p >= self.threshold {
                by_class[c].push((p, i));
            }
        }
        let mut out = Vec::new();
        for (c, mut items) in by_class.into_iter().enumerate() {
            items.sort_by(|a, b| b.0.total_cmp(&a.0));
            out.extend(items.into_iter().take(quota).map(|(_, i)| (i, c)));
        }
        out.sort_unstable();
        out
    }
}

/// Cross-entropy that records the target test accuracy of the model each epoch starts from
/// (the one the previous epoch left), for the history only.
struct Recorded<'m> {
    ce: CrossEntropy,
    monitor: &'m TargetMonitor<'m>,
    seen: Vec<f64>,
}

impl Recorded<'_> {
    fn record<M: ClassifierModel>(&mut self, model: &M) {
        if self.monitor.is_on() {
            let acc = self.monitor.record(model).get("target_accuracy").copied();
            // `AdaptationRun::begin` checked the test set against the model, so the NaN of a
            // failed evaluation cannot appear.
            self.seen.push(acc.unwrap_or(f64::NAN));
        }
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, Batch> for Recorded<'_> {
    fn step(&mut self, model: &Classifier<E>, batch: &Batch) -> Result<Step> {
        self.ce.step(model, batch)
    }

    fn start_epoch(&mut self, epoch: usize, model: Classifier<E>) -> Classifier<E> {
        // Before epoch e, the model is as epoch e - 1 left it: score that one.
        if epoch > 1 {
            self.record(&model);
        }
        model
    }
}

impl<E: Encoder + 'static> Strategy<E> for SelfTraining {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    /// Adapts the classifier (usually trained on the source already) to the task's target.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let (model, sets, run) =
            AdaptationRun::begin(NAME, start, task, self.source_valid_fraction, ctx)?;
        let device = ctx.device().clone();
        let classes = model.num_classes();
        let mut model = model;
        let mut history = Vec::new();
        let monitor = TargetMonitor::new(self.monitor_target, &sets, ctx);
        let mut objective = Recorded {
            ce: CrossEntropy::new(&device),
            monitor: &monitor,
            seen: Vec::new(),
        };
        let base = ctx.train_config(&self.train);
        for round in 0..self.rounds {
            let portion = if self.rounds == 1 {
                self.end_portion
            } else {
                self.start_portion
                    + (self.end_portion - self.start_portion) * round as f32
                        / (self.rounds - 1) as f32
            };
            let scorer = model.valid();
            let probs =
                map_input_batches(&sets.target.inputs, &device, ctx.eval_batch_size(), |x| {
                    softmax(scorer.forward(x), 1)
                        .into_data()
                        .iter::<f32>()
                        .collect()
                });
            let pseudo = self.pseudo_labels_unchecked(&probs, classes, portion);
            let idx: Vec<usize> = pseudo.iter().map(|p| p.0).collect();
            let mut values = sets.source_train.inputs.values.clone();
            values.extend(sets.target.inputs.select(&idx).values);
            let mut labels = sets.source_train.labels.clone();
            labels.extend(pseudo.iter().map(|p| p.1));
            let combined = LabelledSet::new(
                Inputs::new(sets.source_train.inputs.item_shape.clone(), values)?,
                labels,
                sets.source_train.class_names.clone(),
                format!("{}+pseudo", sets.source_train.domain),
            )?;
            let train = base.clone().with_seed(base.seed.wrapping_add(round as u64));
            let mut batches = LabelledBatches::new(&combined, train.batch_size, train.seed);
            let out = ctx.trainer(train).train(
                model,
                &mut batches,
                &mut objective,
                Some(&sets.source_valid),
                &device,
            )?;
            model = out.model;
            objective.record(&model);
            let offset = history.len();
            let mut records = out.history;
            for (r, acc) in records.iter_mut().zip(objective.seen.drain(..)) {
                r.extra.insert("target_accuracy".into(), acc);
            }
            for r in &mut records {
                r.epoch += offset;
            }
            if let Some(last) = records.last_mut() {
                last.extra.insert("round".into(), (round + 1) as f64);
                last.extra
                    .insert("pseudo_labels".into(), pseudo.len() as f64);
            }
            history.extend(records);
        }
        let out = Adapted::same(&model, history);
        let report = run.report(NAME, self, out, &sets, ctx)?;
        Ok((model, report))
    }
}
