//! In-memory data sets and seeded batching.
//!
//! Whether a set has labels is in its type: a [`LabelledSet`] has them, an [`UnlabelledSet`]
//! has none, so a strategy's signature says what data it needs. Inputs are stored flat
//! (`len * item_size` floats) with an item shape such as `[1, 8, 8]` (channels, height,
//! width) or `[64]`; models reshape a batch as they need.

use crate::error::{CoreError, Result};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Where a set comes from: `"digits-0-4"`, `"mnist"`, `"usps"`, `"amazon/books"`...
pub type Domain = String;

/// Flat float inputs with a per-item shape. Deserialising checks them as [`Inputs::new`]
/// does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::Inputs")]
pub struct Inputs {
    /// Shape of one item, e.g. `[1, 28, 28]`.
    pub item_shape: Vec<usize>,
    /// `len * item_size` values, item after item.
    pub values: Vec<f32>,
}

impl Inputs {
    /// Wraps flat values; the length must be a multiple of the item size.
    pub fn new(item_shape: Vec<usize>, values: Vec<f32>) -> Result<Self> {
        let inputs = Self { item_shape, values };
        inputs.check("inputs")?;
        Ok(inputs)
    }

    /// Number of values in one item.
    pub fn item_size(&self) -> usize {
        self.item_shape.iter().product()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self.item_size() {
            0 => 0,
            size => self.values.len() / size,
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of item `i`.
    pub fn item(&self, i: usize) -> &[f32] {
        let size = self.item_size();
        &self.values[i * size..(i + 1) * size]
    }

    /// Refuses values outside [0, 1], naming the set (`name`), the first such item and its
    /// value, and why the caller needs them there (`why`, e.g. "the decoder draws Bernoulli
    /// pixels"): for objectives that read the items as pixel probabilities.
    pub fn check_unit_interval(&self, name: &str, why: &str) -> Result<()> {
        match self.values.iter().position(|v| !(0.0..=1.0).contains(v)) {
            Some(pos) => Err(CoreError::data(
                name,
                format!(
                    "item {} has the value {} outside [0, 1] ({why})",
                    pos / self.item_size().max(1),
                    self.values[pos]
                ),
            )),
            None => Ok(()),
        }
    }

    /// The items at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut values = Vec::with_capacity(indices.len() * self.item_size());
        for &i in indices {
            values.extend_from_slice(self.item(i));
        }
        Self {
            item_shape: self.item_shape.clone(),
            values,
        }
    }

    /// A `[batch, item_size]` tensor of the items at `indices`.
    pub fn tensor(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let selected = self.select(indices);
        Tensor::from_data(
            TensorData::new(selected.values, [indices.len(), self.item_size()]),
            device,
        )
    }

    /// Refuses items whose shape is not `expected` (what a model or encoder takes), naming
    /// the set `name`.
    pub fn check_fits(&self, expected: &[usize], name: &str) -> Result<()> {
        if self.item_shape != expected {
            return Err(CoreError::data(
                name,
                format!(
                    "items of shape {:?} do not fit a model that takes {expected:?}",
                    self.item_shape
                ),
            ));
        }
        Ok(())
    }

    fn check(&self, name: &str) -> Result<()> {
        if self.item_shape.is_empty() || self.item_size() == 0 {
            return Err(CoreError::data(
                name,
                format!(
                    "item shape {:?} must be non-empty with no zero dimension",
                    self.item_shape
                ),
            ));
        }
        if !self.values.len().is_multiple_of(self.item_size()) {
            return Err(CoreError::data(
                name,
                format!(
                    "{} values is not a whole number of items of shape {:?}",
                    self.values.len(),
                    self.item_shape
                ),
            ));
        }
        if let Some(pos) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::data(
                name,
                format!(
                    "value {} of item {} is not finite",
                    self.values[pos],
                    pos / self.item_size()
                ),
            ));
        }
        Ok(())
    }
}

/// Inputs with a label each, and the names of the classes. Deserialising validates the set
/// as [`LabelledSet::new`] does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::LabelledSet")]
pub struct LabelledSet {
    /// The inputs.
    pub inputs: Inputs,
    /// One label per item, each `< class_names.len()`.
    pub labels: Vec<usize>,
    /// Names of the classes, indexed by label.
    pub class_names: Vec<String>,
    /// Where the set comes from.
    pub domain: Domain,
}

impl LabelledSet {
    /// Builds and validates a labelled set.
    pub fn new(
        inputs: Inputs,
        labels: Vec<usize>,
        class_names: Vec<String>,
        domain: impl Into<Domain>,
    ) -> Result<Self> {
        let set = Self {
            inputs,
            labels,
            class_names,
            domain: domain.into(),
        };
        set.validate()?;
        Ok(set)
    }

    /// Checks that inputs and labels agree and every label names a class.
    pub fn validate(&self) -> Result<()> {
        self.inputs.check(&self.domain)?;
        if self.inputs.len() != self.labels.len() {
            return Err(CoreError::data(
                &self.domain,
                format!(
                    "{} inputs but {} labels",
                    self.inputs.len(),
                    self.labels.len()
                ),
            ));
        }
        if self.class_names.is_empty() {
            return Err(CoreError::data(&self.domain, "no class names"));
        }
        if let Some((i, &label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l >= self.class_names.len())
        {
            return Err(CoreError::data(
                &self.domain,
                format!(
                    "label {label} of item {i} is out of range for {} classes",
                    self.class_names.len()
                ),
            ));
        }
        Ok(())
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no items.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Items per class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The items at `indices`, same classes and domain.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            inputs: self.inputs.select(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            domain: self.domain.clone(),
        }
    }

    /// The set without its labels.
    pub fn unlabelled(&self) -> UnlabelledSet {
        UnlabelledSet {
            inputs: self.inputs.clone(),
            domain: self.domain.clone(),
        }
    }

    /// The items of batch `indices` as tensors on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        self.batch_of(indices, self.inputs.tensor(indices, device), device)
    }

    /// Batch `indices` with `inputs` made from its items (random views, corrupted copies:
    /// `[indices.len(), item_size]` on `device`) and the items' labels.
    pub fn batch_of(&self, indices: &[usize], inputs: Tensor<2>, device: &Device) -> Batch {
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        Batch {
            inputs,
            item_shape: self.inputs.item_shape.clone(),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}

/// Inputs without labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::UnlabelledSet")]
pub struct UnlabelledSet {
    /// The inputs.
    pub inputs: Inputs,
    /// Where the set comes from.
    pub domain: Domain,
}

impl UnlabelledSet {
    /// Builds and validates an unlabelled set.
    pub fn new(inputs: Inputs, domain: impl Into<Domain>) -> Result<Self> {
        let set = Self {
            inputs,
            domain: domain.into(),
        };
        set.validate()?;
        Ok(set)
    }

    /// Checks the inputs (whole items, finite values).
    pub fn validate(&self) -> Result<()> {
        self.inputs.check(&self.domain)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether the set has no items.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
}

/// The serialised forms, checked on the way in (`#[serde(try_from)]`).
mod raw {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Inputs {
        item_shape: Vec<usize>,
        values: Vec<f32>,
    }

    impl TryFrom<Inputs> for super::Inputs {
        type Error = crate::CoreError;
        fn try_from(raw: Inputs) -> crate::Result<Self> {
            Self::new(raw.item_shape, raw.values)
        }
    }

    #[derive(Deserialize)]
    pub struct LabelledSet {
        inputs: super::Inputs,
        labels: Vec<usize>,
        class_names: Vec<String>,
        domain: super::Domain,
    }

    impl TryFrom<LabelledSet> for super::LabelledSet {
        type Error = crate::CoreError;
        fn try_from(raw: LabelledSet) -> crate::Result<Self> {
            Self::new(raw.inputs, raw.labels, raw.class_names, raw.domain)
        }
    }

    #[derive(Deserialize)]
    pub struct UnlabelledSet {
        inputs: super::Inputs,
        domain: super::Domain,
    }

    impl TryFrom<UnlabelledSet> for super::UnlabelledSet {
        type Error = crate::CoreError;
        fn try_from(raw: UnlabelledSet) -> crate::Result<Self> {
            Self::new(raw.inputs, raw.domain)
        }
    }
}

/// One mini-batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[batch, item_size]` inputs; reshape with [`Batch::inputs_as`].
    pub inputs: Tensor<2>,
    /// Shape of one item.
    pub item_shape: Vec<usize>,
    /// `[batch]` labels.
    pub labels: Tensor<1, Int>,
}

impl Batch {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.inputs.dims()[0]
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs as `[batch, ...item_shape]`; `D` must be `1 + item_shape.len()`.
    pub fn inputs_as<const D: usize>(&self) -> Result<Tensor<D>> {
        reshape_items(self.inputs.clone(), &self.item_shape)
    }
}

/// Reshapes `[batch, item_size]` into `[batch, ...item_shape]`.
pub fn reshape_items<const D: usize>(x: Tensor<2>, item_shape: &[usize]) -> Result<Tensor<D>> {
    let [batch, size] = x.dims();
    if D != item_shape.len() + 1 || item_shape.iter().product::<usize>() != size {
        return Err(CoreError::Model(format!(
            "cannot view a [{batch}, {size}] batch as rank-{D} items of shape {item_shape:?}"
        )));
    }
    let mut dims = [0usize; D];
    dims[0] = batch;
    dims[1..].copy_from_slice(item_shape);
    Ok(x.reshape(dims))
}

/// Seeded shuffled mini-batches of indices `0..len`.
///
/// The same seed gives the same order on every backend; each epoch draws a new permutation
/// from the one generator, so epoch 2 differs from epoch 1.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    len: usize,
    batch_size: usize,
    shuffle: bool,
    rng: StdRng,
}

impl BatchPlan {
    /// A plan over `len` items.
    pub fn new(len: usize, batch_size: usize, shuffle: bool, seed: u64) -> Self {
        Self {
            len,
            batch_size: batch_size.max(1),
            shuffle,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The batches of the next epoch; the last may be shorter.
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            order.shuffle(&mut self.rng);
        }
        order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        self.len.div_ceil(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<usize>) -> Result<LabelledSet> {
        let n = labels.len();
        LabelledSet::new(
            Inputs::new(vec![2], vec![0.5; n * 2])?,
            labels,
            vec!["a".into(), "b".into()],
            "test",
        )
    }

    #[test]
    fn mismatched_counts_and_bad_labels_are_refused() {
        assert!(set(vec![0, 1, 1]).is_ok());
        let err = LabelledSet::new(
            Inputs::new(vec![2], vec![0.0; 4]).unwrap(),
            vec![0, 1, 0],
            vec!["a".into(), "b".into()],
            "x",
        )
        .unwrap_err();
        assert!(err.to_string().contains("2 inputs but 3 labels"), "{err}");
        let err = set(vec![0, 2]).unwrap_err();
        assert!(err.to_string().contains("label 2 of item 1"), "{err}");
    }

    #[test]
    fn ragged_and_non_finite_inputs_are_refused() {
        let err = Inputs::new(vec![3], vec![0.0; 7]).unwrap_err();
        assert!(err.to_string().contains("not a whole number"), "{err}");
        let err = Inputs::new(vec![2], vec![0.0, f32::NAN]).unwrap_err();
        assert!(err.to_string().contains("not finite"), "{err}");
        assert!(Inputs::new(vec![], vec![]).is_err());
    }

    #[test]
    fn batch_plan_covers_every_item_once_and_is_seeded() {
        let mut a = BatchPlan::new(10, 3, true, 7);
        let mut b = BatchPlan::new(10, 3, true, 7);
        let ea = a.epoch();
        assert_eq!(ea, b.epoch());
        assert_eq!(ea.len(), 4);
        let mut all: Vec<usize> = ea.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(ea, a.epoch(), "a new permutation each epoch");
        let mut c = BatchPlan::new(10, 3, true, 8);
        assert_ne!(ea, c.epoch());
    }
}
