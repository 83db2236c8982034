//! Inductive transfer on real data with real pretrained models (needs `TL_DATA_DIR` and
//! `TL_MODEL_DIR`):
//!
//! 1. **Vision**: the pretrained MNIST CNN (`mnist-cnn/handwriting_model.pth`) to a new task in
//!    the handwriting domain: 20 Omniglot characters of `images_background_small2` (a seeded
//!    choice per seed), 5 or 10 labelled images each, the other 15 or 10 for test. Rows:
//!    scratch (same architecture, random init), linear probe, partial (first two conv blocks
//!    frozen), partial with surgery (convolutions frozen, the fully connected layer dropped
//!    and a new one added), full, gradual unfreezing, discriminative rates, L2-SP, LoRA; and a
//!    hyperparameter search for L2-SP on a validation split of the 10-shot labels.
//! 2. **Text**: all-MiniLM-L6-v2 (`all-MiniLM-L6-v2/`, see `scripts/fetch-minilm.sh`) to
//!    sentiment on Amazon `books` (1,600 train / 400 test per seed, and 100 of the 1,600):
//!    linear probe on cached embeddings, LoRA, full fine-tuning, and the same architecture
//!    trained from scratch; 128 tokens.
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/models cargo run --release --example fine_tuning -- \
//!     [--part vision|text|all] [--seeds 3] [--text-seeds 3] [--json PATH]
//!     [--text-labels 100,1600] [--text-large-seeds 1] [--seed-from 0]
//! ```
//!
//! Fine-tuning MiniLM on 1,600 reviews costs 5-7 minutes a fit on 2 cores, so those rows run
//! `--text-large-seeds` seeds (1 by default); `--seed-from` starts the text seeds later, to add
//! seeds to an earlier run.

use clap::{Parser, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::model::{LayerConfig, Sequential, SequentialConfig};
use tl::tl_core::train::OptimizerKind;
use tl::tl_data::split::{k_per_class, select_classes, stratified_split};
use tl::tl_inductive::*;
use tl::tl_text::{Bert, EmbeddingCache, LoadOptions, SentenceEncoder};

type Error = Box<dyn std::error::Error>;

/// Inductive transfer on real data with real pretrained models (needs TL_DATA_DIR and
/// TL_MODEL_DIR): the MNIST CNN to 20 Omniglot characters, and all-MiniLM-L6-v2 to Amazon
/// books sentiment.
#[derive(Parser)]
struct Args {
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Seeds of the vision part.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The text part runs seeds `--seed-from` up to (not including) this.
    #[arg(long, default_value_t = 3)]
    text_seeds: u64,
    /// First seed of the text part (to add seeds to an earlier run).
    #[arg(long, default_value_t = 0)]
    seed_from: u64,
    /// Numbers of labelled training reviews of the text part, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1600")]
    text_labels: Vec<usize>,
    /// The costly text rows (fine-tuning MiniLM on more than 100 reviews) run for the seeds
    /// below this.
    #[arg(long, default_value_t = 1)]
    text_large_seeds: u64,
    /// Backend: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Also write every run's report as JSON to this file (after each part; a file that
    /// exists is refused).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The parts of the example.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Part {
    /// The MNIST CNN to Omniglot.
    Vision,
    /// all-MiniLM-L6-v2 to Amazon books sentiment.
    Text,
    /// Both.
    All,
}

fn log(started: &Instant, what: &str, report: &FitReport) {
    eprintln!(
        "[{:>5.0} s] {what:<34} seed {} accuracy {:.2} % ({:.1} s)",
        started.elapsed().as_secs_f64(),
        report.seed,
        100.0 * report.metrics.accuracy,
        report.wall_time_s
    );
}

fn named(mut report: FitReport, name: String) -> FitReport {
    report.strategy = name;
    report
}

/// Omniglot task of seed `seed`: 20 characters drawn from all, `shots` labelled each.
fn omniglot_task(all: &LabelledSet, shots: usize, seed: u64) -> Result<TransferTask, Error> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut classes: Vec<usize> = (0..all.num_classes()).collect();
    classes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    classes.truncate(20);
    let chosen = select_classes(all, &classes)?;
    let (train, test) = k_per_class(&chosen, shots, seed)?;
    Ok(TransferTask::new(20)
        .with_target_labelled(train)
        .with_target_test(test))
}

fn vision(
    data: &Path,
    models: &Path,
    seeds: u64,
    dev: &Device,
    started: &Instant,
) -> Result<(Comparison, serde_json::Value), Error> {
    let all =
        tl::tl_data::images::omniglot(&data.join("omniglot/images_background_small2.zip"), 28)?;
    let weights = models.join("mnist-cnn/handwriting_model.pth");
    let pretrained = || -> Result<Sequential, Error> {
        Ok(tl::tl_models::arch::mnist_cnn_pretrained(&weights, dev)?
            .0
            .encoder)
    };
    let mut comparison = Comparison::default();
    for shots in [5, 10] {
        for seed in 0..seeds {
            let task = omniglot_task(&all, shots, seed)?;
            let train = TrainConfig::new()
                .with_epochs(30)
                .with_batch_size(20)
                .with_lr(1e-3)
                .with_seed(seed);
            let tag = |name: &str| format!("{name}, {shots}-shot");
            let mut push = |name: &str, report: FitReport| {
                log(started, &tag(name), &report);
                comparison.push(named(report, tag(name)));
            };
            dev.seed(seed);
            let random = tl::tl_models::arch::mnist_cnn(dev)?.encoder;
            push(
                "scratch",
                FullFineTune::new()
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(random),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            let probe = LinearProbe::new().with_train(train.clone().with_epochs(100).with_lr(1e-2));
            push(
                "linear probe",
                probe
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "partial (2 conv blocks frozen)",
                PartialFineTune::new(2)
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            dev.seed(seed);
            let surgery = partial::replace_top(
                pretrained()?,
                2,
                &[LayerConfig::Linear { out: 256 }, LayerConfig::Relu],
                dev,
            )?;
            push(
                "partial (convs frozen, new fc)",
                PartialFineTune::new(3)
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(surgery),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "full",
                FullFineTune::new()
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "gradual unfreezing",
                GradualUnfreezing::new()
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "discriminative lr (0.5)",
                DiscriminativeLr::new()
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "L2-SP (alpha 0.01)",
                L2Sp::new()
                    .with_alpha(0.01)
                    .with_train(train.clone())
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            push(
                "LoRA (rank 8, fc only)",
                LoraFineTune::new()
                    .with_train(train.clone().with_lr(3e-3))
                    .fit(
                        Pretrained::encoder(pretrained()?),
                        &task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
        }
    }

    // Hyperparameter search for L2-SP on the labels of the 10-shot task of seed 0.
    let task = omniglot_task(&all, 10, 0)?;
    let base = TrainConfig::new()
        .with_epochs(30)
        .with_batch_size(20)
        .with_seed(0);
    let search = HyperSearch::new()
        .with_lr(vec![3e-4, 1e-3, 3e-3])
        .with_reg(vec![0.001, 0.01, 0.1])
        .with_valid_fraction(0.3);
    let registry = tl::registry()?;
    let settings = serde_json::json!({"train": base});
    let l2sp = Tuned {
        registry: &registry,
        name: "l2-sp",
        settings: &settings,
        reg_setting: Some("alpha"),
    };
    let start = Pretrained::encoder(pretrained()?);
    let mut ctx = RunContext::new(dev).with_seed(0);
    let result = search.run(&l2sp, &start, &task, &mut ctx, |done, total, trial| {
        eprintln!(
            "[{:>5.0} s] search {done}/{total}: lr {:e} alpha {:e} -> validation {:.2} %",
            started.elapsed().as_secs_f64(),
            trial.params.lr,
            trial.params.reg,
            100.0 * trial.valid_accuracy
        )
    })?;
    let best = l2sp.settings_for(&base, &result.best_params())?;
    let refit = registry
        .create("l2-sp", &best)?
        .fit(start, &task, &mut ctx)?
        .1;
    println!(
        "\nL2-SP hyperparameter search (10-shot task of seed 0, 30 % of its labels held out)\n"
    );
    println!("{}", result.to_markdown());
    println!(
        "best refit on all 200 labels: test accuracy {:.2} %",
        100.0 * refit.metrics.accuracy
    );
    let search_json = serde_json::json!({
        "trials": result.trials, "best": result.best, "refit_test_accuracy": refit.metrics.accuracy,
    });
    Ok((comparison, search_json))
}

/// Which text runs to make.
struct TextPlan {
    seeds: std::ops::Range<u64>,
    labels: Vec<usize>,
    large_seeds: u64,
}

fn text(
    data: &Path,
    models: &Path,
    plan: &TextPlan,
    dev: &Device,
    started: &Instant,
) -> Result<Comparison, Error> {
    let encoder = SentenceEncoder::load_with(
        &models.join("all-MiniLM-L6-v2"),
        LoadOptions {
            max_len: Some(128),
            ..Default::default()
        },
        dev,
    )?;
    let reviews = tl::tl_data::text::amazon_domain(&data.join("amazon-reviews"), "books")?;
    let texts: Vec<&str> = reviews.texts.iter().map(String::as_str).collect();
    let cache_dir = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/tl-text/embeddings");
    let vectors =
        EmbeddingCache::new(cache_dir).embed(&encoder, &texts, 32, dev, |done, total| {
            if done % 500 == 0 || done == total {
                eprintln!("embedding books: {done}/{total}");
            }
        })?;
    let classes = reviews.class_names.clone();
    let embedded = LabelledSet::new(
        Inputs::new(vec![encoder.dim()], vectors)?,
        reviews.labels.clone(),
        classes.clone(),
        "amazon/books",
    )?;
    let tokens = LabelledSet::new(
        encoder.token_inputs(&texts)?,
        reviews.labels.clone(),
        classes,
        "amazon/books",
    )?;
    let identity = SequentialConfig::new(vec![encoder.dim()]).init(dev)?;
    let lora_targets =
        vec![r"^encoder\.encoder\.layers\.[0-9]+\.mha\.(query|value)\.weight$".to_string()];

    let mut comparison = Comparison::default();
    for &labels in &plan.labels {
        for seed in plan.seeds.clone() {
            let split = |set: &LabelledSet| -> Result<(LabelledSet, LabelledSet), Error> {
                let (train, test) = stratified_split(set, 0.8, seed)?;
                let train = if labels < train.len() {
                    k_per_class(&train, labels / 2, seed)?.0
                } else {
                    train
                };
                Ok((train, test))
            };
            let (e_train, e_test) = split(&embedded)?;
            let (t_train, t_test) = split(&tokens)?;
            let e_task = TransferTask::new(2)
                .with_target_labelled(e_train)
                .with_target_test(e_test);
            let t_task = TransferTask::new(2)
                .with_target_labelled(t_train)
                .with_target_test(t_test);
            let tag = |name: &str| format!("{name}, {labels} labels");
            let mut push = |name: &str, report: FitReport| {
                log(started, &tag(name), &report);
                comparison.push(named(report, tag(name)));
            };
            let probe = LinearProbe::new().with_train(
                TrainConfig::new()
                    .with_epochs(100)
                    .with_batch_size(64)
                    .with_lr(1e-2)
                    .with_seed(seed),
            );
            push(
                "linear probe (cached embeddings)",
                probe
                    .fit(
                        Pretrained::encoder(identity.clone()),
                        &e_task,
                        &mut RunContext::new(dev).with_seed(seed),
                    )?
                    .1,
            );
            // Fine-tuning runs cost minutes each on a CPU: fewer seeds for the large rows.
            if labels > 100 && seed >= plan.large_seeds {
                continue;
            }
            let epochs = if labels > 100 { 1 } else { 8 };
            let train = TrainConfig::new()
                .with_epochs(epochs)
                .with_batch_size(16)
                .with_optimizer(OptimizerKind::AdamW { weight_decay: 0.01 })
                .with_seed(seed);
            let lora = LoraFineTune::new()
                .with_rank(8)
                .with_alpha(16.0)
                .with_targets(lora_targets.clone())
                .with_train(train.clone().with_lr(1e-3));
            push(
                "LoRA (rank 8, query/value)",
                lora.fit(
                    Pretrained::encoder(encoder.model().clone()),
                    &t_task,
                    &mut RunContext::new(dev).with_seed(seed),
                )?
                .1,
            );
            let full = FullFineTune::new()
                .with_head_lr_factor(20.0)
                .with_train(train.clone().with_lr(5e-5));
            push(
                "full fine-tuning",
                full.fit(
                    Pretrained::encoder(encoder.model().clone()),
                    &t_task,
                    &mut RunContext::new(dev).with_seed(seed),
                )?
                .1,
            );
            if labels == 100 {
                dev.seed(seed);
                let info = encoder.model().info();
                let random = Bert::new(&info.config, info.pooling, info.seq_len, dev)?;
                let scratch = FullFineTune::new()
                    .with_head_lr_factor(10.0)
                    .with_train(train.clone().with_lr(1e-4));
                push(
                    "scratch (same architecture)",
                    scratch
                        .fit(
                            Pretrained::encoder(random),
                            &t_task,
                            &mut RunContext::new(dev).with_seed(seed),
                        )?
                        .1,
                );
            }
        }
    }
    Ok(comparison)
}

/// Errors as one line (`error: ...`), not as a debug dump.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args = Args::parse();
    let (Some(data), Some(models)) = (
        tl::tl_core::paths::data_dir(),
        tl::tl_core::paths::model_dir(),
    ) else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR (see the README)");
        std::process::exit(2);
    };
    let seeds = args.seeds;
    if matches!(args.part, Part::Text | Part::All) {
        if args.seed_from >= args.text_seeds {
            return Err(format!(
                "--seed-from {} runs no text seed: the text part runs seeds --seed-from up to \
                 (not including) --text-seeds {}",
                args.seed_from, args.text_seeds
            )
            .into());
        }
        if let Some(&bad) = args
            .text_labels
            .iter()
            .find(|&&n| !(2..=1_600).contains(&n) || !n.is_multiple_of(2))
        {
            return Err(format!(
                "--text-labels {bad}: each number of labelled reviews must be even (half of them \
                 of each class), from 2 up to the 1,600 training reviews of books"
            )
            .into());
        }
    }
    if let Some(path) = args.json.as_deref().filter(|p| p.exists()) {
        return Err(format!(
            "{} exists (an earlier run's results): name another file, or remove it",
            path.display()
        )
        .into());
    }
    let dev = device(&args.device)?;
    let started = Instant::now();
    let mut json = serde_json::Map::new();
    // Written after each part, so that a later part's failure keeps the earlier results.
    let save = |json: &serde_json::Map<String, serde_json::Value>| -> Result<(), Error> {
        if let Some(path) = &args.json {
            write_atomic(path, serde_json::to_string_pretty(json)?.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    };
    if matches!(args.part, Part::Vision | Part::All) {
        let (comparison, search) = vision(&data, &models, seeds, &dev, &started)?;
        println!(
            "\nMNIST CNN -> Omniglot, 20 characters, {seeds} seeds\n\n{}",
            comparison.to_markdown()
        );
        json.insert(
            "vision".into(),
            serde_json::from_str(&comparison.to_json()?)?,
        );
        json.insert("vision_search".into(), search);
        save(&json)?;
    }
    if matches!(args.part, Part::Text | Part::All) {
        let plan = TextPlan {
            seeds: args.seed_from..args.text_seeds,
            labels: args.text_labels.clone(),
            large_seeds: args.text_large_seeds,
        };
        let comparison = text(&data, &models, &plan, &dev, &started)?;
        println!(
            "\nall-MiniLM-L6-v2 -> Amazon books sentiment, 400 test reviews\n\n{}",
            comparison.to_markdown()
        );
        json.insert("text".into(), serde_json::from_str(&comparison.to_json()?)?);
        save(&json)?;
    }
    Ok(())
}
