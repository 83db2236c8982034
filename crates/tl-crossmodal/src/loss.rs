//! CLIP's objective: symmetric InfoNCE over a batch of image-text pairs.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Tensor, TensorData};

/// The largest logit scale (CLIP clamps its learned temperature at 100).
pub const MAX_SCALE: f64 = 100.0;

/// The initial logit scale, 1 / 0.07 (CLIP's).
pub const INIT_SCALE: f64 = 1.0 / 0.07;

/// Symmetric InfoNCE (Radford et al. 2021, CLIP): with `logits = scale * images texts^T`,
/// the mean of the image-to-text and text-to-image cross-entropies.
///
/// Row `i` of `images` and of `texts` (both `[n, d]`, unit rows) are a pair. When several
/// items of a batch share a caption's class (class captions, as when captions come from
/// labels), treating them as negatives of each other would push apart what should meet:
/// `groups` (one per row) spreads each row's target evenly over the rows of its group, as
/// UniCL does (Yang et al. 2022); `None` is CLIP's one-positive target. The targets' own
/// entropy is taken off (the gradient is unchanged), so the loss is a KL divergence: 0 when
/// the pairs are matched perfectly. `scale` is `[1]`.
pub fn info_nce(
    images: Tensor<2>,
    texts: Tensor<2>,
    scale: Tensor<1>,
    groups: Option<&[usize]>,
) -> Tensor<1> {
    let logits = images.clone().matmul(texts.transpose()) * scale.reshape([1, 1]);
    let (targets, entropy) = hard_targets(&images, groups);
    cross_entropy_both_ways(logits, targets) - entropy
}

/// [`info_nce`] with part of each row's target taken from the *text* side's own geometry
/// (soft targets from the locked text encoder, in the manner of SoftCLIP, Gao et al. 2023):
/// `targets = (1 - weight) * hard + weight * softmax(cos(raw_i, raw_j) / temperature)`, where
/// `raw` are the batch's text vectors before any projection (`[n, text_dim]`, the frozen
/// encoder's). Captions that the text encoder places near each other then pull each other's
/// images a little, so the image side learns the text space's neighbourhoods, not only which
/// caption is whose. `weight` 0 is [`info_nce`]. As there, the targets' entropy is taken off:
/// the loss is 0 when the scores match the targets.
pub fn info_nce_soft(
    images: Tensor<2>,
    texts: Tensor<2>,
    scale: Tensor<1>,
    groups: Option<&[usize]>,
    raw: Tensor<2>,
    weight: f64,
    temperature: f64,
) -> Tensor<1> {
    let logits = images.clone().matmul(texts.transpose()) * scale.reshape([1, 1]);
    let (hard, _) = hard_targets(&images, groups);
    let raw = tl_core::model::l2_normalize_rows(raw, 1e-12);
    let soft = softmax(raw.clone().matmul(raw.transpose()) / temperature, 1);
    let targets = hard * (1.0 - weight) + soft * weight;
    // Negative entropy of the targets (0 * ln 0 read as 0); the targets hold no gradient.
    let negative_entropy = (targets.clone() * targets.clone().clamp_min(1e-30).log())
        .sum_dim(1)
        .mean();
    cross_entropy_both_ways(logits, targets) + negative_entropy
}

/// Each row's target over the batch (row-stochastic, symmetric) and the targets' mean
/// entropy: the identity, or with `groups` spread evenly over each row's group.
fn hard_targets(images: &Tensor<2>, groups: Option<&[usize]>) -> (Tensor<2>, f64) {
    let [n, _] = images.dims();
    let device = images.device();
    match groups {
        Some(g) => {
            let mask = same_group_mask(g);
            let counts: Vec<f32> = g
                .iter()
                .map(|a| g.iter().filter(|b| *b == a).count() as f32)
                .collect();
            let entropy = counts.iter().map(|k| k.ln() as f64).sum::<f64>() / n.max(1) as f64;
            let mask = Tensor::<2>::from_data(mask, &device);
            let rows = Tensor::<1>::from_data(TensorData::new(counts, [n]), &device);
            (mask / rows.reshape([n, 1]), entropy)
        }
        None => (Tensor::<2>::from_data(identity(n), &device), 0.0),
    }
}

/// The mean of the image-to-text and text-to-image cross-entropies of `logits` (`[n, n]`,
/// images by texts) against row-stochastic `targets` (the same rows serve both ways: the
/// targets are symmetric up to their rows' normalisation).
fn cross_entropy_both_ways(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let image_to_text = -(log_softmax(logits.clone(), 1) * targets.clone())
        .sum_dim(1)
        .mean();
    let text_to_image = -(log_softmax(logits.transpose(), 1) * targets)
        .sum_dim(1)
        .mean();
    (image_to_text + text_to_image) / 2.0
}

fn identity(n: usize) -> TensorData {
    let mut v = vec![0f32; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    TensorData::new(v, [n, n])
}

/// The `[n, n]` positives mask of a batch whose items have these groups (classes): 1 where
/// two items share one.
pub fn same_group_mask(groups: &[usize]) -> TensorData {
    let n = groups.len();
    let mut v = vec![0f32; n * n];
    for (i, a) in groups.iter().enumerate() {
        for (j, b) in groups.iter().enumerate() {
            if a == b {
                v[i * n + j] = 1.0;
            }
        }
    }
    TensorData::new(v, [n, n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_core::model::l2_normalize_rows;

    fn rows(values: Vec<f32>, n: usize, dev: &burn::tensor::Device) -> Tensor<2> {
        let d = values.len() / n;
        l2_normalize_rows(
            Tensor::from_data(TensorData::new(values, [n, d]), dev),
            1e-12,
        )
    }

    fn value(t: Tensor<1>) -> f32 {
        tl_core::train::scalar(&t) as f32
    }

    #[test]
    fn aligned_pairs_cost_less_than_shuffled_ones() {
        use rand::{Rng, SeedableRng};
        let dev = tl_core::device::device("flex").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (n, d) = (16, 12);
        let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let images = rows(x.clone(), n, &dev);
        let scale = Tensor::<1>::from_data(TensorData::new(vec![INIT_SCALE as f32], [1]), &dev);
        let aligned = value(info_nce(
            images.clone(),
            images.clone(),
            scale.clone(),
            None,
        ));
        // The same texts, each moved to the next image.
        let mut shifted = x[d..].to_vec();
        shifted.extend_from_slice(&x[..d]);
        let shuffled = value(info_nce(
            images.clone(),
            rows(shifted, n, &dev),
            scale.clone(),
            None,
        ));
        assert!(aligned < 0.5, "aligned pairs: {aligned}");
        assert!(shuffled > aligned + 3.0, "{shuffled} vs {aligned}");
        // With every item its own group the mask is the identity: the same loss.
        let own: Vec<usize> = (0..n).collect();
        let masked = value(info_nce(images.clone(), images, scale, Some(&own)));
        assert!((masked - aligned).abs() < 1e-5, "{masked} vs {aligned}");
    }

    #[test]
    fn soft_targets_are_met_when_the_images_copy_the_text_geometry() {
        // Two near-synonymous captions (0 and 1) and an unrelated one (2).
        let dev = tl_core::device::device("flex").unwrap();
        let raw = rows(vec![1.0, 0.1, 0.0, 1.0, -0.1, 0.0, 0.0, 0.2, 1.0], 3, &dev);
        let temperature = 0.1;
        let at = |s: f64| Tensor::<1>::from_data(TensorData::new(vec![s as f32], [1]), &dev);
        // Images placed exactly as their captions, scored at 1 / temperature: the scores'
        // softmax is the soft targets themselves, so with only soft targets the KL is 0.
        let soft = |images: Tensor<2>, scale: f64, weight: f64| {
            value(info_nce_soft(
                images,
                raw.clone(),
                at(scale),
                None,
                raw.clone(),
                weight,
                temperature,
            ))
        };
        let met = soft(raw.clone(), 1.0 / temperature, 1.0);
        assert!(met.abs() < 1e-4, "{met}");
        // CLIP's one-hot targets are not met there: the synonyms share their mass.
        let hard = value(info_nce(
            raw.clone(),
            raw.clone(),
            at(1.0 / temperature),
            None,
        ));
        assert!(hard > 0.1, "{hard}");
        // Weight 0 is CLIP's loss, groups included.
        let groups = [0, 0, 1];
        let plain = value(info_nce(raw.clone(), raw.clone(), at(20.0), Some(&groups)));
        let zero = value(info_nce_soft(
            raw.clone(),
            raw.clone(),
            at(20.0),
            Some(&groups),
            raw.clone(),
            0.0,
            temperature,
        ));
        assert!((plain - zero).abs() < 1e-5, "{plain} vs {zero}");
        // Swapping the unrelated caption's image with a synonym's costs more than matching.
        let swapped = rows(vec![0.0, 0.2, 1.0, 1.0, -0.1, 0.0, 1.0, 0.1, 0.0], 3, &dev);
        assert!(soft(swapped, 1.0 / temperature, 0.5) > met + 1.0);
    }

    #[test]
    fn shared_captions_are_not_negatives() {
        // Two items of one class with the same caption vector: CLIP's one-hot target cannot
        // go below ln 2 for their rows, the class groups are at their floor (0).
        let dev = tl_core::device::device("flex").unwrap();
        let images = rows(vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0], 3, &dev);
        let texts = images.clone();
        let scale = Tensor::<1>::from_data(TensorData::new(vec![100f32], [1]), &dev);
        let plain = value(info_nce(images.clone(), texts.clone(), scale.clone(), None));
        let grouped = value(info_nce(images, texts, scale, Some(&[0, 0, 1])));
        assert!(plain > 0.4, "{plain}");
        assert!(grouped < 1e-3, "{grouped}");
    }
}
