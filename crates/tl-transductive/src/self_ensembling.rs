//! Self-ensembling (French, Mackiewicz and Fisher 2018, "Self-ensembling for visual domain
//! adaptation"): a mean teacher for domain adaptation. The student learns the source labels
//! and, on the target, to agree with a teacher whose weights are an exponential moving
//! average of the student's, each seeing its own random augmentation of the same target
//! images. Only target items the teacher is confident about count (the confidence
//! threshold), and a class-balance term keeps the student's average target prediction near
//! uniform so that the agreement cannot be reached by predicting one class.
//!
//! The teacher is what the method returns (as in the paper, it is the better of the two).

use crate::common::check_common;
use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use std::cell::RefCell;
use std::collections::BTreeMap;
use tl_core::domain::AdaptationRun;
use tl_core::model::{Classifier, Encoder, ema_update, independent_copy};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::{DomainBatch, DomainStep, TrainConfig, Trainer, evaluate, scalar};
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

    /// Adapts `model` (a classifier trained on the source) to the task's target; returns the
    /// teacher.
    pub fn fit<E: Encoder + 'static>(
        &self,
        model: Classifier<E>,
        task: &TransferTask,
        device: &Device,
    ) -> Result<(Classifier<E>, FitReport)> {
        self.validate()?;
        let (sets, run) = AdaptationRun::begin(
            NAME,
            &model,
            task,
            self.source_valid_fraction,
            self.train.seed,
            device,
        )?;
        let item_shape = model.encoder.input_shape();
        let classes = model.num_classes();
        let ce = CrossEntropyLossConfig::new().init(&device.clone().autodiff());
        let teacher: RefCell<Option<Classifier<E>>> = RefCell::new(None);
        let perturb = |x: Tensor<2>, seed: u64| perturb(x, &item_shape, &self.augment, seed);
        let out = Trainer::new(self.train.clone()).fit_domains(
            model,
            &sets.source_train,
            sets.target,
            None,
            device,
            &mut |m: &Classifier<E>, b: &DomainBatch| {
                let mut slot = teacher.borrow_mut();
                // The teacher follows the student's weights before this step's update.
                let t = match slot.take() {
                    None => independent_copy(m).no_grad(),
                    // The teacher is a copy of the student and alpha was validated.
                    Some(t) => ema_update(t, m, self.teacher_alpha)
                        .expect("the teacher is a copy of the student"),
                };
                let seed = self.train.seed ^ (b.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let xs = perturb(b.source.inputs.clone(), seed);
                let xt_student = perturb(b.target.clone(), seed ^ 1);
                let xt_teacher = perturb(b.target.clone(), seed ^ 2);
                let logits = m.forward(xs);
                let class_loss = ce.forward(logits.clone(), b.source.labels.clone());
                let p_student = softmax(m.forward(xt_student), 1);
                let p_teacher = softmax(t.forward(xt_teacher), 1).detach();
                let (consistency, balance, confident) =
                    target_terms(p_student, p_teacher, self.confidence_threshold, classes);
                let stats = vec![
                    ("class_loss", scalar(&class_loss)),
                    ("consistency_loss", scalar(&consistency)),
                    ("class_balance_loss", scalar(&balance)),
                    ("confident_share", confident),
                ];
                let loss = class_loss
                    + (consistency + balance * self.class_balance) * self.consistency_weight;
                *slot = Some(t);
                DomainStep {
                    loss,
                    logits: Some(logits),
                    stats,
                }
            },
            &mut |m: &Classifier<E>| {
                let mut out = BTreeMap::new();
                if self.monitor_target {
                    // The teacher as it will be returned: one more average with this student.
                    let slot = teacher.borrow();
                    // `AdaptationRun::begin` checked the test set against the model.
                    if let Some(t) = slot.as_ref()
                        && let Ok(t) = ema_update(t.clone(), m, self.teacher_alpha)
                        && let Ok(metrics) = evaluate(&t, sets.target_test, device, 256)
                    {
                        out.insert("target_accuracy".to_string(), metrics.accuracy);
                    }
                    if let Ok(metrics) = evaluate(m, sets.target_test, device, 256) {
                        out.insert("student_target_accuracy".to_string(), metrics.accuracy);
                    }
                }
                out
            },
        )?;
        let student = out.model;
        let adapted = match teacher.into_inner() {
            // The student's module (its parameter ids and gradient flags) with the teacher's
            // weights, after a last average with the final student.
            Some(t) => {
                let t = ema_update(t, &student, self.teacher_alpha)?;
                ema_update(student, &t, 0.0)?
            }
            None => student,
        };
        let report = run.report(NAME, self, &adapted, &adapted, out.history, &sets, device)?;
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
