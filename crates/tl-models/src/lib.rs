//! Pretrained models: weight import from PyTorch and safetensors files, architectures,
//! model cards and a catalogue.
//!
//! ```
//! use tl_models::arch::{mnist_cnn_configs, mnist_cnn_key_map};
//! let (encoder, head) = mnist_cnn_configs();
//! assert_eq!(encoder.output_dim()?, 256);
//! assert_eq!(head.output_dim()?, 10);
//! assert_eq!(mnist_cnn_key_map().renames.len(), 5);
//! # Ok::<(), tl_core::CoreError>(())
//! ```

pub mod arch;
pub mod card;
pub mod efficientnet;
mod error;
pub mod import;
pub mod pretrain;
pub mod resnet;
pub mod transferability;

pub use error::{ModelError, Result};
