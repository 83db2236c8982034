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
//! Each method implements tl-core's `Strategy` ([`register`] adds them to a `Registry`):
//! `fit(Pretrained::classifier(model), &task, &mut ctx)` takes a classifier trained on the source, the task's
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

pub use adda::{Adda, AddaGame, AddaModel, adda_losses};
pub use dann::{
    Conditioning, Dann, DomainAdversarial, discriminator_input, domain_adversarial_loss,
    entropy_weights,
};
pub use discriminator::DiscriminatorConfig;
pub use grl::grad_reverse;
pub use model::WithDiscriminator;

/// Registers every adversarial method with its default settings.
pub fn register<E: tl_core::model::Encoder + 'static>(
    registry: &mut tl_core::strategy::Registry<E>,
) -> tl_core::Result<()> {
    registry.register(
        "a domain discriminator through gradient reversal (Ganin et al. 2016)",
        Dann::new,
    )?;
    registry.register(
        "DANN's discriminator conditioned on the predictions (Long et al. 2018)",
        || Dann::new().with_conditioning(Conditioning::Predictions),
    )?;
    registry.register(
        "CDAN with entropy conditioning: confident items weigh more",
        Dann::cdan_e,
    )?;
    registry.register(
        "a separate target encoder learns to fool the discriminator (Tzeng et al. 2017)",
        Adda::new,
    )?;
    registry.register(
        "ADDA whose target encoder also distils the source classifier's predictions on the source (Ryu and Lee 2020)",
        Adda::aad,
    )?;
    Ok(())
}
