//! # tl-disentangle
//!
//! Disentangled representations: codes whose parts vary with one factor each (shape, size,
//! position; content and style), measured the standard way.
//!
//! - [`metrics`]: MIG, SAP and DCI as `disentanglement_lib` computes them, on any
//!   representation and ground-truth factors.

pub mod metrics;

pub use metrics::{Dci, Forest, Samples, dci, mig, sap};
