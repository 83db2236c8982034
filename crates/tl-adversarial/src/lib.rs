//! # tl-adversarial
//!
//! Adversarial domain adaptation: a domain discriminator learns to tell source features from
//! target features, and the encoder learns to make them indistinguishable. The reusable
//! pieces are the gradient-reversal layer ([`grad_reverse`], with DANN's schedule
//! [`grl::dann_lambda`]) and the domain discriminator ([`DiscriminatorConfig`],
//! [`discriminator::bce_with_logits`]).
//!
//! | method | config | what it does |
//! |---|---|---|
//! | DANN | [`Dann`] | source cross-entropy; the discriminator trains on reversed gradients of the features |
//! | CDAN, CDAN+E | [`Dann`] with [`Conditioning`] | the discriminator sees features x predictions; +E weights certain items more |
//! | ADDA | [`Adda`] | a separate target encoder (initialised from the source) fools a discriminator; the source head classifies it |
//!
//! Each `fit(model, &task, &device)` takes a classifier trained on the source, the task's
//! labelled source, unlabelled target and target test set, and returns the adapted classifier
//! and a `FitReport` whose history holds per epoch the discriminator's accuracy
//! (`domain_accuracy`) and the target test accuracy, and whose `extra` holds the held-out
//! source accuracy and the proxy A-distance before and after. **No target label is used for
//! training or selection**: a fixed number of epochs (DANN and CDAN may stop early on the
//! held-out *source*).

pub mod adda;
pub mod dann;
pub mod discriminator;
pub mod grl;
pub mod model;

pub use adda::{Adda, AddaModel};
pub use dann::{Conditioning, Dann};
pub use discriminator::DiscriminatorConfig;
pub use grl::grad_reverse;
pub use model::WithDiscriminator;
