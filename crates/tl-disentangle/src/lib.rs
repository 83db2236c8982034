//! # tl-disentangle
//!
//! Disentangled representations: codes whose parts vary with one factor each (shape, size,
//! position; content and style), measured the standard way.
//!
//! - [`metrics`]: the BetaVAE and FactorVAE scores, MIG, SAP and DCI as
//!   `disentanglement_lib` computes them, on any representation and ground-truth factors.
//! - [`vae`]: the VAE family's model and objectives (VAE, beta-VAE, beta-TCVAE).
//! - [`content_style`]: a content/style model on pairs that share content (ML-VAE with a
//!   swap term).
//! - [`factor_vae`]: FactorVAE's discriminator on permuted latents and its objective.

pub mod content_style;
pub mod factor_vae;
pub mod metrics;
pub mod strategy;
pub mod vae;

pub use content_style::{
    ContentStyle, ContentStyleObjective, ContentStyleShape, pair_set, retrieval_top1,
};
pub use factor_vae::{FactorVae, FactorVaeObjective, permute_dims};
pub use metrics::{
    Dci, Forest, Samples, VoteSettings, beta_vae_score, dci, factor_vae_score, logistic_probe, mig,
    mig_gaps, mig_per_factor, normalized_mutual_info, sap,
};
pub use strategy::{
    BetaVae, ContentStyleModel, VaeKind, class_pairs, class_pairs_both_ways, probe_codes,
};
pub use vae::{
    Penalty, TcEstimator, Vae, VaeObjective, VaeTerms, pixel_decoder, stratified_log_weights,
    total_correlation, total_correlation_by,
};

/// Registers the disentanglement strategies with their default settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    registry.register(
        "variational autoencoder (beta = 1), then a linear probe (Kingma and Welling 2014)",
        BetaVae::vae,
    )?;
    registry.register(
        "beta-VAE: the KL weighted by beta = 4, then a linear probe (Higgins et al. 2017)",
        BetaVae::new,
    )?;
    registry.register(
        "beta-TCVAE: the total correlation weighted by beta = 6, then a linear probe (Chen et al. 2018)",
        BetaVae::tc,
    )?;
    registry.register(
        "FactorVAE: a discriminator on permuted latents estimates the total correlation, weighted by gamma = 10 (Kim and Mnih 2018)",
        BetaVae::factor,
    )?;
    registry.register(
        "content/style codes from pairs of one class (ML-VAE with a swap term), then a linear probe on the content code (Bouchacourt et al. 2018)",
        ContentStyleModel::new,
    )?;
    Ok(())
}
