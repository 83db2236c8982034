//! Domain adaptation on real data (needs `TL_DATA_DIR` and `TL_MODEL_DIR`): the same task in a
//! new domain whose labels are never used (tl-transductive and tl-adversarial).
//!
//! 1. **MNIST -> USPS** from the real pretrained MNIST CNN (`mnist-cnn/handwriting_model.pth`),
//!    under two framings of USPS (16x16): `plain` (bilinear 16 -> 28) and `mnist` (MNIST-style:
//!    16 -> 20, padded to 28), each with its own source-only row. Source: a seeded, balanced
//!    subset of MNIST train; target: USPS train without labels; scored on USPS test (2,007).
//! 2. **USPS -> MNIST** from the same CNN architecture trained here on USPS (MNIST framing);
//!    target: MNIST train without labels; scored on the first 2,000 MNIST test images.
//! 3. **Amazon reviews** (sentiment) across product domains with all-MiniLM-L6-v2 frozen
//!    (embeddings cached) and a small trainable adapter (384 -> 128, ReLU) and head: source
//!    domain 2,000 labelled reviews, target domain 1,600 unlabelled, 400 for test.
//!
//! Methods: source-only (the same training on the source alone), Deep CORAL, MMD, AdaBN (on
//! identity batch-norm layers put into the source model), self-training, self-ensembling (a
//! mean teacher on augmented images), DANN, CDAN+E, ADDA.
//! Every method trains a fixed number of epochs; no target label is used for training or
//! selection (the target test accuracy per epoch is only recorded).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/.cache/tl-models cargo run --release \
//!     --example domain_adaptation -- [--pair mnist-usps|usps-mnist|amazon|all]
//!     [--framing plain|mnist|both] [--seeds 3] [--source-items 6000] [--epochs 3]
//!     [--methods source-only,deep-coral,mmd,adabn,self-training,self-ensembling,dann,cdan+e,adda]
//!     (also `dann+self-training`: DANN, then self-training from its model;
//!     `augmented-source-only`: self-ensembling with its target terms weighted 0)
//!     [--amazon-pairs books:dvd,dvd:electronics,electronics:kitchen,kitchen:books]
//!     [--adda-lr 5e-5] [--se-lr 1e-3] [--coral-weight 1] [--text-coral-weight 1e5] [--json PATH]
//!     [--plot PATH] [--device flex]
//! ```

use clap::Parser;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::model::Sequential;
use tl::tl_core::plot::{Point, ScatterLabels, pca_2d, write_scatter_svg};
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::Family;
use tl::tl_core::strategy::Json;
use tl::tl_core::train::encode_inputs;
use tl::tl_data::split::{k_per_class, stratified_split};
use tl::tl_data::transform::RandomAffine;
use tl::tl_data::transform::{frame_set, resize_set};

type Error = Box<dyn std::error::Error>;

/// Domain adaptation on real data: MNIST <-> USPS and Amazon reviews.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Which comparison.
    #[arg(long, default_value = "all", value_parser = ["mnist-usps", "usps-mnist", "amazon", "all"])]
    pair: String,
    /// How USPS is framed for the MNIST CNN.
    #[arg(long, default_value = "both", value_parser = ["plain", "mnist", "both"])]
    framing: String,
    /// Seeds per comparison.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// MNIST source items (MNIST -> USPS), balanced over the classes.
    #[arg(long, default_value_t = 6000)]
    source_items: usize,
    /// Epochs of the digit comparisons.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Epochs of the Amazon comparisons.
    #[arg(long, default_value_t = 10)]
    text_epochs: usize,
    /// Methods, comma-separated: registered strategies or the rows defined here.
    #[arg(long, value_delimiter = ',', default_value = METHODS)]
    methods: Vec<String>,
    /// Amazon pairs, source:target, comma-separated.
    #[arg(
        long,
        default_value = "books:dvd,dvd:electronics,electronics:kitchen,kitchen:books"
    )]
    amazon_pairs: String,
    /// ADDA's rate (default 5e-5 on digits, 1e-4 on Amazon).
    #[arg(long)]
    adda_lr: Option<f64>,
    /// Self-ensembling's rate.
    #[arg(long, default_value_t = 1e-3)]
    se_lr: f64,
    /// Weight of the CORAL term on digits.
    #[arg(long, default_value_t = 1.0)]
    coral_weight: f64,
    /// Weight of the CORAL term on Amazon.
    #[arg(long, default_value_t = 1e5)]
    text_coral_weight: f64,
    /// Write the reports as JSON here (after each comparison; a file that exists is refused).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the PCA picture of MNIST -> USPS here (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
}

/// What every comparison runs with.
struct At<'a> {
    registry: Registry,
    dev: &'a Device,
    started: &'a Instant,
    data: &'a Path,
    models: &'a Path,
    seeds: u64,
}

const METHODS: &str =
    "source-only,deep-coral,mmd,adabn,self-training,self-ensembling,dann,cdan+e,adda";

/// The method names with settings of their own here (beside any registered strategy).
const ROWS: &str = "deep-coral, mmd, adabn, self-training, self-ensembling, \
                    augmented-source-only, dann, cdan+e, adda, dann+self-training";

/// How one comparison trains.
#[derive(Clone)]
struct Setup {
    methods: Vec<String>,
    train: TrainConfig,
    /// Layers of the source encoder to put identity batch norm after (for AdaBN).
    bn_after: Vec<usize>,
    /// The weight of the CORAL term.
    coral_weight: f64,
    /// The weight of the MMD term.
    mmd_weight: f64,
    /// ADDA's rate (its GAN game collapses at the others' rate).
    adda_lr: f64,
    /// Self-ensembling's rate.
    se_lr: f64,
    /// Self-ensembling's augmentation.
    se_augment: RandomAffine,
}

/// The part of the task's source the methods train on (they hold out 10 % of each class, with
/// the run's seed): the source model trains on it too, so the held-out source accuracy is
/// measured on items no model has seen.
fn source_part(task: &TransferTask, seed: u64) -> Result<LabelledSet, Error> {
    Ok(
        tl::tl_core::domain::AdaptationSets::from_task(task, "source model", 0.1, seed)?
            .source_train,
    )
}

/// The adapted models of one run, by method.
type Adapted = BTreeMap<String, Classifier<Sequential>>;

/// The registered strategies a method name runs, in turn, with their settings: a registered
/// name alone (with the setup's training), or one of the rows below.
fn row<'m>(method: &'m str, setup: &Setup) -> Result<Vec<(&'m str, Json)>, Error> {
    let train = &setup.train;
    let half = train.clone().with_epochs(train.epochs.div_ceil(2).max(1));
    let se = json!({
        "train": train.clone().with_lr(setup.se_lr),
        "augment": serde_json::to_value(&setup.se_augment)?,
    });
    let dann = json!({"train": train, "discriminator_lr_factor": 10.0});
    let self_training = json!({"train": half, "rounds": 3});
    Ok(match method {
        "deep-coral" => vec![(
            "deep-coral",
            json!({"train": train, "weight": setup.coral_weight}),
        )],
        "mmd" => vec![("mmd", json!({"train": train, "weight": setup.mmd_weight}))],
        "adabn" => vec![("adabn", json!({"insert_after": setup.bn_after}))],
        "self-training" => vec![("self-training", self_training)],
        "self-ensembling" => vec![("self-ensembling", se)],
        // The ablation: the same augmented source loss and moving-average teacher, the
        // target terms weighted 0 (what the augmentation alone is worth).
        "augmented-source-only" => {
            let mut se = se;
            se["consistency_weight"] = json!(0.0);
            vec![("self-ensembling", se)]
        }
        "dann" => vec![("dann", dann)],
        "cdan+e" => vec![("cdan+e", dann)],
        "adda" => vec![(
            "adda",
            json!({
                "train": train.clone().with_lr(setup.adda_lr),
                "discriminator": {"hidden": [500, 500]},
            }),
        )],
        // Methods compose: each takes a classifier and returns one.
        "dann+self-training" => vec![("dann", dann), ("self-training", self_training)],
        // Any other registered strategy with the setup's training (an unknown name is
        // refused by the registry, which lists the known ones).
        other => vec![(other, json!({"train": train}))],
    })
}

/// Runs every method of `setup` on `task` from `model`; returns the reports.
fn run_methods(
    at: &At<'_>,
    label: &str,
    model: &Classifier<Sequential>,
    task: &TransferTask,
    setup: &Setup,
    seed: u64,
) -> Result<(Vec<FitReport>, Adapted), Error> {
    let (registry, dev, started) = (&at.registry, at.dev, at.started);
    let setup = &Setup {
        train: setup.train.clone().with_seed(seed),
        ..setup.clone()
    };
    let mut reports = Vec::new();
    let mut models = BTreeMap::new();
    for method in &setup.methods {
        // A row runs its steps in turn, each from the classifier the one before returned
        // (methods compose); the report is the last step's, under the row's name.
        let mut adapted = model.clone();
        let mut last = None;
        for (name, settings) in row(method, setup)? {
            let strategy = registry
                .create(name, &settings)
                .map_err(|e| format!("{e}; or a row of its own: {ROWS}"))?;
            let mut ctx = RunContext::new(dev).with_seed(seed);
            let (next, report) = strategy.fit(Pretrained::classifier(adapted), task, &mut ctx)?;
            adapted = next;
            last = Some(report);
        }
        let mut report = last.ok_or_else(|| format!("row {method} runs nothing"))?;
        report.strategy = method.clone();
        eprintln!(
            "[{:>5.0} s] {label:<26} {:<14} seed {seed}: target {:.2} %, source {:.2} %, A-distance {:.2} -> {:.2} ({:.0} s)",
            started.elapsed().as_secs_f64(),
            report.strategy,
            100.0 * report.metrics.accuracy,
            100.0 * report.extra["source_accuracy"],
            report.extra["pad_before"],
            report.extra["pad_after"],
            report.wall_time_s
        );
        models.insert(report.strategy.clone(), adapted);
        reports.push(report);
    }
    Ok((reports, models))
}

/// The table of one comparison: per method, mean ± std over seeds.
fn table(title: &str, unadapted: &[f64], reports: &[FitReport]) -> String {
    let mut order: Vec<&str> = Vec::new();
    for r in reports {
        if !order.contains(&r.strategy.as_str()) {
            order.push(&r.strategy);
        }
    }
    let pct = |v: &[f64]| {
        let (m, s) = mean_std(v);
        format!("{:.2} % ± {:.2}", 100.0 * m, 100.0 * s)
    };
    let mut out = format!(
        "{title}\n\n| method | target accuracy | source accuracy (held out) | A-distance before -> after | s per fit |\n|---|---:|---:|---:|---:|\n"
    );
    if !unadapted.is_empty() {
        out += &format!("| source model, unadapted | {} | | | |\n", pct(unadapted));
    }
    for name in order {
        let runs: Vec<&FitReport> = reports.iter().filter(|r| r.strategy == name).collect();
        let get = |k: &str| runs.iter().map(|r| r.extra[k]).collect::<Vec<f64>>();
        let acc: Vec<f64> = runs.iter().map(|r| r.metrics.accuracy).collect();
        let wall: Vec<f64> = runs.iter().map(|r| r.wall_time_s).collect();
        out += &format!(
            "| {name} | {} | {} | {:.2} -> {:.2} | {:.0} |\n",
            pct(&acc),
            pct(&get("source_accuracy")),
            mean_std(&get("pad_before")).0,
            mean_std(&get("pad_after")).0,
            mean_std(&wall).0
        );
    }
    out
}

/// Writes the PCA picture: source (filled) and target (rings) features, coloured by class,
/// before adaptation and after each given (source encoder, target encoder) pair.
fn plot(
    path: &Path,
    panels: &[(&str, &Sequential, &Sequential)],
    task: &TransferTask,
    title: &str,
    dev: &Device,
) -> Result<(), Error> {
    let source = task.source.as_ref().expect("source");
    let target = task.target_test.as_ref().expect("target test");
    // At most 600 items of each, spread over the set (sets may be sorted by class).
    let spread = |len: usize| {
        let k = len.min(600);
        (0..k).map(|i| i * len / k).collect::<Vec<_>>()
    };
    let (si, ti) = (spread(source.len()), spread(target.len()));
    let (src, tgt) = (source.select(&si), target.select(&ti));
    let mut drawn = Vec::new();
    for (name, source_encoder, target_encoder) in panels {
        let mut rows = encode_inputs(*source_encoder, &src.inputs, dev, 256)?;
        rows.extend(encode_inputs(*target_encoder, &tgt.inputs, dev, 256)?);
        let xy = pca_2d(&rows, target_encoder.feature_dim())?;
        let points = xy
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (class, filled) = if i < src.len() {
                    (src.labels[i], true)
                } else {
                    (tgt.labels[i - src.len()], false)
                };
                Point {
                    xy: *p,
                    class,
                    filled,
                }
            })
            .collect();
        drawn.push((name.to_string(), points));
    }
    let labels = ScatterLabels {
        title: title.into(),
        filled: format!("{} (source)", src.domain),
        rings: format!("{} (target)", tgt.domain),
        classes: src.class_names.clone(),
    };
    write_scatter_svg(path, &labels, &drawn, 360)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn digits(
    at: &At<'_>,
    pair: &str,
    framing: &str,
    setup: &Setup,
    source_items: usize,
    plot_path: Option<&Path>,
) -> Result<(String, Vec<FitReport>), Error> {
    let (data, models, seeds, dev, started) = (at.data, at.models, at.seeds, at.dev, at.started);
    let (mnist_train, mnist_test) = tl::tl_data::idx::mnist(&data.join("mnist"))?;
    let (usps_train, usps_test) = tl::tl_data::libsvm::usps(&data.join("usps"))?;
    let frame = |s: &LabelledSet| -> Result<LabelledSet, Error> {
        Ok(match framing {
            "plain" => resize_set(s, 28, 28)?,
            _ => frame_set(s, 20, 28)?,
        })
    };
    let (usps_train, usps_test) = (frame(&usps_train)?, frame(&usps_test)?);
    let weights = models.join("mnist-cnn/handwriting_model.pth");
    let (mut reports, mut unadapted) = (Vec::new(), Vec::new());
    let label = format!("{pair} ({framing})");
    for seed in 0..seeds {
        let per_class = source_items / 10;
        let (task, model) = if pair == "mnist-usps" {
            let (source, _) = k_per_class(&mnist_train, per_class, seed)?;
            let task = TransferTask::new(10)
                .with_source(source)
                .with_target_unlabelled(usps_train.unlabelled())
                .with_target_test(usps_test.clone());
            let model = tl::tl_models::arch::mnist_cnn_pretrained(&weights, dev)?.0;
            (task, model)
        } else {
            // USPS -> MNIST: a source model trained here on all of USPS train.
            dev.seed(seed);
            let fresh = tl::tl_models::arch::mnist_cnn(dev)?;
            let out = Trainer::new(
                TrainConfig::new()
                    .with_epochs(5)
                    .with_batch_size(64)
                    .with_lr(1e-3)
                    .with_seed(seed),
            )
            .fit(fresh, &usps_train, None, dev)?;
            eprintln!(
                "[{:>5.0} s] USPS source model seed {seed}: {:.2} % on USPS test",
                started.elapsed().as_secs_f64(),
                100.0 * evaluate(&out.model, &usps_test, dev, 256)?.accuracy
            );
            let (target_pool, _) = k_per_class(&mnist_train, per_class, seed)?;
            let test: Vec<usize> = (0..mnist_test.len().min(2000)).collect();
            let task = TransferTask::new(10)
                .with_source(usps_train.clone())
                .with_target_unlabelled(target_pool.unlabelled())
                .with_target_test(mnist_test.select(&test));
            (task, out.model)
        };
        let base = evaluate(&model, task.target_test.as_ref().expect("set"), dev, 256)?.accuracy;
        eprintln!(
            "{label} seed {seed}: unadapted source model {:.2} %",
            100.0 * base
        );
        unadapted.push(base);
        let (runs, adapted) = run_methods(at, &label, &model, &task, setup, seed)?;
        if let (Some(path), 0) = (plot_path, seed) {
            // ADDA maps the source through the source encoder and the target through its own.
            let mut panels: Vec<(&str, &Sequential, &Sequential)> =
                vec![("before", &model.encoder, &model.encoder)];
            for name in ["self-training", "dann", "adda"] {
                if let Some(m) = adapted.get(name) {
                    let source_encoder = if name == "adda" {
                        &model.encoder
                    } else {
                        &m.encoder
                    };
                    panels.push((name, source_encoder, &m.encoder));
                }
            }
            let title = format!(
                "{label}: features of both domains (PCA), before and after adapting, seed 0"
            );
            plot(path, &panels, &task, &title, dev)?;
        }
        reports.extend(runs);
    }
    let title = format!(
        "{label}: {seeds} seeds, {} source items, {} epochs",
        if pair == "mnist-usps" {
            source_items
        } else {
            7291
        },
        setup.train.epochs
    );
    Ok((table(&title, &unadapted, &reports), reports))
}

fn amazon(
    at: &At<'_>,
    pairs: &[(String, String)],
    setup: &Setup,
) -> Result<(String, Vec<FitReport>), Error> {
    let (data, models, seeds, dev) = (at.data, at.models, at.seeds, at.dev);
    use tl::tl_text::{EmbeddingCache, LoadOptions, SentenceEncoder};
    let encoder = SentenceEncoder::load_with(
        &models.join("all-MiniLM-L6-v2"),
        LoadOptions {
            max_len: Some(128),
            ..Default::default()
        },
        dev,
    )?;
    let cache_dir = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/tl-text/embeddings");
    let mut cache = EmbeddingCache::new(&cache_dir);
    let mut domains: BTreeMap<String, LabelledSet> = BTreeMap::new();
    for (a, b) in pairs {
        for d in [a, b] {
            if domains.contains_key(d) {
                continue;
            }
            let reviews = tl::tl_data::text::amazon_domain(&data.join("amazon-reviews"), d)?;
            let texts: Vec<&str> = reviews.texts.iter().map(String::as_str).collect();
            let vectors = cache.embed(&encoder, &texts, 32, dev, |done, total| {
                if done % 640 == 0 || done == total {
                    eprintln!("embedding {d}: {done}/{total}");
                }
            })?;
            domains.insert(
                d.clone(),
                LabelledSet::new(
                    Inputs::new(vec![encoder.dim()], vectors)?,
                    reviews.labels,
                    reviews.class_names,
                    format!("amazon/{d}"),
                )?,
            );
        }
    }
    let mut text = String::new();
    let mut all = Vec::new();
    for (a, b) in pairs {
        let mut reports = Vec::new();
        let label = format!("{a} -> {b}");
        for seed in 0..seeds {
            let (target_pool, target_test) = stratified_split(&domains[b], 0.8, seed)?;
            let task = TransferTask::new(2)
                .with_source(domains[a].clone())
                .with_target_unlabelled(target_pool.unlabelled())
                .with_target_test(target_test);
            dev.seed(seed);
            let adapter = tl::tl_core::model::SequentialConfig::new(vec![encoder.dim()])
                .linear(128)
                .relu()
                .init(dev)?;
            let head = tl::tl_core::model::head_config(128, &[], 2).init(dev)?;
            let out = Trainer::new(
                TrainConfig::new()
                    .with_epochs(20)
                    .with_batch_size(64)
                    .with_lr(1e-3)
                    .with_seed(seed),
            )
            .fit(
                Classifier::new(adapter, head)?,
                &source_part(&task, seed)?,
                None,
                dev,
            )?;
            let (runs, _) = run_methods(at, &label, &out.model, &task, setup, seed)?;
            reports.extend(runs);
        }
        text += &table(&format!("Amazon {label}: {seeds} seeds"), &[], &reports);
        text += "\n";
        all.extend(reports);
    }
    Ok((text, all))
}

/// Writes the reports so far to `--json PATH` (after each comparison: a long run that stops
/// keeps what it finished).
fn save(path: Option<&Path>, json: &serde_json::Map<String, Json>) -> Result<(), Error> {
    if let Some(path) = path {
        write_atomic(path, serde_json::to_string_pretty(json)?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Errors as one line (`error: ...`), not as a debug dump.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let (Some(data), Some(models)) = (
        tl::tl_core::paths::data_dir(),
        tl::tl_core::paths::model_dir(),
    ) else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR (see the README)");
        std::process::exit(2);
    };
    let args = Args::parse();
    // The results of an earlier run are not overwritten by a new one's first table.
    if let Some(path) = args.json.as_deref().filter(|p| p.exists()) {
        return Err(format!(
            "{} exists (an earlier run's results): name another file, or remove it",
            path.display()
        )
        .into());
    }
    let dev = device(&args.device)?;
    let (pair, framing, methods) = (&args.pair, &args.framing, args.methods.clone());
    let plot_path = args.plot.clone();
    let started = Instant::now();
    let at = At {
        registry: tl::registry()?,
        dev: &dev,
        started: &started,
        data: &data,
        models: &models,
        seeds: args.seeds,
    };
    let mut json = serde_json::Map::new();
    let digits_setup = Setup {
        methods: methods.clone(),
        train: TrainConfig::new()
            .with_epochs(args.epochs)
            .with_batch_size(64)
            .with_lr(2e-4),
        // After the three convolutions and the fully connected layer of the MNIST CNN.
        bn_after: vec![1, 4, 7, 10],
        coral_weight: args.coral_weight,
        mmd_weight: 1.0,
        adda_lr: args.adda_lr.unwrap_or(5e-5),
        se_lr: args.se_lr,
        // The paper's digits augmentation.
        se_augment: RandomAffine::default(),
    };
    // Every row's strategies exist and adapt to a domain (another family's strategy would
    // train, then leave out the measures this comparison prints): refused before any work.
    for method in &methods {
        for (name, _) in row(method, &digits_setup)? {
            let entry = at
                .registry
                .entry(name)
                .map_err(|e| format!("{e}; or a row of its own: {ROWS}"))?;
            if !matches!(entry.family(), Family::Transductive | Family::Adversarial) {
                return Err(format!(
                    "`{name}` is a {:?} strategy; this comparison runs domain adaptation (transductive or adversarial strategies, or a row of its own: {ROWS})",
                    entry.family()
                )
                .into());
            }
        }
    }
    for p in ["mnist-usps", "usps-mnist"] {
        if pair != p && pair != "all" {
            continue;
        }
        let framings: Vec<&str> = match (p, framing.as_str()) {
            ("usps-mnist", _) => vec!["mnist"],
            (_, "both") => vec!["plain", "mnist"],
            (_, f) => vec![f],
        };
        for f in framings {
            let plot_here = (p == "mnist-usps" && f == "mnist")
                .then_some(plot_path.as_deref())
                .flatten();
            let (text, reports) = digits(&at, p, f, &digits_setup, args.source_items, plot_here)?;
            println!("\n{text}");
            json.insert(format!("{p}/{f}"), serde_json::to_value(&reports)?);
            save(args.json.as_deref(), &json)?;
        }
    }
    if pair == "amazon" || pair == "all" {
        let pairs: Vec<(String, String)> = args
            .amazon_pairs
            .split(',')
            .map(|p| match p.split_once(':') {
                Some((a, b)) if a != b => Ok((a.to_string(), b.to_string())),
                Some(_) => Err(format!("`{p}`: a pair needs two different domains")),
                None => Err(format!("`{p}` is not SOURCE:TARGET (books:dvd)")),
            })
            .collect::<Result<_, _>>()?;
        let setup = Setup {
            methods,
            train: TrainConfig::new()
                .with_epochs(args.text_epochs)
                .with_batch_size(64)
                .with_lr(1e-3),
            bn_after: vec![0],
            // On these 128 features the CORAL term starts near 1e-6 against a class loss near
            // 0.3 (their first-epoch values on the source model, no target label involved):
            // at weight 1 it changes nothing, so it is scaled to the class loss's size.
            coral_weight: args.text_coral_weight,
            mmd_weight: 1.0,
            adda_lr: args.adda_lr.unwrap_or(1e-4),
            se_lr: args.se_lr,
            // Sentence embeddings have unit norm: Gaussian noise of 0.02 per feature is a
            // perturbation of norm about 0.4 (0.1, the digits' pixel noise, would drown them).
            se_augment: RandomAffine {
                affine_std: 0.0,
                translate: 0.0,
                noise_std: 0.02,
            },
        };
        let (text, reports) = amazon(&at, &pairs, &setup)?;
        println!("\n{text}");
        json.insert("amazon".into(), serde_json::to_value(&reports)?);
        save(args.json.as_deref(), &json)?;
    }
    Ok(())
}
