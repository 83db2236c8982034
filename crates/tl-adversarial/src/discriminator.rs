//! The domain discriminator: an MLP from features to one logit (source = 1, target = 0), and
//! its loss.

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use tl_core::model::{Sequential, SequentialConfig};
use tl_core::{CoreError, Result};

/// A domain discriminator's architecture.
#[derive(Config, Debug, PartialEq)]
pub struct DiscriminatorConfig {
    /// Hidden widths (ReLU after each); DANN's paper uses 1,024 x 2 on ImageNet features.
    #[config(default = "vec![256, 256]")]
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer.
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl DiscriminatorConfig {
    /// Refuses bad fields.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.contains(&0) {
            return Err(CoreError::config(
                "discriminator.hidden",
                "hidden widths must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::config(
                "discriminator.dropout",
                format!("{} not in [0, 1)", self.dropout),
            ));
        }
        Ok(())
    }

    /// A fresh discriminator for `inputs`-wide features.
    pub fn init(&self, inputs: usize, device: &Device) -> Result<Sequential> {
        self.validate()?;
        let mut c = SequentialConfig::new(vec![inputs]);
        for &h in &self.hidden {
            c = c.linear(h).relu();
            if self.dropout > 0.0 {
                c = c.dropout(self.dropout);
            }
        }
        c.linear(1).init(device)
    }
}

/// Binary cross-entropy on logits, per item, computed stably:
/// `max(z, 0) - z y + ln(1 + exp(-|z|))`.
///
/// # Shapes
/// - `logits`: `[n, 1]`, `targets`: `[n, 1]` in {0, 1}
/// - returns `[n, 1]`
pub fn bce_with_logits(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<2> {
    logits.clone().clamp_min(0.0) - logits.clone() * targets + (-logits.abs()).exp().log1p()
}

/// Domain labels: `n_source` ones, then `n_target` zeros, as a `[n, 1]` tensor.
pub fn domain_labels(n_source: usize, n_target: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![1.0f32; n_source];
    v.extend(std::iter::repeat_n(0.0, n_target));
    Tensor::from_data(TensorData::new(v, [n_source + n_target, 1]), device)
}

/// Fraction of items the discriminator puts on the right side (logit > 0 means source).
pub fn domain_accuracy(logits: &Tensor<2>, targets: &Tensor<2>) -> f64 {
    let z: Vec<f32> = logits.clone().detach().into_data().iter::<f32>().collect();
    let y: Vec<f32> = targets.clone().into_data().iter::<f32>().collect();
    let right = z
        .iter()
        .zip(&y)
        .filter(|(z, y)| (**z > 0.0) == (**y > 0.5))
        .count();
    right as f64 / z.len().max(1) as f64
}
