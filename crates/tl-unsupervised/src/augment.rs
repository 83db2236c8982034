//! Seeded random views of images for contrastive learning: a random resized crop, a small
//! rotation and pixel noise, drawn per image and applied in one bilinear warp; for colour
//! images optionally SimCLR's colour jitter (brightness, contrast, saturation; no hue, which
//! can name a symbol) and a Gaussian blur.

use crate::autoencoder::normal;
use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_core::data::{Batch, Inputs, LabelledSet};
use tl_core::train::{BatchSource, LabelledBatches, StepAt};
use tl_core::{CoreError, Result};

/// How two views of an image differ (SimCLR's augmentations for grey digits and strokes:
/// no colour jitter, no flips, which change a digit's identity).
#[derive(Config, Debug, PartialEq)]
pub struct ViewAugment {
    /// Smallest area of the crop, as a fraction of the image (SimCLR: 0.08 for ImageNet;
    /// digits need most of their strokes).
    #[config(default = 0.5)]
    pub min_area: f32,
    /// Largest aspect-ratio change of the crop (log-uniform in `[1/r, r]`).
    #[config(default = 1.33)]
    pub max_aspect: f32,
    /// Rotation drawn uniformly in `[-max_degrees, max_degrees]`.
    #[config(default = 15.0)]
    pub max_degrees: f32,
    /// Standard deviation of additive Gaussian pixel noise (results clamped to [0, 1]).
    #[config(default = 0.1)]
    pub noise_std: f32,
    /// The value of pixels the warp brings in from outside the image (0: black, as digits'
    /// background; 1: white, as drawings on paper).
    #[config(default = 0.0)]
    pub fill: f32,
    /// Brightness jitter: every pixel times a factor drawn in `[1 - b, 1 + b]` (0: none).
    #[config(default = 0.0)]
    pub brightness: f32,
    /// Contrast jitter: pixels pulled toward or pushed from the image's mean by a factor drawn
    /// in `[1 - c, 1 + c]` (0: none).
    #[config(default = 0.0)]
    pub contrast: f32,
    /// Saturation jitter (3-channel items): each pixel's colour pulled toward or pushed from
    /// its grey (luma) by a factor drawn in `[1 - s, 1 + s]` (0: none).
    #[config(default = 0.0)]
    pub saturation: f32,
    /// Gaussian blur with a standard deviation (pixels) drawn in `[0, blur_sigma]`, on half
    /// of the views (SimCLR's probability; 0: none).
    #[config(default = 0.0)]
    pub blur_sigma: f32,
}

impl ViewAugment {
    /// Refuses bad fields.
    pub fn validate(&self) -> Result<()> {
        if !(self.min_area > 0.0 && self.min_area <= 1.0) {
            return Err(CoreError::config(
                "augment.min_area",
                format!("{} not in (0, 1]", self.min_area),
            ));
        }
        if !(self.max_aspect >= 1.0 && self.max_aspect.is_finite()) {
            return Err(CoreError::config(
                "augment.max_aspect",
                format!("{} must be >= 1", self.max_aspect),
            ));
        }
        if !(self.max_degrees >= 0.0 && self.max_degrees <= 180.0) {
            return Err(CoreError::config(
                "augment.max_degrees",
                format!("{} not in [0, 180]", self.max_degrees),
            ));
        }
        if !(self.noise_std >= 0.0 && self.noise_std.is_finite()) {
            return Err(CoreError::config(
                "augment.noise_std",
                format!("{} must be >= 0", self.noise_std),
            ));
        }
        for (name, v, max) in [
            ("augment.brightness", self.brightness, 1.0),
            ("augment.contrast", self.contrast, 1.0),
            ("augment.saturation", self.saturation, 1.0),
            ("augment.blur_sigma", self.blur_sigma, 16.0),
        ] {
            if !(v >= 0.0 && v <= max) {
                return Err(CoreError::config(name, format!("{v} not in [0, {max}]")));
            }
        }
        if !self.fill.is_finite() {
            return Err(CoreError::config(
                "augment.fill",
                format!("{} is not a pixel value", self.fill),
            ));
        }
        Ok(())
    }

    /// A training step's views of the items at `indices`, as a `[n, item_size]` tensor on
    /// `device`: drawn from the run's `seed` and the step (`global`, over the whole run), so
    /// that a run's batch sources draw the same views for the same step. For sources that
    /// checked the settings, the item shape and the indices when they were built: were the
    /// views to fail all the same, the plain items are given.
    pub fn step_views(
        &self,
        inputs: &Inputs,
        indices: &[usize],
        seed: u64,
        global: usize,
        device: &Device,
    ) -> Tensor<2> {
        let seed = seed.wrapping_mul(0x9E37_79B9).wrapping_add(global as u64);
        match self.views(inputs, indices, seed) {
            Ok(v) => Tensor::from_data(
                TensorData::new(v, [indices.len(), inputs.item_size()]),
                device,
            ),
            Err(_) => inputs.tensor(indices, device),
        }
    }

    /// One random view of each item at `indices` (items `[c, h, w]`), row after row; the same
    /// seed gives the same views.
    pub fn views(&self, inputs: &Inputs, indices: &[usize], seed: u64) -> Result<Vec<f32>> {
        self.validate()?;
        if let Some(&i) = indices.iter().find(|&&i| i >= inputs.len()) {
            return Err(CoreError::config(
                "indices",
                format!("item {i} asked for, the inputs have {}", inputs.len()),
            ));
        }
        let [c, h, w]: [usize; 3] = inputs.item_shape.as_slice().try_into().map_err(|_| {
            CoreError::config(
                "augment",
                format!(
                    "random views need image items [c, h, w], not {:?}",
                    inputs.item_shape
                ),
            )
        })?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(indices.len() * c * h * w);
        for &i in indices {
            let item = inputs.item(i);
            out.extend(self.view(item, [c, h, w], &mut rng));
        }
        Ok(out)
    }

    /// One view of one image.
    fn view(&self, x: &[f32], [c, h, w]: [usize; 3], rng: &mut StdRng) -> Vec<f32> {
        // The crop: area fraction and aspect ratio, as side fractions of the image.
        let area = rng.random_range(self.min_area..=1.0);
        let log_r = self.max_aspect.ln();
        let aspect = if log_r > 0.0 {
            rng.random_range(-log_r..=log_r).exp()
        } else {
            1.0
        };
        let sx = (area * aspect).sqrt().min(1.0);
        let sy = (area / aspect).sqrt().min(1.0);
        // Where the crop sits: anywhere inside the image.
        let cx = rng.random_range(-(1.0 - sx)..=(1.0 - sx)) * w as f32 / 2.0;
        let cy = rng.random_range(-(1.0 - sy)..=(1.0 - sy)) * h as f32 / 2.0;
        let angle = if self.max_degrees > 0.0 {
            rng.random_range(-self.max_degrees..=self.max_degrees)
                .to_radians()
        } else {
            0.0
        };
        let (sin, cos) = angle.sin_cos();
        let (hc, wc) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let mut out = vec![0.0; c * h * w];
        for y in 0..h {
            for xo in 0..w {
                // Output pixel -> crop coordinates -> rotated -> source pixel.
                let u = (xo as f32 - wc) * sx;
                let v = (y as f32 - hc) * sy;
                let src_x = cos * u - sin * v + wc + cx;
                let src_y = sin * u + cos * v + hc + cy;
                for ch in 0..c {
                    out[ch * h * w + y * w + xo] = bilinear(
                        &x[ch * h * w..(ch + 1) * h * w],
                        h,
                        w,
                        src_y,
                        src_x,
                        self.fill,
                    );
                }
            }
        }
        self.jitter(&mut out, [c, h, w], rng);
        if self.noise_std > 0.0 {
            for v in &mut out {
                *v = (*v + self.noise_std * normal(rng)).clamp(0.0, 1.0);
            }
        }
        out
    }

    /// Colour jitter and blur, in place (no random draw for what is off, so views without
    /// them are the same as before they existed).
    fn jitter(&self, out: &mut [f32], [c, h, w]: [usize; 3], rng: &mut StdRng) {
        let mut factor = |strength: f32| rng.random_range(1.0 - strength..=1.0 + strength);
        if self.brightness > 0.0 {
            let f = factor(self.brightness);
            out.iter_mut().for_each(|v| *v = (*v * f).clamp(0.0, 1.0));
        }
        if self.contrast > 0.0 {
            let f = factor(self.contrast);
            let mean = out.iter().sum::<f32>() / out.len() as f32;
            out.iter_mut()
                .for_each(|v| *v = (mean + (*v - mean) * f).clamp(0.0, 1.0));
        }
        if self.saturation > 0.0 && c == 3 {
            let f = factor(self.saturation);
            let plane = h * w;
            for p in 0..plane {
                let grey = 0.299 * out[p] + 0.587 * out[plane + p] + 0.114 * out[2 * plane + p];
                for ch in 0..3 {
                    let v = &mut out[ch * plane + p];
                    *v = (grey + (*v - grey) * f).clamp(0.0, 1.0);
                }
            }
        }
        if self.blur_sigma > 0.0 && rng.random_bool(0.5) {
            let sigma = rng.random_range(0.0..=self.blur_sigma);
            if sigma > 0.05 {
                for ch in 0..c {
                    gaussian_blur(&mut out[ch * h * w..(ch + 1) * h * w], h, w, sigma);
                }
            }
        }
    }
}

/// Labelled batches whose images are random views: every item once per epoch (shuffled by the
/// seed), each step's views drawn from the seed and the step, the labels the items'. Supervised
/// training with augmentation on the one training loop (`Trainer::train` with
/// `CrossEntropy`, or any objective on [`Batch`]): a classifier of few drawings per class.
#[derive(Debug, Clone)]
pub struct AugmentedBatches<'s> {
    batches: LabelledBatches<'s>,
    augment: ViewAugment,
    seed: u64,
}

impl<'s> AugmentedBatches<'s> {
    /// Batches of `batch_size` random views of `set`'s images, shuffled and drawn by `seed`.
    /// Refuses bad augment settings and items that are not images `[c, h, w]`.
    pub fn new(
        set: &'s LabelledSet,
        augment: ViewAugment,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        // Checks the settings and the item shape (no items drawn).
        augment.views(&set.inputs, &[], 0)?;
        Ok(Self {
            batches: LabelledBatches::new(set, batch_size, seed),
            augment,
            seed,
        })
    }
}

/// The labelled batches' order and checks; each batch's images replaced by views.
impl BatchSource for AugmentedBatches<'_> {
    type Batch = Batch;

    fn steps_per_epoch(&self) -> usize {
        self.batches.steps_per_epoch()
    }

    fn check(&self, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<()> {
        self.batches.check(input_shape, classes)
    }

    fn start_epoch(&mut self) {
        self.batches.start_epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> Batch {
        let (set, idx) = (self.batches.set(), self.batches.indices(at.step));
        let views = self
            .augment
            .step_views(&set.inputs, idx, self.seed, at.global, device);
        set.batch_of(idx, views, device)
    }

    /// The views depend on the step alone: moving past an epoch draws its order only.
    fn skip_epoch(&mut self, epoch: usize, total: usize, device: &Device) {
        self.batches.skip_epoch(epoch, total, device);
    }
}

/// A separable Gaussian blur of a `h x w` plane, in place; edges repeat the border pixel.
fn gaussian_blur(plane: &mut [f32], h: usize, w: usize, sigma: f32) {
    let radius = (2.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-((d * d) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let pass = |src: &[f32], step: (usize, usize), len: usize, lines: usize| -> Vec<f32> {
        // step = (stride along the line, stride between lines)
        let mut dst = vec![0.0; src.len()];
        for line in 0..lines {
            for i in 0..len {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let j = (i as isize + k as isize - radius).clamp(0, len as isize - 1) as usize;
                    acc += weight * src[line * step.1 + j * step.0];
                }
                dst[line * step.1 + i * step.0] = acc;
            }
        }
        dst
    };
    let rows = pass(plane, (1, w), w, h);
    let cols = pass(&rows, (w, 1), h, w);
    plane.copy_from_slice(&cols);
}

/// Bilinear sample of a `h x w` plane at (y, x); `fill` outside.
fn bilinear(plane: &[f32], h: usize, w: usize, y: f32, x: f32, fill: f32) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |yy: f32, xx: f32| -> f32 {
        if yy < 0.0 || xx < 0.0 || yy >= h as f32 || xx >= w as f32 {
            fill
        } else {
            plane[yy as usize * w + xx as usize]
        }
    };
    (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1.0))
        + fy * ((1.0 - fx) * at(y0 + 1.0, x0) + fx * at(y0 + 1.0, x0 + 1.0))
}
