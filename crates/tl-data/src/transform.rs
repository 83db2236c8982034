//! Image transforms on `[channels, height, width]` items, and seeded augmentation.
//!
//! Per-item functions take and return flat values with an explicit shape; the set-level
//! helpers apply them to every item of a [`LabelledSet`] or [`Inputs`].

use crate::error::{DataError, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use tl_core::data::{Inputs, LabelledSet};

/// An image shape: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chw {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Chw {
    /// A shape.
    pub fn new(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }

    /// Reads `[c, h, w]`.
    pub fn of(shape: &[usize]) -> Result<Self> {
        match *shape {
            [c, h, w]
                if c.checked_mul(h)
                    .and_then(|n| n.checked_mul(w))
                    .is_some_and(|n| n > 0) =>
            {
                Ok(Self { c, h, w })
            }
            _ => Err(DataError::Request(format!(
                "item shape {shape:?} is not an image [channels, height, width]"
            ))),
        }
    }

    /// Values per item.
    pub fn size(self) -> usize {
        self.c * self.h * self.w
    }

    /// As an item shape.
    pub fn to_vec(self) -> Vec<usize> {
        vec![self.c, self.h, self.w]
    }
}

/// Bilinear resize (half-pixel centres, as PyTorch's `align_corners=False`).
pub fn resize_bilinear(x: &[f32], s: Chw, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; s.c * h * w];
    let sy = s.h as f32 / h as f32;
    let sx = s.w as f32 / w as f32;
    for c in 0..s.c {
        let src = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
        for oy in 0..h {
            let fy = ((oy as f32 + 0.5) * sy - 0.5).clamp(0.0, (s.h - 1) as f32);
            let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(s.h - 1);
            for ox in 0..w {
                let fx = ((ox as f32 + 0.5) * sx - 0.5).clamp(0.0, (s.w - 1) as f32);
                let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(s.w - 1);
                let top = src[y0 * s.w + x0] * (1.0 - tx) + src[y0 * s.w + x1] * tx;
                let bottom = src[y1 * s.w + x0] * (1.0 - tx) + src[y1 * s.w + x1] * tx;
                out[c * h * w + oy * w + ox] = top * (1.0 - ty) + bottom * ty;
            }
        }
    }
    out
}

/// Nearest-neighbour resize with half-pixel centres (PIL's `NEAREST`, PyTorch's
/// `nearest-exact`): source index `floor((i + 0.5) * in / out)`.
pub fn resize_nearest(x: &[f32], s: Chw, h: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(s.c * h * w);
    for c in 0..s.c {
        for oy in 0..h {
            let y = ((2 * oy + 1) * s.h / (2 * h)).min(s.h - 1);
            for ox in 0..w {
                let x_ = ((2 * ox + 1) * s.w / (2 * w)).min(s.w - 1);
                out.push(x[c * s.h * s.w + y * s.w + x_]);
            }
        }
    }
    out
}

/// Pads every side by `pad` pixels of `value`.
pub fn pad(x: &[f32], s: Chw, pad: usize, value: f32) -> Vec<f32> {
    let (h, w) = (s.h + 2 * pad, s.w + 2 * pad);
    let mut out = vec![value; s.c * h * w];
    for c in 0..s.c {
        for y in 0..s.h {
            let src = &x[c * s.h * s.w + y * s.w..c * s.h * s.w + (y + 1) * s.w];
            let dst = c * h * w + (y + pad) * w + pad;
            out[dst..dst + s.w].copy_from_slice(src);
        }
    }
    out
}

/// Crops an `h` x `w` window whose top-left corner is (`top`, `left`); refuses a window that
/// leaves the image or values that are not one `s`-shaped image.
pub fn crop(x: &[f32], s: Chw, top: usize, left: usize, h: usize, w: usize) -> Result<Vec<f32>> {
    check_image(x, s, "crop")?;
    if top.checked_add(h).is_none_or(|bottom| bottom > s.h)
        || left.checked_add(w).is_none_or(|right| right > s.w)
    {
        return Err(DataError::Request(format!(
            "crop: a {h}x{w} window at ({top}, {left}) leaves the {}x{} image",
            s.h, s.w
        )));
    }
    let mut out = Vec::with_capacity(s.c * h * w);
    for c in 0..s.c {
        for y in top..top + h {
            let row = c * s.h * s.w + y * s.w;
            out.extend_from_slice(&x[row + left..row + left + w]);
        }
    }
    Ok(out)
}

/// Crops the centre `h` x `w` window; refuses one larger than the image.
pub fn centre_crop(x: &[f32], s: Chw, h: usize, w: usize) -> Result<Vec<f32>> {
    if h > s.h || w > s.w {
        return Err(DataError::Request(format!(
            "centre crop: {h}x{w} is larger than the {}x{} image",
            s.h, s.w
        )));
    }
    crop(x, s, (s.h - h) / 2, (s.w - w) / 2, h, w)
}

/// `(x - mean[c]) / std[c]` per channel (a shorter `mean` or `std` repeats, so one value
/// serves every channel); refuses empty or non-finite statistics and a zero `std`.
pub fn normalise(x: &mut [f32], s: Chw, mean: &[f32], std: &[f32]) -> Result<()> {
    check_image(x, s, "normalise")?;
    if mean.is_empty()
        || std.is_empty()
        || !mean.iter().chain(std).all(|v| v.is_finite())
        || std.contains(&0.0)
    {
        return Err(DataError::Request(format!(
            "normalise: mean {mean:?} and std {std:?} must be non-empty and finite, std non-zero"
        )));
    }
    for c in 0..s.c {
        let (m, d) = (mean[c % mean.len()], std[c % std.len()]);
        for v in &mut x[c * s.h * s.w..(c + 1) * s.h * s.w] {
            *v = (*v - m) / d;
        }
    }
    Ok(())
}

/// Refuses values that are not one image of shape `s`.
fn check_image(x: &[f32], s: Chw, what: &str) -> Result<()> {
    if x.len() != s.size() {
        return Err(DataError::Request(format!(
            "{what}: {} values are not one image of shape {:?}",
            x.len(),
            s.to_vec()
        )));
    }
    Ok(())
}

/// One grey channel repeated three times.
pub fn grey_to_rgb(x: &[f32], s: Chw) -> Vec<f32> {
    let plane = s.h * s.w;
    let mut out = Vec::with_capacity(3 * plane);
    for _ in 0..3 {
        out.extend_from_slice(&x[..plane]);
    }
    out
}

/// Luma of RGB (ITU-R 601 weights, as PIL's `convert("L")`); refuses other than 3 channels.
pub fn rgb_to_grey(x: &[f32], s: Chw) -> Result<Vec<f32>> {
    check_image(x, s, "rgb_to_grey")?;
    if s.c != 3 {
        return Err(DataError::Request(format!(
            "rgb_to_grey: needs 3 channels, got {}",
            s.c
        )));
    }
    let plane = s.h * s.w;
    Ok((0..plane)
        .map(|i| 0.299 * x[i] + 0.587 * x[plane + i] + 0.114 * x[2 * plane + i])
        .collect())
}

/// Rotates by `k` quarter turns counter-clockwise, exactly (no interpolation); an odd `k`
/// swaps height and width. Returns the image and its new shape; refuses values that are not
/// one `s`-shaped image.
pub fn rot90(x: &[f32], s: Chw, k: usize) -> Result<(Vec<f32>, Chw)> {
    check_image(x, s, "rot90")?;
    let (mut cur, mut shape) = (x.to_vec(), s);
    for _ in 0..k % 4 {
        let (h, w) = (shape.h, shape.w);
        let mut out = Vec::with_capacity(cur.len());
        for c in 0..shape.c {
            let plane = &cur[c * h * w..(c + 1) * h * w];
            // Output row i, column j takes input row j, column w - 1 - i.
            for i in 0..w {
                out.extend((0..h).map(|j| plane[j * w + (w - 1 - i)]));
            }
        }
        cur = out;
        shape = Chw::new(shape.c, w, h);
    }
    Ok((cur, shape))
}

/// Mirrors left to right; refuses values that are not one `s`-shaped image.
pub fn flip_horizontal(x: &[f32], s: Chw) -> Result<Vec<f32>> {
    check_image(x, s, "flip_horizontal")?;
    if s.w == 0 {
        return Ok(Vec::new());
    }
    Ok(x.chunks(s.w)
        .flat_map(|row| row.iter().rev().copied())
        .collect())
}

/// Self-supervised label augmentation (Lee, Hwang and Shin 2020): every image of `set` in
/// each of its 4 quarter-turn orientations (8 with `flips`: each also mirrored), labelled
/// `class * orientations + orientation`, so a model trained on it must tell both the class
/// and the orientation, a richer pretraining task than the class alone. Images must be
/// square.
pub fn orientation_labels(set: &LabelledSet, flips: bool) -> Result<LabelledSet> {
    set.validate()?;
    let s = Chw::of(&set.inputs.item_shape)?;
    if s.h != s.w {
        return Err(DataError::Request(format!(
            "orientation labels need square images, got {}x{}",
            s.h, s.w
        )));
    }
    let count = if flips { 8 } else { 4 };
    let mut values = Vec::with_capacity(set.inputs.values.len() * count);
    let mut labels = Vec::with_capacity(set.len() * count);
    for (i, &label) in set.labels.iter().enumerate() {
        for t in 0..count {
            let (turned, _) = rot90(set.inputs.item(i), s, t % 4)?;
            values.extend(if t >= 4 {
                flip_horizontal(&turned, s)?
            } else {
                turned
            });
            labels.push(label * count + t);
        }
    }
    let class_names = set
        .class_names
        .iter()
        .flat_map(|name| {
            (0..count).map(move |t| {
                let mirrored = if t >= 4 { " mirrored" } else { "" };
                format!("{name} rot{}{mirrored}", 90 * (t % 4))
            })
        })
        .collect();
    Ok(LabelledSet::new(
        Inputs::new(set.inputs.item_shape.clone(), values)?,
        labels,
        class_names,
        set.domain.clone(),
    )?)
}

/// Rotates by `degrees` (counter-clockwise) about the centre, bilinear, `fill` outside.
pub fn rotate(x: &[f32], s: Chw, degrees: f32, fill: f32) -> Vec<f32> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    warp_affine(x, s, [cos, -sin, sin, cos], [0.0, 0.0], fill)
}

/// A general affine warp about the centre, bilinear, `fill` outside: the output pixel at
/// offset `d = (dx, dy)` from the centre takes the input at `centre + m d + shift`, with
/// `m = [m_xx, m_xy, m_yx, m_yy]` (row-major, x first) and `shift = [x, y]` in pixels.
pub fn warp_affine(x: &[f32], s: Chw, m: [f32; 4], shift: [f32; 2], fill: f32) -> Vec<f32> {
    let (cy, cx) = ((s.h as f32 - 1.0) / 2.0, (s.w as f32 - 1.0) / 2.0);
    let mut out = vec![fill; s.size()];
    let at = |c: usize, y: isize, x_: isize| -> f32 {
        if y < 0 || x_ < 0 || y >= s.h as isize || x_ >= s.w as isize {
            fill
        } else {
            x[c * s.h * s.w + y as usize * s.w + x_ as usize]
        }
    };
    for c in 0..s.c {
        for oy in 0..s.h {
            for ox in 0..s.w {
                let (dy, dx) = (oy as f32 - cy, ox as f32 - cx);
                // inverse map: where does this output pixel come from?
                let sx = m[0] * dx + m[1] * dy + cx + shift[0];
                let sy = m[2] * dx + m[3] * dy + cy + shift[1];
                let (x0, y0) = (sx.floor(), sy.floor());
                let (tx, ty) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let v = at(c, y0, x0) * (1.0 - tx) * (1.0 - ty)
                    + at(c, y0, x0 + 1) * tx * (1.0 - ty)
                    + at(c, y0 + 1, x0) * (1.0 - tx) * ty
                    + at(c, y0 + 1, x0 + 1) * tx * ty;
                out[c * s.h * s.w + oy * s.w + ox] = v;
            }
        }
    }
    out
}

/// A standard normal sample (`rand_distr::StandardNormal`, the ziggurat method).
pub fn standard_normal(rng: &mut StdRng) -> f32 {
    rng.sample(StandardNormal)
}

/// Seeded random affine augmentation, as in self-ensembling for domain adaptation (French et
/// al. 2018): the identity plus Gaussian noise of `affine_std` on the 2x2 matrix, a uniform
/// translation in `[-translate, translate]` pixels on each axis, then Gaussian pixel noise of
/// `noise_std`, clamped to [0, 1]. Zero outside the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomAffine {
    /// Standard deviation of the noise added to the identity matrix.
    pub affine_std: f32,
    /// Largest translation, pixels.
    pub translate: f32,
    /// Standard deviation of the additive pixel noise.
    pub noise_std: f32,
}

impl Default for RandomAffine {
    /// French et al.'s digits settings: 0.1, 2 pixels, 0.1.
    fn default() -> Self {
        Self {
            affine_std: 0.1,
            translate: 2.0,
            noise_std: 0.1,
        }
    }
}

impl RandomAffine {
    /// Refuses negative or non-finite fields, and sizes past which nothing of the image is
    /// left: `affine_std` and `noise_std` above 1 (pixels are in [0, 1]), `translate` above
    /// 1000 pixels.
    pub fn validate(&self) -> Result<()> {
        for (name, v, most) in [
            ("affine_std", self.affine_std, 1.0),
            ("translate", self.translate, 1000.0),
            ("noise_std", self.noise_std, 1.0),
        ] {
            if !(v.is_finite() && (0.0..=most).contains(&v)) {
                return Err(DataError::Request(format!(
                    "random affine: {name} must be in [0, {most}], got {v}"
                )));
            }
        }
        Ok(())
    }

    /// One augmented copy of each item of `values` (items of shape `s`, row after row); the
    /// same seed gives the same copies.
    pub fn apply_rows(&self, values: &[f32], s: Chw, seed: u64) -> Result<Vec<f32>> {
        self.validate()?;
        let size = s.size();
        if size == 0 || !values.len().is_multiple_of(size) {
            return Err(DataError::Request(format!(
                "random affine: {} values do not split into items of {:?}",
                values.len(),
                s.to_vec()
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(values.len());
        for item in values.chunks(size) {
            let mut m = [1.0, 0.0, 0.0, 1.0];
            if self.affine_std > 0.0 {
                for v in &mut m {
                    *v += self.affine_std * standard_normal(&mut rng);
                }
            }
            let mut shift = [0.0, 0.0];
            if self.translate > 0.0 {
                for v in &mut shift {
                    *v = rng.random_range(-self.translate..=self.translate);
                }
            }
            let mut warped = warp_affine(item, s, m, shift, 0.0);
            if self.noise_std > 0.0 {
                for v in &mut warped {
                    *v = (*v + self.noise_std * standard_normal(&mut rng)).clamp(0.0, 1.0);
                }
            }
            out.extend(warped);
        }
        Ok(out)
    }
}

/// Applies `f` to every item of `inputs`, whose items must be images; `f` returns the new
/// item and all new items must share `new_shape`.
pub fn map_images(
    inputs: &Inputs,
    new_shape: Chw,
    mut f: impl FnMut(usize, &[f32], Chw) -> Vec<f32>,
) -> Result<Inputs> {
    let s = Chw::of(&inputs.item_shape)?;
    let mut values = Vec::with_capacity(inputs.len() * new_shape.size());
    for i in 0..inputs.len() {
        let item = f(i, inputs.item(i), s);
        if item.len() != new_shape.size() {
            return Err(DataError::Request(format!(
                "item {i}: the transform gave {} values, and a {}x{}x{} image has {}",
                item.len(),
                new_shape.c,
                new_shape.h,
                new_shape.w,
                new_shape.size()
            )));
        }
        values.extend(item);
    }
    Ok(Inputs::new(new_shape.to_vec(), values)?)
}

/// Refuses a requested image side of 0 or above [`crate::images::MAX_IMAGE_SIDE`] (which
/// would allocate without bound), naming `what`.
pub fn check_side(side: usize, what: &str) -> Result<()> {
    let most = crate::images::MAX_IMAGE_SIDE as usize;
    if side == 0 || side > most {
        return Err(DataError::Request(format!(
            "{what}: a side of {side} px is outside 1..={most}"
        )));
    }
    Ok(())
}

/// Resizes every image of a set (bilinear).
pub fn resize_set(set: &LabelledSet, h: usize, w: usize) -> Result<LabelledSet> {
    check_side(h, "resize height")?;
    check_side(w, "resize width")?;
    let s = Chw::of(&set.inputs.item_shape)?;
    let inputs = map_images(&set.inputs, Chw::new(s.c, h, w), |_, x, s| {
        resize_bilinear(x, s, h, w)
    })?;
    Ok(LabelledSet {
        inputs,
        ..set.clone()
    })
}

/// Resizes every image of a set (nearest neighbour).
pub fn resize_set_nearest(set: &LabelledSet, h: usize, w: usize) -> Result<LabelledSet> {
    check_side(h, "resize height")?;
    check_side(w, "resize width")?;
    let s = Chw::of(&set.inputs.item_shape)?;
    let inputs = map_images(&set.inputs, Chw::new(s.c, h, w), |_, x, s| {
        resize_nearest(x, s, h, w)
    })?;
    Ok(LabelledSet {
        inputs,
        ..set.clone()
    })
}

/// The centre `side` x `side` pixels of every image of a set (MNIST's digits sit in its
/// centre 20 px); a side larger than the images is refused.
pub fn centre_crop_set(set: &LabelledSet, side: usize) -> Result<LabelledSet> {
    check_side(side, "crop side")?;
    let s = Chw::of(&set.inputs.item_shape)?;
    if side > s.h || side > s.w {
        return Err(DataError::Request(format!(
            "crop = {side}: the images are {}x{} px",
            s.h, s.w
        )));
    }
    let mut values = Vec::with_capacity(set.len() * s.c * side * side);
    for i in 0..set.len() {
        values.extend(centre_crop(set.inputs.item(i), s, side, side)?);
    }
    Ok(LabelledSet {
        inputs: Inputs::new(vec![s.c, side, side], values)?,
        ..set.clone()
    })
}

/// MNIST-style framing: resize to `inner` x `inner`, then pad to `outer` x `outer` with 0
/// (e.g. USPS 16 -> 20, padded to 28, as MNIST digits sit in a 20x20 box of a 28x28 field).
pub fn frame_set(set: &LabelledSet, inner: usize, outer: usize) -> Result<LabelledSet> {
    check_side(inner, "frame inner side")?;
    check_side(outer, "frame outer side")?;
    if outer < inner || !(outer - inner).is_multiple_of(2) {
        return Err(DataError::Request(format!(
            "cannot frame {inner} px inside {outer} px: the margin must be even and >= 0"
        )));
    }
    let s = Chw::of(&set.inputs.item_shape)?;
    let p = (outer - inner) / 2;
    let inputs = map_images(&set.inputs, Chw::new(s.c, outer, outer), |_, x, s| {
        let resized = resize_bilinear(x, s, inner, inner);
        pad(&resized, Chw::new(s.c, inner, inner), p, 0.0)
    })?;
    Ok(LabelledSet {
        inputs,
        ..set.clone()
    })
}

/// Seeded train-time augmentation: random crop after padding, small rotation, noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Pad by this many pixels, then crop back to the original size at a random offset.
    pub crop_pad: usize,
    /// Rotate by a uniform angle in `[-max_degrees, max_degrees]`.
    pub max_degrees: f32,
    /// Add uniform noise in `[-noise, noise]`, then clamp to [0, 1].
    pub noise: f32,
}

impl Augment {
    /// Refuses angles outside [0, 180] degrees, noise outside [0, 1], non-finite values and a
    /// `crop_pad` above 4096 pixels (the padded image would not fit in memory).
    pub fn validate(&self) -> Result<()> {
        if self.crop_pad > 4096 {
            return Err(DataError::Request(format!(
                "augment: crop_pad {} is above 4096 pixels",
                self.crop_pad
            )));
        }
        if !(self.max_degrees.is_finite() && (0.0..=180.0).contains(&self.max_degrees)) {
            return Err(DataError::Request(format!(
                "augment: max_degrees must be in [0, 180], got {}",
                self.max_degrees
            )));
        }
        if !(self.noise.is_finite() && (0.0..=1.0).contains(&self.noise)) {
            return Err(DataError::Request(format!(
                "augment: noise must be in [0, 1], got {}",
                self.noise
            )));
        }
        Ok(())
    }

    /// An augmented copy of `inputs`; the same seed gives the same copy. Refuses bad fields.
    pub fn apply(&self, inputs: &Inputs, seed: u64) -> Result<Inputs> {
        self.validate()?;
        let s = Chw::of(&inputs.item_shape)?;
        let mut rng = StdRng::seed_from_u64(seed);
        map_images(inputs, s, |_, x, s| {
            let mut item = x.to_vec();
            if self.max_degrees > 0.0 {
                let angle = rng.random_range(-self.max_degrees..=self.max_degrees);
                item = rotate(&item, s, angle, 0.0);
            }
            if self.crop_pad > 0 {
                let padded = pad(&item, s, self.crop_pad, 0.0);
                let ps = Chw::new(s.c, s.h + 2 * self.crop_pad, s.w + 2 * self.crop_pad);
                let top = rng.random_range(0..=2 * self.crop_pad);
                let left = rng.random_range(0..=2 * self.crop_pad);
                // The window is the image's size inside the padded image: always fits.
                item = crop(&padded, ps, top, left, s.h, s.w).expect("window inside the padding");
            }
            if self.noise > 0.0 {
                for v in &mut item {
                    *v = (*v + rng.random_range(-self.noise..=self.noise)).clamp(0.0, 1.0);
                }
            }
            item
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rot90_turns_counter_clockwise_and_four_turns_are_identity() {
        // 2 x 3: rows [1 2 3], [4 5 6]; a quarter turn left gives 3 x 2: [3 6], [2 5], [1 4].
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (once, s1) = rot90(&x, Chw::new(1, 2, 3), 1).unwrap();
        assert_eq!(s1, Chw::new(1, 3, 2));
        assert_eq!(once, vec![3.0, 6.0, 2.0, 5.0, 1.0, 4.0]);
        let (half, s2) = rot90(&x, Chw::new(1, 2, 3), 2).unwrap();
        assert_eq!(s2, Chw::new(1, 2, 3));
        assert_eq!(half, vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        let two: Vec<f32> = (0..18).map(|v| v as f32).collect();
        assert_eq!(rot90(&two, Chw::new(2, 3, 3), 4).unwrap().0, two);
        assert_eq!(
            rot90(&two, Chw::new(2, 3, 3), 5).unwrap(),
            rot90(&two, Chw::new(2, 3, 3), 1).unwrap()
        );
        assert_eq!(
            flip_horizontal(&x, Chw::new(1, 2, 3)).unwrap(),
            vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]
        );
        assert!(rot90(&x[..5], Chw::new(1, 2, 3), 1).is_err());
        assert!(flip_horizontal(&x[..5], Chw::new(1, 2, 3)).is_err());
        // The same direction as `rotate` by 90 degrees.
        let sq: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let bilinear = rotate(&sq, Chw::new(1, 3, 3), 90.0, 0.0);
        let exact = rot90(&sq, Chw::new(1, 3, 3), 1).unwrap().0;
        assert!(
            bilinear
                .iter()
                .zip(&exact)
                .all(|(a, b)| (a - b).abs() < 1e-4),
            "{bilinear:?} vs {exact:?}"
        );
    }

    #[test]
    fn centre_crop_set_keeps_every_images_centre() {
        // Two 1x4x4 images counting 0..16 and 16..32; their centre 2 px.
        let set = LabelledSet::new(
            Inputs::new(vec![1, 4, 4], (0..32).map(|v| v as f32).collect()).unwrap(),
            vec![0, 1],
            vec!["a".into(), "b".into()],
            "toy",
        )
        .unwrap();
        let c = centre_crop_set(&set, 2).unwrap();
        assert_eq!(c.inputs.item_shape, vec![1, 2, 2]);
        assert_eq!(
            c.inputs.values,
            vec![5.0, 6.0, 9.0, 10.0, 21.0, 22.0, 25.0, 26.0]
        );
        assert_eq!(
            (c.labels, c.class_names),
            (set.labels.clone(), set.class_names.clone())
        );
        let err = centre_crop_set(&set, 5).unwrap_err().to_string();
        assert_eq!(err, "crop = 5: the images are 4x4 px");
        assert!(centre_crop_set(&set, 0).is_err());
    }

    #[test]
    fn orientation_labels_multiply_classes_and_items() {
        let set = LabelledSet::new(
            Inputs::new(vec![1, 2, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).unwrap(),
            vec![1, 0],
            vec!["a".into(), "b".into()],
            "toy",
        )
        .unwrap();
        let four = orientation_labels(&set, false).unwrap();
        assert_eq!(four.len(), 8);
        assert_eq!(four.class_names.len(), 8);
        assert_eq!(four.labels, vec![4, 5, 6, 7, 0, 1, 2, 3]);
        assert_eq!(four.class_names[5], "b rot90");
        // Item 1 is the first image turned once: [1 2; 3 4] -> [2 4; 1 3].
        assert_eq!(four.inputs.item(1), &[2.0, 4.0, 1.0, 3.0]);
        let eight = orientation_labels(&set, true).unwrap();
        assert_eq!(eight.len(), 16);
        assert_eq!(eight.labels[4], 12);
        assert_eq!(eight.class_names[12], "b rot0 mirrored");
        assert_eq!(eight.inputs.item(4), &[2.0, 1.0, 4.0, 3.0]);
        let wide = LabelledSet::new(
            Inputs::new(vec![1, 1, 2], vec![0.0, 1.0]).unwrap(),
            vec![0],
            vec!["a".into()],
            "toy",
        )
        .unwrap();
        let err = orientation_labels(&wide, false).unwrap_err().to_string();
        assert!(err.contains("square"), "{err}");
    }

    #[test]
    fn resize_keeps_constants_and_matches_pytorch_on_a_ramp() {
        let s = Chw::new(1, 2, 2);
        assert_eq!(resize_bilinear(&[0.5; 4], s, 3, 5), vec![0.5; 15]);
        // torch.nn.functional.interpolate([[0,1],[2,3]], size=4, mode="bilinear",
        // align_corners=False) first row: 0, 0.25, 0.75, 1
        let up = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], s, 4, 4);
        assert_eq!(&up[..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(&up[12..], &[2.0, 2.25, 2.75, 3.0]);
    }

    #[test]
    fn nearest_repeats_pixels() {
        let up = resize_nearest(&[1.0, 2.0, 3.0, 4.0], Chw::new(1, 2, 2), 4, 4);
        assert_eq!(&up[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(
            resize_nearest(&up, Chw::new(1, 4, 4), 2, 2),
            vec![1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn pad_crop_and_rotate_are_consistent() {
        let s = Chw::new(1, 2, 3);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let p = pad(&x, s, 1, 0.0);
        assert_eq!(p.len(), 4 * 5);
        assert_eq!(
            centre_crop(&p, Chw::new(1, 4, 5), 2, 3).unwrap(),
            x.to_vec()
        );
        // Windows that leave the image, and values of another shape, are refused.
        assert!(centre_crop(&x, s, 3, 3).is_err());
        assert!(crop(&x, s, 1, 1, 2, 2).is_err());
        assert!(crop(&x[..5], s, 0, 0, 1, 1).is_err());
        assert!(
            crop(&x, s, usize::MAX, 0, 2, 1).is_err(),
            "an overflowing window"
        );
        let r = rotate(&x, s, 0.0, 0.0);
        for (a, b) in r.iter().zip(x) {
            assert!((a - b).abs() < 1e-5);
        }
        let sq = Chw::new(1, 3, 3);
        let img = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]; // top middle
        let turned = rotate(&img, sq, 90.0, 0.0); // counter-clockwise: to the left middle
        assert!((turned[3] - 1.0).abs() < 1e-5, "{turned:?}");
        let mut n = vec![1.0, 3.0];
        normalise(&mut n, Chw::new(2, 1, 1), &[1.0, 1.0], &[2.0, 2.0]).unwrap();
        assert!(normalise(&mut n, Chw::new(2, 1, 1), &[], &[2.0]).is_err());
        assert!(normalise(&mut n, Chw::new(2, 1, 1), &[0.0], &[0.0]).is_err());
        assert_eq!(n, vec![0.0, 1.0]);
        let rgb = grey_to_rgb(&[0.2, 0.4], Chw::new(1, 1, 2));
        let back = rgb_to_grey(&rgb, Chw::new(3, 1, 2)).unwrap();
        assert!(rgb_to_grey(&rgb[..2], Chw::new(1, 1, 2)).is_err());
        assert!((back[0] - 0.2).abs() < 1e-6 && (back[1] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn augmentation_is_seeded_and_keeps_the_shape() {
        let inputs =
            Inputs::new(vec![1, 4, 4], (0..32).map(|v| v as f32 / 32.0).collect()).unwrap();
        let a = Augment {
            crop_pad: 1,
            max_degrees: 10.0,
            noise: 0.05,
        };
        let x = a.apply(&inputs, 1).unwrap();
        assert_eq!(x.item_shape, vec![1, 4, 4]);
        assert_eq!(x, a.apply(&inputs, 1).unwrap());
        assert_ne!(x, a.apply(&inputs, 2).unwrap());
        assert!(x.values.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn affine_warps_translate_and_random_affine_is_seeded() {
        let s = Chw::new(1, 3, 3);
        let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
        assert_eq!(
            warp_affine(&x, s, [1.0, 0.0, 0.0, 1.0], [0.0, 0.0], -1.0),
            x
        );
        // Each output pixel reads one to its right: the content moves left, the fill enters.
        let left = warp_affine(&x, s, [1.0, 0.0, 0.0, 1.0], [1.0, 0.0], -1.0);
        assert_eq!(left, vec![1.0, 2.0, -1.0, 4.0, 5.0, -1.0, 7.0, 8.0, -1.0]);
        // Doubling the matrix zooms out: the corners read from outside.
        let zoom = warp_affine(&x, s, [2.0, 0.0, 0.0, 2.0], [0.0, 0.0], -1.0);
        assert_eq!(zoom[4], 4.0);
        assert_eq!(zoom[0], -1.0);
        assert_eq!(zoom[8], -1.0);

        let two: Vec<f32> = (0..18).map(|v| v as f32 / 18.0).collect();
        let none = RandomAffine {
            affine_std: 0.0,
            translate: 0.0,
            noise_std: 0.0,
        };
        assert_eq!(none.apply_rows(&two, s, 3).unwrap(), two);
        let a = RandomAffine::default();
        let once = a.apply_rows(&two, s, 7).unwrap();
        assert_eq!(once.len(), 18);
        assert_eq!(once, a.apply_rows(&two, s, 7).unwrap());
        assert_ne!(once, a.apply_rows(&two, s, 8).unwrap());
        assert!(once.iter().all(|v| (0.0..=1.0).contains(v)));
        let err = a.apply_rows(&two[..10], s, 7).unwrap_err().to_string();
        assert!(err.contains("10 values"), "{err}");
        let bad = RandomAffine {
            translate: -1.0,
            ..RandomAffine::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("translate")
        );
        // A shift that would overflow the sampler is refused before any training.
        let huge = RandomAffine {
            translate: f32::MAX,
            ..RandomAffine::default()
        };
        let err = huge.apply_rows(&two, s, 7).unwrap_err().to_string();
        assert!(err.contains("translate must be in [0, 1000]"), "{err}");
    }

    #[test]
    fn requested_sizes_are_bounded() {
        let set = LabelledSet::new(
            Inputs::new(vec![1, 2, 2], vec![0.5; 4]).unwrap(),
            vec![0],
            vec!["a".into()],
            "toy",
        )
        .unwrap();
        assert_eq!(
            resize_set(&set, 3, 3).unwrap().inputs.item_shape,
            vec![1, 3, 3]
        );
        for err in [
            resize_set(&set, 0, 3).unwrap_err(),
            resize_set_nearest(&set, 3, 100_000).unwrap_err(),
            frame_set(&set, 0, 2).unwrap_err(),
        ] {
            assert!(err.to_string().contains("outside 1..=16384"), "{err}");
        }
    }

    #[test]
    fn augment_fields_are_checked() {
        let inputs = Inputs::new(vec![1, 4, 4], vec![0.5; 16]).unwrap();
        for (a, field) in [
            (
                Augment {
                    crop_pad: 0,
                    max_degrees: f32::INFINITY,
                    noise: 0.0,
                },
                "max_degrees",
            ),
            (
                Augment {
                    crop_pad: 0,
                    max_degrees: -1.0,
                    noise: 0.0,
                },
                "max_degrees",
            ),
            (
                Augment {
                    crop_pad: 0,
                    max_degrees: 0.0,
                    noise: f32::NAN,
                },
                "noise",
            ),
            (
                Augment {
                    crop_pad: 5000,
                    max_degrees: 0.0,
                    noise: 0.0,
                },
                "crop_pad",
            ),
        ] {
            let err = a.apply(&inputs, 0).unwrap_err().to_string();
            assert!(err.contains(field), "{a:?}: {err}");
        }
    }
}
