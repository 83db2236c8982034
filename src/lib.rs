//! Transfer learning on Burn: one facade over the toolkit's crates.
//!
//! Pick a backend with a feature (`flex`, the default CPU backend; `ndarray`; `wgpu` for
//! GPUs) and a device by name at run time:
//!
//! ```
//! let device = tl::prelude::device("flex")?;
//! # let _ = device;
//! # Ok::<(), tl::prelude::CoreError>(())
//! ```
//!
//! | crate | what it holds |
//! |---|---|
//! | [`tl_core`] | devices, data sets, tasks, models and surgery, the training loop, metrics, reports, checkpoints |
//! | [`tl_data`] | data sets in their published layouts, transforms, domain shifts, splits and episodes |
//! | [`tl_models`] | pretrained weights (PyTorch, safetensors), architectures, model cards |
//! | [`tl_text`] | BERT-family text encoders from Hugging Face folders, sentence embeddings |
//! | [`tl_inductive`] | fine-tuning strategies: linear probe, full, partial, gradual unfreezing, discriminative rates, L2-SP, LoRA, search |
//! | [`tl_unsupervised`] | pretraining without labels: denoising and masked autoencoders, SimCLR; k-means purity/NMI; the few-label step |
//! | [`tl_transductive`] | same task, new domain: CORAL, MMD, AdaBN, self-training, self-ensembling |
//! | [`tl_adversarial`] | domain discriminators: DANN, CDAN(+E), ADDA |
//! | [`tl_distill`] | teacher-student distillation: KD, FitNets, attention transfer, relational KD, a static text student |
//! | [`tl_fewshot`] | few-shot learning: episodes, prototypical and matching networks, Baseline(++), fine-tuning, Reptile, one-shot generation |
//! | [`tl_crossmodal`] | images aligned with a locked text encoder (CLIP-style): zero-shot from class names, text-only training carried to images, a probe |
//! | [`tl_disentangle`] | disentanglement: BetaVAE and FactorVAE scores, MIG, SAP, DCI as disentanglement_lib computes them; VAE, beta-VAE, beta-TCVAE, FactorVAE, content/style codes |
//!
//! [`dsprites`] is the dSprites experiment (the VAE family scored by the five metrics) that
//! `examples/disentangle.rs` and `tl run recipes/dsprites.toml` share; [`content_style`]
//! the content/style experiments on emoji and on MNIST/USPS (`examples/content_style.rs` and
//! their recipes); [`crossmodal_emoji`] emoji named from text (`examples/crossmodal.rs --part
//! emoji`, `recipes/emoji-crossmodal.toml`); [`one_shot`] one-shot generation on Lake's runs
//! (`examples/fewshot.rs --part generate`, `recipes/omniglot-one-shot-generation.toml`).

pub mod content_style;
pub mod crossmodal_emoji;
pub mod dsprites;
pub mod one_shot;

pub use tl_adversarial;
pub use tl_core;
pub use tl_crossmodal;
pub use tl_data;
pub use tl_disentangle;
pub use tl_distill;
pub use tl_fewshot;
pub use tl_inductive;
pub use tl_models;
pub use tl_text;
pub use tl_transductive;
pub use tl_unsupervised;

/// Everything most programs import.
pub mod prelude {
    pub use burn::module::{Module, ParamGroup};
    pub use burn::tensor::{Device, Tensor};
    pub use tl_core::prelude::*;
}

/// Every strategy of every family, by name, with its default settings: what the examples,
/// the comparison tables and the contract test pick methods from.
///
/// ```
/// let registry = tl::registry()?;
/// assert!(registry.names().contains(&"dann"));
/// let err = registry.create("dan", &serde_json::json!({})).err().unwrap();
/// assert!(err.to_string().contains("known: "), "{err}");
/// # Ok::<(), tl::prelude::CoreError>(())
/// ```
pub fn registry() -> tl_core::Result<tl_core::strategy::Registry> {
    let mut registry = tl_core::strategy::Registry::new();
    tl_inductive::register(&mut registry)?;
    tl_transductive::register(&mut registry)?;
    tl_adversarial::register(&mut registry)?;
    tl_unsupervised::register(&mut registry)?;
    tl_distill::register(&mut registry)?;
    tl_fewshot::register(&mut registry)?;
    tl_disentangle::register(&mut registry)?;
    tl_crossmodal::register(&mut registry)?;
    Ok(registry)
}

/// The strategies that train any encoder, not only `Sequential` stacks: the inductive,
/// transductive (all but AdaBN) and adversarial families, with their default settings. `tl
/// run` offers these when a recipe trains MiniLM's top layers (`tl_text::BertTop`).
///
/// ```
/// let registry = tl::registry_any::<tl::tl_text::BertTop>()?;
/// assert!(registry.names().contains(&"aad"));
/// assert!(!registry.names().contains(&"adabn"));
/// # Ok::<(), tl::prelude::CoreError>(())
/// ```
pub fn registry_any<E: tl_core::model::Encoder + 'static>()
-> tl_core::Result<tl_core::strategy::Registry<E>> {
    let mut registry = tl_core::strategy::Registry::new();
    tl_inductive::register(&mut registry)?;
    tl_transductive::register_any(&mut registry)?;
    tl_adversarial::register(&mut registry)?;
    Ok(registry)
}
