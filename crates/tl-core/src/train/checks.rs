//! The checks a set passes before a model trains or is scored on it: one place for the
//! three questions (can the model run on it, train on it, be scored on it).

use super::infer::ClassifierModel;
use crate::data::{LabelledSet, UnlabelledSet};
use crate::error::{CoreError, Result};

/// Refuses a set a model cannot run on at all: invalid, empty, or items of another shape
/// than `input_shape` (`what` names the set in the error).
pub fn check_runnable(set: &LabelledSet, input_shape: &[usize], what: &str) -> Result<()> {
    set.validate()?;
    if set.is_empty() {
        return Err(CoreError::data(
            &set.domain,
            format!("the {what} set is empty"),
        ));
    }
    set.inputs.check_fits(input_shape, &set.domain)
}

/// Refuses a set a model that takes `input_shape` and predicts `classes` classes (`None`: no
/// class scores to bound the labels) cannot train on: invalid, empty, items of another shape,
/// or more classes than the model predicts.
pub fn check_trainable(
    set: &LabelledSet,
    input_shape: &[usize],
    classes: Option<usize>,
    what: &str,
) -> Result<()> {
    check_runnable(set, input_shape, what)?;
    if let Some(classes) = classes
        && set.num_classes() > classes
    {
        return Err(CoreError::data(
            &set.domain,
            format!(
                "{} classes but the model predicts {classes}",
                set.num_classes()
            ),
        ));
    }
    Ok(())
}

/// Refuses an unlabelled set a model cannot run on: invalid, empty, or (with `input_shape`)
/// items of another shape (`what` names the set in the error).
pub fn check_unlabelled(
    set: &UnlabelledSet,
    input_shape: Option<&[usize]>,
    what: &str,
) -> Result<()> {
    set.validate()?;
    if set.is_empty() {
        return Err(CoreError::data(
            &set.domain,
            format!("the {what} set is empty"),
        ));
    }
    match input_shape {
        Some(shape) => set.inputs.check_fits(shape, &set.domain),
        None => Ok(()),
    }
}

/// Refuses a set `model` cannot train on or be scored on: invalid, empty, items of another
/// shape, or more classes than the model predicts (`what` names the set in the error).
pub fn check_set<M: ClassifierModel>(model: &M, set: &LabelledSet, what: &str) -> Result<()> {
    check_trainable(set, &model.input_shape(), Some(model.num_classes()), what)
}

/// Refuses a set `model` cannot be scored on: invalid, empty, items of another shape, or a
/// label the model cannot predict. Unlike [`check_set`] it looks at the labels, not the
/// class names: a test set may name more classes than it uses (`what` names the set).
pub fn check_scorable<M: ClassifierModel>(model: &M, set: &LabelledSet, what: &str) -> Result<()> {
    check_runnable(set, &model.input_shape(), what)?;
    if let Some((i, &label)) = set
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l >= model.num_classes())
    {
        return Err(CoreError::data(
            &set.domain,
            format!(
                "label {label} of item {i} is beyond the model's {} classes",
                model.num_classes()
            ),
        ));
    }
    Ok(())
}
