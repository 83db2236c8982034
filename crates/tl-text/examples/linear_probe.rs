//! A linear probe on frozen all-MiniLM-L6-v2 sentence embeddings: sentiment of Amazon reviews.
//!
//! The 2,000 reviews of a domain (1,000 positive, 1,000 negative) are embedded once at 128
//! tokens (cached on disk, so later runs and other strategies reuse them), then split per seed
//! into 1,600 train / 400 test, stratified; a logistic-regression head is trained on all 1,600
//! and on 100 of them (50 per class).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/models \
//!   cargo run --release -p tl-text --example linear_probe -- [--domain books] [--seeds 3] \
//!   [--cache DIR] [--json PATH]
//! ```

use burn::tensor::Device;
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;
use tl_core::checkpoint::write_atomic;
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, count_params, head_config};
use tl_core::report::{Comparison, FitReport};
use tl_core::train::{TrainConfig, Trainer, evaluate};
use tl_data::split::{k_per_class, stratified_split};
use tl_text::{EmbeddingCache, LoadOptions, SentenceEncoder};

/// A linear probe on frozen all-MiniLM-L6-v2 sentence embeddings: sentiment of Amazon reviews
/// (needs TL_DATA_DIR and TL_MODEL_DIR).
#[derive(Parser)]
struct Args {
    /// The Amazon domain: a folder of the reviews (books, dvd, electronics, kitchen).
    #[arg(long, default_value = "books")]
    domain: String,
    /// Number of seeds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Folder of the embedding cache [default: ~/.cache/tl-text/embeddings].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Backend: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Also write every run's report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn probe(
    train: &LabelledSet,
    test: &LabelledSet,
    name: &str,
    seed: u64,
    dev: &Device,
) -> Result<FitReport, Box<dyn std::error::Error>> {
    let ad = dev.clone().autodiff();
    ad.seed(seed);
    let config = TrainConfig::new()
        .with_epochs(100)
        .with_batch_size(64)
        .with_lr(1e-2)
        .with_seed(seed);
    let encoder =
        tl_core::model::SequentialConfig::new(vec![train.inputs.item_size()]).init(&ad)?;
    let head = head_config(train.inputs.item_size(), &[], 2).init(&ad)?;
    let model = Classifier::new(encoder, head)?;
    let start = Instant::now();
    let out = Trainer::new(config.clone()).fit(model, train, None, &ad)?;
    let wall = start.elapsed().as_secs_f64();
    let metrics = evaluate(&out.model, test, &ad, 512)?;
    eprintln!(
        "seed {seed}: {name:<28} test accuracy {:.2} % ({wall:.1} s)",
        100.0 * metrics.accuracy
    );
    Ok(FitReport {
        strategy: name.into(),
        config: serde_json::to_value(&config)?,
        history: out.history,
        params: count_params(&out.model),
        metrics,
        wall_time_s: wall,
        device: tl_core::device::device_label(dev),
        seed,
        extra: Default::default(),
    })
}

/// Errors as one line (`error: ...`), not as a debug dump.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (Some(data), Some(models)) = (tl_core::paths::data_dir(), tl_core::paths::model_dir())
    else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR (see the README)");
        std::process::exit(2);
    };
    let (domain, seeds) = (args.domain, args.seeds);
    let cache_dir = args.cache.unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".cache/tl-text/embeddings")
    });
    let dev = tl_core::device::device(&args.device)?;
    let encoder = SentenceEncoder::load_with(
        &models.join("all-MiniLM-L6-v2"),
        LoadOptions {
            max_len: Some(128),
            ..Default::default()
        },
        &dev,
    )?;
    let reviews = tl_data::text::amazon_domain(&data.join("amazon-reviews"), &domain)?;
    let texts: Vec<&str> = reviews.texts.iter().map(String::as_str).collect();

    let mut cache = EmbeddingCache::new(&cache_dir);
    let start = Instant::now();
    let vectors = cache.embed(&encoder, &texts, 32, &dev, |done, total| {
        if done % 320 == 0 || done == total {
            eprintln!("embedding {domain}: {done}/{total}");
        }
    })?;
    let embed_s = start.elapsed().as_secs_f64();
    eprintln!(
        "{} reviews embedded in {embed_s:.1} s ({}; cache {})",
        texts.len(),
        if cache.stats().hits > 0 {
            "from the cache"
        } else {
            "computed"
        },
        cache_dir.display()
    );
    let all = LabelledSet::new(
        Inputs::new(vec![encoder.dim()], vectors)?,
        reviews.labels.clone(),
        reviews.class_names.clone(),
        format!("amazon/{domain}"),
    )?;

    let mut comparison = Comparison::default();
    for seed in 0..seeds {
        let (train, test) = stratified_split(&all, 0.8, seed)?;
        comparison.push(probe(
            &train,
            &test,
            "linear probe, 1,600 labels",
            seed,
            &dev,
        )?);
        let (few, _) = k_per_class(&train, 50, seed)?;
        comparison.push(probe(&few, &test, "linear probe, 100 labels", seed, &dev)?);
    }
    println!(
        "\nFrozen all-MiniLM-L6-v2 (128 tokens, mean pooling, normalised) + logistic regression, \
         Amazon {domain}, 400 test reviews per seed, {seeds} seeds\n"
    );
    println!("{}", comparison.to_markdown());
    if let Some(path) = args.json {
        write_atomic(&path, comparison.to_json()?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
