//! A small ResNet (He et al. 2016) for 28-32 px inputs: a 3x3 stem, three stages of basic
//! residual blocks (16, 32, 64 channels by default; stride 2 between stages), global average
//! pooling. An [`Encoder`] whose blocks are the stem and the stages.

use crate::error::Result;
use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};
use tl_core::CoreError;
use tl_core::data::reshape_items;
use tl_core::model::Encoder;

fn conv(i: usize, o: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([i, o], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

/// Two 3x3 convolutions with batch norm, added to the input (through a 1x1 projection when
/// the shape changes).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    project: Option<Conv2d>,
    project_bn: Option<BatchNorm>,
    relu: Relu,
}

impl BasicBlock {
    fn new(i: usize, o: usize, stride: usize, device: &Device) -> Self {
        let shortcut = stride != 1 || i != o;
        Self {
            conv1: conv(i, o, 3, stride, device),
            bn1: BatchNormConfig::new(o).init(device),
            conv2: conv(o, o, 3, 1, device),
            bn2: BatchNormConfig::new(o).init(device),
            project: shortcut.then(|| conv(i, o, 1, stride, device)),
            project_bn: shortcut.then(|| BatchNormConfig::new(o).init(device)),
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, in, h, w]` -> `[batch, out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self
            .relu
            .forward(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let skip = match (&self.project, &self.project_bn) {
            (Some(p), Some(bn)) => bn.forward(p.forward(x)),
            _ => x,
        };
        self.relu.forward(y + skip)
    }
}

/// Configuration of [`SmallResNet`].
#[derive(Config, Debug, PartialEq)]
pub struct SmallResNetConfig {
    /// Item shape `[channels, height, width]`.
    pub input_shape: Vec<usize>,
    /// Channels of each stage.
    #[config(default = "vec![16, 32, 64]")]
    pub widths: Vec<usize>,
    /// Basic blocks per stage.
    #[config(default = 2)]
    pub blocks_per_stage: usize,
}

impl SmallResNetConfig {
    /// Checks the shape and builds the network on `device`.
    pub fn init(&self, device: &Device) -> Result<SmallResNet> {
        let [c, h, w] = self.input_shape[..] else {
            return Err(CoreError::InvalidConfig {
                field: "input_shape",
                reason: format!("{:?} is not [channels, height, width]", self.input_shape),
            }
            .into());
        };
        if c * h * w == 0 || self.widths.is_empty() || self.widths.contains(&0) {
            return Err(CoreError::InvalidConfig {
                field: "widths",
                reason: format!(
                    "input {:?}, widths {:?}: no zero sizes",
                    self.input_shape, self.widths
                ),
            }
            .into());
        }
        if self.blocks_per_stage == 0 {
            return Err(CoreError::InvalidConfig {
                field: "blocks_per_stage",
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let mut stages = Vec::new();
        let mut channels = self.widths[0];
        for (s, &width) in self.widths.iter().enumerate() {
            let blocks = (0..self.blocks_per_stage)
                .map(|b| {
                    let stride = if s > 0 && b == 0 { 2 } else { 1 };
                    let block = BasicBlock::new(channels, width, stride, device);
                    channels = width;
                    block
                })
                .collect();
            stages.push(Stage { blocks });
        }
        Ok(SmallResNet {
            stem: conv(c, self.widths[0], 3, 1, device),
            stem_bn: BatchNormConfig::new(self.widths[0]).init(device),
            relu: Relu::new(),
            stages,
            config: self.clone(),
        })
    }
}

/// A stage: basic blocks in sequence.
#[derive(Module, Debug)]
pub struct Stage {
    blocks: Vec<BasicBlock>,
}

/// The small ResNet encoder.
#[derive(Module, Debug)]
pub struct SmallResNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    relu: Relu,
    stages: Vec<Stage>,
    #[module(skip)]
    config: SmallResNetConfig,
}

impl Encoder for SmallResNet {
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let x: Tensor<4> = reshape_items(x, &self.config.input_shape)
            .expect("input_shape was checked when the network was built");
        let mut x = self
            .relu
            .forward(self.stem_bn.forward(self.stem.forward(x)));
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(x);
            }
        }
        let [b, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([b, c])
    }

    fn feature_dim(&self) -> usize {
        *self.config.widths.last().unwrap_or(&0)
    }

    fn input_shape(&self) -> Vec<usize> {
        self.config.input_shape.clone()
    }

    fn blocks(&self) -> Vec<ParamGroup> {
        let stem = ParamGroup::ids_from_module(self.stem.clone())
            .fuse(&ParamGroup::ids_from_module(self.stem_bn.clone()));
        std::iter::once(stem)
            .chain(
                self.stages
                    .iter()
                    .map(|s| ParamGroup::ids_from_module(s.clone())),
            )
            .collect()
    }
}
