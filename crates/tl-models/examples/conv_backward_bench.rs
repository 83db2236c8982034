//! Benchmark (not a test): where flex's convolution backward spends its time, layer by layer
//! of the MNIST CNN (batch 128, 3x3, padding 1), on the plain device so each part times alone.
//!
//! ```text
//! cargo run --release -p tl-models --example conv_backward_bench
//! ```
//!
//! Burn 0.22's flex backend does not override `conv2d_x_backward` or
//! `conv2d_weight_backward`, so autodiff takes burn-backend's defaults: the input gradient is
//! a transposed convolution, and the weight gradient a *convolution with the batch as the
//! channels* (`conv2d(x.swap_dims(0, 1), grad.swap_dims(0, 1))`: a kernel as large as the
//! image, 128 input channels, 3x3 outputs), which flex's tiled im2col + gemm runs with
//! almost no output positions to tile. Beside them, the weight gradient as PyTorch and
//! oneDNN compute it: the input's columns (im2col) times the output gradient, one product
//! (`grad [c_out, n * h * w] x columns [n * h * w, c_in * 9]`), here with Burn's tensor ops
//! (pad, unfold, a copy to lay the columns out), and the same with the columns given (the
//! product alone: what a kernel that writes the columns directly would pay on top of them).
//! Median of 7 after 2 of warm-up; the weight gradient by columns is checked against Burn's
//! default formulation, and the forward in parts against the whole forward.
//!
//! The last columns time what a training step runs: the forward and the weight gradient
//! through autodiff (whatever `conv2d_weight_backward` the backend has), checked against the
//! columns x gradient product. `scripts/flex-patch.sh` runs this bench on stock burn-flex and
//! on burn-flex with `patches/burn-flex-0.22.1-conv2d-weight-backward.patch`, which overrides
//! it with that product, tile by tile.

use burn::tensor::module::{conv_transpose2d, conv2d, unfold4d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode, UnfoldOptions};
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use std::time::Instant;

fn median_ms(f: &dyn Fn() -> f32) -> f64 {
    f();
    f();
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `x`'s 3x3 columns (padding 1), laid out `[c_in * 9, n * h * w]`.
fn columns(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    let padded = x.pad((1, 1, 1, 1), PadMode::Constant(0.0));
    unfold4d(padded, [3, 3], UnfoldOptions::new([1, 1], [0, 0], [1, 1]))
        .swap_dims(0, 1)
        .reshape([c * 9, n * h * w])
}

/// The output gradient laid out `[c_out, n * h * w]`.
fn rows(g: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = g.dims();
    g.reshape([n, c, h * w])
        .swap_dims(0, 1)
        .reshape([c, n * h * w])
}

/// Each part of the MNIST CNN's convolution backward, timed alone.
#[derive(Parser)]
struct Args {
    /// Burn's device: flex (default), ndarray, tch (with `--features tch`).
    #[arg(long, default_value = "flex")]
    device: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let name = args.device.as_str();
    let ad = tl_core::device::device(name)?.autodiff();
    let dev = ad.clone().without_autodiff();
    println!(
        "\n{name}, batch 128, 3x3 convolutions of the MNIST CNN (median ms):\n\n| layer | forward | of which summing the output | forward in 16-channel parts | input gradient (transposed conv) | weight gradient, Burn's default (conv, batch as channels) | weight gradient, columns x gradient | of which the columns (pad, unfold, copy) | the product alone | Burn's weight gradient / the product | forward + weight gradient through autodiff | of which the weight gradient (less the forward) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let n = 128;
    for (ci, co, s) in [(1usize, 32usize, 28usize), (32, 64, 14), (64, 128, 7)] {
        let x = Tensor::<4>::random([n, ci, s, s], Distribution::Uniform(-1.0, 1.0), &dev);
        let w = Tensor::<4>::random([co, ci, 3, 3], Distribution::Uniform(-0.3, 0.3), &dev);
        let g = Tensor::<4>::random([n, co, s, s], Distribution::Uniform(-1.0, 1.0), &dev);
        let conv = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let burn_w = || {
            conv2d(
                x.clone().swap_dims(0, 1),
                g.clone().swap_dims(0, 1),
                None,
                conv.clone(),
            )
            .swap_dims(0, 1)
        };
        let gemm_w = || {
            rows(g.clone())
                .matmul(columns(x.clone()).transpose())
                .reshape([co, ci, 3, 3])
        };
        let diff: f32 = (burn_w() - gemm_w()).abs().max().into_scalar();
        let scale: f32 = burn_w().abs().max().into_scalar();
        assert!(
            diff <= 1e-5 * scale.max(1.0) * (n * s * s) as f32 / 1e3,
            "{ci}->{co}: the two weight gradients differ by {diff} (largest {scale})"
        );
        let forward = median_ms(&|| {
            conv2d(x.clone(), w.clone(), None, conv.clone())
                .sum()
                .into_scalar()
        });
        let x_grad = median_ms(&|| {
            conv_transpose2d(
                g.clone(),
                w.clone(),
                None,
                ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1),
            )
            .sum()
            .into_scalar()
        });
        // The forward in parts of at most 16 output channels, concatenated: the same values.
        // flex's small-channel path takes `c_in <= 4, c_out <= 16`, so only the first layer's
        // parts take it; the wider layers' parts show what the split alone costs.
        let parts = || {
            let parts: Vec<Tensor<4>> = (0..co.div_ceil(16))
                .map(|i| {
                    let part = w.clone().narrow(0, 16 * i, 16.min(co - 16 * i));
                    conv2d(x.clone(), part, None, conv.clone())
                })
                .collect();
            Tensor::cat(parts, 1)
        };
        let parts_diff: f32 = (parts() - conv2d(x.clone(), w.clone(), None, conv.clone()))
            .abs()
            .max()
            .into_scalar();
        assert!(
            parts_diff < 1e-4,
            "{ci}->{co}: parts differ by {parts_diff}"
        );
        let forward_parts = median_ms(&|| parts().sum().into_scalar());
        // What reading a result back costs (every timing above and below ends with a sum).
        let y = conv2d(x.clone(), w.clone(), None, conv.clone());
        let read_back = median_ms(&|| y.clone().sum().into_scalar());
        let w_burn = median_ms(&|| burn_w().sum().into_scalar());
        let w_gemm = median_ms(&|| gemm_w().sum().into_scalar());
        let w_cols = median_ms(&|| columns(x.clone()).sum().into_scalar());
        let (r, c) = (rows(g.clone()), columns(x.clone()).transpose());
        let product = median_ms(&|| r.clone().matmul(c.clone()).sum().into_scalar());
        // What autodiff runs: d(sum(conv(x, w) * g)) / dw is the weight gradient for g.
        let (xa, ga) = (
            Tensor::<4>::from_data(x.to_data(), &ad),
            Tensor::<4>::from_data(g.to_data(), &ad),
        );
        let wa = Tensor::<4>::from_data(w.to_data(), &ad).require_grad();
        let autodiff_w = || {
            let grads = (conv2d(xa.clone(), wa.clone(), None, conv.clone()) * ga.clone())
                .sum()
                .backward();
            wa.grad(&grads).expect("a weight gradient")
        };
        let ad_diff: f32 = (autodiff_w() - gemm_w()).abs().max().into_scalar();
        assert!(
            ad_diff <= 1e-5 * scale.max(1.0) * (n * s * s) as f32 / 1e3,
            "{ci}->{co}: autodiff's weight gradient differs from the product by {ad_diff}"
        );
        let through_autodiff = median_ms(&|| autodiff_w().sum().into_scalar());
        println!(
            "| {ci} -> {co}, {s}x{s} | {forward:.1} | {read_back:.1} | {forward_parts:.1} | {x_grad:.1} | {w_burn:.1} | {w_gemm:.1} | {w_cols:.1} | {product:.1} | {:.1}x | {through_autodiff:.1} | {:.1} |",
            w_burn / product,
            through_autodiff - forward
        );
    }
    Ok(())
}
