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
//!   both ways on the unseen symbols; a PNG of the retrieval (query names in the JSON).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/models cargo run --release --example crossmodal -- \
//!     --part digits|mnist|emoji [--seeds 3] [--first-seed 0] [--epochs N] [--json PATH] [--pictures DIR]
//! ```

use clap::{Parser, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};
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
    /// MNIST training images used for alignment (all 60,000 when absent).
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

/// A small CNN for 3 x 32 x 32 drawings.
fn rgb_encoder(dev: &Device) -> Result<Sequential, Error> {
    Ok(SequentialConfig::new(vec![3, 32, 32])
        .conv(32, 3, 1)
        .relu()
        .max_pool(2)
        .conv(64, 3, 1)
        .relu()
        .max_pool(2)
        .conv(128, 3, 1)
        .relu()
        .max_pool(2)
        .linear(256)
        .relu()
        .init(dev)?)
}

/// Top-1 of `scores` rows (`[n, classes]`, row-major) among `candidates`.
fn top1_among(
    scores: &[f32],
    classes: usize,
    rows: &[usize],
    truth: &[usize],
    candidates: &[usize],
) -> f64 {
    let right = rows
        .iter()
        .zip(truth)
        .filter(|&(&r, &t)| {
            let row = &scores[r * classes..(r + 1) * classes];
            candidates
                .iter()
                .max_by(|&&a, &&b| row[a].total_cmp(&row[b]))
                == Some(&t)
        })
        .count();
    right as f64 / rows.len().max(1) as f64
}

/// Emoji: Google drawings of 80 % of the subcategories align with their names; Twitter
/// drawings scored from names, seen and unseen symbols; retrieval on the unseen.
fn emoji_part(args: &Args, dev: &Device, out: &mut Output) -> Result<(), Error> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use tl::tl_crossmodal::{
        ClassPrompts, Clip, ClipModel, Readout, TextSpace, picture_templates, recall_at,
    };
    let data = data_dir()?;
    let set = tl::tl_data::emoji::emoji(&data.join("emoji"), 32)?;
    let google = set.by_symbol(0)?;
    let twitter = set.by_symbol(1)?;
    let names = google.class_names.clone();
    let n = names.len();
    let mut subcategories: Vec<&str> = set.symbols.iter().map(|s| s.subcategory.as_str()).collect();
    subcategories.sort_unstable();
    subcategories.dedup();
    let mut spaces = Vec::new();
    for t in &args.texts {
        spaces.push(match t.as_str() {
            "minilm" => ("MiniLM", TextSpace::minilm()),
            "hashed" => ("hashed words", TextSpace::Hashed { dim: 384 }),
            other => return Err(format!("unknown text side {other:?}: minilm or hashed").into()),
        });
    }
    let mut rows_out = Vec::new();
    for seed in seeds(args) {
        let mut subs = subcategories.clone();
        subs.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let held: Vec<&str> = subs[..subs.len() / 5].to_vec();
        let (seen, unseen): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| !held.contains(&set.symbols[i].subcategory.as_str()));
        let source = google.select(&seen);
        // Captions: every template with the name and with each short name.
        let prompts = ClassPrompts::from_texts(
            set.symbols
                .iter()
                .map(|e| {
                    let mut words = vec![e.text_name()];
                    for s in &e.short_names {
                        let s = s.replace('_', " ");
                        if !words.contains(&s) {
                            words.push(s);
                        }
                    }
                    words
                        .iter()
                        .flat_map(|w| {
                            picture_templates()
                                .into_iter()
                                .map(move |t| t.replace("{}", w))
                        })
                        .collect()
                })
                .collect(),
        )?;
        for (label, space) in &spaces {
            let augment = tl::tl_unsupervised::augment::ViewAugment::new()
                .with_min_area(0.6)
                .with_max_degrees(10.0)
                .with_noise_std(0.05)
                .with_fill(1.0)
                .with_brightness(args.jitter)
                .with_contrast(args.jitter)
                .with_saturation(args.jitter)
                .with_blur_sigma(args.blur);
            let clip = Clip::new()
                .with_text(space.clone())
                .with_templates(picture_templates())
                .with_dim(256)
                .with_readout(Readout::ZeroShot)
                .with_text_projection(args.text_projection)
                .with_augment((!args.no_augment).then(|| augment.clone()))
                .with_train(
                    TrainConfig::new()
                        .with_epochs(args.epochs.unwrap_or(60))
                        .with_batch_size(64)
                        .with_lr(1e-3),
                );
            let mut ctx = RunContext::new(dev).with_seed(seed);
            ctx.begin();
            let vectors = space.embed(&prompts.strs(), dev)?;
            dev.seed(300 + seed);
            let mut tower = rgb_encoder(dev)?;
            if args.tower_simclr > 0 {
                let drawings = match args.tower_data.as_str() {
                    "google" => source.unlabelled(),
                    "both" => {
                        let mut values = source.inputs.values.clone();
                        values.extend_from_slice(&twitter.inputs.values);
                        UnlabelledSet::new(
                            Inputs::new(source.inputs.item_shape.clone(), values)?,
                            "google seen + twitter",
                        )?
                    }
                    other => {
                        return Err(format!("--tower-data {other:?}: google or both").into());
                    }
                };
                let simclr = tl::tl_unsupervised::SimClr::new()
                    .with_augment(augment.clone())
                    .with_train(
                        TrainConfig::new()
                            .with_epochs(args.tower_simclr)
                            .with_batch_size(256)
                            .with_lr(1e-3),
                    );
                let started = std::time::Instant::now();
                let (pretrained, history) = simclr.pretrain(tower, &drawings, &mut ctx)?;
                eprintln!(
                    "seed {seed}: SimCLR on {} drawings, {} epochs, loss {:.3} ({:.0} s)",
                    drawings.len(),
                    args.tower_simclr,
                    history.last().map_or(f64::NAN, |e| e.train_loss),
                    started.elapsed().as_secs_f64()
                );
                tower = pretrained;
            }
            let (model, history): (ClipModel<Sequential>, _) =
                clip.align(tower, &source, &prompts, &vectors, &mut ctx)?;
            let wall = ctx.elapsed();
            let protos = model.class_prototypes(&prompts, &vectors, dev)?;
            let images = model.embed_images(&twitter.inputs, dev, 256)?;
            let dim = model.dim();
            let mut scores = vec![0f32; n * n];
            for i in 0..n {
                for c in 0..n {
                    scores[i * n + c] = images[i * dim..(i + 1) * dim]
                        .iter()
                        .zip(&protos[c * dim..(c + 1) * dim])
                        .map(|(a, b)| a * b)
                        .sum();
                }
            }
            let all: Vec<usize> = (0..n).collect();
            let seen_seen = top1_among(&scores, n, &seen, &seen, &seen);
            let unseen_unseen = top1_among(&scores, n, &unseen, &unseen, &unseen);
            let g_seen = top1_among(&scores, n, &seen, &seen, &all);
            let g_unseen = top1_among(&scores, n, &unseen, &unseen, &all);
            let harmonic = if g_seen + g_unseen > 0.0 {
                2.0 * g_seen * g_unseen / (g_seen + g_unseen)
            } else {
                0.0
            };
            // Retrieval on the unseen symbols: Twitter drawings against their names' prototypes.
            let pick = |v: &[f32], idx: &[usize]| -> Vec<f32> {
                idx.iter()
                    .flat_map(|&i| v[i * dim..(i + 1) * dim].to_vec())
                    .collect()
            };
            let (ui, ut) = (pick(&images, &unseen), pick(&protos, &unseen));
            let i2t = recall_at(&ui, &ut, dim, |q, k| q == k, &[1, 5, 10]);
            let t2i = recall_at(&ut, &ui, dim, |q, k| q == k, &[1, 5, 10]);
            let loss = history.last().map_or(f64::NAN, |e| e.train_loss);
            eprintln!(
                "seed {seed}: {label:<13} seen {:.2} % (of {}), unseen {:.2} % (of {}; chance {:.2}), GZSL seen {:.2} unseen {:.2} H {:.2}; unseen R@1/5/10 image->text {:.1}/{:.1}/{:.1}, text->image {:.1}/{:.1}/{:.1} ({wall:.0} s, loss {loss:.3})",
                100.0 * seen_seen,
                seen.len(),
                100.0 * unseen_unseen,
                unseen.len(),
                100.0 / unseen.len() as f64,
                100.0 * g_seen,
                100.0 * g_unseen,
                100.0 * harmonic,
                100.0 * i2t[0],
                100.0 * i2t[1],
                100.0 * i2t[2],
                100.0 * t2i[0],
                100.0 * t2i[1],
                100.0 * t2i[2]
            );
            rows_out.push(json!({
                "seed": seed, "text": label, "seen": seen.len(), "unseen": unseen.len(),
                "seen_top1": seen_seen, "unseen_top1": unseen_unseen,
                "unseen_chance": 1.0 / unseen.len() as f64,
                "gzsl_seen": g_seen, "gzsl_unseen": g_unseen, "gzsl_harmonic": harmonic,
                "recall_image_to_text": i2t, "recall_text_to_image": t2i,
                "wall_time_s": wall, "params": tl::tl_core::model::count_params(&model).total,
                "text_cache_hit": vectors.cached,
                "augment": !args.no_augment, "jitter": args.jitter, "blur": args.blur,
            }));
            if *label == "MiniLM" && !args.no_draw {
                let judged = draw_emoji(
                    args, &source, &names, &unseen, &model, &protos, &twitter, seed, dev,
                )?;
                rows_out.push(judged);
            }
            if let (Some(dir), "MiniLM", true) = (&args.pictures, *label, seed == args.first_seed) {
                retrieval_picture(dir, &unseen, &names, &ut, &ui, dim, &twitter, &mut rows_out)?;
            }
        }
    }
    print_emoji(&rows_out, args.seeds);
    out.extra = rows_out;
    Ok(())
}

/// Text to image on emoji: a conditional VAE trained on the seen Google drawings with their
/// names draws each unseen symbol from "an image of <name>"; the aligned model labels each
/// drawing among the unseen names (chance 1 / unseen); a PNG puts drawings beside the real.
#[allow(clippy::too_many_arguments)]
fn draw_emoji(
    args: &Args,
    source: &LabelledSet,
    names: &[String],
    unseen: &[usize],
    model: &tl::tl_crossmodal::ClipModel<Sequential>,
    protos: &[f32],
    twitter: &LabelledSet,
    seed: u64,
    dev: &Device,
) -> Result<Json, Error> {
    use tl::tl_crossmodal::{TextToImage, picture_templates, recall_at};
    let t2i = TextToImage::new()
        .with_templates(picture_templates())
        .with_draw_templates(vec!["an image of {}".into()])
        .with_hidden(vec![512])
        .with_latent(16)
        .with_per_class(1)
        .with_train(
            TrainConfig::new()
                .with_epochs(args.epochs.unwrap_or(60))
                .with_batch_size(64)
                .with_lr(1e-3),
        );
    let mut ctx = RunContext::new(dev).with_seed(seed);
    ctx.begin();
    let (generator, _) = t2i.generator(source, names, &mut ctx)?;
    let unseen_names: Vec<String> = unseen.iter().map(|&i| names[i].clone()).collect();
    let drawn = t2i.drawings(&generator, &unseen_names, &[3, 32, 32], &ctx)?;
    let wall = ctx.elapsed();
    let dim = model.dim();
    let features = model.embed_images(&drawn.inputs, dev, 256)?;
    let candidates: Vec<f32> = unseen
        .iter()
        .flat_map(|&i| protos[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let r = recall_at(&features, &candidates, dim, |q, k| q == k, &[1, 10]);
    // The same judge on the real Twitter drawings of the unseen symbols, for scale.
    let real = model.embed_images(&twitter.select(unseen).inputs, dev, 256)?;
    let r_real = recall_at(&real, &candidates, dim, |q, k| q == k, &[1, 10]);
    eprintln!(
        "seed {seed}: text to image: {} unseen symbols drawn from their names; the aligned model names {:.2} % of the drawings right among the unseen (top-10 {:.2} %; chance {:.2}), {:.2} % of the real Twitter drawings ({wall:.0} s)",
        drawn.len(),
        100.0 * r[0],
        100.0 * r[1],
        100.0 / unseen.len() as f64,
        100.0 * r_real[0]
    );
    if let (Some(dir), true) = (&args.pictures, seed == args.first_seed) {
        std::fs::create_dir_all(dir)?;
        let some: Vec<usize> = (0..unseen.len())
            .step_by((unseen.len() / 12).max(1))
            .take(12)
            .collect();
        let mut items: Vec<&[f32]> = some
            .iter()
            .map(|&k| twitter.inputs.item(unseen[k]))
            .collect();
        items.extend(some.iter().map(|&k| drawn.inputs.item(k)));
        let path = dir.join("emoji-text-to-image.png");
        tl::tl_data::images::write_grid_png(&path, &items, &[3, 32, 32], some.len(), false)?;
        let shown: Vec<&str> = some.iter().map(|&k| unseen_names[k].as_str()).collect();
        eprintln!(
            "wrote {} (top: Twitter's drawing; below: drawn from the name: {})",
            path.display(),
            shown.join("; ")
        );
    }
    Ok(json!({
        "seed": seed, "what": "text-to-image", "unseen": unseen.len(),
        "drawn_named_right": r[0], "drawn_top10": r[1], "real_named_right": r_real[0],
        "wall_time_s": wall,
    }))
}

/// A PNG of text -> image retrieval on unseen symbols: each row a query name's true drawing,
/// then its five nearest drawings; the query names go into the JSON.
#[allow(clippy::too_many_arguments)]
fn retrieval_picture(
    dir: &Path,
    unseen: &[usize],
    names: &[String],
    texts: &[f32],
    images: &[f32],
    dim: usize,
    twitter: &LabelledSet,
    rows_out: &mut Vec<Json>,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let blank = vec![1.0f32; 3 * 32 * 32];
    let mut items: Vec<&[f32]> = Vec::new();
    let mut queries = Vec::new();
    for q in (0..unseen.len())
        .step_by((unseen.len() / 10).max(1))
        .take(10)
    {
        let tv = &texts[q * dim..(q + 1) * dim];
        let mut order: Vec<(f32, usize)> = (0..unseen.len())
            .map(|k| {
                (
                    tv.iter()
                        .zip(&images[k * dim..(k + 1) * dim])
                        .map(|(a, b)| a * b)
                        .sum(),
                    k,
                )
            })
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        items.push(twitter.inputs.item(unseen[q]));
        items.push(&blank);
        for &(_, k) in order.iter().take(5) {
            items.push(twitter.inputs.item(unseen[k]));
        }
        queries.push(names[unseen[q]].clone());
    }
    let path = dir.join("emoji-retrieval.png");
    tl::tl_data::images::write_grid_png(&path, &items, &[3, 32, 32], 7, false)?;
    eprintln!("wrote {} (rows: {})", path.display(), queries.join("; "));
    rows_out.push(json!({"picture": path, "queries": queries}));
    Ok(())
}

fn print_emoji(rows: &[Json], seeds: u64) {
    println!(
        "\nEmoji: Google drawings of 80 % of the subcategories aligned with their names; Twitter drawings scored from names, {seeds} seeds (mean ± std, %)\n"
    );
    println!(
        "| text side | seen top-1 | unseen top-1 (chance) | GZSL seen | GZSL unseen | GZSL H | unseen R@1/5/10 image->text | text->image | wall (s) |\n|---|---|---|---|---|---|---|---|---|"
    );
    for label in ["MiniLM", "hashed words"] {
        let mine: Vec<&Json> = rows.iter().filter(|r| r["text"] == label).collect();
        if mine.is_empty() {
            continue;
        }
        let f = |k: &str| {
            let (m, s) = mean_std(
                &mine
                    .iter()
                    .map(|r| r[k].as_f64().unwrap_or(0.0))
                    .collect::<Vec<_>>(),
            );
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        };
        let r = |k: &str| {
            (0..3)
                .map(|i| {
                    let v: Vec<f64> = mine
                        .iter()
                        .map(|r| r[k][i].as_f64().unwrap_or(0.0))
                        .collect();
                    format!("{:.1}", 100.0 * mean_std(&v).0)
                })
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let chance = mean_std(
            &mine
                .iter()
                .map(|r| r["unseen_chance"].as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )
        .0;
        let wall = mean_std(
            &mine
                .iter()
                .map(|r| r["wall_time_s"].as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )
        .0;
        println!(
            "| {label} | {} | {} ({:.2}) | {} | {} | {} | {} | {} | {wall:.0} |",
            f("seen_top1"),
            f("unseen_top1"),
            100.0 * chance,
            f("gzsl_seen"),
            f("gzsl_unseen"),
            f("gzsl_harmonic"),
            r("recall_image_to_text"),
            r("recall_text_to_image")
        );
    }
    let judged: Vec<&Json> = rows
        .iter()
        .filter(|r| r["what"] == "text-to-image")
        .collect();
    if !judged.is_empty() {
        let f = |k: &str| {
            let (m, s) = mean_std(
                &judged
                    .iter()
                    .map(|r| r[k].as_f64().unwrap_or(0.0))
                    .collect::<Vec<_>>(),
            );
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        };
        println!(
            "\nText to image: each unseen symbol drawn from \"an image of <name>\"; the aligned model (MiniLM) names the drawing right among the unseen symbols {} % (top-10 {} %), the real Twitter drawings {} %",
            f("drawn_named_right"),
            f("drawn_top10"),
            f("real_named_right")
        );
    }
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
