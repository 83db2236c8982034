//! Benchmark (not a test): one training step of the MNIST CNN (batch 128, Adam) on the flex
//! backend, against PyTorch on the same machine in the same run when `python3` can import
//! torch (`train_step_bench.py` beside this file).
//!
//! ```text
//! cargo run --release -p tl-models --example train_step_bench
//! ```
//! Prints a table of median milliseconds per step (10 steps after 3 of warm-up) and the ratio,
//! and the step's phases (forward + loss, backward, Adam update) on both sides.
//! `-- --ops` adds each layer's forward and backward, timed one by one on both sides.
//! `-- --device tch` runs Burn on LibTorch (`--features tch`, after
//! `source scripts/setup-libtorch.sh`): the same kernels as PyTorch, so what differs is Burn's
//! side of the step.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use clap::Parser;
use std::time::Instant;
use tl_core::prelude::*;
use tl_models::arch::mnist_cnn;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ms of the forward pass alone and of forward + backward, for one layer of the CNN.
fn layer_times<const D: usize>(
    ad: &burn::tensor::Device,
    input: [usize; D],
    layer: impl Fn(Tensor<D>) -> Tensor<D>,
) -> (f64, f64) {
    let plain = ad.clone().without_autodiff();
    let x = Tensor::<D>::random(input, Distribution::Uniform(-1.0, 1.0), &plain);
    let xa = Tensor::<D>::random(input, Distribution::Uniform(-1.0, 1.0), ad).require_grad();
    let run = |f: &dyn Fn() -> f32| {
        f();
        median(
            (0..7)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        )
    };
    let forward = run(&|| layer(x.clone()).sum().into_scalar::<f32>());
    let both = run(&|| {
        let loss = layer(xa.clone()).sum();
        let _grads = loss.clone().backward();
        loss.into_scalar::<f32>()
    });
    (forward, both)
}

/// Each layer of the MNIST CNN at batch 128: `(name, forward ms, backward ms)`.
fn op_times(ad: &burn::tensor::Device) -> Vec<(&'static str, f64, f64)> {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::nn::{LinearConfig, PaddingConfig2d};
    let conv = |i, o| {
        Conv2dConfig::new([i, o], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(ad)
    };
    let (c1, c2, c3) = (conv(1, 32), conv(32, 64), conv(64, 128));
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let fc1 = LinearConfig::new(1152, 256).init(ad);
    let rows = [
        (
            "conv 1 -> 32, 28x28",
            layer_times(ad, [128, 1, 28, 28], |x| c1.forward(x)),
        ),
        (
            "conv 32 -> 64, 14x14",
            layer_times(ad, [128, 32, 14, 14], |x| c2.forward(x)),
        ),
        (
            "conv 64 -> 128, 7x7",
            layer_times(ad, [128, 64, 7, 7], |x| c3.forward(x)),
        ),
        (
            "max pool 2x2, 32 x 28x28",
            layer_times(ad, [128, 32, 28, 28], |x| pool.forward(x)),
        ),
        (
            "ReLU, 32 x 28x28",
            layer_times(ad, [128, 32, 28, 28], burn::tensor::activation::relu),
        ),
        (
            "linear 1152 -> 256",
            layer_times(ad, [128, 1152], |x| fc1.forward(x)),
        ),
    ];
    rows.into_iter()
        .map(|(name, (f, both))| (name, f, (both - f).max(0.0)))
        .collect()
}

/// One training step of the MNIST CNN (batch 128, Adam) on the flex backend, against PyTorch
/// on the same machine when python3 can import torch.
#[derive(Parser)]
struct Args {
    /// Also time each layer's forward and backward, one by one on both sides.
    #[arg(long)]
    ops: bool,
    /// Burn's device: flex (default), ndarray, tch (with `--features tch`).
    #[arg(long, default_value = "flex")]
    device: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dev = device(&args.device)?;
    let ad = dev.clone().autodiff();
    dev.seed(0);
    let mut model = mnist_cnn(&dev)?.fork(&ad).train();
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<2>::random([128, 784], Distribution::Uniform(0.0, 1.0), &ad);
    let labels: Vec<i64> = (0..128).map(|i| i % 10).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [128]), &ad);
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    // flex runs eagerly, so each phase's wall time is its own
    let mut step = |model: Classifier<Sequential>| {
        let t = Instant::now();
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let _: f32 = loss.clone().into_scalar::<f32>();
        let forward = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let model = optim.step(1e-3, model, grads);
        let update = t.elapsed().as_secs_f64() * 1000.0;
        (model, [forward, backward, update])
    };
    for _ in 0..3 {
        model = step(model).0;
    }
    let mut phases: [Vec<f64>; 3] = Default::default();
    let mut times = Vec::new();
    for _ in 0..10 {
        let (m, p) = step(model);
        model = m;
        times.push(p.iter().sum());
        for (all, v) in phases.iter_mut().zip(p) {
            all.push(v);
        }
    }
    let burn_step = median(times);
    let [fwd, bwd, upd] = phases.map(median);
    let valid = model.valid();
    let xv = x.clone().without_autodiff();
    let mut inf = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        // read the bytes: on wgpu `into_data` can return storage that is filled on first access
        let d = valid.forward(xv.clone()).argmax(1).into_data();
        std::hint::black_box(d.as_bytes().iter().fold(0u8, |a, b| a ^ b));
        inf.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let burn_inf = median(inf);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/train_step_bench.py");
    let ops = args.ops;
    let torch = std::process::Command::new("python3")
        .arg(script)
        .arg("2")
        .arg(if ops { "ops" } else { "" })
        .output();
    let stdout = torch
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    // The numbers on a line of the script's output.
    let numbers = |l: &str| -> Vec<f64> {
        l.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    let parsed = stdout
        .lines()
        .find(|l| l.starts_with("pytorch_ms_per_step"))
        .map(numbers)
        .and_then(|f| (f.len() == 2).then(|| (f[0], f[1])));
    let torch_ops: Vec<(f64, f64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("op "))
        .map(numbers)
        .filter_map(|f| (f.len() == 2).then(|| (f[0], f[1])))
        .collect();
    let torch_phases: Option<[f64; 3]> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("phases "))
        .map(numbers)
        .and_then(|f| (f.len() == 3).then(|| [f[0], f[1], f[2]]));
    let name = &args.device;
    println!(
        "The step by phase, {name} (median ms; each phase ends with its result on the host):\n"
    );
    println!("| phase | Burn {name} (ms) | PyTorch CPU (ms) | Burn / PyTorch |");
    println!("|---|---:|---:|---:|");
    for (i, (phase, ours)) in [
        ("forward + loss", fwd),
        ("backward", bwd),
        ("Adam update", upd),
    ]
    .into_iter()
    .enumerate()
    {
        match torch_phases {
            Some(t) => println!(
                "| {phase} | {ours:.1} | {:.1} | {:.2}x |",
                t[i],
                ours / t[i]
            ),
            None => println!("| {phase} | {ours:.1} | n/a | n/a |"),
        }
    }
    println!();
    println!(
        "| work (MNIST CNN, batch 128, 2 cores) | Burn {name} (ms) | PyTorch CPU (ms) | Burn / PyTorch |"
    );
    println!("|---|---:|---:|---:|");
    match parsed {
        Some((t_step, t_inf)) => {
            println!(
                "| training step (Adam) | {burn_step:.1} | {t_step:.1} | {:.2}x |",
                burn_step / t_step
            );
            println!(
                "| inference | {burn_inf:.1} | {t_inf:.1} | {:.2}x |",
                burn_inf / t_inf
            );
        }
        None => {
            println!("| training step (Adam) | {burn_step:.1} | n/a | n/a |");
            println!("| inference | {burn_inf:.1} | n/a | n/a |");
            eprintln!("python3 with torch not found: PyTorch column skipped");
        }
    }
    if ops {
        println!(
            "\n| layer, batch 128 | Burn forward (ms) | PyTorch forward (ms) | Burn backward (ms) | PyTorch backward (ms) |"
        );
        println!("|---|---:|---:|---:|---:|");
        for (i, (name, f, b)) in op_times(&ad).into_iter().enumerate() {
            let (tf, tb) = torch_ops.get(i).copied().unwrap_or((f64::NAN, f64::NAN));
            println!("| {name} | {f:.1} | {tf:.1} | {b:.1} | {tb:.1} |");
        }
    }
    Ok(())
}
