//! # tl-crossmodal
//!
//! Cross-modal transfer: an image encoder aligned with a locked, pretrained text encoder in
//! one space (CLIP-style), so that images are classified from class names alone, retrieved by
//! text, and a classifier trained on text carries over to images.
//!
//! - [`text`]: the locked text side ([`TextSpace`]: a sentence encoder such as
//!   all-MiniLM-L6-v2 with its on-disk cache, or hashed words as the no-pretraining control).
//! - [`prompts`]: class prompts from names and templates.
//! - [`loss`]: symmetric InfoNCE with the learned temperature, class-aware positives.
//! - [`model`]: [`ClipModel`], caption batches, zero-shot prototypes and heads, recall@k.
//! - [`strategy`]: `clip` (zero-shot), `clip-text-only` (a classifier trained on text only),
//!   `clip-probe` (a linear probe on the aligned image features), `text-to-image` (a
//!   conditional VAE draws each class from its name; a classifier learns from the drawings).
//! - [`generate`]: [`TextCvae`], the text-conditioned generator.

pub mod generate;
pub mod loss;
pub mod model;
pub mod prompts;
pub mod strategy;
pub mod text;

pub use generate::{CvaeObjective, CvaeShape, TextCvae};
pub use loss::{INIT_SCALE, MAX_SCALE, info_nce, info_nce_soft, same_group_mask};
pub use model::{
    AlignObjective, CaptionBatch, CaptionBatches, ClipModel, recall_at, recall_by_scores,
};
pub use prompts::{ClassPrompts, DIGIT_WORDS, digit_templates, picture_templates};
pub use strategy::{Clip, Readout, TextToImage, default_templates};
pub use text::{TextSpace, TextVectors};

/// Registers the cross-modal strategies with their default settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    registry.register(
        "CLIP-style alignment with a locked text encoder, then zero-shot classification from class prompts (Radford et al. 2021)",
        Clip::new,
    )?;
    registry.register(
        "CLIP-style alignment, then a classifier trained on the prompts' text features only, applied to images",
        Clip::text_only,
    )?;
    registry.register(
        "CLIP-style alignment, then a linear probe on the aligned image features (the upper reference)",
        Clip::probe,
    )?;
    registry.register(
        "a conditional VAE draws every class from its name (locked text vectors), then a classifier is trained on the drawings alone",
        TextToImage::new,
    )?;
    Ok(())
}
