//! The losses of distillation, as functions of tensors (usable in any loop).

use burn::nn::loss::{HuberLossConfig, Reduction};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use tl_core::train::CrossEntropy;

/// Hinton's soft-target term: `T^2 * KL(softmax(teacher / T) || softmax(student / T))`,
/// summed over classes and averaged over the batch. The `T^2` keeps its gradients on the scale
/// of the hard-label term when `T` changes.
///
/// # Shapes
/// - `student`, `teacher`: `[batch, classes]` scores (the teacher's carry no gradient)
/// - returns `[1]`
pub fn soft_target_loss(student: Tensor<2>, teacher: Tensor<2>, temperature: f64) -> Tensor<1> {
    let n = student.dims()[0].max(1) as f64;
    let log_s = log_softmax(student / temperature, 1);
    let log_t = log_softmax(teacher.detach() / temperature, 1);
    let p_t = log_t.clone().exp();
    (p_t * (log_t - log_s)).sum() * (temperature * temperature / n)
}

/// Hinton, Vinyals and Dean's loss: `alpha * CE(labels) + (1 - alpha) * T^2 * KL`, the
/// cross-entropy over the rows that have labels (`labelled`: their row indices and labels),
/// the soft term over every row. A batch without labels gives the soft term alone (weight 1).
///
/// # Shapes
/// - `student`, `teacher`: `[batch, classes]`
/// - `labelled`: `([k], [k])` row indices and labels, `k >= 1`
/// - returns `[1]`
pub fn kd_loss(
    ce: &CrossEntropy,
    student: Tensor<2>,
    teacher: Tensor<2>,
    labelled: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    alpha: f64,
    temperature: f64,
) -> Tensor<1> {
    match labelled {
        None => soft_target_loss(student, teacher, temperature),
        Some((rows, labels)) => {
            let hard = ce.loss(student.clone().select(0, rows), labels);
            if alpha >= 1.0 {
                return hard;
            }
            hard * alpha + soft_target_loss(student, teacher, temperature) * (1.0 - alpha)
        }
    }
}

/// Zagoruyko and Komodakis' spatial attention map of conv activations: the mean over channels
/// of the squared activations, flattened and L2-normalised per item (the authors' code,
/// `F.normalize(x.pow(2).mean(1).view(n, -1))`; the paper's other normalisation, the sum of
/// absolute values, is not used).
///
/// # Shapes
/// - `x`: `[batch, channels, height, width]`
/// - returns `[batch, height * width]`
pub fn attention_map(x: Tensor<4>) -> Tensor<2> {
    let [n, _, h, w] = x.dims();
    let map = x.powf_scalar(2.0).mean_dim(1).reshape([n, h * w]);
    l2_normalise_rows(map)
}

/// Attention transfer's term for one pair of layers: the mean squared difference of the two
/// normalised maps (multiply by `beta / 2`, as the paper's `beta = 1000`).
///
/// # Shapes
/// - `student`, `teacher`: `[batch, height * width]` maps from [`attention_map`]
/// - returns `[1]`
pub fn attention_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (student - teacher.detach()).powf_scalar(2.0).mean()
}

/// FitNets' hint term: the mean squared difference between the regressed student activation
/// and the teacher's.
///
/// # Shapes
/// - `regressed`, `teacher`: `[batch, values]`
/// - returns `[1]`
pub fn hint_loss(regressed: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (regressed - teacher.detach()).powf_scalar(2.0).mean()
}

/// Rows scaled to unit L2 norm (rows of zeros stay zero): tl-core's `l2_normalize_rows` with
/// the squared norm floored at 1e-24.
pub fn l2_normalise_rows(x: Tensor<2>) -> Tensor<2> {
    tl_core::model::l2_normalize_rows(x, 1e-24)
}

/// Pairwise Euclidean distances of the rows, with zeros on the diagonal.
///
/// # Shapes
/// - `x`: `[batch, dim]`
/// - returns `[batch, batch]`
pub fn pairwise_distances(x: Tensor<2>) -> Tensor<2> {
    let n = x.dims()[0];
    let sq = x.clone().powf_scalar(2.0).sum_dim(1); // [n, 1]
    let gram = x.clone().matmul(x.transpose());
    let d2 = (sq.clone() + sq.transpose() - gram * 2.0).clamp_min(1e-12);
    let off = Tensor::<2>::ones([n, n], &d2.device()) - Tensor::eye(n, &d2.device());
    d2.sqrt() * off
}

/// Park et al.'s distance-wise relational term: pairwise distances of the student's and the
/// teacher's embeddings, each divided by its mean over the off-diagonal pairs, compared with
/// the Huber loss (delta 1).
///
/// # Shapes
/// - `student`: `[batch, d_s]`, `teacher`: `[batch, d_t]` (the widths may differ)
/// - returns `[1]`
pub fn rkd_distance_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let n = student.dims()[0];
    let pairs = (n * n.saturating_sub(1)).max(1) as f64;
    let normalise = |d: Tensor<2>| {
        let mean = d.clone().sum() / pairs;
        d / mean.clamp_min(1e-12).unsqueeze::<2>()
    };
    let t = normalise(pairwise_distances(teacher.detach())).detach();
    let s = normalise(pairwise_distances(student));
    huber(s, t)
}

/// Park et al.'s angle-wise relational term: for every triplet `(i, j, k)` the cosine of the
/// angle at `j` between `e_i - e_j` and `e_k - e_j`, compared with the Huber loss (delta 1).
/// Memory grows as `batch^2 * dim` and `batch^3`.
///
/// # Shapes
/// - `student`: `[batch, d_s]`, `teacher`: `[batch, d_t]`
/// - returns `[1]`
pub fn rkd_angle_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let t = triplet_cosines(teacher.detach()).detach();
    let s = triplet_cosines(student);
    huber(s, t)
}

/// Cosines of the angles of every triplet, `[batch^3]` values as `[batch, batch * batch]`.
fn triplet_cosines(e: Tensor<2>) -> Tensor<2> {
    let n = e.dims()[0];
    // diff[j, i, :] = e_i - e_j, normalised over the features.
    let diff = e.clone().unsqueeze_dim::<3>(0) - e.unsqueeze_dim::<3>(1); // [n, n, d]
    let norm = diff
        .clone()
        .powf_scalar(2.0)
        .sum_dim(2)
        .clamp_min(1e-24)
        .sqrt();
    let unit = diff / norm;
    unit.clone()
        .matmul(unit.swap_dims(1, 2))
        .reshape([n, n * n])
}

fn huber(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let huber = HuberLossConfig::new(1.0).init();
    huber.forward(pred, target, Reduction::Mean)
}

/// The indices and labels of a batch's labelled rows, or `None` when it has none.
pub fn labelled_rows(labels: &[Option<usize>]) -> Option<(Vec<i64>, Vec<i64>)> {
    let (rows, labels): (Vec<i64>, Vec<i64>) = labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (i as i64, l as i64)))
        .unzip();
    (!rows.is_empty()).then_some((rows, labels))
}
