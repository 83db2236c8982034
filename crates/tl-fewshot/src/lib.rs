//! # tl-fewshot
//!
//! Few-shot learning: classes never seen in training, each with 1-5 labelled examples.
//!
//! - [`EpisodeShape`], [`EpisodeBatches`]: N-way K-shot episodes of any labelled set (refused,
//!   naming the counts, when the set cannot give them) as a batch source for tl-core's loop.
//! - [`evaluate_episodes`], [`EpisodeScore`]: mean accuracy over seeded episodes with the 95 %
//!   confidence interval `1.96 * std / sqrt(episodes)`; every method given the same seed sees
//!   the same episodes.
//! - [`ProtoNet`] (Snell, Swersky and Zemel 2017), registered as `protonet`: episodic
//!   training on the base classes, then a head whose classes are the support prototypes.
//! - [`Baseline`] (Chen et al. 2019), registered as `baseline` and `baseline++`: a backbone
//!   trained with an ordinary (or cosine) classifier on the base classes, frozen, then a new
//!   linear (or cosine) head trained on the support alone; `fine-tune` trains the whole
//!   backbone with the new head on the support.
//! - [`Reptile`] (Nichol, Achiam and Schulman 2018), registered as `reptile`: a first-order
//!   meta-learned initialisation (encoder and head), fine-tuned on the support.
//! - [`OneShotGenerator`]: new drawings of a class from one example (a conditional VAE
//!   whose context is the example, after the Neural Statistician).
//! - [`MatchingNet`] (Vinyals et al. 2016), registered as `matching-net`: cosine attention
//!   over the embedded support examples, episodic training.

pub mod baseline;
pub mod episodes;
pub mod generate;
pub mod matching;
pub mod proto;
pub mod reptile;

pub use baseline::{Baseline, CosineCrossEntropy, cosine_head, fold_cosine_head};
pub use episodes::{
    EpisodeBatch, EpisodeBatches, EpisodeScore, EpisodeShape, check_support, embed_set,
    evaluate_episodes, identity_encoder,
};
pub use generate::{OneShotGenerator, OneShotVae, conditions, generate};
pub use matching::{
    MatchingLoss, MatchingNet, embed_rows, matching_accuracy, matching_head, matching_logits,
};
pub use proto::{
    ProtoLoss, ProtoNet, proto_logits, protonet_accuracy, protonet_score, prototype_head,
    prototypes, set_prototypes, squared_distances,
};
pub use reptile::Reptile;

/// Registers every few-shot method with its default settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    registry.register(
        "class prototypes: mean embedded support examples, episodic training (Snell et al. 2017)",
        ProtoNet::new,
    )?;
    registry.register(
        "a backbone trained on the base classes, frozen; a new linear head on the support (Chen et al. 2019)",
        Baseline::new,
    )?;
    registry.register(
        "Baseline with cosine heads: scaled cosine similarity to class weights (Chen et al. 2019)",
        Baseline::plus_plus,
    )?;
    registry.register(
        "cosine attention over the support examples, episodic training (Vinyals et al. 2016)",
        MatchingNet::new,
    )?;
    registry.register(
        "a backbone trained on the base classes, then fine-tuned whole with a new head on the support",
        Baseline::fine_tuning,
    )?;
    registry.register(
        "first-order meta-learning of an initialisation, fine-tuned on the support (Nichol et al. 2018)",
        Reptile::new,
    )?;
    Ok(())
}
