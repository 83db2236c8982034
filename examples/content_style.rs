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
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::report::mean_std;
use tl::tl_core::train::ProgressEvent;
use tl::tl_data::images::write_grid_png;
use tl::tl_disentangle::metrics::logistic_probe;
use tl::tl_disentangle::{
    BetaVae, ContentStyle, ContentStyleModel, Vae, class_pairs_both_ways, pair_set, probe_codes,
    retrieval_top1,
};
use tl::tl_inductive::LinearProbe;

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
    #[arg(long, default_value_t = 3)]
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
    if let Some(dir) = &args.pictures {
        std::fs::create_dir_all(dir)?;
    }
    let mut rows = Vec::new();
    if matches!(args.part.as_str(), "emoji" | "all") {
        rows.extend(emoji(&args, &data, &dev)?);
        save(&args, &rows)?;
    }
    if matches!(args.part.as_str(), "digits" | "all") {
        rows.extend(digits(&args, &data, &dev)?);
        save(&args, &rows)?;
    }
    if !matches!(args.part.as_str(), "emoji" | "digits" | "all") {
        return Err(format!("unknown part {:?}: emoji, digits or all", args.part).into());
    }
    Ok(())
}

fn save(args: &Args, rows: &[serde_json::Value]) -> Result<(), Error> {
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(rows)?.as_bytes())?;
    }
    Ok(())
}

/// Progress lines for a run's epochs.
fn progress(label: String) -> impl FnMut(&ProgressEvent) {
    move |e| {
        if let ProgressEvent::Epoch(r) = e
            && (r.epoch % 10 == 0 || r.epoch == 1)
        {
            eprintln!(
                "    {label}: epoch {} loss {:.2} ({:.1} s)",
                r.epoch, r.train_loss, r.seconds
            );
        }
    }
}

/// The encoder of items of `input` shape: an MLP (512-256), or with `conv` three 3x3
/// convolutions of `conv` channels, each followed by ReLU and a 2x2 max pool, then a 256-wide
/// layer.
fn encoder(
    input: &[usize],
    conv: Option<usize>,
    dev: &Device,
    seed: u64,
) -> Result<Sequential, Error> {
    dev.seed(seed);
    let mut config = SequentialConfig::new(input.to_vec());
    match conv {
        Some(c) => {
            for _ in 0..3 {
                config = config.conv(c, 3, 1).relu().max_pool(2);
            }
        }
        None => config = config.linear(512).relu(),
    }
    Ok(config.linear(256).relu().init(dev)?)
}

fn content_style(args: &Args, epochs: usize, seed: u64) -> ContentStyleModel {
    ContentStyleModel::new()
        .with_content(args.content)
        .with_style(args.style)
        .with_style_beta(args.style_beta)
        .with_swap(args.swap)
        .with_style_swap(args.style_swap)
        .with_align(args.align)
        .with_decoder_hidden(vec![512, 256])
        .with_decoder_conv(args.decoder_conv.clone())
        .with_train(adam(epochs, seed))
}

/// Adam 1e-3, batch 64.
fn adam(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(64)
        .with_lr(1e-3)
        .with_seed(seed)
}

fn plain_vae(args: &Args, epochs: usize, seed: u64) -> BetaVae {
    BetaVae::vae()
        .with_latent(args.content + args.style)
        .with_decoder_hidden(vec![512, 256])
        .with_decoder_conv(args.decoder_conv.clone())
        .with_train(adam(epochs, seed))
}

/// The content/style model on an MLP over items of `shape`, and its training seconds.
fn fit_content_style(
    args: &Args,
    epochs: usize,
    pairs: &UnlabelledSet,
    shape: &[usize],
    seed: u64,
    dev: &Device,
) -> Result<(ContentStyle<Sequential>, f64), Error> {
    let started = Instant::now();
    let mut ctx = RunContext::new(dev)
        .with_seed(seed)
        .with_progress(progress(format!("content-style seed {seed}")));
    let (model, _) = content_style(args, epochs, seed).fit_pairs(
        encoder(shape, args.conv_encoder, dev, seed)?,
        pairs,
        &mut ctx,
    )?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// The plain VAE of the same total width on an MLP, and its training seconds.
fn fit_vae(
    args: &Args,
    epochs: usize,
    items: &UnlabelledSet,
    shape: &[usize],
    seed: u64,
    dev: &Device,
) -> Result<(Vae<Sequential>, f64), Error> {
    let started = Instant::now();
    let mut ctx = RunContext::new(dev)
        .with_seed(seed)
        .with_progress(progress(format!("vae seed {seed}")));
    let (vae, _) = plain_vae(args, epochs, seed).fit_vae(
        encoder(shape, args.conv_encoder, dev, seed)?,
        items,
        &mut ctx,
    )?;
    Ok((vae, started.elapsed().as_secs_f64()))
}

fn probe(seed: u64) -> LinearProbe {
    LinearProbe::new().with_train(
        TrainConfig::new()
            .with_epochs(100)
            .with_batch_size(64)
            .with_lr(1e-2)
            .with_seed(seed),
    )
}

/// `mean ± spread` in percent, or `-` for a column no run measured (e.g. with `--no-vae`).
fn cell(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let (m, s) = mean_std(values);
    format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
}

fn emoji(args: &Args, data: &Path, dev: &Device) -> Result<Vec<serde_json::Value>, Error> {
    let set = tl::tl_data::emoji::emoji(&data.join("emoji"), 32)?;
    let n = set.symbols.len();
    eprintln!("emoji: {n} symbols drawn by Google and Twitter, 32x32");
    let mut rows = Vec::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        // 80 % of the symbols to train, the rest unseen.
        let mut order: Vec<usize> = (0..n).collect();
        rand::seq::SliceRandom::shuffle(
            &mut order[..],
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed),
        );
        let cut = n * 4 / 5;
        let (seen, unseen) = (&order[..cut], &order[cut..]);
        let (g, t) = (&set.google, &set.twitter);
        // Each seen symbol's pair, Google's drawing first (the style swap's domain order).
        let (first, second) = (g.select(seen), t.select(seen));
        let pairs = pair_set(&first, &second, "emoji pairs")?;
        let (model, cs_seconds) =
            fit_content_style(args, args.epochs, &pairs, &[3, 32, 32], seed, dev)?;
        // The plain VAE on every seen drawing, as many updates per epoch as pairs.
        let drawings = UnlabelledSet::new(
            Inputs::new(
                first.item_shape.clone(),
                [first.values.clone(), second.values].concat(),
            )?,
            "emoji seen",
        )?;
        let vae = if args.no_vae {
            None
        } else {
            Some(fit_vae(
                args,
                args.epochs,
                &drawings,
                &[3, 32, 32],
                seed,
                dev,
            )?)
        };
        let mut ctx = RunContext::new(dev).with_seed(seed);
        for (split, symbols) in [("unseen", unseen), ("seen", seen)] {
            let (gi, ti) = (g.select(symbols), t.select(symbols));
            let (gc, gs) = model.codes_of(&gi, dev)?;
            let (tc, ts) = model.codes_of(&ti, dev)?;
            // Vendor from style and from content: probes on held-out halves of the symbols.
            let half = symbols.len() / 2;
            let vendor = |gcodes: &[Vec<f32>], tcodes: &[Vec<f32>], ctx: &mut RunContext| {
                let part = |r: std::ops::Range<usize>| -> (Vec<Vec<f32>>, Vec<usize>) {
                    r.flat_map(|i| [(gcodes[i].clone(), 0), (tcodes[i].clone(), 1)])
                        .unzip()
                };
                let ((a, ya), (b, yb)) = (part(0..half), part(half..symbols.len()));
                // The trained probe (Adam, 100 epochs) and logistic regression to convergence.
                Ok::<_, Error>((
                    probe_codes(&probe(seed), (&a, &ya), (&b, &yb), 2, ctx)?,
                    logistic_probe((&a, &ya), (&b, &yb), 2)?,
                ))
            };
            // The reference: the vendor from the raw pixels (3,072 values) by the same probe.
            let pixels = |x: &Inputs| -> Vec<Vec<f32>> {
                (0..x.len()).map(|i| x.item(i).to_vec()).collect()
            };
            let (vp, vp_lr) = vendor(&pixels(&gi), &pixels(&ti), &mut ctx)?;
            let (vs, vs_lr) = vendor(&gs, &ts, &mut ctx)?;
            let (vc, vc_lr) = vendor(&gc, &tc, &mut ctx)?;
            let mut row = json!({
                "part": "emoji", "seed": seed, "split": split, "symbols": symbols.len(),
                "chance": 1.0 / symbols.len() as f64,
                "content_top1": retrieval_top1(&tc, &gc)?,
                "style_top1": retrieval_top1(&ts, &gs)?,
                "whole_code_top1": retrieval_top1(
                    &concat_codes(&tc, &ts), &concat_codes(&gc, &gs))?,
                "vendor_from_style": vs, "vendor_from_style_lr": vs_lr,
                "vendor_from_content": vc, "vendor_from_content_lr": vc_lr,
                "vendor_from_pixels": vp, "vendor_from_pixels_lr": vp_lr,
                "content_style_seconds": cs_seconds,
                "epochs": args.epochs, "content": args.content, "style": args.style,
                "style_beta": args.style_beta, "swap": args.swap,
                "style_swap": args.style_swap, "align": args.align,
                "decoder_conv": args.decoder_conv, "conv_encoder": args.conv_encoder,
            });
            if let Some((vae, vae_seconds)) = &vae {
                let (gv, tv) = (vae.means(&gi, dev)?, vae.means(&ti, dev)?);
                row["vae_top1"] = json!(retrieval_top1(&tv, &gv)?);
                let (vv, vv_lr) = vendor(&gv, &tv, &mut ctx)?;
                row["vendor_from_vae"] = json!(vv);
                row["vendor_from_vae_lr"] = json!(vv_lr);
                row["vae_seconds"] = json!(vae_seconds);
            }
            eprintln!("{row}");
            rows.push(row);
        }
        if let (Some(dir), 0) = (&args.pictures, seed) {
            emoji_pictures(&model, &set, unseen, dir, dev)?;
        }
    }
    // A key a row lacks (the plain VAE's, with --no-vae) is left out, not read as NaN.
    let get = |split: &str, k: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["split"] == split)
            .filter_map(|r| r[k].as_f64())
            .collect()
    };
    println!(
        "\nEmoji, Google and Twitter drawings of the same symbols (32x32), {} seeds; % (mean ± spread)\n",
        args.seeds
    );
    println!(
        "| symbols | chance | Twitter -> Google by content (top-1) | by style | by the whole code | plain VAE | vendor from style (probe / converged LR) | vendor from content | vendor from plain VAE | vendor from the pixels (LR) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for split in ["unseen", "seen"] {
        let both = |k: &str| {
            format!(
                "{} / {}",
                cell(&get(split, k)),
                cell(&get(split, &format!("{k}_lr")))
            )
        };
        println!(
            "| {split} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            get(split, "symbols").first().copied().unwrap_or(0.0),
            cell(&get(split, "chance")),
            cell(&get(split, "content_top1")),
            cell(&get(split, "style_top1")),
            cell(&get(split, "whole_code_top1")),
            cell(&get(split, "vae_top1")),
            both("vendor_from_style"),
            both("vendor_from_content"),
            both("vendor_from_vae"),
            cell(&get(split, "vendor_from_pixels_lr")),
        );
    }
    Ok(rows)
}

fn concat_codes(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<Vec<f32>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| [x.clone(), y.clone()].concat())
        .collect()
}

/// A style-swap grid of unseen symbols (row 0: the style donors; column 0: the content
/// donors; cell: content of the row, style of the column) and Google drawings redrawn in
/// Twitter's style (Google, redrawn, Twitter's own).
fn emoji_pictures(
    model: &ContentStyle<Sequential>,
    set: &tl::tl_data::emoji::EmojiSet,
    unseen: &[usize],
    dir: &Path,
    dev: &Device,
) -> Result<(), Error> {
    let shape = [3, 32, 32];
    let rows: Vec<usize> = unseen.iter().copied().take(8).collect();
    let cols: Vec<usize> = unseen.iter().copied().skip(8).take(3).collect();
    let mut donors: Vec<Vec<f32>> = Vec::new();
    for &c in &cols {
        donors.push(set.google.item(c).to_vec());
        donors.push(set.twitter.item(c).to_vec());
    }
    let donor_inputs = Inputs::new(shape.to_vec(), donors.concat())?;
    let (_, styles) = model.codes_of(&donor_inputs, dev)?;
    let content_inputs = set.google.select(&rows);
    let (contents, _) = model.codes_of(&content_inputs, dev)?;
    let blank = vec![1.0f32; 3 * 32 * 32];
    let mut grid: Vec<Vec<f32>> = vec![blank];
    grid.extend(donors.iter().cloned());
    for (i, c) in contents.iter().enumerate() {
        grid.push(content_inputs.item(i).to_vec());
        let drawn = model.draw(&vec![c.clone(); styles.len()], &styles, dev)?;
        grid.extend(drawn);
    }
    let items: Vec<&[f32]> = grid.iter().map(Vec::as_slice).collect();
    write_grid_png(
        &dir.join("emoji-style-swap.png"),
        &items,
        &shape,
        1 + styles.len(),
        false,
    )?;
    // Google -> Twitter: each unseen Google drawing with the mean style of Twitter drawings.
    let some: Vec<usize> = unseen.iter().copied().take(12).collect();
    let (gc, _) = model.codes_of(&set.google.select(&some), dev)?;
    let (_, ts) = model.codes_of(&set.twitter.select(unseen), dev)?;
    let mean_style: Vec<f32> = (0..ts[0].len())
        .map(|d| ts.iter().map(|s| s[d]).sum::<f32>() / ts.len() as f32)
        .collect();
    let redrawn = model.draw(&gc, &vec![mean_style; gc.len()], dev)?;
    let mut items: Vec<&[f32]> = some.iter().map(|&i| set.google.item(i)).collect();
    items.extend(redrawn.iter().map(Vec::as_slice));
    items.extend(some.iter().map(|&i| set.twitter.item(i)));
    write_grid_png(
        &dir.join("emoji-google-to-twitter.png"),
        &items,
        &shape,
        some.len(),
        false,
    )?;
    Ok(())
}

fn digits(args: &Args, data: &Path, dev: &Device) -> Result<Vec<serde_json::Value>, Error> {
    use tl::tl_data::transform::frame_set;
    let (mnist_train, _) = tl::tl_data::idx::mnist(&data.join("mnist"))?;
    let (usps_train, usps_test) = tl::tl_data::libsvm::usps(&data.join("usps"))?;
    let (usps_train, usps_test) = (
        frame_set(&usps_train, 20, 28)?,
        frame_set(&usps_test, 20, 28)?,
    );
    eprintln!(
        "digits: {} MNIST training digits paired with {} USPS training digits by class; USPS test {}",
        args.mnist,
        usps_train.len(),
        usps_test.len()
    );
    let mut rows = Vec::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let (mnist, _) = tl::tl_data::split::stratified_split(
            &mnist_train,
            args.mnist as f64 / mnist_train.len() as f64,
            seed,
        )?;
        let pairs = class_pairs_both_ways(&mnist, &usps_train, 1, seed)?;
        let (model, cs_seconds) =
            fit_content_style(args, args.digit_epochs, &pairs, &[1, 28, 28], seed, dev)?;
        let both = UnlabelledSet::new(
            Inputs::new(
                vec![1, 28, 28],
                [
                    mnist.inputs.values.clone(),
                    usps_train.inputs.values.clone(),
                ]
                .concat(),
            )?,
            "mnist+usps",
        )?;
        let (vae, _) = fit_vae(args, args.digit_epochs, &both, &[1, 28, 28], seed, dev)?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        // Transfer: a linear classifier on MNIST codes, scored on USPS test codes.
        let (mc, ms) = model.codes_of(&mnist.inputs, dev)?;
        let (uc, us) = model.codes_of(&usps_test.inputs, dev)?;
        let (mv, uv) = (
            vae.means(&mnist.inputs, dev)?,
            vae.means(&usps_test.inputs, dev)?,
        );
        let p = probe(seed);
        let score = |train: &[Vec<f32>], test: &[Vec<f32>], ctx: &mut RunContext| {
            probe_codes(
                &p,
                (train, &mnist.labels),
                (test, &usps_test.labels),
                10,
                ctx,
            )
        };
        let content_acc = score(&mc, &uc, &mut ctx)?;
        let whole_acc = score(&concat_codes(&mc, &ms), &concat_codes(&uc, &us), &mut ctx)?;
        let vae_acc = score(&mv, &uv, &mut ctx)?;
        let style_acc = score(&ms, &us, &mut ctx)?;
        // Generative adaptation: MNIST redrawn with USPS styles.
        let (_, usps_styles) = model.codes_of(&usps_train.inputs, dev)?;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed + 7);
        let styles: Vec<Vec<f32>> = (0..mc.len())
            .map(|_| usps_styles[rand::Rng::random_range(&mut rng, 0..usps_styles.len())].clone())
            .collect();
        let redrawn = model.draw(&mc, &styles, dev)?;
        let redrawn_set = LabelledSet::new(
            Inputs::new(vec![1, 28, 28], redrawn.concat())?,
            mnist.labels.clone(),
            mnist.class_names.clone(),
            "mnist redrawn as usps",
        )?;
        let plain_cls = pixel_classifier(&mnist, &usps_test, seed, dev)?;
        let redrawn_cls = pixel_classifier(&redrawn_set, &usps_test, seed, dev)?;
        if let (Some(dir), 0) = (&args.pictures, seed) {
            let k = 12;
            let mut items: Vec<&[f32]> = (0..k).map(|i| mnist.inputs.item(i)).collect();
            items.extend(redrawn.iter().take(k).map(Vec::as_slice));
            write_grid_png(
                &dir.join("mnist-redrawn-as-usps.png"),
                &items,
                &[1, 28, 28],
                k,
                false,
            )?;
        }
        let row = json!({
            "part": "digits", "seed": seed,
            "probe_on_content": content_acc, "probe_on_whole_code": whole_acc,
            "probe_on_style": style_acc, "probe_on_plain_vae": vae_acc,
            "classifier_on_mnist": plain_cls, "classifier_on_redrawn": redrawn_cls,
            "content_style_seconds": cs_seconds, "mnist": args.mnist, "epochs": args.digit_epochs,
        });
        eprintln!("{row}");
        rows.push(row);
    }
    let get = |k: &str| -> Vec<f64> {
        rows.iter()
            .map(|r| r[k].as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    println!(
        "\nMNIST -> USPS (MNIST framing), USPS test accuracy %, {} seeds (mean ± spread)\n",
        args.seeds
    );
    println!("| trained on MNIST, scored on USPS | accuracy |");
    println!("|---|---|");
    for (name, key) in [
        ("linear probe on the content code", "probe_on_content"),
        (
            "linear probe on the whole [content, style] code",
            "probe_on_whole_code",
        ),
        ("linear probe on the style code", "probe_on_style"),
        ("linear probe on a plain VAE's code", "probe_on_plain_vae"),
        ("pixel classifier on MNIST", "classifier_on_mnist"),
        (
            "pixel classifier on MNIST redrawn in USPS style",
            "classifier_on_redrawn",
        ),
    ] {
        println!("| {name} | {} |", cell(&get(key)));
    }
    Ok(rows)
}

/// A small MLP on pixels (784-256-10, 5 epochs) trained on `train`, its accuracy on `test`.
fn pixel_classifier(
    train: &LabelledSet,
    test: &LabelledSet,
    seed: u64,
    dev: &Device,
) -> Result<f64, Error> {
    dev.seed(seed);
    let model = Classifier::new(
        SequentialConfig::new(vec![1, 28, 28])
            .linear(256)
            .relu()
            .init(dev)?,
        head_config(256, &[], 10).init(dev)?,
    )?;
    let cfg = TrainConfig::new()
        .with_epochs(5)
        .with_batch_size(64)
        .with_lr(1e-3)
        .with_seed(seed);
    let out = Trainer::new(cfg).fit(model, train, None, dev)?;
    Ok(evaluate(&out.model, test, dev, 256)?.accuracy)
}
