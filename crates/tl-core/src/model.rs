//! Encoders, heads, classifiers and layer surgery.
//!
//! The workhorse is [`Sequential`]: a stack of layers built from a [`SequentialConfig`] whose
//! input widths are inferred, so surgery (drop the last layers, add new ones, replace the
//! head) needs no bookkeeping from the caller. Any other architecture (a pretrained CNN, a
//! BERT encoder) joins by implementing [`Encoder`].

use crate::data::reshape_items;
use crate::error::{CoreError, Result};
use burn::config::Config;
use burn::module::{Module, ModuleDisplay, ModuleVisitor, Param, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Maps a flat input batch to feature vectors, and says how its parameters split into blocks.
pub trait Encoder: Module + ModuleDisplay {
    /// Encodes a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]` (items flattened; the encoder reshapes them)
    /// - returns `[batch, feature_dim]`
    fn encode(&self, x: Tensor<2>) -> Tensor<2>;

    /// Width of the feature vectors.
    fn feature_dim(&self) -> usize;

    /// The item shape the encoder accepts, e.g. `[1, 28, 28]`.
    fn input_shape(&self) -> Vec<usize>;

    /// Parameter groups from input to output, one per trainable block (for freezing the
    /// first k blocks, gradual unfreezing and per-layer learning rates).
    fn blocks(&self) -> Vec<ParamGroup>;

    /// Whether Gaussian noise added to the flattened inputs is a perturbation of the items
    /// (pixels, feature vectors: the default); false for inputs that are token ids or carry
    /// counts such as a sequence length, which methods that perturb inputs must refuse.
    fn inputs_take_noise(&self) -> bool {
        true
    }
}

/// One layer of a [`Sequential`], as configuration; input widths are inferred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerConfig {
    /// Fully connected layer; flattens image activations first (channel-major, as PyTorch).
    Linear {
        /// Output width.
        out: usize,
    },
    /// 2-D convolution with a square kernel.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// 2-D transposed convolution with a square kernel (a decoder's upsampling): an
    /// `h`x`w` input gives `(h - 1) * stride - 2 * padding + kernel` rows, and as many columns.
    ConvTranspose2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride (the upsampling factor).
        stride: usize,
        /// Rows and columns taken off every side of the output.
        padding: usize,
    },
    /// Flat activations read as an image, channel-major (as PyTorch's `Unflatten`): what
    /// turns a decoder's linear layers into the input of its transposed convolutions.
    Unflatten {
        /// Channels.
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// 2-D max pooling with a square window.
    MaxPool2d {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Rectified linear unit.
    Relu,
    /// Dropout with probability `prob`.
    Dropout {
        /// Probability of zeroing an activation.
        prob: f64,
    },
    /// Batch normalisation over features (flat) or channels (images).
    BatchNorm,
    /// `(x - mean) / std` with fixed numbers: a pretrained model's input normalisation,
    /// carried inside the model so that callers feed raw [0, 1] inputs.
    Standardize {
        /// Subtracted first.
        mean: f32,
        /// Then divided by.
        std: f32,
    },
    /// Each item scaled to unit L2 norm (over all its values): what a cosine classifier puts
    /// before its weights.
    L2Normalize,
    /// Flat inputs in groups: output `g` is the log-sum-exp of the inputs whose entry in
    /// `groups` is `g` (so there are `max(groups) + 1` outputs, each group non-empty). A class
    /// scored by several prototypes, such as a matching network's support examples.
    GroupLogSumExp {
        /// The group of each input.
        groups: Vec<usize>,
    },
}

impl LayerConfig {
    /// Whether the layer holds trainable parameters.
    pub fn has_params(&self) -> bool {
        matches!(
            self,
            Self::Linear { .. }
                | Self::Conv2d { .. }
                | Self::ConvTranspose2d { .. }
                | Self::BatchNorm
        )
    }
}

/// The activation shape flowing between layers (batch dimension left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActShape {
    Flat(usize),
    Image(usize, usize, usize),
}

impl ActShape {
    fn from_item_shape(shape: &[usize]) -> Result<Self> {
        match *shape {
            [n] if n > 0 => Ok(Self::Flat(n)),
            [c, h, w]
                if c.checked_mul(h)
                    .and_then(|n| n.checked_mul(w))
                    .is_some_and(|n| n > 0) =>
            {
                Ok(Self::Image(c, h, w))
            }
            _ => Err(CoreError::config(
                "input_shape",
                format!("{shape:?}: expected [features] or [channels, height, width]"),
            )),
        }
    }

    fn size(self) -> usize {
        match self {
            Self::Flat(n) => n,
            Self::Image(c, h, w) => c.saturating_mul(h).saturating_mul(w),
        }
    }

    fn next(self, layer: &LayerConfig, index: usize) -> Result<Self> {
        let refuse = |why: String| CoreError::Model(format!("layer {index} ({layer:?}): {why}"));
        Ok(match (layer, self) {
            (LayerConfig::Linear { out: 0 }, _) => return Err(refuse("zero outputs".into())),
            (LayerConfig::Linear { out }, _) => Self::Flat(*out),
            (
                LayerConfig::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                }
                | LayerConfig::ConvTranspose2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                },
                Self::Image(_, h, w),
            ) => {
                if *out_channels == 0 || *kernel == 0 || *stride == 0 {
                    return Err(refuse("zero channels, kernel or stride".into()));
                }
                let transposed = matches!(layer, LayerConfig::ConvTranspose2d { .. });
                // Checked throughout: the sizes may come from a model card.
                let side = |n: usize| {
                    let padded = padding.checked_mul(2)?;
                    if transposed {
                        (n - 1)
                            .checked_mul(*stride)?
                            .checked_add(*kernel)?
                            .checked_sub(padded)
                            .filter(|&s| s > 0)
                    } else {
                        n.checked_add(padded)?
                            .checked_sub(*kernel)
                            .map(|d| d / stride + 1)
                    }
                };
                match (side(h), side(w)) {
                    (Some(h), Some(w)) => Self::Image(*out_channels, h, w),
                    _ if transposed => {
                        return Err(refuse(format!("padding {padding} leaves nothing")));
                    }
                    _ => return Err(refuse(format!("kernel larger than the {h}x{w} input"))),
                }
            }
            (
                LayerConfig::Unflatten {
                    channels,
                    height,
                    width,
                },
                s,
            ) => {
                if channels * height * width != s.size() || s.size() == 0 {
                    return Err(refuse(format!(
                        "{channels}x{height}x{width} does not hold the {} values it gets",
                        s.size()
                    )));
                }
                Self::Image(*channels, *height, *width)
            }
            (LayerConfig::MaxPool2d { kernel, stride }, Self::Image(c, h, w)) => {
                if *kernel == 0 || *stride == 0 || *kernel > h || *kernel > w {
                    return Err(refuse(format!("window does not fit the {h}x{w} input")));
                }
                Self::Image(c, (h - kernel) / stride + 1, (w - kernel) / stride + 1)
            }
            (
                LayerConfig::Conv2d { .. }
                | LayerConfig::ConvTranspose2d { .. }
                | LayerConfig::MaxPool2d { .. },
                Self::Flat(_),
            ) => {
                return Err(refuse("needs image activations, got flat ones".into()));
            }
            (LayerConfig::Dropout { prob }, s) => {
                if !(0.0..1.0).contains(prob) {
                    return Err(refuse(format!("probability {prob} not in [0, 1)")));
                }
                s
            }
            (LayerConfig::Standardize { std, .. }, s) => {
                if !(std.is_finite() && *std > 0.0) {
                    return Err(refuse(format!("std {std} must be > 0")));
                }
                s
            }
            (LayerConfig::Relu | LayerConfig::BatchNorm | LayerConfig::L2Normalize, s) => s,
            (LayerConfig::GroupLogSumExp { groups }, s) => {
                if groups.len() != s.size() {
                    return Err(refuse(format!(
                        "{} groups for {} inputs",
                        groups.len(),
                        s.size()
                    )));
                }
                // Every group needs an input, so none can be past the inputs' count (which
                // also keeps `g + 1` from overflowing).
                let count = match groups.iter().max() {
                    Some(&g) if g >= groups.len() => {
                        return Err(refuse(format!(
                            "group {g} for {} inputs: some group would have none",
                            groups.len()
                        )));
                    }
                    Some(&g) => g + 1,
                    None => 0,
                };
                if let Some(g) = (0..count).find(|g| !groups.contains(g)) {
                    return Err(refuse(format!("group {g} of 0..{count} has no input")));
                }
                Self::Flat(count)
            }
        })
    }
}

/// Configuration of a [`Sequential`] stack.
#[derive(Config, Debug, PartialEq)]
pub struct SequentialConfig {
    /// Shape of one input item: `[features]` or `[channels, height, width]`.
    pub input_shape: Vec<usize>,
    /// The layers, input first.
    #[config(default = "Vec::new()")]
    pub layers: Vec<LayerConfig>,
}

impl SequentialConfig {
    /// Appends a linear layer.
    pub fn linear(mut self, out: usize) -> Self {
        self.layers.push(LayerConfig::Linear { out });
        self
    }

    /// Appends a ReLU.
    pub fn relu(mut self) -> Self {
        self.layers.push(LayerConfig::Relu);
        self
    }

    /// Appends a square convolution with stride 1 and `padding`.
    pub fn conv(mut self, out_channels: usize, kernel: usize, padding: usize) -> Self {
        self.layers.push(LayerConfig::Conv2d {
            out_channels,
            kernel,
            stride: 1,
            padding,
        });
        self
    }

    /// Appends a square convolution of `kernel` with `stride` and `padding` (e.g. kernel 4,
    /// stride 2, padding 1: disentanglement_lib's encoder stage, which halves the height and
    /// width).
    pub fn conv_strided(
        mut self,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        self.layers.push(LayerConfig::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        });
        self
    }

    /// Appends a square transposed convolution that multiplies the height and width by
    /// `stride` (kernel `2 * stride`, padding `stride / 2`: DCGAN's and disentanglement_lib's
    /// 4x4, stride 2, padding 1 for a factor of 2).
    pub fn conv_transpose(mut self, out_channels: usize, stride: usize) -> Self {
        self.layers.push(LayerConfig::ConvTranspose2d {
            out_channels,
            kernel: 2 * stride,
            stride,
            padding: stride / 2,
        });
        self
    }

    /// Appends an [`LayerConfig::Unflatten`] to `[channels, height, width]`.
    pub fn unflatten(mut self, channels: usize, height: usize, width: usize) -> Self {
        self.layers.push(LayerConfig::Unflatten {
            channels,
            height,
            width,
        });
        self
    }

    /// Appends a `kernel`x`kernel` max pool with stride `kernel`.
    pub fn max_pool(mut self, kernel: usize) -> Self {
        self.layers.push(LayerConfig::MaxPool2d {
            kernel,
            stride: kernel,
        });
        self
    }

    /// Appends dropout.
    pub fn dropout(mut self, prob: f64) -> Self {
        self.layers.push(LayerConfig::Dropout { prob });
        self
    }

    /// Appends a fixed `(x - mean) / std`.
    pub fn standardize(mut self, mean: f32, std: f32) -> Self {
        self.layers.push(LayerConfig::Standardize { mean, std });
        self
    }

    /// Appends a unit-L2-norm layer.
    pub fn l2_normalize(mut self) -> Self {
        self.layers.push(LayerConfig::L2Normalize);
        self
    }

    /// Appends a log-sum-exp within groups of inputs (see [`LayerConfig::GroupLogSumExp`]).
    pub fn group_log_sum_exp(mut self, groups: Vec<usize>) -> Self {
        self.layers.push(LayerConfig::GroupLogSumExp { groups });
        self
    }

    /// Appends batch normalisation.
    pub fn batch_norm(mut self) -> Self {
        self.layers.push(LayerConfig::BatchNorm);
        self
    }

    /// Activation shapes before each layer and after the last, checked.
    fn shapes(&self) -> Result<Vec<ActShape>> {
        let mut shapes = vec![ActShape::from_item_shape(&self.input_shape)?];
        for (i, layer) in self.layers.iter().enumerate() {
            let next = shapes[i].next(layer, i)?;
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// The item shape after each layer (`[features]` or `[channels, height, width]`),
    /// checked: entry `i` is what layer `i` gives.
    pub fn activation_shapes(&self) -> Result<Vec<Vec<usize>>> {
        Ok(self.shapes()?[1..]
            .iter()
            .map(|s| match *s {
                ActShape::Flat(n) => vec![n],
                ActShape::Image(c, h, w) => vec![c, h, w],
            })
            .collect())
    }

    /// Width of the output (the flattened last activation).
    pub fn output_dim(&self) -> Result<usize> {
        Ok(self.shapes()?.last().map_or(0, |s| s.size()))
    }

    /// Checks the stack and builds it on `device`.
    pub fn init(&self, device: &Device) -> Result<Sequential> {
        let shapes = self.shapes()?;
        let layers = self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(layer, input)| init_layer(layer, *input, device))
            .collect();
        Ok(Sequential {
            layers,
            config: self.clone(),
        })
    }
}

fn init_layer(layer: &LayerConfig, input: ActShape, device: &Device) -> Layer {
    let channels = match input {
        ActShape::Flat(n) => n,
        ActShape::Image(c, _, _) => c,
    };
    match layer {
        LayerConfig::Linear { out } => {
            Layer::Linear(LinearConfig::new(input.size(), *out).init(device))
        }
        LayerConfig::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => Layer::Conv2d(
            Conv2dConfig::new([channels, *out_channels], [*kernel, *kernel])
                .with_stride([*stride, *stride])
                .with_padding(PaddingConfig2d::Explicit(
                    *padding, *padding, *padding, *padding,
                ))
                .init(device),
        ),
        LayerConfig::ConvTranspose2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => Layer::ConvTranspose2d(
            ConvTranspose2dConfig::new([channels, *out_channels], [*kernel, *kernel])
                .with_stride([*stride, *stride])
                .with_padding([*padding, *padding])
                .init(device),
        ),
        LayerConfig::Unflatten {
            channels,
            height,
            width,
        } => Layer::Unflatten(Unflatten {
            shape: [*channels, *height, *width],
        }),
        LayerConfig::MaxPool2d { kernel, stride } => Layer::MaxPool2d(
            MaxPool2dConfig::new([*kernel, *kernel])
                .with_strides([*stride, *stride])
                .init(),
        ),
        LayerConfig::Relu => Layer::Relu(Relu::new()),
        LayerConfig::Dropout { prob } => Layer::Dropout(DropoutConfig::new(*prob).init()),
        LayerConfig::BatchNorm => Layer::BatchNorm(BatchNormConfig::new(channels).init(device)),
        LayerConfig::Standardize { mean, std } => Layer::Standardize(Standardize {
            mean: *mean,
            std: *std,
        }),
        LayerConfig::L2Normalize => Layer::L2Normalize(L2Normalize { eps: 1e-12 }),
        LayerConfig::GroupLogSumExp { groups } => Layer::GroupLogSumExp(GroupLogSumExp {
            groups: groups.clone(),
        }),
    }
}

/// A layer of a [`Sequential`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a handful of layers per model: size does not matter
pub enum Layer {
    /// Fully connected.
    Linear(Linear),
    /// Convolution.
    Conv2d(Conv2d),
    /// Transposed convolution.
    ConvTranspose2d(ConvTranspose2d),
    /// Flat to image.
    Unflatten(Unflatten),
    /// Max pooling.
    MaxPool2d(MaxPool2d),
    /// ReLU.
    Relu(Relu),
    /// Dropout.
    Dropout(Dropout),
    /// Batch normalisation.
    BatchNorm(BatchNorm),
    /// Fixed input normalisation.
    Standardize(Standardize),
    /// Unit L2 norm per item.
    L2Normalize(L2Normalize),
    /// Log-sum-exp within groups of inputs.
    GroupLogSumExp(GroupLogSumExp),
}

/// Flat `[batch, c * h * w]` activations read as `[batch, c, h, w]` (no parameters).
#[derive(Module, Debug)]
pub struct Unflatten {
    /// `[channels, height, width]` of one item.
    pub shape: [usize; 3],
}

impl Unflatten {
    /// Reshapes, channel-major.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<4> {
        let [c, h, w] = self.shape;
        let batch = x.dims()[0];
        x.reshape([batch, c, h, w])
    }
}

/// `(x - mean) / std` with fixed numbers (no parameters).
#[derive(Module, Debug)]
pub struct Standardize {
    /// Subtracted first.
    pub mean: f32,
    /// Then divided by.
    pub std: f32,
}

impl Standardize {
    /// Applies the normalisation.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        (x - self.mean) / self.std
    }
}

/// Rows of `x` (`[batch, features]`) scaled to unit L2 norm; the squared norm is floored at
/// `eps` *before* the square root, whose gradient is infinite at 0, so a row of zeros stays
/// zero and gets finite gradients.
pub fn l2_normalize_rows(x: Tensor<2>, eps: f32) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).clamp_min(eps).sqrt();
    x / norm
}

/// Each item scaled to unit L2 norm over all its values (no parameters); an item of zeros
/// stays zero.
#[derive(Module, Debug)]
pub struct L2Normalize {
    /// Floor of the squared norm (its square root's gradient is infinite at 0).
    pub eps: f32,
}

impl L2Normalize {
    /// Normalises `[batch, features]` rows.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        l2_normalize_rows(x, self.eps)
    }

    /// Normalises `[batch, channels, height, width]` items over all their values.
    pub fn forward_image(&self, x: Tensor<4>) -> Tensor<4> {
        let dims = x.dims();
        self.forward(x.flatten(1, 3)).reshape(dims)
    }
}

/// Log-sum-exp within groups of flat inputs (no parameters): output `g` is
/// `log(sum(exp(x_i)))` over the inputs `i` with `groups[i] == g`.
#[derive(Module, Debug)]
pub struct GroupLogSumExp {
    /// The group of each input.
    pub groups: Vec<usize>,
}

impl GroupLogSumExp {
    /// `[batch, inputs]` to `[batch, groups]`; the row maximum is taken out first, so large
    /// scores do not overflow.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, n] = x.dims();
        let count = self.groups.iter().max().map_or(0, |g| g + 1);
        let mut member = vec![0f32; n * count];
        for (i, &g) in self.groups.iter().enumerate().take(n) {
            member[i * count + g] = 1.0;
        }
        let member = Tensor::<2>::from_data(TensorData::new(member, [n, count]), &x.device());
        let max = x.clone().max_dim(1).detach();
        (x - max.clone()).exp().matmul(member).log() + max
    }
}

/// An activation between two layers of a [`Sequential`] (what [`Sequential::forward_taps`]
/// gives back): flat `[batch, features]` or an image `[batch, channels, height, width]`.
#[derive(Debug, Clone)]
pub enum Activation {
    /// `[batch, features]`.
    Flat(Tensor<2>),
    /// `[batch, channels, height, width]`.
    Image(Tensor<4>),
}

impl Activation {
    /// The activation as `[batch, values]` (images flattened channel-major, as PyTorch).
    pub fn flat(self) -> Tensor<2> {
        match self {
            Self::Flat(t) => t,
            Self::Image(t) => t.flatten(1, 3),
        }
    }

    /// The shape of one item (`[features]` or `[channels, height, width]`).
    pub fn item_shape(&self) -> Vec<usize> {
        match self {
            Self::Flat(t) => vec![t.dims()[1]],
            Self::Image(t) => t.dims()[1..].to_vec(),
        }
    }
}

use Activation as Act;

/// A stack of layers with inferred widths; an [`Encoder`] and the usual classification head.
#[derive(Module, Debug)]
pub struct Sequential {
    layers: Vec<Layer>,
    #[module(skip)]
    config: SequentialConfig,
}

impl Sequential {
    /// The configuration that rebuilds this stack's architecture.
    pub fn config(&self) -> &SequentialConfig {
        &self.config
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The layers, mutably (to re-estimate batch-norm statistics, say; the architecture
    /// cannot change through this).
    pub fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers (the identity).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Runs the stack.
    ///
    /// # Shapes
    /// - `x`: `[batch, prod(input_shape)]`
    /// - returns `[batch, output_dim]`
    ///
    /// # Panics
    /// When an image stack gets rows of another width (the checked entry points, `Trainer`,
    /// `evaluate`, `predict` and `encode_*`, refuse such inputs with an error first).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_taps(x, &[]).0
    }

    /// Runs the stack and keeps the activations after the layers `taps` names (indices into
    /// [`Self::layers`], in the order given): what feature hints and attention transfer
    /// match. Indices past the last layer are skipped (check them with
    /// [`SequentialConfig::activation_shapes`] first).
    ///
    /// # Shapes
    /// - `x`: `[batch, prod(input_shape)]`
    /// - returns `[batch, output_dim]` and one activation per tap
    ///
    /// # Panics
    /// As [`Self::forward`].
    pub fn forward_taps(&self, x: Tensor<2>, taps: &[usize]) -> (Tensor<2>, Vec<Activation>) {
        let mut kept: Vec<Option<Activation>> = vec![None; taps.len()];
        let mut act = if self.config.input_shape.len() == 3 {
            let width = x.dims()[1];
            match reshape_items::<4>(x, &self.config.input_shape) {
                Ok(image) => Act::Image(image),
                // The checked entry points (`Trainer`, `evaluate`, `predict`, `encode_*`)
                // refuse such inputs with an error first; a raw call gets this message.
                Err(_) => panic!(
                    "Sequential takes rows of {} values (items {:?}), got rows of {width}",
                    self.config.input_shape.iter().product::<usize>(),
                    self.config.input_shape
                ),
            }
        } else {
            Act::Flat(x)
        };
        for (index, layer) in self.layers.iter().enumerate() {
            act = match (layer, act) {
                (Layer::Linear(l), a) => Act::Flat(l.forward(a.flat())),
                (Layer::Conv2d(c), Act::Image(t)) => Act::Image(c.forward(t)),
                (Layer::ConvTranspose2d(c), Act::Image(t)) => Act::Image(c.forward(t)),
                (Layer::Unflatten(u), a) => Act::Image(u.forward(a.flat())),
                (Layer::MaxPool2d(p), Act::Image(t)) => Act::Image(p.forward(t)),
                (Layer::Relu(r), Act::Flat(t)) => Act::Flat(r.forward(t)),
                (Layer::Relu(r), Act::Image(t)) => Act::Image(r.forward(t)),
                (Layer::Dropout(d), Act::Flat(t)) => Act::Flat(d.forward(t)),
                (Layer::Dropout(d), Act::Image(t)) => Act::Image(d.forward(t)),
                (Layer::BatchNorm(b), Act::Flat(t)) => Act::Flat(b.forward(t)),
                (Layer::BatchNorm(b), Act::Image(t)) => Act::Image(b.forward(t)),
                (Layer::Standardize(n), Act::Flat(t)) => Act::Flat(n.forward(t)),
                (Layer::Standardize(n), Act::Image(t)) => Act::Image(n.forward(t)),
                (Layer::L2Normalize(n), Act::Flat(t)) => Act::Flat(n.forward(t)),
                (Layer::L2Normalize(n), Act::Image(t)) => Act::Image(n.forward_image(t)),
                (Layer::GroupLogSumExp(g), a) => Act::Flat(g.forward(a.flat())),
                // `SequentialConfig::shapes` refuses convolutions and pools on flat
                // activations, and the layers can only be built through it.
                (
                    Layer::Conv2d(_) | Layer::ConvTranspose2d(_) | Layer::MaxPool2d(_),
                    Act::Flat(t),
                ) => Act::Flat(t),
            };
            for (slot, _) in kept.iter_mut().zip(taps).filter(|(_, t)| **t == index) {
                *slot = Some(act.clone());
            }
        }
        (act.flat(), kept.into_iter().flatten().collect())
    }

    /// Width of the output.
    pub fn output_dim(&self) -> usize {
        self.config
            .output_dim()
            .expect("the config was checked when the stack was built")
    }

    /// Removes the last `n` layers (e.g. a source task's classifier).
    pub fn drop_last(mut self, n: usize) -> Result<Self> {
        if n > self.layers.len() {
            return Err(CoreError::Model(format!(
                "cannot drop {n} layers from a stack of {}",
                self.layers.len()
            )));
        }
        let keep = self.layers.len() - n;
        self.layers.truncate(keep);
        self.config.layers.truncate(keep);
        Ok(self)
    }

    /// This stack followed by `next` (its trained layers kept), one stack; `next` must take
    /// flat items as wide as this stack's output.
    pub fn then(mut self, next: Sequential) -> Result<Self> {
        let width = self.output_dim();
        if next.config.input_shape != [width] {
            return Err(CoreError::Model(format!(
                "cannot follow a stack of output width {width} by one that takes {:?}",
                next.config.input_shape
            )));
        }
        self.config.layers.extend(next.config.layers);
        self.layers.extend(next.layers);
        self.config.shapes()?;
        Ok(self)
    }

    /// Appends freshly initialised layers after the existing ones.
    pub fn push_layers(mut self, layers: &[LayerConfig], device: &Device) -> Result<Self> {
        let mut config = self.config.clone();
        config.layers.extend(layers.iter().cloned());
        let shapes = config.shapes()?;
        let start = self.layers.len();
        for (i, layer) in layers.iter().enumerate() {
            self.layers
                .push(init_layer(layer, shapes[start + i], device));
        }
        self.config = config;
        Ok(self)
    }

    /// Inserts a freshly initialised layer before layer `index` (`index == len()` appends).
    pub fn insert_layer(
        mut self,
        index: usize,
        layer: LayerConfig,
        device: &Device,
    ) -> Result<Self> {
        if index > self.layers.len() {
            return Err(CoreError::Model(format!(
                "cannot insert at {index} in a stack of {}",
                self.layers.len()
            )));
        }
        let mut config = self.config.clone();
        config.layers.insert(index, layer.clone());
        let shapes = config.shapes()?;
        self.layers
            .insert(index, init_layer(&layer, shapes[index], device));
        self.config = config;
        Ok(self)
    }

    /// Indices of the layers that hold parameters.
    pub fn param_layer_indices(&self) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&i| self.config.layers[i].has_params())
            .collect()
    }

    /// The parameter group of layer `index`.
    pub fn layer_group(&self, index: usize) -> ParamGroup {
        ParamGroup::ids_from_module(self.layers[index].clone())
    }
}

impl Encoder for Sequential {
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }

    fn feature_dim(&self) -> usize {
        self.output_dim()
    }

    fn input_shape(&self) -> Vec<usize> {
        self.config.input_shape.clone()
    }

    fn blocks(&self) -> Vec<ParamGroup> {
        self.param_layer_indices()
            .into_iter()
            .map(|i| self.layer_group(i))
            .collect()
    }
}

/// An encoder followed by a head: the model most strategies train.
#[derive(Module, Debug)]
pub struct Classifier<E> {
    /// Input to features.
    pub encoder: E,
    /// Features to class scores.
    pub head: Sequential,
}

/// A linear head (optionally with hidden layers) for `features` inputs and `classes` outputs.
pub fn head_config(features: usize, hidden: &[usize], classes: usize) -> SequentialConfig {
    let mut config = SequentialConfig::new(vec![features]);
    for &h in hidden {
        config = config.linear(h).relu();
    }
    config.linear(classes)
}

impl<E: Encoder> Classifier<E> {
    /// Joins an encoder and a head whose input width must equal the encoder's features.
    pub fn new(encoder: E, head: Sequential) -> Result<Self> {
        check_head(&encoder, &head)?;
        Ok(Self { encoder, head })
    }

    /// Class scores.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_size]`
    /// - returns `[batch, num_classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.forward(self.encoder.encode(x))
    }

    /// Number of classes the head predicts.
    pub fn num_classes(&self) -> usize {
        self.head.output_dim()
    }

    /// Swaps in a new head; its input width must equal the encoder's features.
    pub fn replace_head(self, head: Sequential) -> Result<Self> {
        Self::new(self.encoder, head)
    }

    /// The parameters of the encoder, as a group.
    pub fn encoder_group(&self) -> ParamGroup {
        ParamGroup::ids_from_module(self.encoder.clone())
    }

    /// The parameters of the head, as a group.
    pub fn head_group(&self) -> ParamGroup {
        ParamGroup::ids_from_module(self.head.clone())
    }

    /// Freezes the whole encoder (no gradients, batch-norm statistics and dropout fixed).
    pub fn freeze_encoder(self) -> Self {
        let group = self.encoder_group();
        self.freeze_group(group)
    }

    /// Freezes the first `k` blocks of the encoder; `k` larger than the number of blocks
    /// is an error.
    pub fn freeze_first_blocks(self, k: usize) -> Result<Self> {
        let blocks = self.encoder.blocks();
        if k > blocks.len() {
            return Err(CoreError::Model(format!(
                "cannot freeze {k} blocks: the encoder has {}",
                blocks.len()
            )));
        }
        Ok(blocks
            .into_iter()
            .take(k)
            .fold(self, |model, group| model.freeze_group(group)))
    }
}

fn check_head<E: Encoder>(encoder: &E, head: &Sequential) -> Result<()> {
    let features = encoder.feature_dim();
    if head.config().input_shape != [features] {
        return Err(CoreError::Model(format!(
            "head takes inputs of shape {:?} but the encoder gives {features} features",
            head.config().input_shape
        )));
    }
    Ok(())
}

/// Trainable and total parameter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCount {
    /// Parameters that receive gradients.
    pub trainable: usize,
    /// All parameters.
    pub total: usize,
}

/// Counts parameters, trainable and total.
///
/// "Trainable" is read from the tensors' gradient flags, so count a model that lives on an
/// autodiff device (`device.autodiff()`), where training happens; on a plain device nothing
/// tracks gradients and the trainable count is 0.
pub fn count_params<M: Module>(module: &M) -> ParamCount {
    struct Counter(ParamCount);
    impl ModuleVisitor for Counter {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.lazy_shape().num_elements();
            self.0.total += n;
            if param.val().is_require_grad() {
                self.0.trainable += n;
            }
        }
    }
    let mut counter = Counter(ParamCount {
        trainable: 0,
        total: 0,
    });
    module.visit(&mut counter);
    counter.0
}

/// A copy of `module` whose parameters have new ids, so that an optimiser (whose state is
/// keyed by parameter id) and gradients treat the copy and the original as different
/// parameters: ADDA's target encoder, initialised from the source encoder, is one. A plain
/// `clone()` shares ids. Every parameter of the copy is trainable.
pub fn independent_copy<M: Module>(module: &M) -> M {
    struct Fresh;
    impl burn::module::ModuleMapper for Fresh {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            burn::module::Param::from_tensor(param.val().detach())
        }
    }
    module.clone().map(&mut Fresh)
}

/// One step of an exponential moving average of weights (a mean teacher): every float
/// parameter of `teacher` becomes `alpha * teacher + (1 - alpha) * student`, matched in
/// visiting order. The student's values are detached; the teacher keeps its parameter ids and
/// gradient flags. Refuses an `alpha` outside [0, 1] and two modules whose parameters differ
/// in number or shape (not one architecture).
pub fn ema_update<M: Module>(teacher: M, student: &M, alpha: f64) -> Result<M> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(CoreError::config("alpha", format!("{alpha} not in [0, 1]")));
    }
    let (t, s) = (param_shapes(&teacher), param_shapes(student));
    if t != s {
        let first = t.iter().zip(&s).position(|(a, b)| a != b);
        return Err(CoreError::Model(match first {
            Some(i) => format!(
                "teacher and student differ at parameter {i}: {:?} vs {:?}",
                t[i], s[i]
            ),
            None => format!(
                "the teacher has {} parameters, the student {}",
                t.len(),
                s.len()
            ),
        }));
    }
    struct Blend {
        student: std::vec::IntoIter<Tensor<1>>,
        alpha: f64,
    }
    impl burn::module::ModuleMapper for Blend {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let s = self
                .student
                .next()
                .expect("ema_update checked that the shapes agree");
            let alpha = self.alpha;
            param.map(|t| {
                let shape = t.shape();
                let tracked = t.is_require_grad();
                let blended = t.detach() * alpha + s.detach().reshape(shape) * (1.0 - alpha);
                // A parameter that tracked gradients still does (the blend itself is a
                // detached value).
                blended.detach().set_require_grad(tracked)
            })
        }
    }
    Ok(teacher.map(&mut Blend {
        student: flat_params(student).into_iter(),
        alpha,
    }))
}

/// The shape of every float parameter of a module, in visiting order.
pub fn param_shapes<M: Module>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.lazy_shape().to_vec());
        }
    }
    let mut shapes = Shapes(Vec::new());
    module.visit(&mut shapes);
    shapes.0
}

/// Every float parameter of a module, flattened, in visiting order (gradients still flow
/// through them: L2-SP's distance from the pretrained weights is built from these).
pub fn flat_params<M: Module>(module: &M) -> Vec<Tensor<1>> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_inferred_and_bad_stacks_refused() {
        let cnn = SequentialConfig::new(vec![1, 8, 8])
            .conv(4, 3, 1)
            .relu()
            .max_pool(2)
            .linear(10);
        assert_eq!(cnn.output_dim().unwrap(), 10);
        let features = SequentialConfig::new(vec![1, 8, 8])
            .conv(4, 3, 1)
            .max_pool(2);
        assert_eq!(features.output_dim().unwrap(), 4 * 4 * 4);
        let err = SequentialConfig::new(vec![16])
            .conv(4, 3, 1)
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("needs image activations"), "{err}");
        let err = SequentialConfig::new(vec![1, 2, 2])
            .conv(4, 3, 0)
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("kernel larger"), "{err}");
        assert!(SequentialConfig::new(vec![2, 3]).output_dim().is_err());
    }

    #[test]
    fn a_decoder_unflattens_and_upsamples_and_bad_shapes_are_refused() {
        let decoder = SequentialConfig::new(vec![6])
            .linear(64)
            .relu()
            .unflatten(16, 2, 2)
            .conv_transpose(8, 2)
            .relu()
            .conv_transpose(3, 2);
        assert_eq!(
            decoder.activation_shapes().unwrap(),
            vec![
                vec![64],
                vec![64],
                vec![16, 2, 2],
                vec![8, 4, 4],
                vec![8, 4, 4],
                vec![3, 8, 8]
            ]
        );
        assert_eq!(decoder.output_dim().unwrap(), 3 * 8 * 8);
        let err = SequentialConfig::new(vec![6])
            .unflatten(2, 2, 2)
            .output_dim()
            .unwrap_err();
        assert!(
            err.to_string().contains("does not hold the 6 values"),
            "{err}"
        );
        let err = SequentialConfig::new(vec![6])
            .conv_transpose(2, 2)
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("needs image activations"), "{err}");
        let err = SequentialConfig::new(vec![1, 1, 1])
            .with_layers(vec![LayerConfig::ConvTranspose2d {
                out_channels: 1,
                kernel: 2,
                stride: 1,
                padding: 1,
            }])
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("leaves nothing"), "{err}");
        // Trainable, so freezing and per-layer rates see it as a block.
        assert_eq!(
            SequentialConfig::new(vec![1, 2, 2])
                .conv_transpose(2, 2)
                .layers
                .iter()
                .filter(|l| l.has_params())
                .count(),
            1
        );
    }

    #[cfg(feature = "flex")]
    #[test]
    fn a_transposed_convolution_spreads_one_pixel_over_its_kernel() {
        let _seeded = crate::device::seed_lock();
        // One 1x1 input pixel through kernel 4, stride 2, padding 1: a 2x2 output, the
        // kernel's centre times the pixel, plus the bias.
        let dev = crate::device::device("flex").unwrap();
        let net = SequentialConfig::new(vec![1, 1, 1])
            .conv_transpose(1, 2)
            .init(&dev)
            .unwrap();
        let Layer::ConvTranspose2d(c) = &net.layers()[0] else {
            panic!("not a transposed convolution")
        };
        let w: Vec<f32> = c.weight.val().into_data().iter::<f32>().collect();
        let b: f32 = c
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .iter::<f32>()
            .next()
            .unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![2.0f32], [1, 1]), &dev);
        let y: Vec<f32> = net.forward(x).into_data().iter::<f32>().collect();
        let want = [w[5], w[6], w[9], w[10]].map(|k| 2.0 * k + b);
        for (got, want) in y.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{y:?} against {want:?}");
        }
        assert_eq!(y.len(), 4);
    }

    #[test]
    fn group_log_sum_exp_has_one_output_per_group_and_refuses_gaps() {
        let pooled = SequentialConfig::new(vec![5]).group_log_sum_exp(vec![0, 2, 1, 2, 0]);
        assert_eq!(pooled.output_dim().unwrap(), 3);
        let err = SequentialConfig::new(vec![3])
            .group_log_sum_exp(vec![0, 2, 2])
            .output_dim()
            .unwrap_err();
        assert!(
            err.to_string().contains("group 1 of 0..3 has no input"),
            "{err}"
        );
        let err = SequentialConfig::new(vec![4])
            .group_log_sum_exp(vec![0, 1])
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("2 groups for 4 inputs"), "{err}");
        // From an edited card: a group number past the inputs, not an overflow.
        let err = SequentialConfig::new(vec![2])
            .group_log_sum_exp(vec![0, usize::MAX])
            .output_dim()
            .unwrap_err();
        assert!(
            err.to_string().contains("some group would have none"),
            "{err}"
        );
    }

    #[test]
    fn sizes_past_usize_are_refused_not_wrapped() {
        let huge = 1usize << 33;
        let err = SequentialConfig::new(vec![huge, huge, 1])
            .linear(2)
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("expected [features]"), "{err}");
        let mut config = SequentialConfig::new(vec![1, 8, 8]);
        config.layers.push(LayerConfig::ConvTranspose2d {
            out_channels: 1,
            kernel: 4,
            stride: usize::MAX,
            padding: 0,
        });
        assert!(config.output_dim().is_err());
        let err = SequentialConfig::new(vec![1, 8, 8])
            .conv_strided(1, 4, 2, usize::MAX)
            .output_dim()
            .unwrap_err();
        assert!(err.to_string().contains("layer 0"), "{err}");
        // The strided convolution halves 64 to 32 (disentanglement_lib's encoder stage).
        let halved = SequentialConfig::new(vec![1, 64, 64]).conv_strided(32, 4, 2, 1);
        assert_eq!(halved.output_dim().unwrap(), 32 * 32 * 32);
    }
}
