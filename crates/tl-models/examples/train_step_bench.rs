//! Benchmark (not a test): one training step of the MNIST CNN (batch 128, Adam) on the flex
//! backend, against PyTorch on the same machine in the same run when `python3` can import
//! torch (`train_step_bench.py` beside this file).
//!
//! ```text
//! cargo run --release -p tl-models --example train_step_bench
//! ```
//! Prints a table of median milliseconds per step (10 steps after 3 of warm-up) and the ratio.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use std::time::Instant;
use tl_core::prelude::*;
use tl_models::arch::mnist_cnn;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = device("flex")?;
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
        let _ = valid.forward(xv.clone()).argmax(1).into_data();
        inf.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let burn_inf = median(inf);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/train_step_bench.py");
    let torch = std::process::Command::new("python3")
        .arg(script)
        .arg("2")
        .output();
    let parsed = torch.ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let f: Vec<f64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (f.len() == 2).then(|| (f[0], f[1]))
    });
    println!(
        "Burn step by phase (median ms): forward + loss {fwd:.1}, backward {bwd:.1}, Adam update {upd:.1}\n"
    );
    println!(
        "| work (MNIST CNN, batch 128, 2 cores) | Burn flex (ms) | PyTorch CPU (ms) | Burn / PyTorch |"
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
    Ok(())
}
