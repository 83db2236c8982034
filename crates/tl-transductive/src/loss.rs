//! The alignment losses: CORAL and multi-kernel MMD.

use burn::tensor::Tensor;

/// Deep CORAL's loss (Sun and Saenko 2016): the squared Frobenius distance between the
/// feature covariances of the two batches, over `4 d^2`.
///
/// # Shapes
/// - `source`: `[n_s, d]`, `target`: `[n_t, d]` (each at least 2 rows)
/// - returns `[1]`
pub fn coral(source: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let d = source.dims()[1] as f32;
    let diff = covariance(source) - covariance(target);
    diff.powi_scalar(2).sum() / (4.0 * d * d)
}

/// Unbiased covariance of the rows.
///
/// # Shapes
/// - `x`: `[n, d]` -> `[d, d]`
pub fn covariance(x: Tensor<2>) -> Tensor<2> {
    let n = x.dims()[0] as f32;
    let centred = x.clone() - x.mean_dim(0);
    centred.clone().transpose().matmul(centred) / (n - 1.0).max(1.0)
}

/// Squared maximum mean discrepancy with a sum of Gaussian kernels (as DAN, Long et al.
/// 2015): bandwidths `m * s` for each multiplier `m`, where `s` is the mean squared distance
/// between all rows of both batches (taken out of the gradient). The biased estimate:
/// `mean K(s, s') + mean K(t, t') - 2 mean K(s, t)`.
///
/// # Shapes
/// - `source`: `[n_s, d]`, `target`: `[n_t, d]`
/// - returns `[1]`
///
/// # Panics
/// With no multipliers (a loss inside a training step has no error to return; `Mmd`
/// refuses an empty list in `validate` before training).
pub fn mmd(source: Tensor<2>, target: Tensor<2>, multipliers: &[f32]) -> Tensor<1> {
    let ns = source.dims()[0];
    let nt = target.dims()[0];
    let n = ns + nt;
    let x = Tensor::cat(vec![source, target], 0);
    let sq = x.clone().powi_scalar(2).sum_dim(1); // [n, 1]
    let dist = (sq.clone() + sq.transpose() - x.clone().matmul(x.transpose()) * 2.0).clamp_min(0.0);
    let scale = (dist.clone().detach().sum() / ((n * n - n).max(1) as f32)).clamp_min(1e-9);
    let mut kernel: Option<Tensor<2>> = None;
    for &m in multipliers {
        let k = (-dist.clone() / (scale.clone().unsqueeze::<2>() * m)).exp();
        kernel = Some(match kernel {
            Some(acc) => acc + k,
            None => k,
        });
    }
    let kernel = kernel.expect("at least one multiplier");
    let kss = kernel.clone().slice([0..ns, 0..ns]).mean();
    let ktt = kernel.clone().slice([ns..n, ns..n]).mean();
    let kst = kernel.slice([0..ns, ns..n]).mean();
    kss + ktt - kst * 2.0
}
