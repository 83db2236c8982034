//! The teacher's side: what the student matches, computed once per transfer set with the
//! teacher frozen and in inference mode, and the batch source that hands it out with the
//! transfer items.

use crate::loss::attention_map;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use tl_core::data::{BatchPlan, Inputs, LabelledSet, UnlabelledSet};
use tl_core::model::{Activation, Classifier, Sequential};
use tl_core::train::{BatchSource, StepAt};
use tl_core::{CoreError, Result};

/// What the student matches of the teacher besides its class scores.
#[derive(Debug, Clone, PartialEq)]
pub enum TeacherView {
    /// The activation after encoder layer `i`, flattened (FitNets' hint).
    Layer(usize),
    /// The attention map of the image activation after encoder layer `i` (attention transfer).
    Attention(usize),
    /// The encoder's output, the features the head sees (relational KD).
    Features,
}

/// The items a student learns from: inputs, with a label or without one each.
#[derive(Debug, Clone)]
pub struct TransferSet {
    /// The items.
    pub inputs: Inputs,
    /// Each item's label, `None` for an unlabelled item.
    pub labels: Vec<Option<usize>>,
}

impl TransferSet {
    /// A labelled set's items with their labels, then an unlabelled set's without (either
    /// may be absent, not both).
    pub fn new(labelled: Option<&LabelledSet>, unlabelled: Option<&UnlabelledSet>) -> Result<Self> {
        let shape = labelled
            .map(|s| s.inputs.item_shape.clone())
            .or_else(|| unlabelled.map(|s| s.inputs.item_shape.clone()))
            .ok_or_else(|| {
                CoreError::data("transfer set", "no items: give labelled or unlabelled ones")
            })?;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        if let Some(s) = labelled {
            s.validate()?;
            values.extend_from_slice(&s.inputs.values);
            labels.extend(s.labels.iter().map(|&l| Some(l)));
        }
        if let Some(s) = unlabelled {
            s.validate()?;
            if s.inputs.item_shape != shape {
                return Err(CoreError::data(
                    &s.domain,
                    format!(
                        "items of shape {:?}, the labelled transfer items are {shape:?}",
                        s.inputs.item_shape
                    ),
                ));
            }
            values.extend_from_slice(&s.inputs.values);
            labels.extend(std::iter::repeat_n(None, s.len()));
        }
        let set = Self {
            inputs: Inputs::new(shape, values)?,
            labels,
        };
        if set.labels.is_empty() {
            return Err(CoreError::data("transfer set", "no items"));
        }
        Ok(set)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of labelled items.
    pub fn labelled(&self) -> usize {
        self.labels.iter().flatten().count()
    }
}

/// The teacher's class scores and views for every item of a transfer set, in item order.
#[derive(Debug, Clone)]
pub struct TeacherTargets {
    classes: usize,
    logits: Vec<f32>,
    views: Vec<(TeacherView, usize, Vec<f32>)>,
}

impl TeacherTargets {
    /// Runs the teacher (inference mode, no gradients, `batch_size` items at a time) over
    /// `inputs` once and keeps its scores and `views`: `n * (classes + view widths)` floats
    /// in memory. Refuses inputs of another shape than the teacher takes and views of layers
    /// it does not have.
    pub fn compute(
        teacher: &Classifier<Sequential>,
        inputs: &Inputs,
        views: &[TeacherView],
        device: &Device,
        batch_size: usize,
    ) -> Result<Self> {
        inputs.check_fits(
            &tl_core::model::Encoder::input_shape(&teacher.encoder),
            "transfer set",
        )?;
        let shapes = teacher.encoder.config().activation_shapes()?;
        let mut taps = Vec::new();
        let mut widths = Vec::new();
        for (i, view) in views.iter().enumerate() {
            let width = match view {
                TeacherView::Features => teacher.encoder.output_dim(),
                TeacherView::Layer(l) | TeacherView::Attention(l) => {
                    let shape = shapes.get(*l).ok_or_else(|| {
                        CoreError::config(
                            "teacher_layer",
                            format!(
                                "the teacher's encoder has {} layers (0..{}); there is no layer {l}",
                                shapes.len(),
                                shapes.len().saturating_sub(1)
                            ),
                        )
                    })?;
                    taps.push((i, *l));
                    match (view, shape.as_slice()) {
                        (TeacherView::Attention(_), [_, h, w]) => h * w,
                        (TeacherView::Attention(_), other) => {
                            return Err(CoreError::config(
                                "teacher_layer",
                                format!(
                                    "attention maps need image activations; the teacher's layer {l} gives {other:?}"
                                ),
                            ));
                        }
                        _ => shape.iter().product(),
                    }
                }
            };
            widths.push(width);
        }
        let tap_layers: Vec<usize> = taps.iter().map(|(_, l)| *l).collect();
        let plain = device.clone().without_autodiff();
        let model = teacher.valid();
        let classes = model.num_classes();
        let mut logits = Vec::with_capacity(inputs.len() * classes);
        let mut out: Vec<Vec<f32>> = widths
            .iter()
            .map(|w| Vec::with_capacity(inputs.len() * w))
            .collect();
        let mut plan = BatchPlan::new(inputs.len(), batch_size.max(1), false, 0);
        for idx in plan.epoch() {
            let x = inputs.tensor(&idx, &plain);
            let (features, acts) = model.encoder.forward_taps(x, &tap_layers);
            logits.extend(values(model.head.forward(features.clone())));
            let mut acts = acts.into_iter();
            for (view, slot) in views.iter().zip(out.iter_mut()) {
                let v = match view {
                    TeacherView::Features => features.clone(),
                    TeacherView::Layer(_) => acts.next().expect("one per tap").flat(),
                    TeacherView::Attention(_) => match acts.next().expect("one per tap") {
                        Activation::Image(t) => attention_map(t),
                        Activation::Flat(_) => unreachable!("checked above"),
                    },
                };
                slot.extend(values(v));
            }
        }
        Ok(Self {
            classes,
            logits,
            views: views
                .iter()
                .cloned()
                .zip(widths)
                .zip(out)
                .map(|((v, w), o)| (v, w, o))
                .collect(),
        })
    }

    /// Number of classes the teacher predicts.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.logits.len() / self.classes.max(1)
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.logits.is_empty()
    }

    /// The teacher's scores of item `i`.
    pub fn logits(&self, i: usize) -> &[f32] {
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }

    /// The width of each view, in the order asked for.
    pub fn view_widths(&self) -> Vec<usize> {
        self.views.iter().map(|(_, w, _)| *w).collect()
    }

    fn rows(values: &[f32], width: usize, idx: &[usize], device: &Device) -> Tensor<2> {
        let mut out = Vec::with_capacity(idx.len() * width);
        for &i in idx {
            out.extend_from_slice(&values[i * width..(i + 1) * width]);
        }
        Tensor::from_data(TensorData::new(out, [idx.len(), width]), device)
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// One step of distillation, on the training (autodiff) device.
#[derive(Debug, Clone)]
pub struct DistillBatch {
    /// The items, `[batch, item_size]`.
    pub inputs: Tensor<2>,
    /// Row indices and labels of the labelled items, `None` when the batch has none.
    pub labelled: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    /// Labelled items, out of the batch's.
    pub labelled_count: usize,
    /// The teacher's scores, `[batch, classes]`.
    pub teacher_logits: Tensor<2>,
    /// The teacher's views, `[batch, width]` each, in the order asked for.
    pub teacher_views: Vec<Tensor<2>>,
}

/// Seeded, shuffled batches of a transfer set with the teacher's targets.
#[derive(Debug, Clone)]
pub struct DistillBatches<'s> {
    set: &'s TransferSet,
    targets: &'s TeacherTargets,
    plan: BatchPlan,
    order: Vec<Vec<usize>>,
}

impl<'s> DistillBatches<'s> {
    /// Batches of `batch_size` items of `set`, shuffled by `seed`; `targets` must have been
    /// computed on `set`'s items.
    pub fn new(
        set: &'s TransferSet,
        targets: &'s TeacherTargets,
        batch_size: usize,
        seed: u64,
    ) -> Self {
        Self {
            set,
            targets,
            plan: BatchPlan::new(set.len(), batch_size, true, seed),
            order: Vec::new(),
        }
    }
}

impl BatchSource for DistillBatches<'_> {
    type Batch = DistillBatch;

    fn steps_per_epoch(&self) -> usize {
        self.plan.num_batches()
    }

    fn check(&self, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<()> {
        if self.set.is_empty() {
            return Err(CoreError::data("transfer set", "no items"));
        }
        if self.targets.len() != self.set.len() {
            return Err(CoreError::data(
                "teacher targets",
                format!(
                    "{} items, the transfer set has {}",
                    self.targets.len(),
                    self.set.len()
                ),
            ));
        }
        if let Some(shape) = input_shape {
            self.set.inputs.check_fits(shape, "transfer set")?;
        }
        if let Some(classes) = classes {
            if classes != self.targets.classes {
                return Err(CoreError::data(
                    "teacher",
                    format!(
                        "the teacher predicts {} classes, the student {classes}",
                        self.targets.classes
                    ),
                ));
            }
            if let Some(l) = self.set.labels.iter().flatten().find(|&&l| l >= classes) {
                return Err(CoreError::data(
                    "transfer set",
                    format!("label {l} but the student predicts {classes} classes"),
                ));
            }
        }
        Ok(())
    }

    fn start_epoch(&mut self) {
        self.order = self.plan.epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> DistillBatch {
        let idx = &self.order[at.step];
        let labels: Vec<Option<usize>> = idx.iter().map(|&i| self.set.labels[i]).collect();
        let labelled = crate::loss::labelled_rows(&labels);
        let labelled_count = labelled.as_ref().map_or(0, |(r, _)| r.len());
        let labelled = labelled.map(|(rows, labels)| {
            let k = rows.len();
            (
                Tensor::from_data(TensorData::new(rows, [k]), device),
                Tensor::from_data(TensorData::new(labels, [k]), device),
            )
        });
        let t = self.targets;
        DistillBatch {
            inputs: self.set.inputs.tensor(idx, device),
            labelled,
            labelled_count,
            teacher_logits: TeacherTargets::rows(&t.logits, t.classes, idx, device),
            teacher_views: t
                .views
                .iter()
                .map(|(_, w, v)| TeacherTargets::rows(v, *w, idx, device))
                .collect(),
        }
    }
}
