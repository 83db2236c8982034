//! Content and style apart (tl-disentangle's content/style model: ML-VAE's pooled content
//! with a swap term), on real pairs that share content, over several seeds.
//!
//! - `--part emoji`: the same symbol drawn by Google and by Twitter (`TL_DATA_DIR/emoji`,
//!   32x32 RGB). Trained on the pairs of 80 % of the symbols; on the other 20 % (unseen) and
//!   on the seen ones: the Twitter drawing's nearest Google drawing by content code (top-1,
//!   chance 1/n), the vendor from the style code (a linear probe, held-out halves), the
//!   symbol from the style code (the same retrieval on style codes: at most 2x chance is the
//!   goal), against a plain VAE of the same total width (retrieval on its whole code). Writes
//!   a style-swap grid (content from the rows, style from the columns) and Google drawings
//!   redrawn in Twitter's style.
//! - `--part digits`: MNIST and USPS (MNIST framing: USPS 16 -> 20 bilinear, padded to 28)
//!   paired by class (USPS's training labels serve only to form the pairs). A linear
//!   classifier on MNIST content codes scored on USPS test, against the same classifier on a
//!   plain VAE's codes and on the whole `[content, style]` code; then generative adaptation:
//!   labelled MNIST digits redrawn in USPS's style (each with the style code of a random USPS
//!   training digit), a classifier trained on the redrawn images only, scored on real USPS
//!   test, against the same classifier trained on plain MNIST.
//!
//! ```text
//! TL_DATA_DIR=../shared/data cargo run --release --example content_style -- \
//!     [--part emoji|digits|all] [--seeds 3] [--first-seed 0] [--epochs 60] [--json PATH]
//!     [--pictures DIR] [--conv-encoder CHANNELS] [--decoder-conv C1,C2,..]
//! ```

use clap::Parser;
use std::path::PathBuf;
use tl::content_style::{
    ContentStyleSettings, digit_sets, digits_seed, digits_table, emoji_seed, emoji_set, emoji_table,
};
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;

type Error = Box<dyn std::error::Error>;

/// Content/style on emoji and on MNIST/USPS.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// emoji, digits or all.
    #[arg(long, default_value = "all")]
    part: String,
    /// How many seeds (first_seed, first_seed + 1, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The first seed (seeds first_seed, first_seed + 1, ...).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Training epochs (over the pairs) of the emoji models.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Training epochs of the digit models.
    #[arg(long, default_value_t = 10)]
    digit_epochs: usize,
    /// MNIST training digits used (paired with USPS training digits of their class).
    #[arg(long, default_value_t = 10_000)]
    mnist: usize,
    /// Content code width.
    #[arg(long, default_value_t = 32)]
    content: usize,
    /// Style code width.
    #[arg(long, default_value_t = 4)]
    style: usize,
    /// Weight of the style codes' KL.
    #[arg(long, default_value_t = 1.0)]
    style_beta: f64,
    /// Weight of the swap reconstructions (each item from the other's content).
    #[arg(long, default_value_t = 1.0)]
    swap: f64,
    /// Weight of the style-swap reconstructions (each item with another item's style of the
    /// same domain).
    #[arg(long, default_value_t = 1.0)]
    style_swap: f64,
    /// Weight of the content agreement within a pair.
    #[arg(long, default_value_t = 1.0)]
    align: f64,
    /// Weight of the domain term: the style code must tell the vendors (MNIST from USPS)
    /// apart through a linear head; 0 (the default): off.
    #[arg(long, default_value_t = 0.0)]
    domain: f64,
    /// Channels of the decoders' transposed convolutions, e.g. `64,64,32` (4x4 -> 32x32
    /// for emoji); empty (the default): MLP decoders. The plain VAE gets the same decoder.
    #[arg(long, value_delimiter = ',')]
    decoder_conv: Vec<usize>,
    /// Channels of a conv encoder (three 3x3 convolutions with 2x2 max pools, then 256)
    /// in place of the MLP encoder (512-256); for both models.
    #[arg(long)]
    conv_encoder: Option<usize>,
    /// Skip the plain VAE (its columns are then missing): for quick sweeps.
    #[arg(long)]
    no_vae: bool,
    /// Write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the pictures (first seed) into this folder.
    #[arg(long)]
    pictures: Option<PathBuf>,
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
    let data = tl::tl_core::paths::data_dir()
        .ok_or("TL_DATA_DIR is not set: point it at the shared data folder")?;
    if !matches!(args.part.as_str(), "emoji" | "digits" | "all") {
        return Err(format!("unknown part {:?}: emoji, digits or all", args.part).into());
    }
    let settings = ContentStyleSettings {
        epochs: args.epochs,
        digit_epochs: args.digit_epochs,
        mnist: args.mnist,
        content: args.content,
        style: args.style,
        style_beta: args.style_beta,
        swap: args.swap,
        style_swap: args.style_swap,
        align: args.align,
        domain: args.domain,
        decoder_conv: args.decoder_conv.clone(),
        conv_encoder: args.conv_encoder,
        no_vae: args.no_vae,
    };
    settings.validate()?;
    // Both parts' image sizes, before the first part trains.
    if matches!(args.part.as_str(), "emoji" | "all") {
        settings.check_side(32, "emoji")?;
    }
    if matches!(args.part.as_str(), "digits" | "all") {
        settings.check_side(28, "digit")?;
    }
    if let Some(dir) = &args.pictures {
        std::fs::create_dir_all(dir)?;
    }
    let log = |line: &str| eprintln!("{line}");
    let end = args
        .first_seed
        .checked_add(args.seeds)
        .ok_or("--first-seed + --seeds is past the largest seed")?;
    let seeds = args.first_seed..end;
    let mut rows = Vec::new();
    if matches!(args.part.as_str(), "emoji" | "all") {
        let set = emoji_set(&data)?;
        eprintln!(
            "emoji: {} symbols drawn by Google and Twitter, 32x32",
            set.symbols.len()
        );
        for seed in seeds.clone() {
            let pictures = args.pictures.as_deref().filter(|_| seed == args.first_seed);
            rows.extend(emoji_seed(&settings, &set, seed, pictures, &dev, &log)?);
            save(&args, &rows)?;
        }
        println!("\n{}", emoji_table(&rows));
    }
    if matches!(args.part.as_str(), "digits" | "all") {
        let digits = digit_sets(&data)?;
        eprintln!(
            "digits: {} MNIST training digits paired with {} USPS training digits by class; USPS test {}",
            args.mnist,
            digits.usps_train.len(),
            digits.usps_test.len()
        );
        for seed in seeds {
            let pictures = args.pictures.as_deref().filter(|_| seed == args.first_seed);
            rows.push(digits_seed(&settings, &digits, seed, pictures, &dev, &log)?);
            save(&args, &rows)?;
        }
        println!("\n{}", digits_table(&rows));
    }
    Ok(())
}

fn save(args: &Args, rows: &[serde_json::Value]) -> Result<(), Error> {
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(rows)?.as_bytes())?;
    }
    Ok(())
}
