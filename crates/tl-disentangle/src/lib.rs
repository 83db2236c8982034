//! # tl-disentangle
//!
//! Disentangled representations: codes whose parts vary with one factor each (shape, size,
//! position; content and style), measured the standard way.
//!
//! - [`metrics`]: the BetaVAE and FactorVAE scores, MIG, SAP and DCI as
//!   `disentanglement_lib` computes them, on any representation and ground-truth factors.
//! - [`vae`]: the VAE family's model and objectives (VAE, beta-VAE, beta-TCVAE).

pub mod metrics;
pub mod vae;

pub use metrics::{
    Dci, Forest, Samples, VoteSettings, beta_vae_score, dci, factor_vae_score, mig, sap,
};
pub use vae::{Penalty, Vae, VaeObjective, VaeTerms, total_correlation};
