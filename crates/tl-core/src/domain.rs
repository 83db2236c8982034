//! Domain adaptation's shared pieces: how far apart two domains are through features (the
//! proxy A-distance), the sets a method trains on, and the run that reports source accuracy
//! and the distance before and after.

use crate::data::{LabelledSet, UnlabelledSet};
use crate::error::{CoreError, Result};
use crate::model::{Classifier, Encoder, count_params};
use crate::report::{EpochRecord, FitReport};
use crate::strategy::{Pretrained, RunContext};
use crate::task::{TaskPart, TransferTask};
use crate::train::{
    ClassifierModel, DomainBatches, Objective, Step, TrainConfig, encode_inputs, evaluate,
};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::collections::BTreeMap;

/// Proxy A-distance (Ben-David et al. 2007, as Ganin et al. 2016 report it): a linear
/// classifier (L2-regularised logistic regression on standardised features) learns to tell
/// source rows from target rows on one half of each, and its error `e` on the other half gives
/// `2 (1 - 2 e)`: 0 when the domains cannot be told apart, 2 when they separate perfectly.
/// Both sets are cut to the same size (at most `max_items` rows each, a seeded choice).
///
/// `source` and `target` hold rows of `dim` values, row after row.
pub fn proxy_a_distance(
    source: &[f32],
    target: &[f32],
    dim: usize,
    max_items: usize,
    seed: u64,
) -> Result<f64> {
    if dim == 0 || !source.len().is_multiple_of(dim) || !target.len().is_multiple_of(dim) {
        return Err(CoreError::data(
            "proxy A-distance",
            format!("feature rows of width {dim} do not divide the inputs"),
        ));
    }
    let n = (source.len() / dim).min(target.len() / dim).min(max_items);
    if n < 4 {
        return Err(CoreError::data(
            "proxy A-distance",
            format!("{n} rows per domain; at least 4 are needed (2 to train, 2 to test)"),
        ));
    }
    if let Some(v) = source.iter().chain(target).find(|v| !v.is_finite()) {
        return Err(CoreError::data(
            "proxy A-distance",
            format!("a feature is not finite ({v})"),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let pick = |len: usize, rng: &mut StdRng| {
        let mut idx: Vec<usize> = (0..len).collect();
        idx.shuffle(rng);
        idx.truncate(n);
        idx
    };
    let (si, ti) = (
        pick(source.len() / dim, &mut rng),
        pick(target.len() / dim, &mut rng),
    );
    let half = n / 2;
    let rows = |data: &[f32], idx: &[usize]| -> Vec<Vec<f64>> {
        idx.iter()
            .map(|&i| {
                data[i * dim..(i + 1) * dim]
                    .iter()
                    .map(|&v| v as f64)
                    .collect()
            })
            .collect()
    };
    let mut train: Vec<(Vec<f64>, f64)> = rows(source, &si[..half])
        .into_iter()
        .map(|r| (r, 1.0))
        .chain(rows(target, &ti[..half]).into_iter().map(|r| (r, 0.0)))
        .collect();
    let mut test: Vec<(Vec<f64>, f64)> = rows(source, &si[half..])
        .into_iter()
        .map(|r| (r, 1.0))
        .chain(rows(target, &ti[half..]).into_iter().map(|r| (r, 0.0)))
        .collect();
    // Standardise with the training half's statistics.
    let mut mean = vec![0.0; dim];
    let mut sd = vec![0.0; dim];
    for (r, _) in &train {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v / train.len() as f64;
        }
    }
    for (r, _) in &train {
        for ((s, v), m) in sd.iter_mut().zip(r).zip(&mean) {
            *s += (v - m).powi(2) / train.len() as f64;
        }
    }
    for s in &mut sd {
        *s = s.sqrt().max(1e-8);
    }
    for (r, _) in train.iter_mut().chain(test.iter_mut()) {
        for ((v, m), s) in r.iter_mut().zip(&mean).zip(&sd) {
            *v = (*v - m) / s;
        }
    }
    // Full-batch gradient descent on the regularised logistic loss.
    let (mut w, mut b) = (vec![0.0f64; dim], 0.0f64);
    let (lr, l2) = (0.5, 1e-3);
    for _ in 0..300 {
        let mut gw = vec![0.0; dim];
        let mut gb = 0.0;
        for (r, y) in &train {
            let z: f64 = r.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let p = 1.0 / (1.0 + (-z).exp());
            let g = (p - y) / train.len() as f64;
            for (gi, ri) in gw.iter_mut().zip(r) {
                *gi += g * ri;
            }
            gb += g;
        }
        for (wi, gi) in w.iter_mut().zip(&gw) {
            *wi -= lr * (gi + l2 * *wi);
        }
        b -= lr * gb;
    }
    let wrong = test
        .iter()
        .filter(|(r, y)| {
            let z: f64 = r.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            (z > 0.0) != (*y > 0.5)
        })
        .count();
    let error = (wrong as f64 / test.len() as f64).min(0.5);
    Ok(2.0 * (1.0 - 2.0 * error))
}

/// The parts of a task every domain-adaptation method needs: the labelled source, the
/// unlabelled target and the target test set.
pub const NEEDS: &[TaskPart] = &[
    TaskPart::SourceLabelled,
    TaskPart::TargetUnlabelled,
    TaskPart::TargetTest,
];

/// The sets a domain-adaptation method trains and reports on, taken from a [`TransferTask`]:
/// the source split into training and validation parts (stratified, seeded), the unlabelled
/// target, and the target test set (scored at the end and, for the history only, per epoch).
#[derive(Debug, Clone)]
pub struct AdaptationSets<'t> {
    /// Source items to train on.
    pub source_train: LabelledSet,
    /// Held-out source items: the validation set (source accuracy, early stopping).
    pub source_valid: LabelledSet,
    /// Unlabelled target items to adapt to.
    pub target: &'t UnlabelledSet,
    /// Labelled target test items, never trained on or selected by.
    pub target_test: &'t LabelledSet,
}

impl<'t> AdaptationSets<'t> {
    /// Takes the task's source, unlabelled target and target test parts (refusing a task
    /// without one, naming `strategy`) and holds out `valid_fraction` of each source class.
    pub fn from_task(
        task: &'t TransferTask,
        strategy: &str,
        valid_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        task.require(strategy, NEEDS)?;
        check_valid_fraction(valid_fraction)?;
        let source = task.labelled(TaskPart::SourceLabelled, strategy)?;
        let mut by_class = vec![Vec::new(); source.num_classes()];
        for (i, &l) in source.labels.iter().enumerate() {
            by_class[l].push(i);
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_5A11);
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for mut items in by_class {
            items.shuffle(&mut rng);
            let k = ((items.len() as f64 * valid_fraction).round() as usize)
                .min(items.len().saturating_sub(1));
            valid.extend_from_slice(&items[..k]);
            train.extend_from_slice(&items[k..]);
        }
        if valid.is_empty() {
            return Err(CoreError::data(
                &source.domain,
                "too few source items to hold any out for validation",
            ));
        }
        train.sort_unstable();
        valid.sort_unstable();
        Ok(Self {
            source_train: source.select(&train),
            source_valid: source.select(&valid),
            target: task.unlabelled_target(strategy)?,
            target_test: task.labelled(TaskPart::TargetTest, strategy)?,
        })
    }
}

impl AdaptationSets<'_> {
    /// The training batches: a source batch and a target batch per step, of `train`'s size
    /// and shuffled by its seed.
    pub fn batches(&self, train: &TrainConfig) -> DomainBatches<'_> {
        DomainBatches::new(
            &self.source_train,
            self.target,
            train.batch_size,
            train.seed,
        )
    }
}

/// Items per domain for the proxy A-distance of a run.
pub const PAD_ITEMS: usize = 1000;

/// A domain-adaptation run's starting distance, turned into its [`FitReport`] at the end
/// (extra figures: `source_accuracy` on the held-out source, `pad_before` and `pad_after`, the
/// proxy A-distance between source and target features, unless the context skips it with
/// [`RunContext::with_pad_items`]`(0)`).
#[derive(Debug, Clone, Copy)]
pub struct AdaptationRun {
    pad_before: Option<f64>,
}

/// What an adaptation produced, for [`AdaptationRun::report`].
#[derive(Debug)]
pub struct Adapted<'m, E> {
    /// The classifier that serves the source: the adapted one for most methods, the
    /// untouched source model for ADDA and AdaBN.
    pub source: &'m Classifier<E>,
    /// The adapted classifier (scored on the target test set).
    pub adapted: &'m Classifier<E>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
}

impl<'m, E> Adapted<'m, E> {
    /// One classifier that serves both domains (most methods), with its history.
    pub fn same(model: &'m Classifier<E>, history: Vec<EpochRecord>) -> Self {
        Self {
            source: model,
            adapted: model,
            history,
        }
    }
}

impl AdaptationRun {
    /// What every method does first: the start's classifier (its own head, or a fresh one
    /// for the task's classes), the task split into [`AdaptationSets`] (refusing a task without
    /// the parts `strategy` needs), a model that does not fit the task refused, and the run
    /// [`Self::start`]ed with its encoder.
    pub fn begin<'t, E: Encoder>(
        strategy: &str,
        start: Pretrained<E>,
        task: &'t TransferTask,
        valid_fraction: f64,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, AdaptationSets<'t>, Self)> {
        let model = start.into_classifier(task.num_classes, ctx.device())?;
        let sets = AdaptationSets::from_task(task, strategy, valid_fraction, ctx.seed())?;
        check_source_model(&model, task)?;
        let run = Self::start(&model.encoder, &sets, ctx)?;
        Ok((model, sets, run))
    }

    /// Measures the proxy A-distance between the features `encoder` gives the source and the
    /// target before adaptation, then seeds the device and starts the clock
    /// ([`RunContext::begin`]).
    pub fn start<E: Encoder>(
        encoder: &E,
        sets: &AdaptationSets<'_>,
        ctx: &mut RunContext<'_>,
    ) -> Result<Self> {
        let pad_before = if ctx.pad_items() > 0 {
            Some(pad_of(encoder, encoder, sets, ctx)?)
        } else {
            None
        };
        ctx.begin();
        Ok(Self { pad_before })
    }

    /// The report: the adapted classifier scored on the target test set; the source's
    /// classifier scored on the held-out source; the distance after adaptation between the
    /// source classifier's features of the source and the adapted one's of the target.
    pub fn report<E: Encoder + 'static>(
        &self,
        strategy: &str,
        config: &impl Serialize,
        out: Adapted<'_, E>,
        sets: &AdaptationSets<'_>,
        ctx: &RunContext<'_>,
    ) -> Result<FitReport> {
        let wall_time_s = ctx.elapsed();
        let source_accuracy = ctx.evaluate(out.source, &sets.source_valid)?.accuracy;
        let pad_after = match self.pad_before {
            Some(_) => Some(pad_of(
                &out.source.encoder,
                &out.adapted.encoder,
                sets,
                ctx,
            )?),
            None => None,
        };
        let metrics = ctx.evaluate(out.adapted, sets.target_test)?;
        let params = count_params(out.adapted);
        let mut report = ctx.report(strategy, config, out.history, metrics, params, wall_time_s)?;
        report
            .extra
            .insert("source_accuracy".into(), source_accuracy);
        if let (Some(before), Some(after)) = (self.pad_before, pad_after) {
            report.extra.insert("pad_before".into(), before);
            report.extra.insert("pad_after".into(), after);
        }
        Ok(report)
    }
}

/// The proxy A-distance between source features (of `source_encoder`) and target features
/// (of `target_encoder`), on at most [`RunContext::pad_items`] items of each.
pub fn pad_of<E: Encoder>(
    source_encoder: &E,
    target_encoder: &E,
    sets: &AdaptationSets<'_>,
    ctx: &RunContext<'_>,
) -> Result<f64> {
    let (seed, device, batch) = (ctx.seed(), ctx.device(), ctx.eval_batch_size());
    let items = ctx.pad_items().max(1);
    let take = |n: usize| -> Vec<usize> { (0..n.min(items)).collect() };
    let src = sets
        .source_train
        .inputs
        .select(&spread(sets.source_train.len(), items));
    let tgt = sets.target.inputs.select(&take(sets.target.len()));
    let fs = encode_inputs(source_encoder, &src, device, batch)?;
    let ft = encode_inputs(target_encoder, &tgt, device, batch)?;
    proxy_a_distance(&fs, &ft, source_encoder.feature_dim(), items, seed)
}

/// At most `k` indices spread evenly over `0..n` (sets sorted by class stay balanced).
fn spread(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Checks the fields every adaptation method has: its training configuration and the share
/// of each source class held out.
pub fn check_adaptation_config(train: &TrainConfig, source_valid_fraction: f64) -> Result<()> {
    train.validate()?;
    check_valid_fraction(source_valid_fraction)
}

fn check_valid_fraction(fraction: f64) -> Result<()> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(CoreError::config(
            "source_valid_fraction",
            format!("{fraction} not in (0, 1)"),
        ));
    }
    Ok(())
}

/// Refuses a source model that does not fit the task: other item shapes, other classes.
pub fn check_source_model<E: Encoder>(model: &Classifier<E>, task: &TransferTask) -> Result<()> {
    if let Some(shape) = task.item_shape()
        && shape != model.encoder.input_shape()
    {
        return Err(CoreError::data(
            "task",
            format!(
                "items of shape {shape:?} do not fit an encoder that takes {:?}",
                model.encoder.input_shape()
            ),
        ));
    }
    if model.num_classes() != task.num_classes {
        return Err(CoreError::data(
            "task",
            format!(
                "the model predicts {} classes, the task has {}",
                model.num_classes(),
                task.num_classes
            ),
        ));
    }
    // The task bounds target labels by its classes; the source's are bounded here.
    if let Some(source) = &task.source
        && source.num_classes() > model.num_classes()
    {
        return Err(CoreError::data(
            &source.domain,
            format!(
                "the source has {} classes but the model predicts {}",
                source.num_classes(),
                model.num_classes()
            ),
        ));
    }
    Ok(())
}

/// Records the target test accuracy after each epoch (`target_accuracy`), for the history
/// only: never for selection. Off, it records nothing.
#[derive(Debug, Clone)]
pub struct TargetMonitor<'a> {
    test: Option<&'a LabelledSet>,
    device: Device,
    batch_size: usize,
}

impl<'a> TargetMonitor<'a> {
    /// A monitor of `sets.target_test` when `on`.
    pub fn new(on: bool, sets: &AdaptationSets<'a>, ctx: &RunContext<'_>) -> Self {
        Self {
            test: on.then_some(sets.target_test),
            device: ctx.device().clone(),
            batch_size: ctx.eval_batch_size(),
        }
    }

    /// Whether it records anything.
    pub fn is_on(&self) -> bool {
        self.test.is_some()
    }

    /// The figures of `model` now (none when off).
    pub fn record<M: ClassifierModel>(&self, model: &M) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        // `AdaptationRun::begin` checked the test set against the model.
        if let Some(test) = self.test
            && let Ok(metrics) = evaluate(model, test, &self.device, self.batch_size)
        {
            out.insert("target_accuracy".to_string(), metrics.accuracy);
        }
        out
    }
}

/// An objective with a [`TargetMonitor`] recording after each epoch.
#[derive(Debug)]
pub struct Monitored<'a, O> {
    /// The objective.
    pub inner: O,
    /// The monitor.
    pub monitor: TargetMonitor<'a>,
}

impl<'a, O> Monitored<'a, O> {
    /// `inner`, with the target test accuracy of `sets` recorded after each epoch when `on`.
    pub fn new(inner: O, on: bool, sets: &AdaptationSets<'a>, ctx: &RunContext<'_>) -> Self {
        Self {
            inner,
            monitor: TargetMonitor::new(on, sets, ctx),
        }
    }
}

impl<M: ClassifierModel, B, O: Objective<M, B>> Objective<M, B> for Monitored<'_, O> {
    fn step(&mut self, model: &M, batch: &B) -> Result<Step> {
        self.inner.step(model, batch)
    }

    fn start_epoch(&mut self, epoch: usize, model: M) -> M {
        self.inner.start_epoch(epoch, model)
    }

    fn end_epoch(&mut self, model: &M) -> BTreeMap<String, f64> {
        let mut out = self.inner.end_epoch(model);
        out.extend(self.monitor.record(model));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_domains_are_far_and_one_domain_is_near() {
        let mut rng = StdRng::seed_from_u64(1);
        use rand::Rng;
        let mut draw = |shift: f32| -> Vec<f32> {
            (0..400 * 3)
                .map(|_| rng.random_range(-1.0..1.0f32) + shift)
                .collect()
        };
        let (a, b, far) = (draw(0.0), draw(0.0), draw(5.0));
        let near = proxy_a_distance(&a, &b, 3, 1000, 0).unwrap();
        let apart = proxy_a_distance(&a, &far, 3, 1000, 0).unwrap();
        assert!(near < 0.4, "one distribution: {near}");
        assert!(apart > 1.95, "shifted by 5: {apart}");
        assert!(proxy_a_distance(&a, &b[..6], 3, 1000, 0).is_err(), "2 rows");
        assert!(proxy_a_distance(&a, &b[..7], 3, 1000, 0).is_err(), "ragged");
    }
}
