//! What the adversarial methods share beyond tl-core's `domain` module.

/// A one-element tensor's value.
pub(crate) fn scalar(t: &burn::tensor::Tensor<1>) -> f64 {
    t.clone().into_scalar::<f32>() as f64
}
