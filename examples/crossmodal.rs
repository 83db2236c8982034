//! Cross-modal transfer (tl-crossmodal): images aligned with a locked, pretrained text
//! encoder (all-MiniLM-L6-v2), then classified from class names alone.
//!
//! - `--part digits`: the embedded 8x8 digits, captions from the digit names ("a handwritten
//!   digit seven"). Half of the images align, the other half is scored: zero-shot (`clip`),
//!   a classifier trained on the prompts' text only (`clip-text-only`), a linear probe on the
//!   aligned features (`clip-probe`), and zero-shot with hashed words instead of MiniLM (the
//!   text side without pretraining). Then the negative control: alignment on 0-6 only,
//!   scored on 7-9 among the three unseen names (chance 33.3 %).
//! - `--part mnist`: align on MNIST (the pretrained MNIST CNN as image tower, and a fresh one),
//!   zero-shot on USPS (MNIST framing: 16 -> 20 px, 4 px of padding) and on the 8x8 digits
//!   upsampled the same way, with no label of either; the 0-6 control on MNIST test's 7-9.
//! - `--part emoji`: Google drawings of 80 % of the subcategories align with captions from the
//!   symbols' names; Twitter drawings of the same (seen) symbols and of the held-out 20 % of
//!   subcategories (unseen) are scored from their names: top-1 among seen, among unseen, and
//!   over all symbols with the harmonic mean (generalised zero-shot); retrieval recall@1/5/10
//!   both ways on the unseen symbols; a PNG of the retrieval (query names in the JSON). With
//!   both text sides (the default `--texts minilm,hashed`), one more row scores the drawings
//!   by the two aligned models together: each side's cosines times its learned logit scale,
//!   summed (the product of their probabilities).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/models cargo run --release --example crossmodal -- \
//!     --part digits|mnist|emoji [--seeds 3] [--first-seed 0] [--epochs N] [--json PATH] [--pictures DIR]
//! ```

use clap::{Parser, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};
use tl::crossmodal_emoji::{CrossModalEmojiSettings, emoji_seed, emoji_set_at, emoji_table};
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::device::device_label;
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::Json;

mod common;
use common::crossmodal::{
    clip_rows, digit_words, digits_seed, fit_row, print_unseen, restricted_accuracy, with_classes,
};

type Error = Box<dyn std::error::Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    Digits,
    Mnist,
    Emoji,
}

/// Cross-modal transfer: CLIP-style alignment with all-MiniLM-L6-v2, zero-shot from names.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Which data.
    #[arg(long, value_enum, default_value = "digits")]
    part: Part,
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Seeds (runs per row).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Alignment epochs (the part's default when absent).
    #[arg(long)]
    epochs: Option<usize>,
    /// MNIST training images used for alignment, the same number of each digit (all 60,000
    /// when absent).
    #[arg(long)]
    mnist_train: Option<usize>,
    /// Emoji: no random views (crop, rotation, noise) while aligning.
    #[arg(long)]
    no_augment: bool,
    /// Emoji: colour jitter of the random views (brightness, contrast and saturation factors
    /// drawn in [1 - s, 1 + s]; 0: none).
    #[arg(long, default_value_t = 0.0)]
    jitter: f32,
    /// Emoji: Gaussian blur of half of the random views, sigma up to this (pixels; 0: none).
    #[arg(long, default_value_t = 0.0)]
    blur: f32,
    /// Emoji: the text sides to run, comma-separated (MiniLM, hashed).
    #[arg(long, value_delimiter = ',', default_value = "minilm,hashed")]
    texts: Vec<String>,
    /// Emoji: skip text to image (the conditional VAE's drawings).
    #[arg(long)]
    no_draw: bool,
    /// Emoji: a trainable text projection (by default images are projected into MiniLM's
    /// space, which measured better).
    #[arg(long)]
    text_projection: bool,
    /// Emoji: SimCLR epochs on unlabelled drawings for the image tower before it aligns
    /// (tl-unsupervised's objective, the alignment's random views; 0: none).
    #[arg(long, default_value_t = 0)]
    tower_simclr: usize,
    /// Emoji: the drawings SimCLR sees: `google` (the seen symbols' Google drawings, what the
    /// alignment sees too) or `both` (and every Twitter drawing, without its name: the test
    /// images unlabelled, a transductive setting).
    #[arg(long, default_value = "google")]
    tower_data: String,
    /// Emoji: the image tower, `small`, `bn` (batch normalisation after each convolution),
    /// `deep` (as `bn`, two convolutions a block), or `efficientnet-lite0` (pretrained on
    /// ImageNet, frozen, its features cached; scripts/fetch-efficientnet-lite0.sh).
    #[arg(long, default_value = "small")]
    tower: String,
    /// Emoji, efficientnet-lite0: the side it sees the drawings at (resized).
    #[arg(long, default_value_t = 128)]
    lite_side: usize,
    /// Emoji, efficientnet-lite0: random views of each Google drawing whose features are
    /// cached beside its own (0: none).
    #[arg(long, default_value_t = 8)]
    feature_views: usize,
    /// Emoji, efficientnet-lite0: width of the trainable layer on its features (0: none).
    #[arg(long, default_value_t = 512)]
    feature_hidden: usize,
    /// Emoji, efficientnet-lite0: the activations used, stages 1-7 and 8 for the head
    /// (several concatenated).
    #[arg(long, value_delimiter = ',', default_value = "4,5")]
    feature_stages: Vec<usize>,
    /// Emoji, efficientnet-lite0: each activation averaged over a grid x grid partition.
    #[arg(long, default_value_t = 4)]
    feature_grid: usize,
    /// Emoji, efficientnet-lite0: dropout on its features entering the trainable layer.
    #[arg(long, default_value_t = 0.5)]
    feature_dropout: f64,
    /// Emoji: test-time views, each Twitter drawing's feature averaged with this many random
    /// views' (0: none).
    #[arg(long, default_value_t = 0)]
    tta: usize,
    /// Emoji: also train the same tower with a linear head to name the seen symbols directly
    /// (cross-entropy on their Google drawings, no text), scored on Twitter's.
    #[arg(long)]
    symbol_classifier: bool,
    /// Emoji: describe each symbol by its category and subcategory too (one more phrase per
    /// symbol in every template).
    #[arg(long)]
    describe: bool,
    /// Emoji: the share of each alignment target taken from MiniLM's own similarities
    /// between the batch's captions (soft targets; 0: none).
    #[arg(long, default_value_t = 0.0)]
    soft_targets: f64,
    /// Emoji: the temperature of those similarities.
    #[arg(long, default_value_t = 0.1)]
    soft_temperature: f64,
    /// Emoji: the drawings' side in pixels, 32 or 64.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Emoji: AdaBN after aligning: the image tower's batch-norm statistics re-estimated on
    /// Twitter's drawings, unlabelled (transductive); the figures before it reported beside.
    #[arg(long)]
    adabn: bool,
    /// Emoji: self-training rounds after aligning: the Twitter drawings the model names most
    /// surely join the Google drawings under those names and the alignment goes on
    /// (transductive; 0: none).
    #[arg(long, default_value_t = 0)]
    self_train: usize,
    /// Emoji: the share of Twitter's drawings named in each self-training round.
    #[arg(long, default_value_t = 0.3)]
    self_train_share: f64,
    /// Emoji: towers aligned from their own initialisations, their image features averaged
    /// (1: one tower).
    #[arg(long, default_value_t = 1)]
    ensemble: usize,
    /// Emoji: AdamW's decoupled weight decay while aligning (0: Adam without decay).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Emoji: cosine decay of the alignment's learning rate to 5 % of it (constant otherwise).
    #[arg(long)]
    cosine: bool,
    /// Emoji: the random views' smallest crop, as a share of the drawing's area.
    #[arg(long, default_value_t = 0.6)]
    crop_area: f32,
    /// Emoji: the random views' rotation, drawn in [-r, r] degrees.
    #[arg(long, default_value_t = 10.0)]
    rotation: f32,
    /// Emoji: pairs in each alignment batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// MNIST: only the text-to-image part (judged by the MNIST CNN alone).
    #[arg(long)]
    only_draw: bool,
    /// Text to image: latent width.
    #[arg(long, default_value_t = 2)]
    gen_latent: usize,
    /// Text to image: weight of the KL term.
    #[arg(long, default_value_t = 2.0)]
    gen_beta: f64,
    /// Write every run's report (and the part's extra figures) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write pictures (retrieval grids) into this folder.
    #[arg(long)]
    pictures: Option<PathBuf>,
}

/// The embedded 8x8 digits: seen classes, then the 0-6 -> 7-9 control.
fn digits_part(args: &Args, dev: &Device, out: &mut Output) -> Result<(), Error> {
    let registry = tl::registry()?;
    let epochs = args.epochs.unwrap_or(30);
    for seed in seeds(args) {
        let (seen, unseen) = digits_seed(&registry, epochs, seed, dev)?;
        out.seen.reports.extend(seen);
        out.unseen.reports.extend(unseen);
    }
    println!(
        "\nEmbedded digits: half align with captions of their names, the other half scored, {} seeds, device {}\n",
        args.seeds,
        device_label(dev)
    );
    println!("{}", out.seen.to_markdown());
    print_unseen(&out.unseen, "7-9 after aligning on 0-6", 1.0 / 3.0);
    Ok(())
}

/// MNIST with captions of the digit names; zero-shot on USPS and the 8x8 digits (MNIST
/// framing), no label of either; then the 0-6 control on MNIST test's 7-9.
fn mnist_part(args: &Args, dev: &Device, out: &mut Output) -> Result<(), Error> {
    use tl::tl_data::transform::frame_set;
    let registry = tl::registry()?;
    let data = data_dir()?;
    let models = tl::tl_core::paths::model_dir().ok_or("set TL_MODEL_DIR")?;
    let weights = models.join("mnist-cnn/handwriting_model.pth");
    let (mnist_train, mnist_test) = tl::tl_data::idx::mnist(&data.join("mnist"))?;
    let (mnist_train, mnist_test) = (digit_words(mnist_train), digit_words(mnist_test));
    let (_, usps_test) = tl::tl_data::libsvm::usps(&data.join("usps"))?;
    let usps_test = digit_words(frame_set(&usps_test, 20, 28)?);
    let small = digit_words(frame_set(&tl::tl_data::digits()?, 20, 28)?);
    let train = TrainConfig::new()
        .with_epochs(args.epochs.unwrap_or(3))
        .with_batch_size(128)
        .with_lr(1e-3);
    let pretrained = |dev: &Device| -> Result<Sequential, Error> {
        Ok(tl::tl_models::arch::mnist_cnn_pretrained(&weights, dev)?
            .0
            .encoder)
    };
    for seed in seeds(args) {
        let align = match args.mnist_train {
            Some(n) if n < mnist_train.len() => {
                tl::tl_data::split::k_per_class(&mnist_train, n / 10, seed)?.0
            }
            _ => mnist_train.clone(),
        };
        let task = TransferTask::new(10)
            .with_source(align.clone())
            .with_target_test(usps_test.clone());
        let mut rows: Vec<(String, &str, Json, bool)> = clip_rows(&train, 128)
            .into_iter()
            .map(|(l, s, j)| (format!("{l}, pretrained CNN"), s, j, true))
            .collect();
        let (l, s, j) = clip_rows(&train, 128).remove(0);
        rows.push((format!("{l}, fresh CNN"), s, j, false));
        let mut aligned = None;
        if args.only_draw {
            rows.clear();
        }
        for (label, strategy, settings, from_pretrained) in rows {
            dev.seed(200 + seed);
            let encoder = if from_pretrained {
                pretrained(dev)?
            } else {
                tl::tl_models::arch::mnist_cnn(dev)?.encoder
            };
            let (model, mut report) =
                fit_row(&registry, strategy, &settings, encoder, &task, seed, dev)?;
            let on_small = evaluate(&model, &small, dev, 256)?.accuracy;
            let on_mnist = evaluate(&model, &mnist_test, dev, 256)?.accuracy;
            eprintln!(
                "seed {seed}: {label:<38} USPS {:.2} %, 8x8 digits {:.2} %, MNIST test {:.2} % ({:.1} s)",
                100.0 * report.metrics.accuracy,
                100.0 * on_small,
                100.0 * on_mnist,
                report.wall_time_s
            );
            report.extra.insert("digits_8x8_accuracy".into(), on_small);
            report.extra.insert("mnist_test_accuracy".into(), on_mnist);
            report.strategy = label;
            out.seen.push(report);
            aligned.get_or_insert(model);
        }
        let judged = draw_digits(
            args,
            &align,
            &mnist_test,
            aligned.as_ref(),
            &weights,
            seed,
            dev,
        )?;
        out.extra.push(judged);
        if args.only_draw {
            continue;
        }
        // The control: align on 0-6, score MNIST test's 7-9 among the three unseen names.
        let task = TransferTask::new(10)
            .with_source(with_classes(&align, 0..7))
            .with_target_test(with_classes(&mnist_test, 7..10));
        for (label, strategy, settings) in clip_rows(&train, 128) {
            if strategy != "clip" || label.contains("no text") {
                continue;
            }
            dev.seed(200 + seed);
            let (model, mut report) = fit_row(
                &registry,
                strategy,
                &settings,
                pretrained(dev)?,
                &task,
                seed,
                dev,
            )?;
            let zsl =
                restricted_accuracy(&model, task.target_test.as_ref().unwrap(), &[7, 8, 9], dev);
            eprintln!(
                "seed {seed}: {label:<26} unseen 7-9 among 7-9 {:.2} % (chance 33.3)",
                100.0 * zsl
            );
            report.extra.insert("unseen_among_unseen".into(), zsl);
            report.strategy = format!("{label}, pretrained CNN");
            out.unseen.push(report);
        }
    }
    println!(
        "\nMNIST ({} images) aligned with captions of the digit names; zero-shot on USPS test (MNIST framing), {} seeds, device {}\n",
        args.mnist_train.unwrap_or(mnist_train.len()),
        args.seeds,
        device_label(dev)
    );
    println!("{}", out.seen.to_markdown());
    println!("| row | 8x8 digits, upsampled (%) | MNIST test (%) |\n|---|---|---|");
    let mut names: Vec<&str> = out
        .seen
        .reports
        .iter()
        .map(|r| r.strategy.as_str())
        .collect();
    let mut once = std::collections::HashSet::new();
    names.retain(|n| once.insert(*n));
    for name in names {
        let pick = |k: &str| {
            let v: Vec<f64> = out
                .seen
                .reports
                .iter()
                .filter(|r| r.strategy == name)
                .map(|r| r.extra[k])
                .collect();
            let (m, s) = mean_std(&v);
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        };
        println!(
            "| {name} | {} | {} |",
            pick("digits_8x8_accuracy"),
            pick("mnist_test_accuracy")
        );
    }
    print_unseen(
        &out.unseen,
        "MNIST test's 7-9 after aligning on 0-6",
        1.0 / 3.0,
    );
    Ok(())
}

/// Text to image on MNIST: a conditional VAE trained on the alignment images with their
/// captions draws each digit from "a picture of a handwritten seven" (a phrasing the captions
/// never used); the drawings are judged by the pretrained MNIST CNN (trained on real images)
/// and by the aligned model's zero-shot label; a PNG puts them beside real test digits.
fn draw_digits(
    args: &Args,
    align: &LabelledSet,
    test: &LabelledSet,
    clip: Option<&Classifier<Sequential>>,
    weights: &Path,
    seed: u64,
    dev: &Device,
) -> Result<Json, Error> {
    use tl::tl_crossmodal::TextToImage;
    let t2i = TextToImage::new()
        .with_templates(tl::tl_crossmodal::digit_templates())
        .with_draw_templates(vec!["a picture of a handwritten {}".into()])
        .with_hidden(vec![512])
        .with_latent(args.gen_latent)
        .with_beta(args.gen_beta)
        .with_per_class(50)
        .with_train(
            TrainConfig::new()
                .with_epochs(args.epochs.unwrap_or(3) * 3)
                .with_batch_size(128)
                .with_lr(1e-3),
        );
    let names = align.class_names.clone();
    let mut ctx = RunContext::new(dev).with_seed(seed);
    ctx.begin();
    let (generator, history) = t2i.generator(align, &names, &mut ctx)?;
    let drawn = t2i.drawings(&generator, &names, &[1, 28, 28], &ctx)?;
    let wall = ctx.elapsed();
    let cnn = tl::tl_models::arch::mnist_cnn_pretrained(weights, dev)?.0;
    let by_cnn = evaluate(&cnn, &drawn, dev, 256)?.accuracy;
    let by_clip = match clip {
        Some(clip) => evaluate(clip, &drawn, dev, 256)?.accuracy,
        None => f64::NAN,
    };
    eprintln!(
        "seed {seed}: text to image: {} drawings from \"a picture of a handwritten <digit>\"; the MNIST CNN reads {:.2} % of them as the digit asked, the aligned model {:.2} % ({wall:.0} s, {} parameters)",
        drawn.len(),
        100.0 * by_cnn,
        100.0 * by_clip,
        tl::tl_core::model::count_params(&generator).total
    );
    if let (Some(dir), true) = (&args.pictures, seed == args.first_seed) {
        std::fs::create_dir_all(dir)?;
        let mut items: Vec<&[f32]> = Vec::new();
        for c in 0..10 {
            let real = test.labels.iter().position(|&l| l == c).unwrap_or(0);
            items.push(test.inputs.item(real));
            let mine: Vec<usize> = (0..drawn.len())
                .filter(|&i| drawn.labels[i] == c)
                .take(9)
                .collect();
            items.extend(mine.iter().map(|&i| drawn.inputs.item(i)));
        }
        let path = dir.join("mnist-text-to-image.png");
        tl::tl_data::images::write_grid_png(&path, &items, &[1, 28, 28], 10, true)?;
        eprintln!(
            "wrote {} (each row: a real test digit, then drawings of its name)",
            path.display()
        );
    }
    Ok(json!({
        "seed": seed, "part": "mnist", "what": "text-to-image",
        "drawings": drawn.len(), "read_by_mnist_cnn": by_cnn, "read_by_aligned_model": by_clip,
        "wall_time_s": wall, "final_loss": history.last().map(|e| e.train_loss),
    }))
}

/// Emoji: Google drawings of 80 % of the subcategories align with their names; Twitter
/// drawings scored from names, seen and unseen symbols; retrieval on the unseen
/// (`tl::crossmodal_emoji`, which the recipe `recipes/emoji-crossmodal.toml` runs too).
fn emoji_part(args: &Args, dev: &Device, out: &mut Output) -> Result<(), Error> {
    let settings = CrossModalEmojiSettings {
        epochs: args.epochs,
        no_augment: args.no_augment,
        jitter: args.jitter,
        blur: args.blur,
        texts: args.texts.clone(),
        no_draw: args.no_draw,
        text_projection: args.text_projection,
        tower_simclr: args.tower_simclr,
        tower_data: args.tower_data.clone(),
        tower: args.tower.clone(),
        tta: args.tta,
        symbol_classifier: args.symbol_classifier,
        describe: args.describe,
        soft_targets: args.soft_targets,
        soft_temperature: args.soft_temperature,
        size: args.size,
        adabn: args.adabn,
        self_train: args.self_train,
        self_train_share: args.self_train_share,
        ensemble: args.ensemble,
        weight_decay: args.weight_decay,
        cosine: args.cosine,
        batch_size: args.batch_size,
        crop_area: args.crop_area,
        rotation: args.rotation,
        lite_side: args.lite_side,
        feature_views: args.feature_views,
        feature_hidden: args.feature_hidden,
        feature_stages: args.feature_stages.clone(),
        feature_grid: args.feature_grid,
        feature_dropout: args.feature_dropout,
    };
    settings.validate()?;
    let set = emoji_set_at(&data_dir()?, settings.size)?;
    let log = |line: &str| eprintln!("{line}");
    let mut rows = Vec::new();
    for seed in seeds(args) {
        let pictures = args.pictures.as_deref().filter(|_| seed == args.first_seed);
        rows.extend(emoji_seed(&settings, &set, seed, pictures, dev, &log)?);
    }
    println!("\n{}", emoji_table(&rows));
    out.extra = rows;
    Ok(())
}

fn seeds(args: &Args) -> std::ops::Range<u64> {
    args.first_seed..args.first_seed + args.seeds
}

#[derive(Default)]
struct Output {
    seen: Comparison,
    unseen: Comparison,
    extra: Vec<Json>,
}

fn data_dir() -> Result<PathBuf, Error> {
    tl::tl_core::paths::data_dir()
        .ok_or_else(|| "set TL_DATA_DIR to the folder with mnist/, usps/ and emoji/".into())
}

fn write_json(path: &Path, out: &Output) -> Result<(), Error> {
    let all = json!({
        "seen": serde_json::from_str::<Json>(&out.seen.to_json()?)?,
        "unseen": serde_json::from_str::<Json>(&out.unseen.to_json()?)?,
        "extra": out.extra,
    });
    write_atomic(path, serde_json::to_string_pretty(&all)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args = Args::parse();
    if args.first_seed.checked_add(args.seeds).is_none() {
        return Err("--first-seed + --seeds is past the largest seed".into());
    }
    // An equal number of each digit: at most 10 x the 5,421 fives of MNIST's training set.
    if let Some(n) = args.mnist_train
        && (n < 10 || !n.is_multiple_of(10) || n > 54_210)
    {
        return Err(format!(
            "--mnist-train {n}: a multiple of 10 (the same number of each digit) from 10 to \
             54,210 (10 x the 5,421 fives of MNIST's training set); leave it out for all 60,000"
        )
        .into());
    }
    let dev = device(&args.device)?;
    let mut out = Output::default();
    match args.part {
        Part::Digits => digits_part(&args, &dev, &mut out)?,
        Part::Mnist => mnist_part(&args, &dev, &mut out)?,
        Part::Emoji => emoji_part(&args, &dev, &mut out)?,
    }
    if let Some(path) = &args.json {
        write_json(path, &out)?;
    }
    Ok(())
}
