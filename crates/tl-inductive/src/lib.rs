//! # tl-inductive
//!
//! Inductive transfer: the same domain, a new task. A pretrained encoder is reused for a
//! target task with a few labels, by one of these methods (one file each, each a validated
//! config implementing tl-core's `Strategy`, whose `fit(Pretrained::encoder(encoder), &task,
//! &mut ctx)` returns the trained `Classifier` and a `FitReport` measured on the task's test
//! set; [`register`] adds them all to a `Registry`):
//!
//! | method | what trains |
//! |---|---|
//! | [`LinearProbe`] | a new head on the frozen encoder's features (computed once) |
//! | [`FullFineTune`] | everything |
//! | [`PartialFineTune`] | the blocks above the first `freeze_first`, and the head; [`partial::replace_top`] drops and adds layers first |
//! | [`GradualUnfreezing`] | the head, then one more block per epoch, top first (ULMFiT) |
//! | [`DiscriminativeLr`] | everything, each block at `decay^k` times the head's rate |
//! | [`L2Sp`] | everything, pulled towards the pretrained weights |
//! | [`LoraFineTune`] | low-rank adapters on the encoder's weight matrices, and the head; [`lora::merge`] folds them in |
//!
//! [`HyperSearch`] picks learning rate, weight decay and regularisation on a validation split
//! of the labelled target set (never the test set).
//!
//! Every method needs the task's labelled target set and its test set, and is refused before
//! training when one is missing:
//!
//! ```
//! use tl_core::data::{Inputs, LabelledSet};
//! use tl_core::strategy::{Pretrained, RunContext, Strategy};
//! use tl_core::task::TransferTask;
//! let device = tl_core::device::device("flex")?;
//! let encoder = tl_core::model::SequentialConfig::new(vec![4]).linear(8).relu().init(&device)?;
//! let labelled = LabelledSet::new(
//!     Inputs::new(vec![4], vec![0.0; 8])?, vec![0, 1], vec!["a".into(), "b".into()], "toy")?;
//! let task = TransferTask::new(2).with_target_labelled(labelled); // no test set
//! let mut ctx = RunContext::new(&device);
//! let err = tl_inductive::FullFineTune::new()
//!     .fit(Pretrained::encoder(encoder), &task, &mut ctx)
//!     .unwrap_err();
//! assert!(err.to_string().contains("full-fine-tune"), "{err}");
//! # Ok::<(), tl_core::CoreError>(())
//! ```

mod common;
pub mod discriminative;
pub mod full;
pub mod gradual;
pub mod l2sp;
pub mod linear_probe;
pub mod lora;
pub mod partial;
pub mod search;

pub use discriminative::DiscriminativeLr;
pub use full::FullFineTune;
pub use gradual::GradualUnfreezing;
pub use l2sp::L2Sp;
pub use linear_probe::LinearProbe;
pub use lora::LoraFineTune;
pub use partial::PartialFineTune;
pub use search::{HyperParams, HyperSearch, SearchMode, SearchResult, Tuned};

/// Registers every inductive method with its default settings.
pub fn register<E: tl_core::model::Encoder + 'static>(
    registry: &mut tl_core::strategy::Registry<E>,
) -> tl_core::Result<()> {
    registry.register(
        "a new head on the frozen encoder's features (computed once)",
        LinearProbe::new,
    )?;
    registry.register(
        "the encoder and a new head train together",
        FullFineTune::new,
    )?;
    registry.register(
        "the first encoder block frozen, the rest and a new head train",
        || PartialFineTune::new(1),
    )?;
    registry.register(
        "the head first, then one more encoder block per epoch, top first (ULMFiT)",
        GradualUnfreezing::new,
    )?;
    registry.register(
        "every encoder block at its own rate, lower blocks slower",
        DiscriminativeLr::new,
    )?;
    registry.register(
        "fine-tuning pulled towards the pretrained weights (Li et al. 2018)",
        L2Sp::new,
    )?;
    registry.register(
        "low-rank adapters on the encoder's weight matrices, and a new head",
        LoraFineTune::new,
    )?;
    Ok(())
}
