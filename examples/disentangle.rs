//! Disentanglement on dSprites (tl-disentangle), in progress: the VAE family trained on
//! sprites from tl-data's generator (64x64, the published factor grid), scored by the five
//! metrics on the latent means.
//!
//! ```text
//! cargo run --release --example disentangle -- [--sprites 20000] [--epochs 10]
//!     [--metric-samples 10000] [--votes 10000] [--json PATH]
//! ```
//!
//! The metric sample counts default to disentanglement_lib's (MIG 10,000; SAP and DCI 10,000
//! + 5,000; FactorVAE and BetaVAE 10,000 + 5,000 votes); smaller ones are quicker and noisier.

use clap::Parser;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::train::ProgressEvent;
use tl::tl_data::shift::{DSPRITES_FACTOR_SIZES, dsprites_render, dsprites_sample};
use tl::tl_disentangle::metrics::{
    Forest, Samples, VoteSettings, beta_vae_score, dci, factor_vae_score, mig, sample_factors, sap,
};
use tl::tl_disentangle::{BetaVae, Vae};

type Error = Box<dyn std::error::Error>;

/// The VAE family on dSprites, scored by the five metrics.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Training sprites (drawn uniformly from the factor grid).
    #[arg(long, default_value_t = 20_000)]
    sprites: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples for MIG (and the training half of SAP and DCI; half as many test samples).
    #[arg(long, default_value_t = 10_000)]
    metric_samples: usize,
    /// Training votes of the FactorVAE and BetaVAE scores (half as many to score).
    #[arg(long, default_value_t = 10_000)]
    votes: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Renders factor vectors as sprites.
fn render(factors: &[Vec<usize>]) -> Result<Inputs, Error> {
    let mut values = Vec::with_capacity(factors.len() * 64 * 64);
    for f in factors {
        values.extend(dsprites_render([f[0], f[1], f[2], f[3], f[4]]));
    }
    Ok(Inputs::new(vec![1, 64, 64], values)?)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args = Args::parse();
    let dev = device(&args.device)?;
    let sprites = dsprites_sample(args.sprites, args.seed)?;
    let data = UnlabelledSet::new(sprites.images, "dsprites")?;
    let mut rows = Vec::new();
    println!(
        "\ndSprites: {} training sprites, {} epochs, seed {}; metrics on the latent means\n",
        args.sprites, args.epochs, args.seed
    );
    println!("| model | MIG | SAP | DCI D | DCI C | DCI I | FactorVAE | BetaVAE | training |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for method in [BetaVae::vae(), BetaVae::new(), BetaVae::tc()] {
        let name = method.name();
        let method = method.with_train(
            TrainConfig::new()
                .with_epochs(args.epochs)
                .with_batch_size(64)
                .with_lr(1e-3)
                .with_seed(args.seed),
        );
        dev.seed(args.seed);
        let backbone = SequentialConfig::new(vec![1, 64, 64])
            .linear(512)
            .relu()
            .linear(256)
            .relu()
            .init(&dev)?;
        let started = Instant::now();
        let mut ctx = RunContext::new(&dev)
            .with_seed(args.seed)
            .with_progress(|e| {
                if let ProgressEvent::Epoch(r) = e {
                    eprintln!(
                        "    {name}: epoch {} loss {:.2} (reconstruction {:.2}, kl {:.2}; {:.1} s)",
                        r.epoch,
                        r.train_loss,
                        r.extra.get("reconstruction").copied().unwrap_or(f64::NAN),
                        r.extra.get("kl").copied().unwrap_or(f64::NAN),
                        r.seconds
                    );
                }
            });
        let (vae, _): (Vae<Sequential>, _) = method.fit_vae(backbone, &data, &mut ctx)?;
        drop(ctx);
        let seconds = started.elapsed().as_secs_f64();
        let mut represent = |f: &[Vec<usize>]| -> tl::tl_core::Result<Vec<Vec<f32>>> {
            let inputs =
                render(f).map_err(|e| tl::tl_core::CoreError::data("dsprites", e.to_string()))?;
            vae.means(&inputs, &dev)
        };
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(args.seed + 1);
        let (n, nt) = (args.metric_samples, args.metric_samples / 2);
        let (f_train, f_test) = (
            sample_factors(&DSPRITES_FACTOR_SIZES, n, &mut rng),
            sample_factors(&DSPRITES_FACTOR_SIZES, nt, &mut rng),
        );
        let (c_train, c_test) = (represent(&f_train)?, represent(&f_test)?);
        let train = Samples::new(&c_train, &f_train)?;
        let test = Samples::new(&c_test, &f_test)?;
        let m = mig(train, 20)?;
        let s = sap(train, test, false)?;
        let d = dci(train, test, Forest::default())?;
        let votes = VoteSettings {
            train: args.votes,
            eval: args.votes / 2,
            variance_samples: n,
            seed: args.seed,
            ..VoteSettings::default()
        };
        let fv = factor_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
        let bv = beta_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
        eprintln!(
            "{name}: MIG {m:.3} SAP {s:.3} D {:.3} C {:.3} I {:.3} FactorVAE {fv:.3} BetaVAE {bv:.3}",
            d.disentanglement, d.completeness, d.informativeness
        );
        println!(
            "| {name} | {m:.3} | {s:.3} | {:.3} | {:.3} | {:.3} | {fv:.3} | {bv:.3} | {seconds:.0} s |",
            d.disentanglement, d.completeness, d.informativeness
        );
        rows.push(json!({
            "model": name, "mig": m, "sap": s, "dci_disentanglement": d.disentanglement,
            "dci_completeness": d.completeness, "dci_informativeness": d.informativeness,
            "factor_vae_score": fv, "beta_vae_score": bv, "train_seconds": seconds,
            "sprites": args.sprites, "epochs": args.epochs, "seed": args.seed,
        }));
    }
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}
