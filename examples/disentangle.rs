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
//! and reconstructions as PNG. Each fit also prints its MIG per factor and the mutual
//! information of every code with every factor (kept in the JSON); `--latent`,
//! `--encoder-conv`, `--encoder-hidden`, `--decoder-hidden`, `--decoder-conv`, `--batch-size`
//! and `--lr` change the model and its training (`--help` lists all).

use clap::Parser;
use std::path::PathBuf;
use tl::dsprites::{
    DspritesSettings, ROWS_HEADER, code_factor_markdown, factor_mig_markdown, fit_and_score_conv,
    pictures, row_markdown, summary_markdown,
};
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::train::ProgressEvent;
use tl::tl_data::shift::DSPRITES_FACTOR_NAMES;
use tl::tl_disentangle::{BetaVae, TcEstimator};

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
    /// Hidden widths of the decoder, from the latent outwards, e.g. `256,512` (default: one
    /// layer of 256).
    #[arg(long, value_delimiter = ',', default_value = "256")]
    decoder_hidden: Vec<usize>,
    /// Latent width (every model).
    #[arg(long, default_value_t = 10)]
    latent: usize,
    /// Minibatch size (also the batch over which beta-TCVAE estimates q(z)).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
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
    /// beta-TCVAE's estimator of q(z): `mws` (minibatch-weighted sampling, as
    /// disentanglement_lib) or `mss` (minibatch-stratified sampling).
    #[arg(long, default_value = "mws")]
    tc_estimator: TcEstimator,
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
    /// Channels of a convolutional stem before the encoder's hidden layers, each a 4x4
    /// convolution of stride 2 (ReLU), e.g. `32,32,64,64` with `--encoder-hidden 256`
    /// (disentanglement_lib's encoder); empty (the default): an MLP encoder.
    #[arg(long, value_delimiter = ',')]
    encoder_conv: Vec<usize>,
    /// Hidden widths of the encoder, from the pixels inwards.
    #[arg(long, value_delimiter = ',', default_value = "512,256")]
    encoder_hidden: Vec<usize>,
    /// Seeds: first_seed, first_seed + 1, ...
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
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
        "beta-tcvae" => BetaVae::tc()
            .with_beta(args.tcvae_beta)
            .with_tc_estimator(args.tc_estimator),
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
    let end = args
        .first_seed
        .checked_add(args.seeds)
        .ok_or("--first-seed + --seeds is past the largest seed")?;
    let mut rows = Vec::new();
    println!(
        "\ndSprites: {} training sprites, {} epochs, seeds {}..{}; metrics on the latent means\n",
        args.sprites,
        args.epochs,
        args.first_seed,
        end - 1
    );
    println!("{ROWS_HEADER}");
    let settings = DspritesSettings {
        sprites: args.sprites,
        metric_samples: args.metric_samples,
        votes: args.votes,
    };
    settings.validate()?;
    for seed in args.first_seed..end {
        for model in &args.models {
            let method = method(model, &args)?
                .with_decoder_conv(args.decoder_conv.clone())
                .with_latent(args.latent)
                .with_decoder_hidden(args.decoder_hidden.iter().rev().copied().collect())
                .with_train(
                    TrainConfig::new()
                        .with_epochs(args.epochs)
                        .with_batch_size(args.batch_size)
                        .with_lr(args.lr),
                );
            let name = method.name();
            let (vae, row) = fit_and_score_conv(
                name,
                &method,
                &settings,
                &args.encoder_conv,
                &args.encoder_hidden,
                seed,
                &dev,
                |e| {
                    if let ProgressEvent::Epoch(r) = e {
                        let get = |k: &str| r.extra.get(k).copied().unwrap_or(f64::NAN);
                        // Only beta-TCVAE (its estimate) and FactorVAE (its discriminator's) have
                        // a total correlation to show.
                        let tc = r
                            .extra
                            .get("total_correlation")
                            .map(|tc| format!(", tc {tc:.3}"))
                            .unwrap_or_default();
                        eprintln!(
                            "    {name} seed {seed}: epoch {} loss {:.2} (reconstruction {:.2}, kl {:.2}{tc}; {:.1} s)",
                            r.epoch,
                            r.train_loss,
                            get("reconstruction"),
                            get("kl"),
                            r.seconds
                        );
                    }
                },
            )?;
            if let (Some(dir), true) = (&args.pictures, seed == args.first_seed) {
                pictures(&vae, &settings, seed, dir, name, &dev)?;
            }
            println!("{}", row_markdown(&row));
            let gaps: Vec<String> = DSPRITES_FACTOR_NAMES
                .iter()
                .zip(&row.mig_factors)
                .map(|(f, g)| format!("{f} {g:.3}"))
                .collect();
            eprintln!(
                "    {name} seed {seed}: MIG per factor: {}",
                gaps.join(", ")
            );
            eprintln!(
                "    {name} seed {seed}: mutual information of each code with each factor, over the factor's entropy:\n{}",
                code_factor_markdown(&row)
            );
            rows.push(row);
            if let Some(path) = &args.json {
                write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
            }
        }
    }
    println!("\n{}", summary_markdown(&rows, "vae"));
    println!("{}", factor_mig_markdown(&rows));
    Ok(())
}
