//! # tl-transductive
//!
//! Transductive transfer: the same task, a new domain whose labels are absent. Each method
//! is a validated config whose `fit(model, &task, &device)` takes a classifier (usually trained
//! on the source), the task's labelled source, unlabelled target and target test set, and
//! returns the adapted classifier with a `FitReport`: target test metrics, the source
//! accuracy on a held-out part of the source, the proxy A-distance between source and target
//! features before and after (`extra`), and per epoch the target test accuracy (history only).
//!
//! | method | what it does |
//! |---|---|
//! | [`SourceOnly`] | the baseline: source labels only, same loop and steps |
//! | [`DeepCoral`] | + aligns feature covariances ([`loss::coral`]) |
//! | [`Mmd`] | + multi-kernel Gaussian MMD between feature distributions ([`loss::mmd`]) |
//! | [`AdaBn`] | re-estimates batch-norm statistics on the target; no training |
//! | [`SelfTraining`] | iterated, class-balanced, confidence-thresholded pseudo-labels |
//! | [`SelfEnsembling`] | a mean teacher: the student agrees with its moving-average teacher on augmented target images |
//!
//! **No target label is used for training or model selection.** Every method trains a fixed
//! number of epochs (early stopping, when configured, stops on the held-out *source*); the
//! target test accuracy per epoch is recorded for the reader, never acted on.

pub mod adabn;
mod common;
pub use common::{Alignment, TransferLoss};
pub mod coral;
pub mod loss;
pub mod mmd;
pub mod self_ensembling;
pub mod self_training;
pub mod source_only;

pub use adabn::AdaBn;
pub use coral::DeepCoral;
pub use mmd::Mmd;
pub use self_ensembling::SelfEnsembling;
pub use self_training::SelfTraining;
pub use source_only::SourceOnly;

/// Registers the transductive methods that train any encoder (every one but AdaBN, which
/// re-estimates batch-norm statistics of a `Sequential` stack), with their default settings:
/// what a registry of another encoder (tl-text's `BertTop`) offers.
pub fn register_any<E: tl_core::model::Encoder + 'static>(
    registry: &mut tl_core::strategy::Registry<E>,
) -> tl_core::Result<()> {
    registry.register(
        "the baseline: source labels only, same loop and steps",
        SourceOnly::new,
    )?;
    registry.register(
        "source labels + feature covariances aligned (Sun and Saenko 2016)",
        DeepCoral::new,
    )?;
    registry.register(
        "source labels + multi-kernel MMD between feature distributions (Long et al. 2015)",
        Mmd::new,
    )?;
    registry.register(
        "iterated class-balanced pseudo-labels on the target (Zou et al. 2018)",
        SelfTraining::new,
    )?;
    registry.register(
        "a mean teacher on augmented target images (French et al. 2018)",
        SelfEnsembling::new,
    )?;
    Ok(())
}

/// Registers every transductive method with its default settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    register_any(registry)?;
    registry.register(
        "batch-norm statistics re-estimated on the target; no training (Li et al. 2016)",
        AdaBn::new,
    )?;
    Ok(())
}
