//! Disentanglement on dSprites (tl-disentangle): the VAE family (VAE, beta-VAE, beta-TCVAE,
//! FactorVAE) trained on sprites from tl-data's generator (64x64, the published factor grid),
//! scored by the five metrics on the latent means, over several seeds; each method is
//! compared with the plain VAE of the same seed on MIG, SAP, DCI disentanglement and the
//! FactorVAE and BetaVAE scores.
//!
//! ```text
//! cargo run --release --example disentangle -- [--sprites 20000] [--epochs 10] [--seeds 1]
//!     [--models vae,beta-vae,beta-tcvae,factor-vae] [--metric-samples 10000] [--votes 10000]
//!     [--json PATH] [--pictures DIR]
//! ```
//!
//! The metric sample counts default to disentanglement_lib's (MIG 10,000; SAP and DCI 10,000
//! and 5,000; FactorVAE and BetaVAE 10,000 and 5,000 votes); smaller ones are quicker and
//! noisier.
//!
//! `--pictures` writes, for the first seed, each model's latent traversal (one row per code)
//! and reconstructions as PNG.

use clap::Parser;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::report::mean_std;
use tl::tl_core::train::ProgressEvent;
use tl::tl_data::images::write_grid_png;
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
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Models to train, comma-separated: vae, beta-vae, beta-tcvae, factor-vae.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "vae,beta-vae,beta-tcvae,factor-vae"
    )]
    models: Vec<String>,
    /// beta of beta-VAE.
    #[arg(long, default_value_t = 4.0)]
    beta_vae_beta: f64,
    /// beta of beta-TCVAE (the total correlation's weight is beta - 1).
    #[arg(long, default_value_t = 6.0)]
    tcvae_beta: f64,
    /// gamma of FactorVAE.
    #[arg(long, default_value_t = 10.0)]
    gamma: f64,
    /// Samples for MIG (and the training half of SAP and DCI; half as many test samples).
    #[arg(long, default_value_t = 10_000)]
    metric_samples: usize,
    /// Training votes of the FactorVAE and BetaVAE scores (half as many to score).
    #[arg(long, default_value_t = 10_000)]
    votes: usize,
    /// Channels of the decoder's transposed convolutions, e.g. `64,32,32,32`
    /// (disentanglement_lib's: 4x4 -> 64x64); empty (the default): an MLP decoder.
    #[arg(long, value_delimiter = ',')]
    decoder_conv: Vec<usize>,
    /// Seeds: first_seed, first_seed + 1, ...
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write traversals and reconstructions (first seed) as PNG into this folder.
    #[arg(long)]
    pictures: Option<PathBuf>,
}

/// Renders factor vectors as sprites.
fn render(factors: &[Vec<usize>]) -> Result<Inputs, Error> {
    let mut values = Vec::with_capacity(factors.len() * 64 * 64);
    for f in factors {
        values.extend(dsprites_render([f[0], f[1], f[2], f[3], f[4]]));
    }
    Ok(Inputs::new(vec![1, 64, 64], values)?)
}

/// The five metrics compared with the plain VAE, in this order.
const COMPARED: [&str; 5] = [
    "mig",
    "sap",
    "dci_disentanglement",
    "factor_vae_score",
    "beta_vae_score",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn method(name: &str, args: &Args) -> Result<BetaVae, Error> {
    Ok(match name {
        "vae" => BetaVae::vae(),
        "beta-vae" => BetaVae::new().with_beta(args.beta_vae_beta),
        "beta-tcvae" => BetaVae::tc().with_beta(args.tcvae_beta),
        "factor-vae" => BetaVae::factor().with_beta(args.gamma),
        other => {
            return Err(format!(
                "unknown model {other:?}: vae, beta-vae, beta-tcvae or factor-vae"
            )
            .into());
        }
    })
}

fn run() -> Result<(), Error> {
    let args = Args::parse();
    let dev = device(&args.device)?;
    for name in &args.models {
        method(name, &args)?.validate()?;
    }
    if let Some(dir) = &args.pictures {
        std::fs::create_dir_all(dir)?;
    }
    let mut rows: Vec<serde_json::Value> = Vec::new();
    println!(
        "\ndSprites: {} training sprites, {} epochs, seeds {}..{}; metrics on the latent means\n",
        args.sprites,
        args.epochs,
        args.first_seed,
        args.first_seed + args.seeds - 1
    );
    println!(
        "| model | seed | MIG | SAP | DCI D | DCI C | DCI I | FactorVAE | BetaVAE | training |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for seed in args.first_seed..args.first_seed + args.seeds {
        let sprites = dsprites_sample(args.sprites, seed)?;
        let data = UnlabelledSet::new(sprites.images.clone(), "dsprites")?;
        for model in &args.models {
            let method = method(model, &args)?
                .with_decoder_conv(args.decoder_conv.clone())
                .with_train(
                    TrainConfig::new()
                        .with_epochs(args.epochs)
                        .with_batch_size(64)
                        .with_lr(args.lr)
                        .with_seed(seed),
                );
            let name = method.name();
            dev.seed(seed);
            let backbone = SequentialConfig::new(vec![1, 64, 64])
                .linear(512)
                .relu()
                .linear(256)
                .relu()
                .init(&dev)?;
            let started = Instant::now();
            let mut ctx = RunContext::new(&dev).with_seed(seed).with_progress(|e| {
                if let ProgressEvent::Epoch(r) = e {
                    let get = |k: &str| r.extra.get(k).copied().unwrap_or(f64::NAN);
                    eprintln!(
                        "    {name} seed {seed}: epoch {} loss {:.2} (reconstruction {:.2}, kl {:.2}, tc {:.3}; {:.1} s)",
                        r.epoch,
                        r.train_loss,
                        get("reconstruction"),
                        get("kl"),
                        get("total_correlation"),
                        r.seconds
                    );
                }
            });
            let (vae, history): (Vae<Sequential>, _) = method.fit_vae(backbone, &data, &mut ctx)?;
            drop(ctx);
            let seconds = started.elapsed().as_secs_f64();
            let last = history.last().map(|r| r.extra.clone()).unwrap_or_default();
            if let (Some(dir), true) = (&args.pictures, seed == args.first_seed) {
                pictures(&vae, &sprites.images, dir, name, &dev)?;
            }
            let mut represent = |f: &[Vec<usize>]| -> tl::tl_core::Result<Vec<Vec<f32>>> {
                let inputs = render(f)
                    .map_err(|e| tl::tl_core::CoreError::data("dsprites", e.to_string()))?;
                vae.means(&inputs, &dev)
            };
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed + 1);
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
                seed,
                ..VoteSettings::default()
            };
            let fv = factor_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
            let bv = beta_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
            println!(
                "| {name} | {seed} | {m:.3} | {s:.3} | {:.3} | {:.3} | {:.3} | {fv:.3} | {bv:.3} | {seconds:.0} s |",
                d.disentanglement, d.completeness, d.informativeness
            );
            rows.push(json!({
                "model": name, "seed": seed, "mig": m, "sap": s,
                "dci_disentanglement": d.disentanglement,
                "dci_completeness": d.completeness, "dci_informativeness": d.informativeness,
                "factor_vae_score": fv, "beta_vae_score": bv, "train_seconds": seconds,
                "reconstruction": last.get("reconstruction"), "kl": last.get("kl"),
                "total_correlation": last.get("total_correlation"),
                "sprites": args.sprites, "epochs": args.epochs, "lr": args.lr,
                "beta": method.beta, "decoder_conv": method.decoder_conv,
            }));
            if let Some(path) = &args.json {
                write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
            }
        }
    }
    summary(&rows);
    Ok(())
}

/// Each model's mean and spread over the seeds, and on how many seeds it beats the plain VAE
/// of the same seed on at least 3 of the 5 compared metrics.
fn summary(rows: &[serde_json::Value]) {
    let get = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "\nMean ± spread over the seeds; `> VAE`: seeds where the model beats the plain VAE of the same seed on at least 3 of MIG, SAP, DCI D, FactorVAE, BetaVAE\n"
    );
    println!("| model | MIG | SAP | DCI D | DCI C | DCI I | FactorVAE | BetaVAE | > VAE |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        let name = r["model"].as_str().unwrap_or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let mine: Vec<&serde_json::Value> = rows.iter().filter(|r| r["model"] == name).collect();
        let cell = |k: &str| {
            let (m, s) = mean_std(&mine.iter().map(|r| get(r, k)).collect::<Vec<_>>());
            format!("{m:.3} ± {s:.3}")
        };
        let beats = mine
            .iter()
            .filter(|r| {
                rows.iter()
                    .find(|v| v["model"] == "vae" && v["seed"] == r["seed"])
                    .is_some_and(|v| COMPARED.iter().filter(|k| get(r, k) > get(v, k)).count() >= 3)
            })
            .count();
        let versus = if name == "vae" || !rows.iter().any(|r| r["model"] == "vae") {
            "-".to_string()
        } else {
            format!("{beats}/{}", mine.len())
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {versus} |",
            cell("mig"),
            cell("sap"),
            cell("dci_disentanglement"),
            cell("dci_completeness"),
            cell("dci_informativeness"),
            cell("factor_vae_score"),
            cell("beta_vae_score"),
        );
    }
}

/// A latent traversal (one row per code, from the first sprite's code) and reconstructions
/// (sprites above, their reconstructions below).
fn pictures(
    vae: &Vae<Sequential>,
    images: &Inputs,
    dir: &std::path::Path,
    name: &str,
    dev: &Device,
) -> Result<(), Error> {
    let n = images.len().min(10);
    let firsts = Inputs::new(vec![1, 64, 64], images.values[..n * 4096].to_vec())?;
    let codes = vae.means(&firsts, dev)?;
    let steps = 9;
    let traversal = vae.traverse(&codes[0], steps, 2.5, dev)?;
    let items: Vec<&[f32]> = traversal.iter().map(Vec::as_slice).collect();
    write_grid_png(
        &dir.join(format!("dsprites-{name}-traversal.png")),
        &items,
        &[1, 64, 64],
        steps,
        false,
    )?;
    let recon = vae.decode(&codes, dev)?;
    let mut items: Vec<&[f32]> = (0..n).map(|i| firsts.item(i)).collect();
    items.extend(recon.iter().map(Vec::as_slice));
    write_grid_png(
        &dir.join(format!("dsprites-{name}-reconstructions.png")),
        &items,
        &[1, 64, 64],
        n,
        false,
    )?;
    Ok(())
}
