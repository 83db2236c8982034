//! # tl-distill
//!
//! Teacher-student distillation: a large model (the teacher) trains a small one (the
//! student), so what the teacher learned transfers into something cheaper to run, and through
//! unlabelled data of a new domain.
//!
//! | method | config | the student matches |
//! |---|---|---|
//! | knowledge distillation (Hinton, Vinyals and Dean 2015) | [`KnowledgeDistillation`] | the teacher's class probabilities softened by a temperature `T`: `alpha * CE(labels) + (1 - alpha) * T^2 * KL` |
//! | FitNets (Romero et al. 2015) | [`FitNets`] | a teacher layer, through a learned 1x1-convolution regressor (L2), as a first stage and/or added to KD |
//! | attention transfer (Zagoruyko and Komodakis 2017) | [`AttentionTransfer`] | the spatial attention maps of conv layers of the same size, added to KD |
//! | relational KD (Park et al. 2019) | [`RelationalKd`] | the pairwise distances and triplet angles of the teacher's embeddings, added to KD |
//! | static text student (Model2Vec recipe) | [`StaticEmbedding`] | every vocabulary token through a sentence encoder, PCA, Zipf-based SIF weights; a sentence is the mean of its token vectors |
//!
//! The first four implement tl-core's `Strategy` ([`register`] adds them to a `Registry`):
//! `fit(Pretrained::classifier(teacher), &task, &mut ctx)` takes the teacher with its head,
//! builds the student from the settings (`kd.student`: encoder layers, a linear head to the
//! task's classes), runs the teacher once over the transfer set in inference mode (frozen:
//! its outputs are cached, [`TeacherTargets`]) and trains the student with tl-core's loop.
//! The transfer set ([`TransferFrom`]) is the task's labelled target set, its unlabelled
//! target set (soft targets only), or both. The report's `extra` holds the teacher's test
//! accuracy, both parameter counts and the compression.
//!
//! [`StaticEmbedding`] is a distiller of another kind: it turns a transformer sentence encoder
//! into a lookup table (no training data, no gradient steps), so its student is not a
//! classifier of the teacher's type and it is not a registered `Strategy`; fine-tune or probe
//! its vectors with any strategy.

pub mod loss;
pub mod methods;
pub mod static_text;
pub mod teacher;

pub use methods::{
    AttentionTransfer, FitNets, Hint, KdSettings, KnowledgeDistillation, LayerPair, RelationalKd,
    Student, TransferFrom, small_conv_student,
};
pub use static_text::{StaticConfig, StaticEmbedding, StaticEncoder, StaticInfo};
pub use teacher::{DistillBatch, DistillBatches, TeacherTargets, TeacherView, TransferSet};

/// Registers every distillation method with its default settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    registry.register(
        "a student matches the teacher's softened class probabilities (Hinton et al. 2015)",
        KnowledgeDistillation::new,
    )?;
    registry.register(
        "KD plus a regressed student layer matching a teacher layer (Romero et al. 2015)",
        FitNets::new,
    )?;
    registry.register(
        "KD plus matched spatial attention maps of conv layers (Zagoruyko & Komodakis 2017)",
        AttentionTransfer::new,
    )?;
    registry.register(
        "KD plus the teacher's pairwise distances and angles between items (Park et al. 2019)",
        RelationalKd::new,
    )?;
    Ok(())
}
