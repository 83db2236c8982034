//! Self-ensembling (French, Mackiewicz and Fisher 2018, "Self-ensembling for visual domain
//! adaptation"): a mean teacher for domain adaptation. The student learns the source labels
//! and, on the target, to agree with a teacher whose weights are an exponential moving
//! average of the student's, each seeing its own random augmentation of the same target
//! images. Only target items the teacher is confident about count (the confidence
//! threshold), and a class-balance term keeps the student's average target prediction near
//! uniform so that the agreement cannot be reached by predicting one class.
//!
//! The teacher is what the method returns (as in the paper, it is the better of the two).

use crate::common::{NEEDS, check_common};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;
use tl_core::domain::{AdaptationRun, Adapted, TargetMonitor};
use tl_core::model::{Classifier, Encoder, ema_update, independent_copy};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, DomainBatch, Objective, Step, TrainConfig, scalar};
use tl_core::{CoreError, Result};
use tl_data::transform::{Chw, RandomAffine, standard_normal};

/// Name in reports.
pub const NAME: &str = "self-ensembling";

/// Mean-teacher domain adaptation with confidence-thresholded consistency and class balance.
#[derive(Config, Debug)]
pub struct SelfEnsembling {
    /// Training of the student (the paper: Adam at 1e-3, batches of 64).
    #[config(default = "TrainConfig::new().with_batch_size(64)")]
    pub train: TrainConfig,
    /// Teacher weights: `alpha * teacher + (1 - alpha) * student` after every step.
    #[config(default = 0.99)]
    pub teacher_alpha: f64,
    /// Weight of the target terms (consistency and class balance) against the source loss.
    #[config(default = 3.0)]
    pub consistency_weight: f64,
    /// Least teacher confidence (top softmax probability) for a target item to count.
    #[config(default = 0.968)]
    pub confidence_threshold: f32,
    /// Weight of the class-balance term inside the target terms.
    #[config(default = 0.005)]
    pub class_balance: f64,
    /// Random augmentation of source and target images (for items that are not images, only
    /// its `noise_std`: additive Gaussian noise, unclamped).
    #[config(default = "RandomAffine::default()")]
    pub augment: RandomAffine,
    /// Source items held out per class (the source accuracy).
    #[config(default = 0.1)]
    pub source_valid_fraction: f64,
    /// Record the teacher's target test accuracy per epoch (history only).
    #[config(default = true)]
    pub monitor_target: bool,
}

impl SelfEnsembling {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, self.source_valid_fraction)?;
        if self.train.early_stopping.is_some() {
            return Err(CoreError::config(
                "early_stopping",
                "would restore the best student, but self-ensembling returns the teacher",
            ));
        }
        if !(self.teacher_alpha >= 0.0 && self.teacher_alpha < 1.0) {
            return Err(CoreError::config(
                "teacher_alpha",
                format!("{} not in [0, 1)", self.teacher_alpha),
            ));
        }
        for (field, v) in [
            ("consistency_weight", self.consistency_weight),
            ("class_balance", self.class_balance),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::config(field, format!("{v} must be >= 0")));
            }
        }
        if !(self.confidence_threshold >= 0.0 && self.confidence_threshold < 1.0) {
            return Err(CoreError::config(
                "confidence_threshold",
                format!("{} not in [0, 1)", self.confidence_threshold),
            ));
        }
        self.augment
            .validate()
            .map_err(|e| CoreError::config("augment", e.to_string()))
    }
}

/// The mean-teacher objective: source cross-entropy on augmented source images plus, on the
/// target, the consistency between the student and its moving-average teacher (each on its
/// own augmentation) where the teacher is confident, and the class-balance term. The teacher
/// follows the student's weights before each step's update; [`Self::into_teacher`] gives it
/// back after training. History figures: `class_loss`, `consistency_loss`,
/// `class_balance_loss`, `confident_share`, and with a test set `target_accuracy` (the
/// teacher) and `student_target_accuracy`.
pub struct MeanTeacher<'a, E> {
    config: &'a SelfEnsembling,
    seed: u64,
    item_shape: Vec<usize>,
    classes: usize,
    teacher: Option<Classifier<E>>,
    ce: CrossEntropy,
    monitor: TargetMonitor<'a>,
}

impl<'a, E: Encoder + 'static> MeanTeacher<'a, E> {
    /// The objective of `config` for a model taking `item_shape` and predicting `classes`
    /// classes on `device`, augmenting with `seed`; with `monitor` on, the teacher and the
    /// student are scored on the target test set after every epoch (history only).
    pub fn new(
        config: &'a SelfEnsembling,
        item_shape: Vec<usize>,
        classes: usize,
        seed: u64,
        device: &Device,
        monitor: TargetMonitor<'a>,
    ) -> Self {
        Self {
            config,
            seed,
            item_shape,
            classes,
            teacher: None,
            ce: CrossEntropy::new(device),
            monitor,
        }
    }

    /// The student's module (its parameter ids and gradient flags) with the teacher's weights,
    /// after a last average with the final `student`.
    pub fn into_teacher(self, student: Classifier<E>) -> Result<Classifier<E>> {
        match self.teacher {
            Some(t) => {
                let t = ema_update(t, &student, self.config.teacher_alpha)?;
                ema_update(student, &t, 0.0)
            }
            None => Ok(student),
        }
    }
}

impl<E: Encoder + 'static> Objective<Classifier<E>, DomainBatch> for MeanTeacher<'_, E> {
    fn step(&mut self, m: &Classifier<E>, b: &DomainBatch) -> Result<Step> {
        let c = self.config;
        // The teacher follows the student's weights before this step's update.
        let t = match self.teacher.take() {
            None => independent_copy(m).no_grad(),
            Some(t) => ema_update(t, m, c.teacher_alpha)?,
        };
        let seed = self.seed ^ (b.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let shape = &self.item_shape;
        let xs = perturb(b.source.inputs.clone(), shape, &c.augment, seed);
        let xt_student = perturb(b.target.clone(), shape, &c.augment, seed ^ 1);
        let xt_teacher = perturb(b.target.clone(), shape, &c.augment, seed ^ 2);
        let logits = m.forward(xs);
        let class_loss = self.ce.loss(logits.clone(), b.source.labels.clone());
        let p_student = softmax(m.forward(xt_student), 1);
        let p_teacher = softmax(t.forward(xt_teacher), 1).detach();
        let (consistency, balance, confident) =
            target_terms(p_student, p_teacher, c.confidence_threshold, self.classes);
        let stats = vec![
            ("class_loss", scalar(&class_loss)),
            ("consistency_loss", scalar(&consistency)),
            ("class_balance_loss", scalar(&balance)),
            ("confident_share", confident),
        ];
        let loss = class_loss + (consistency + balance * c.class_balance) * c.consistency_weight;
        self.teacher = Some(t);
        let mut step = Step::new(loss).with_accuracy(logits, &b.source.labels);
        step.stats = stats;
        Ok(step)
    }

    fn end_epoch(&mut self, m: &Classifier<E>) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if !self.monitor.is_on() {
            return out;
        }
        // The teacher as it will be returned: one more average with this student.
        if let Some(t) = self.teacher.as_ref()
            && let Ok(t) = ema_update(t.clone(), m, self.config.teacher_alpha)
        {
            out.extend(self.monitor.record(&t));
        }
        if let Some(acc) = self.monitor.record(m).remove("target_accuracy") {
            out.insert("student_target_accuracy".to_string(), acc);
        }
        out
    }
}

impl<E: Encoder + 'static> Strategy<E> for SelfEnsembling {
    tl_core::strategy_basics!(NAME, Family::Transductive, NEEDS);

    /// Adapts the classifier (a source-trained one, or a fresh head on the encoder) to the
    /// task's target; returns the teacher.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let (model, sets, run) =
            AdaptationRun::begin(NAME, start, task, self.source_valid_fraction, ctx)?;
        if self.augment.noise_std > 0.0
            && model.encoder.input_shape().len() != 3
            && !model.encoder.inputs_take_noise()
        {
            return Err(CoreError::config(
                "augment.noise_std",
                format!(
                    "{} adds noise to the inputs, but this encoder's inputs are token ids or carry a length; set it to 0 (the views then differ by the model's dropout)",
                    self.augment.noise_std
                ),
            ));
        }
        let train = ctx.train_config(&self.train);
        let device = ctx.device().clone();
        let mut objective = MeanTeacher::new(
            self,
            model.encoder.input_shape(),
            model.num_classes(),
            train.seed,
            &device,
            TargetMonitor::new(self.monitor_target, &sets, ctx),
        );
        let mut batches = sets.batches(&train);
        let out = ctx
            .trainer(train)
            .train(model, &mut batches, &mut objective, None, &device)?;
        let adapted = objective.into_teacher(out.model)?;
        let out = Adapted::same(&adapted, out.history);
        let report = run.report(NAME, self, out, &sets, ctx)?;
        Ok((adapted, report))
    }
}

/// The target terms of a batch: the consistency loss (squared difference of the two
/// probability vectors, averaged over classes, counted only where the teacher is confident,
/// averaged over the batch), the class-balance loss (binary cross-entropy between the
/// student's mean prediction and `1 / classes`, times `classes`, scaled by the confident
/// share as in the paper's code) and the confident share.
///
/// # Shapes
/// - `p_student`, `p_teacher`: `[batch, classes]` probabilities
pub fn target_terms(
    p_student: Tensor<2>,
    p_teacher: Tensor<2>,
    threshold: f32,
    classes: usize,
) -> (Tensor<1>, Tensor<1>, f64) {
    let confident = p_teacher
        .clone()
        .max_dim(1)
        .greater_elem(threshold)
        .float()
        .detach();
    let share = scalar(&confident.clone().mean().reshape([1]));
    let diff = (p_student.clone() - p_teacher).powi_scalar(2).mean_dim(1);
    let consistency = (diff * confident.clone()).mean().reshape([1]);
    let mean = p_student.mean_dim(0);
    let target = 1.0 / classes as f64;
    let eps = 1e-6;
    let bce = (mean.clone().add_scalar(eps).log() * target
        + (mean.neg().add_scalar(1.0 + eps)).log() * (1.0 - target))
        .neg()
        .mean()
        * classes as f64;
    let balance = (bce * confident.mean()).reshape([1]);
    (consistency, balance, share)
}

/// A random view of a batch: images get `augment` (affine warp, translation, noise); other
/// items get its Gaussian noise only. `augment` was validated by `fit` and every row of `x`
/// is one item of `item_shape` (the model's input, checked against the task), so the warp
/// cannot refuse it.
fn perturb(x: Tensor<2>, item_shape: &[usize], augment: &RandomAffine, seed: u64) -> Tensor<2> {
    let device = x.device();
    let shape = x.dims();
    let values: Vec<f32> = x.into_data().iter::<f32>().collect();
    let out = match item_shape {
        [c, h, w] => augment
            .apply_rows(&values, Chw::new(*c, *h, *w), seed)
            .expect("a validated augmentation of whole items"),
        _ => {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            values
                .iter()
                .map(|v| v + augment.noise_std * standard_normal(&mut rng))
                .collect()
        }
    };
    Tensor::from_data(TensorData::new(out, shape), &device)
}
