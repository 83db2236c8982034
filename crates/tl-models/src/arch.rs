//! Architectures as encoder + head configurations, ready for pretraining or weight import.

use crate::error::Result;
use crate::import::{ImportReport, KeyMap, load_pytorch};
use burn::tensor::Device;
use std::path::Path;
use tl_core::model::{Classifier, Sequential, SequentialConfig, head_config};

/// MNIST's mean and standard deviation, the normalisation the MNIST CNN was trained with.
pub const MNIST_MEAN: f32 = 0.1307;
/// See [`MNIST_MEAN`].
pub const MNIST_STD: f32 = 0.3081;

/// The MNIST CNN of `digit-recognizer-py` (three conv blocks 32/64/128, 3x3 padding 1, ReLU,
/// 2x2 max pool; 28 -> 14 -> 7 -> 3; then Linear(1152, 256), ReLU) as an encoder with 256
/// features, and its Linear(256, 10) as the head. The input normalisation
/// `(x - 0.1307) / 0.3081` is the encoder's first layer, so it takes [0, 1] pixels.
pub fn mnist_cnn_configs() -> (SequentialConfig, SequentialConfig) {
    let encoder = SequentialConfig::new(vec![1, 28, 28])
        .standardize(MNIST_MEAN, MNIST_STD)
        .conv(32, 3, 1)
        .relu()
        .max_pool(2)
        .conv(64, 3, 1)
        .relu()
        .max_pool(2)
        .conv(128, 3, 1)
        .relu()
        .max_pool(2)
        .linear(256)
        .relu();
    (encoder, head_config(256, &[], 10))
}

/// The key map from the PyTorch `state_dict` (`conv_layers.{0,3,6}`, `fc_layers.{0,2}`) to
/// [`mnist_cnn_configs`]' layers (shifted by one for the normalisation layer).
pub fn mnist_cnn_key_map() -> KeyMap {
    KeyMap::new(&[
        (r"^conv_layers\.0\.", "encoder.layers.1."),
        (r"^conv_layers\.3\.", "encoder.layers.4."),
        (r"^conv_layers\.6\.", "encoder.layers.7."),
        (r"^fc_layers\.0\.", "encoder.layers.10."),
        (r"^fc_layers\.2\.", "head.layers.0."),
    ])
}

/// A freshly initialised MNIST CNN (the same architecture, untrained).
pub fn mnist_cnn(device: &Device) -> Result<Classifier<Sequential>> {
    let (encoder, head) = mnist_cnn_configs();
    Ok(Classifier::new(encoder.init(device)?, head.init(device)?)?)
}

/// The MNIST CNN with the weights of `handwriting_model.pth`.
pub fn mnist_cnn_pretrained(
    path: &Path,
    device: &Device,
) -> Result<(Classifier<Sequential>, ImportReport)> {
    load_pytorch(mnist_cnn(device)?, path, &mnist_cnn_key_map())
}

/// LeNet-5 (LeCun et al. 1998, ReLU and max pooling): conv 6@5x5 (padding 2 for 28 px),
/// pool, conv 16@5x5, pool, 120, 84 -> an 84-feature encoder, and a linear head.
pub fn lenet5_configs(
    input_shape: Vec<usize>,
    classes: usize,
) -> (SequentialConfig, SequentialConfig) {
    let encoder = SequentialConfig::new(input_shape)
        .conv(6, 5, 2)
        .relu()
        .max_pool(2)
        .conv(16, 5, 0)
        .relu()
        .max_pool(2)
        .linear(120)
        .relu()
        .linear(84)
        .relu();
    (encoder, head_config(84, &[], classes))
}

/// A multilayer perceptron: `hidden` widths with ReLU as the encoder, a linear head.
pub fn mlp_configs(
    input_shape: Vec<usize>,
    hidden: &[usize],
    classes: usize,
) -> (SequentialConfig, SequentialConfig) {
    let mut encoder = SequentialConfig::new(input_shape);
    for &h in hidden {
        encoder = encoder.linear(h).relu();
    }
    let features = hidden.last().copied().unwrap_or(0);
    let head_in = if features == 0 {
        encoder.input_shape.iter().product()
    } else {
        features
    };
    (encoder, head_config(head_in, &[], classes))
}

/// Builds a classifier from an (encoder, head) configuration pair.
pub fn build(
    configs: &(SequentialConfig, SequentialConfig),
    device: &Device,
) -> Result<Classifier<Sequential>> {
    Ok(Classifier::new(
        configs.0.init(device)?,
        configs.1.init(device)?,
    )?)
}
