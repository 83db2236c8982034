//! Batch sources: what the training loop draws its steps from. A source says how many steps
//! an epoch has, draws each epoch's order, and makes each step's batch on the training
//! device. Labelled batches, source/target pairs and unlabelled batches live here; a new kind
//! of data (episodes, image/text pairs, teacher outputs) is a new source, never a new loop.

use super::checks::{check_trainable, check_unlabelled};
use crate::data::{Batch, BatchPlan, LabelledSet, UnlabelledSet};
use crate::error::Result;
use burn::tensor::{Device, Tensor, TensorData};

/// Where the loop is when it asks for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepAt {
    /// 1-based epoch.
    pub epoch: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// 0-based step over the whole run.
    pub global: usize,
    /// Steps in the whole run (at least 1).
    pub total: usize,
}

impl StepAt {
    /// Steps done over all steps of the run, in [0, 1) (for schedules such as DANN's).
    pub fn progress(&self) -> f64 {
        self.global as f64 / self.total as f64
    }
}

/// A stream of training batches, one epoch at a time.
pub trait BatchSource {
    /// What one step trains on.
    type Batch;

    /// Steps in one epoch (at least 1 for a source that passed [`Self::check`]).
    fn steps_per_epoch(&self) -> usize;

    /// Refuses data a model cannot train on, before any work: `input_shape` is the item shape
    /// the model takes and `classes` how many classes it predicts (`None` when the model has
    /// no class scores, such as an encoder with a decoder).
    fn check(&self, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<()>;

    /// Draws the order of the next epoch.
    fn start_epoch(&mut self);

    /// The batch of step `at.step` of the current epoch, on `device` (the autodiff device).
    fn batch(&mut self, at: StepAt, device: &Device) -> Self::Batch;

    /// Moves past epoch `epoch` (1-based) without training on it, leaving the source where
    /// a trained epoch would (what a run resumed from a checkpoint does for the epochs done).
    /// By default it draws the epoch and every batch of it, so a source whose batches draw
    /// randomness of their own stays on its stream; a source whose order is all that moves
    /// can override it with [`Self::start_epoch`] alone.
    fn skip_epoch(&mut self, epoch: usize, total: usize, device: &Device) {
        self.start_epoch();
        let steps = self.steps_per_epoch();
        for step in 0..steps {
            let at = StepAt {
                epoch,
                step,
                global: (epoch - 1) * steps + step,
                total,
            };
            drop(self.batch(at, device));
        }
    }
}

/// Seeded, shuffled batches of a labelled set (every item once per epoch; the last batch may
/// be shorter).
#[derive(Debug, Clone)]
pub struct LabelledBatches<'s> {
    set: &'s LabelledSet,
    plan: BatchPlan,
    order: Vec<Vec<usize>>,
}

impl<'s> LabelledBatches<'s> {
    /// Batches of `batch_size` items of `set`, shuffled by `seed`.
    pub fn new(set: &'s LabelledSet, batch_size: usize, seed: u64) -> Self {
        Self {
            set,
            plan: BatchPlan::new(set.len(), batch_size, true, seed),
            order: Vec::new(),
        }
    }

    /// The set the batches are drawn from.
    pub fn set(&self) -> &'s LabelledSet {
        self.set
    }

    /// The items of step `step` of the current epoch (for a source that makes its own batch
    /// of them, such as random views of the images); empty before the first epoch is drawn.
    pub fn indices(&self, step: usize) -> &[usize] {
        self.order.get(step).map_or(&[], Vec::as_slice)
    }
}

impl BatchSource for LabelledBatches<'_> {
    type Batch = Batch;

    fn steps_per_epoch(&self) -> usize {
        self.plan.num_batches()
    }

    fn check(&self, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<()> {
        let shape = input_shape.unwrap_or(&self.set.inputs.item_shape);
        check_trainable(self.set, shape, classes, "training")
    }

    fn start_epoch(&mut self) {
        self.order = self.plan.epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> Batch {
        self.set.batch(&self.order[at.step], device)
    }

    fn skip_epoch(&mut self, _epoch: usize, _total: usize, _device: &Device) {
        self.start_epoch();
    }
}

/// One step of domain adaptation: a labelled source batch and an unlabelled target batch, on
/// the autodiff device.
#[derive(Debug, Clone)]
pub struct DomainBatch {
    /// Source inputs and labels.
    pub source: Batch,
    /// Target inputs, `[batch, input_size]`.
    pub target: Tensor<2>,
    /// Steps done over all steps of the run, in [0, 1) (for schedules such as DANN's).
    pub progress: f64,
    /// 0-based step over the whole run.
    pub step: usize,
}

/// Source/target pairs: each step a batch of the labelled source and a batch of the
/// unlabelled target (the target cycles when it is the shorter, reshuffled each pass); an
/// epoch is one pass over the source.
#[derive(Debug, Clone)]
pub struct DomainBatches<'s> {
    source: LabelledBatches<'s>,
    target: &'s UnlabelledSet,
    target_plan: BatchPlan,
    queue: Vec<Vec<usize>>,
}

impl<'s> DomainBatches<'s> {
    /// Pairs of `batch_size` source and target items, shuffled by `seed` (the target by a
    /// seed derived from it).
    pub fn new(
        source: &'s LabelledSet,
        target: &'s UnlabelledSet,
        batch_size: usize,
        seed: u64,
    ) -> Self {
        Self {
            source: LabelledBatches::new(source, batch_size, seed),
            target,
            target_plan: BatchPlan::new(target.len(), batch_size, true, seed ^ 0x007A_26E7),
            queue: Vec::new(),
        }
    }
}

impl BatchSource for DomainBatches<'_> {
    type Batch = DomainBatch;

    fn steps_per_epoch(&self) -> usize {
        self.source.steps_per_epoch()
    }

    fn check(&self, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<()> {
        let shape = input_shape.unwrap_or(&self.source.set.inputs.item_shape);
        check_unlabelled(self.target, Some(shape), "target")?;
        self.source.check(input_shape, classes)
    }

    fn start_epoch(&mut self) {
        self.source.start_epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> DomainBatch {
        let source = self.source.batch(at, device);
        if self.queue.is_empty() {
            self.queue = self.target_plan.epoch();
            self.queue.reverse();
        }
        let indices = self.queue.pop().expect("refilled above");
        DomainBatch {
            target: self.target.inputs.tensor(&indices, device),
            source,
            progress: at.progress(),
            step: at.global,
        }
    }
}

/// One batch of an unlabelled set: which items, on which device, with a seed for its random
/// views or masks.
#[derive(Debug, Clone)]
pub struct UnlabelledBatch<'s> {
    /// The whole set.
    pub set: &'s UnlabelledSet,
    /// The items of this batch.
    pub indices: Vec<usize>,
    /// The autodiff device the model is on.
    pub device: Device,
    /// A seed for this batch's random views or masks (fixed by the run's seed, the epoch and
    /// the step).
    pub seed: u64,
}

impl UnlabelledBatch<'_> {
    /// The batch's items as a `[batch, item_size]` tensor.
    pub fn inputs(&self) -> Tensor<2> {
        self.set.inputs.tensor(&self.indices, &self.device)
    }

    /// The batch's items as values, row after row (to corrupt, mask or augment them).
    pub fn values(&self) -> Vec<f32> {
        self.set.inputs.select(&self.indices).values
    }

    /// `values` (one row of `item_size` per item of the batch, as [`Self::values`] gives
    /// them) as a `[batch, item_size]` tensor on the batch's device.
    pub fn tensor(&self, values: Vec<f32>) -> Tensor<2> {
        let shape = [self.len(), self.set.inputs.item_size()];
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Seeded, shuffled batches of an unlabelled set, each with a seed of its own.
#[derive(Debug, Clone)]
pub struct UnlabelledBatches<'s> {
    set: &'s UnlabelledSet,
    plan: BatchPlan,
    order: Vec<Vec<usize>>,
    seed: u64,
}

impl<'s> UnlabelledBatches<'s> {
    /// Batches of `batch_size` items of `set`, shuffled by `seed`.
    pub fn new(set: &'s UnlabelledSet, batch_size: usize, seed: u64) -> Self {
        Self {
            set,
            plan: BatchPlan::new(set.len(), batch_size, true, seed),
            order: Vec::new(),
            seed,
        }
    }
}

impl<'s> BatchSource for UnlabelledBatches<'s> {
    type Batch = UnlabelledBatch<'s>;

    fn steps_per_epoch(&self) -> usize {
        self.plan.num_batches()
    }

    fn check(&self, input_shape: Option<&[usize]>, _classes: Option<usize>) -> Result<()> {
        check_unlabelled(self.set, input_shape, "unlabelled")
    }

    fn start_epoch(&mut self) {
        self.order = self.plan.epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> UnlabelledBatch<'s> {
        UnlabelledBatch {
            set: self.set,
            indices: self.order[at.step].clone(),
            device: device.clone(),
            seed: self
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(((at.epoch as u64) << 32) | at.step as u64),
        }
    }
}
