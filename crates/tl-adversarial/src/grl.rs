//! The gradient-reversal layer (Ganin and Lempitsky 2015).

use burn::tensor::Tensor;

/// The identity forward; backward, the gradient times `-lambda`. Written with Burn's
/// autodiff alone (no custom op): `c + (x - c) * (-lambda)` with `c = x.detach()` has the
/// value of `x` and the derivative `-lambda`.
pub fn grad_reverse<const D: usize>(x: Tensor<D>, lambda: f64) -> Tensor<D> {
    let c = x.clone().detach();
    c.clone() + (x - c) * (-lambda)
}

/// DANN's schedule for the reversal strength: `2 / (1 + exp(-gamma p)) - 1`, rising from 0
/// at the start (`p = 0`) towards 1 at the end (`p = 1`; `gamma = 10` in the paper), so the
/// early, noisy discriminator does not disturb the features.
pub fn dann_lambda(progress: f64, gamma: f64) -> f64 {
    2.0 / (1.0 + (-gamma * progress).exp()) - 1.0
}
