//! The distillation methods as strategies: each a config (its settings) whose objective is
//! Hinton's loss plus the method's own term, trained by tl-core's one loop over a
//! [`DistillBatches`] source.

use crate::loss::{
    attention_loss, attention_map, hint_loss, kd_loss, rkd_angle_loss, rkd_distance_loss,
};
use crate::teacher::{DistillBatch, DistillBatches, TeacherTargets, TeacherView, TransferSet};
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use tl_core::model::{
    Activation, Classifier, Encoder, LayerConfig, Sequential, SequentialConfig, count_params,
    head_config,
};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{ClassifierModel, CrossEntropy, Objective, Step, TrainConfig, argmax_rows};
use tl_core::{CoreError, Result};

/// Which items the student learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferFrom {
    /// The task's labelled target set (labels and the teacher's soft targets).
    Labelled,
    /// The task's unlabelled target set (the teacher's soft targets only).
    Unlabelled,
    /// Both: labels where there are some, soft targets everywhere.
    Both,
    /// The task's labelled source set (labels and soft targets): a student taught on the
    /// source domain, scored on the target's test set.
    Source,
    /// The labelled source and the unlabelled target: labels on the source, the teacher's
    /// soft targets on both domains.
    SourceAndUnlabelled,
}

impl TransferFrom {
    /// The task parts the transfer set and the scoring need.
    pub fn needs(self) -> &'static [TaskPart] {
        use TaskPart::*;
        match self {
            Self::Labelled => &[TargetLabelled, TargetTest],
            Self::Unlabelled => &[TargetUnlabelled, TargetTest],
            Self::Both => &[TargetLabelled, TargetUnlabelled, TargetTest],
            Self::Source => &[SourceLabelled, TargetTest],
            Self::SourceAndUnlabelled => &[SourceLabelled, TargetUnlabelled, TargetTest],
        }
    }

    fn set(self, task: &TransferTask, name: &str) -> Result<TransferSet> {
        let labelled = || task.labelled(TaskPart::TargetLabelled, name);
        let source = || {
            let set = task.labelled(TaskPart::SourceLabelled, name)?;
            if set.num_classes() != task.num_classes {
                return Err(CoreError::config(
                    "transfer",
                    format!(
                        "the source has {} classes and the task {}: a transfer set from the source needs the source's task",
                        set.num_classes(),
                        task.num_classes
                    ),
                ));
            }
            Ok(set)
        };
        match self {
            Self::Labelled => TransferSet::new(Some(labelled()?), None),
            Self::Unlabelled => TransferSet::new(None, Some(task.unlabelled_target(name)?)),
            Self::Both => TransferSet::new(Some(labelled()?), Some(task.unlabelled_target(name)?)),
            Self::Source => TransferSet::new(Some(source()?), None),
            Self::SourceAndUnlabelled => {
                TransferSet::new(Some(source()?), Some(task.unlabelled_target(name)?))
            }
        }
    }
}

/// The settings every method shares: the student, Hinton's loss and the training.
#[derive(Config, Debug, PartialEq)]
pub struct KdSettings {
    /// The student's encoder layers (input shape from the task); a linear head to the
    /// task's classes is put on it.
    #[config(default = "vec![LayerConfig::Linear { out: 64 }, LayerConfig::Relu]")]
    pub student: Vec<LayerConfig>,
    /// Softmax temperature of the soft targets (> 0).
    #[config(default = 4.0)]
    pub temperature: f64,
    /// Weight of the hard-label cross-entropy, in [0, 1]; the soft term gets `1 - alpha`.
    /// Unlabelled items give the soft term alone.
    #[config(default = 0.1)]
    pub alpha: f64,
    /// Which items the student learns from.
    #[config(default = "TransferFrom::Labelled")]
    pub transfer: TransferFrom,
    /// Training of the student.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
}

impl KdSettings {
    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(CoreError::config(
                "temperature",
                format!("{} must be > 0", self.temperature),
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(CoreError::config(
                "alpha",
                format!("{} is outside [0, 1]", self.alpha),
            ));
        }
        if self.student.is_empty() {
            return Err(CoreError::config("student", "no layers"));
        }
        self.train.validate()
    }
}

/// A student and the regressors of its hints: the module the loop trains.
#[derive(Module, Debug)]
pub struct Student {
    /// The student classifier.
    pub classifier: Classifier<Sequential>,
    /// FitNets' regressors (1x1 convolutions), one per hint.
    pub regressors: Vec<Conv2d>,
}

impl ClassifierModel for Student {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.classifier.forward(x)
    }

    fn input_shape(&self) -> Vec<usize> {
        self.classifier.encoder.input_shape()
    }

    fn num_classes(&self) -> usize {
        self.classifier.num_classes()
    }
}

/// A method's own term, resolved against the student and the teacher.
#[derive(Debug, Clone)]
enum Term {
    None,
    Hints {
        /// Student layer per hint, and whether student and teacher keep their image shape
        /// (1x1 regression over channels) or are flattened.
        student: Vec<(usize, bool)>,
        weight: f64,
        first_stage: usize,
    },
    Attention {
        beta: f64,
    },
    Relational {
        distance: f64,
        angle: f64,
    },
}

/// The objective: Hinton's loss plus the method's term.
struct DistillObjective {
    ce: CrossEntropy,
    alpha: f64,
    temperature: f64,
    term: Term,
    taps: Vec<usize>,
    epoch: usize,
}

fn as_image(a: Activation) -> Tensor<4> {
    match a {
        Activation::Image(t) => t,
        Activation::Flat(t) => {
            let [n, d] = t.dims();
            t.reshape([n, d, 1, 1])
        }
    }
}

impl Objective<Student, DistillBatch> for DistillObjective {
    fn start_epoch(&mut self, epoch: usize, model: Student) -> Student {
        self.epoch = epoch;
        model
    }

    fn step(&mut self, model: &Student, b: &DistillBatch) -> Result<Step> {
        let (features, acts) = model
            .classifier
            .encoder
            .forward_taps(b.inputs.clone(), &self.taps);
        let logits = model.classifier.head.forward(features.clone());
        let kd = || {
            kd_loss(
                &self.ce,
                logits.clone(),
                b.teacher_logits.clone(),
                b.labelled.clone(),
                self.alpha,
                self.temperature,
            )
        };
        let mut stats = Vec::new();
        let loss = match &self.term {
            Term::None => kd(),
            Term::Hints {
                student,
                weight,
                first_stage,
            } => {
                let mut hint = None;
                for (((a, (_, keep_image)), reg), t) in acts
                    .into_iter()
                    .zip(student)
                    .zip(&model.regressors)
                    .zip(&b.teacher_views)
                {
                    let x = if *keep_image {
                        as_image(a)
                    } else {
                        as_image(Activation::Flat(a.flat()))
                    };
                    let l = hint_loss(reg.forward(x).flatten(1, 3), t.clone());
                    hint = Some(match hint {
                        Some(h) => h + l,
                        None => l,
                    });
                }
                let hint = hint.expect("at least one hint");
                stats.push(("hint_loss", tl_core::train::scalar(&hint)));
                if self.epoch <= *first_stage {
                    hint
                } else if *weight > 0.0 {
                    kd() + hint * *weight
                } else {
                    kd()
                }
            }
            Term::Attention { beta, .. } => {
                let mut at = None;
                for (a, t) in acts.into_iter().zip(&b.teacher_views) {
                    let l = attention_loss(attention_map(as_image(a)), t.clone());
                    at = Some(match at {
                        Some(s) => s + l,
                        None => l,
                    });
                }
                let at = at.expect("at least one pair");
                stats.push(("attention_loss", tl_core::train::scalar(&at)));
                kd() + at * (beta / 2.0)
            }
            Term::Relational { distance, angle } => {
                let t = b.teacher_views[0].clone();
                let mut loss = kd();
                if *distance > 0.0 {
                    let d = rkd_distance_loss(features.clone(), t.clone());
                    stats.push(("rkd_distance", tl_core::train::scalar(&d)));
                    loss = loss + d * *distance;
                }
                if *angle > 0.0 {
                    let a = rkd_angle_loss(features.clone(), t);
                    stats.push(("rkd_angle", tl_core::train::scalar(&a)));
                    loss = loss + a * *angle;
                }
                loss
            }
        };
        let agree = argmax_rows(logits.clone().detach())
            .iter()
            .zip(argmax_rows(b.teacher_logits.clone()))
            .filter(|(s, t)| **s == *t)
            .count();
        let mut step = Step::new(loss);
        step.stats = stats;
        step = step.with_stat(
            "teacher_agreement",
            agree as f64 / b.inputs.dims()[0] as f64,
        );
        if let Some((rows, labels)) = &b.labelled {
            step = step.with_accuracy(logits.select(0, rows.clone()), labels);
        }
        Ok(step)
    }
}

/// The teacher as a classifier (it must come with its head) predicting the task's classes.
fn teacher_of(
    start: Pretrained<Sequential>,
    task: &TransferTask,
) -> Result<Classifier<Sequential>> {
    let head = start.head.ok_or_else(|| {
        CoreError::config(
            "teacher",
            "the teacher needs its head (start from Pretrained::classifier)",
        )
    })?;
    let teacher = Classifier::new(start.encoder, head)?;
    if teacher.num_classes() != task.num_classes {
        return Err(CoreError::config(
            "teacher",
            format!(
                "the teacher predicts {} classes, the task (and so the student) has {}",
                teacher.num_classes(),
                task.num_classes
            ),
        ));
    }
    Ok(teacher)
}

/// The item shape after each layer of an encoder config, and a refusal naming `field` for a
/// layer that is not there.
fn layer_shape(
    shapes: &[Vec<usize>],
    layer: usize,
    field: &'static str,
    whose: &str,
) -> Result<Vec<usize>> {
    shapes
        .get(layer)
        .cloned()
        .ok_or_else(|| CoreError::InvalidConfig {
            field,
            reason: format!(
                "the {whose}'s encoder has {} layers (0..={}); there is no layer {layer}",
                shapes.len(),
                shapes.len().saturating_sub(1)
            ),
        })
}

/// The method's term, resolved: which teacher views to cache, which student layers to tap,
/// the regressors to build, checked against both encoders.
enum Plan {
    None,
    Hints(Vec<Hint>, f64, usize),
    Attention(Vec<LayerPair>, f64),
    Relational(f64, f64),
}

struct Resolved {
    term: Term,
    views: Vec<TeacherView>,
    taps: Vec<usize>,
    /// (student channels, teacher channels) of each regressor.
    regressors: Vec<(usize, usize)>,
}

fn resolve(
    plan: &Plan,
    student: &SequentialConfig,
    teacher: &SequentialConfig,
) -> Result<Resolved> {
    let s_shapes = student.activation_shapes()?;
    let t_shapes = teacher.activation_shapes()?;
    let last = |shapes: &Vec<Vec<usize>>| shapes.len().saturating_sub(1);
    Ok(match plan {
        Plan::None => Resolved {
            term: Term::None,
            views: Vec::new(),
            taps: Vec::new(),
            regressors: Vec::new(),
        },
        Plan::Hints(hints, weight, first_stage) => {
            if hints.is_empty() {
                return Err(CoreError::config("hints", "no hint layers"));
            }
            let mut out = Resolved {
                term: Term::None,
                views: Vec::new(),
                taps: Vec::new(),
                regressors: Vec::new(),
            };
            let mut student_taps = Vec::new();
            for h in hints {
                let sl = h.student_layer.unwrap_or(last(&s_shapes));
                let tl = h.teacher_layer.unwrap_or(last(&t_shapes));
                let s = layer_shape(&s_shapes, sl, "hints.student_layer", "student")?;
                let t = layer_shape(&t_shapes, tl, "hints.teacher_layer", "teacher")?;
                // Same spatial size: regress channels per position; otherwise flattened.
                let keep_image = s.len() == 3 && t.len() == 3 && s[1..] == t[1..];
                let (cs, ct) = if keep_image {
                    (s[0], t[0])
                } else {
                    (s.iter().product(), t.iter().product())
                };
                out.views.push(TeacherView::Layer(tl));
                out.taps.push(sl);
                out.regressors.push((cs, ct));
                student_taps.push((sl, keep_image));
            }
            out.term = Term::Hints {
                student: student_taps,
                weight: *weight,
                first_stage: *first_stage,
            };
            out
        }
        Plan::Attention(pairs, beta) => {
            let pairs = if pairs.is_empty() {
                auto_pairs(&s_shapes, &t_shapes)
            } else {
                pairs.clone()
            };
            if pairs.is_empty() {
                return Err(CoreError::config(
                    "layers",
                    "attention transfer needs image activations of the same height and width in \
                     the student and the teacher; none match",
                ));
            }
            let mut views = Vec::new();
            let mut taps = Vec::new();
            for p in &pairs {
                let s = layer_shape(&s_shapes, p.student, "layers.student", "student")?;
                let t = layer_shape(&t_shapes, p.teacher, "layers.teacher", "teacher")?;
                if s.len() != 3 || t.len() != 3 || s[1..] != t[1..] {
                    return Err(CoreError::config(
                        "layers",
                        format!(
                            "student layer {} gives {s:?} and teacher layer {} gives {t:?}: \
                             attention maps need image activations of the same height and width",
                            p.student, p.teacher
                        ),
                    ));
                }
                views.push(TeacherView::Attention(p.teacher));
                taps.push(p.student);
            }
            Resolved {
                term: Term::Attention { beta: *beta },
                views,
                taps,
                regressors: Vec::new(),
            }
        }
        Plan::Relational(distance, angle) => Resolved {
            term: Term::Relational {
                distance: *distance,
                angle: *angle,
            },
            views: vec![TeacherView::Features],
            taps: Vec::new(),
            regressors: Vec::new(),
        },
    })
}

/// For each height and width both encoders produce, the last student layer and the last
/// teacher layer of that size.
fn auto_pairs(s: &[Vec<usize>], t: &[Vec<usize>]) -> Vec<LayerPair> {
    let mut pairs = Vec::new();
    let mut seen = Vec::new();
    for (i, shape) in s.iter().enumerate().rev() {
        if shape.len() != 3 || seen.contains(&shape[1..].to_vec()) {
            continue;
        }
        seen.push(shape[1..].to_vec());
        if let Some(j) = t
            .iter()
            .rposition(|ts| ts.len() == 3 && ts[1..] == shape[1..])
        {
            pairs.push(LayerPair {
                student: i,
                teacher: j,
            });
        }
    }
    pairs.reverse();
    pairs
}

/// The whole run of any method.
fn distill(
    name: &str,
    kd: &KdSettings,
    plan: Plan,
    config: &impl Serialize,
    start: Pretrained<Sequential>,
    task: &TransferTask,
    ctx: &mut RunContext,
) -> Fitted<Sequential> {
    let device = ctx.device().clone();
    let teacher = teacher_of(start, task)?;
    let set = kd.transfer.set(task, name)?;
    let test = task.labelled(TaskPart::TargetTest, name)?;
    let student_config = SequentialConfig {
        input_shape: set.inputs.item_shape.clone(),
        layers: kd.student.clone(),
    };
    let resolved = resolve(&plan, &student_config, teacher.encoder.config())?;
    ctx.begin();
    let encoder = student_config.init(&device)?;
    let head = head_config(encoder.feature_dim(), &[], task.num_classes).init(&device)?;
    let regressors = resolved
        .regressors
        .iter()
        .map(|&(cs, ct)| Conv2dConfig::new([cs, ct], [1, 1]).init(&device))
        .collect();
    let student = Student {
        classifier: Classifier::new(encoder, head)?,
        regressors,
    };
    let targets = TeacherTargets::compute(
        &teacher,
        &set.inputs,
        &resolved.views,
        &device,
        ctx.eval_batch_size(),
    )?;
    let train = ctx.train_config(&kd.train);
    let mut batches = DistillBatches::new(&set, &targets, train.batch_size, train.seed);
    let objective = DistillObjective {
        ce: CrossEntropy::new(&device),
        alpha: kd.alpha,
        temperature: kd.temperature,
        term: resolved.term,
        taps: resolved.taps,
        epoch: 0,
    };
    let out = ctx
        .trainer(train)
        .train(student, &mut batches, objective, None, &device)?;
    let model = out.model.classifier;
    let mut report = ctx.finish(name, config, &model, out.history, test)?;
    let teacher_metrics = ctx.evaluate(&teacher, test)?;
    let teacher_params = count_params(&teacher).total as f64;
    let student_params = count_params(&model).total as f64;
    for (key, value) in [
        ("teacher_accuracy", teacher_metrics.accuracy),
        ("teacher_params", teacher_params),
        ("compression", teacher_params / student_params.max(1.0)),
        ("transfer_items", set.len() as f64),
        ("labelled_transfer_items", set.labelled() as f64),
    ] {
        report.extra.insert(key.into(), value);
    }
    Ok((model, report))
}

/// Hinton, Vinyals and Dean's knowledge distillation: the student matches the teacher's
/// softened class probabilities (and the labels, weighted by `alpha`).
#[derive(Config, Debug)]
pub struct KnowledgeDistillation {
    /// Student, loss and training.
    #[config(default = "KdSettings::new()")]
    pub kd: KdSettings,
}

/// One FitNets hint: a student layer regressed onto a teacher layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hint {
    /// The student's encoder layer whose output is the guided activation; `None` for the
    /// encoder's output.
    pub student_layer: Option<usize>,
    /// The teacher's encoder layer whose output is the hint; `None` for the encoder's output.
    pub teacher_layer: Option<usize>,
}

impl Hint {
    /// The two encoders' outputs.
    pub fn outputs() -> Self {
        Self {
            student_layer: None,
            teacher_layer: None,
        }
    }

    /// Student layer `student` onto teacher layer `teacher`.
    pub fn layers(student: usize, teacher: usize) -> Self {
        Self {
            student_layer: Some(student),
            teacher_layer: Some(teacher),
        }
    }
}

/// Romero et al.'s FitNets: a learned regressor (a 1x1 convolution) maps a student layer onto
/// a teacher layer, with an L2 loss, as a first stage (hints only) and/or added to KD.
#[derive(Config, Debug)]
pub struct FitNets {
    /// Student, loss and training.
    #[config(default = "KdSettings::new()")]
    pub kd: KdSettings,
    /// The guided layers (default: the two encoders' outputs).
    #[config(default = "vec![Hint::outputs()]")]
    pub hints: Vec<Hint>,
    /// Epochs of the first stage, hints only (counted in `kd.train.epochs`).
    #[config(default = 0)]
    pub hint_epochs: usize,
    /// Weight of the hint term added to KD after the first stage (0: KD alone).
    #[config(default = 1.0)]
    pub hint_weight: f64,
}

/// A student layer matched to a teacher layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPair {
    /// The student's encoder layer.
    pub student: usize,
    /// The teacher's encoder layer.
    pub teacher: usize,
}

/// Zagoruyko and Komodakis' attention transfer: the student's spatial attention maps match
/// the teacher's at layers of the same height and width, added to KD.
#[derive(Config, Debug)]
pub struct AttentionTransfer {
    /// Student, loss and training (the default student is a small conv net).
    #[config(default = "KdSettings::new().with_student(small_conv_student())")]
    pub kd: KdSettings,
    /// Matched layers; empty: for every height and width both produce, the last layer of
    /// that size in each.
    #[config(default = "Vec::new()")]
    pub layers: Vec<LayerPair>,
    /// The term's weight `beta` (the loss adds `beta / 2` times the mean squared difference
    /// of the maps, summed over the pairs; the paper's 1000).
    #[config(default = 1000.0)]
    pub beta: f64,
}

/// A conv block, a pool and a small fully connected layer (attention transfer's default
/// student).
pub fn small_conv_student() -> Vec<LayerConfig> {
    vec![
        LayerConfig::Conv2d {
            out_channels: 8,
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        LayerConfig::Relu,
        LayerConfig::MaxPool2d {
            kernel: 2,
            stride: 2,
        },
        LayerConfig::Linear { out: 32 },
        LayerConfig::Relu,
    ]
}

/// Park et al.'s relational KD: the student's embeddings keep the teacher's pairwise
/// distances and triplet angles (widths may differ), added to KD.
#[derive(Config, Debug)]
pub struct RelationalKd {
    /// Student, loss and training.
    #[config(default = "KdSettings::new()")]
    pub kd: KdSettings,
    /// Weight of the distance term (the paper's 25).
    #[config(default = 25.0)]
    pub distance_weight: f64,
    /// Weight of the angle term (the paper's 50); memory grows as batch^3.
    #[config(default = 50.0)]
    pub angle_weight: f64,
}

fn check_weight(field: &'static str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(CoreError::config(
            field,
            format!("{v} must be finite and >= 0"),
        ));
    }
    Ok(())
}

/// What each method adds to the shared run.
trait Method: Serialize {
    const NAME: &'static str;
    fn plan(&self) -> Plan;
    fn check(&self) -> Result<()>;
}

impl Method for KnowledgeDistillation {
    const NAME: &'static str = "knowledge-distillation";
    fn plan(&self) -> Plan {
        Plan::None
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

impl Method for FitNets {
    const NAME: &'static str = "fitnets";
    fn plan(&self) -> Plan {
        Plan::Hints(self.hints.clone(), self.hint_weight, self.hint_epochs)
    }
    fn check(&self) -> Result<()> {
        if self.hints.is_empty() {
            return Err(CoreError::config("hints", "no hint layers"));
        }
        // The first stage trains the hints alone: the head gets no gradient until it ends.
        if self.hint_epochs >= self.kd.train.epochs {
            return Err(CoreError::config(
                "hint_epochs",
                format!(
                    "{} epochs of hints alone out of {} in all: the first stage takes every epoch and the head never trains",
                    self.hint_epochs, self.kd.train.epochs
                ),
            ));
        }
        check_weight("hint_weight", self.hint_weight)
    }
}

impl Method for AttentionTransfer {
    const NAME: &'static str = "attention-transfer";
    fn plan(&self) -> Plan {
        Plan::Attention(self.layers.clone(), self.beta)
    }
    fn check(&self) -> Result<()> {
        check_weight("beta", self.beta)
    }
}

impl Method for RelationalKd {
    const NAME: &'static str = "relational-kd";
    fn plan(&self) -> Plan {
        Plan::Relational(self.distance_weight, self.angle_weight)
    }
    fn check(&self) -> Result<()> {
        check_weight("distance_weight", self.distance_weight)?;
        check_weight("angle_weight", self.angle_weight)
    }
}

macro_rules! distill_strategy {
    ($t:ty) => {
        impl $t {
            /// Refuses bad fields (the shared ones, then the method's) before any work.
            pub fn validate(&self) -> Result<()> {
                self.kd.validate()?;
                self.check()
            }

            /// The task parts its transfer set and scoring need.
            pub fn parts(&self) -> &'static [TaskPart] {
                self.kd.transfer.needs()
            }
        }

        impl Strategy<Sequential> for $t {
            tl_core::strategy_basics!(<$t as Method>::NAME, Family::Distillation, fn Self::parts);

            /// Trains a fresh student from the teacher (`start`, with its head) on the
            /// transfer set; the report's `extra` holds the teacher's test accuracy and
            /// parameters and the compression (teacher parameters / student parameters).
            fn run(
                &self,
                start: Pretrained<Sequential>,
                task: &TransferTask,
                ctx: &mut RunContext,
            ) -> Fitted<Sequential> {
                distill(
                    <$t as Method>::NAME,
                    &self.kd,
                    self.plan(),
                    self,
                    start,
                    task,
                    ctx,
                )
            }
        }
    };
}

distill_strategy!(KnowledgeDistillation);
distill_strategy!(FitNets);
distill_strategy!(AttentionTransfer);
distill_strategy!(RelationalKd);
