//! Sentiment across review domains with the text encoder itself adapted (needs `TL_DATA_DIR`
//! and `TL_MODEL_DIR`; all-MiniLM-L6-v2 from `scripts/fetch-minilm.sh`).
//!
//! The lower `--below` layers of all-MiniLM-L6-v2 stay frozen: their token states are
//! computed once per text and cached on disk (tl-text's `EmbeddingCache::states`); the top
//! layers, the pooling and a linear head train on them (`BertTop`), at the cost of the top
//! layers only. Per seed and source domain, a **source model** is fine-tuned on 90 % of the
//! source's labelled reviews (AdamW, the head at 20x the rate, early stopping on the other
//! 10 %: held-out *source* data only). Every method then adapts that model to the target
//! domain (1,600 reviews without labels; scored on the other 400), the same held-out source
//! serving as their source accuracy; no target label is used for training or selection. The
//! baseline of every row is its own source model, unadapted ("source-only"), paired by seed.
//!
//! Domains: the Amazon names (`books`, `dvd`, `electronics`, `kitchen`), a union of them
//! (`books+dvd+electronics`: several sources together), or a CSV/TSV file with a text and a
//! label column (`--text-column`, `--label-column`; labels named like the source's classes:
//! `negative`, `positive` for Amazon sources).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/.cache/tl-models cargo run --release \
//!     --example text_adaptation -- [--pairs all | books:dvd,dvd:books,... ] [--seeds 3]
//!     [--methods aad,dann,self-training] [--below 4] [--seq-len 128|auto]
//!     [--source-epochs 3] [--epochs 1] [--lr 1e-4] [--adapt-lr 2e-5] [--json PATH]
//!     [--text-column text --label-column label] [--lengths] [--device flex]
//! ```
//!
//! `--json PATH` keeps every finished fit: a run that stops (or is stopped) and is started
//! again with the same settings and file goes on after the last finished fit, and trained
//! source models are kept in `~/.cache/tl-text/source-models`.

use clap::Parser;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_adversarial::{Adda, Dann};
use tl::tl_core::checkpoint::{load_weights, save_weights, write_atomic};
use tl::tl_core::model::{Classifier, head_config};
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::{Pretrained, Registry};
use tl::tl_core::train::{EarlyStopping, OptimizerKind, ProgressEvent, evaluate};
use tl::tl_data::split::stratified_split;
use tl::tl_data::text::{
    AMAZON_DOMAINS, TextSet, amazon_domain, load_text_column, load_text_table,
};
use tl::tl_text::{BertTop, EmbeddingCache, LoadOptions, SentenceEncoder, Truncation};
use tl::tl_transductive::{DeepCoral, Mmd, SelfEnsembling, SelfTraining, SourceOnly};

type Error = Box<dyn std::error::Error>;

/// Sentiment across review domains, the encoder's top layers adapted.
#[derive(Parser, Debug)]
struct Args {
    /// Ordered pairs SOURCE:TARGET, comma-separated, or `all` (the 12 Amazon pairs).
    #[arg(long, default_value = "all")]
    pairs: String,
    /// Seeds (0, 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Adaptation methods (each against the unadapted source model): aad, adda, dann,
    /// cdan+e, self-training, self-ensembling (a mean teacher with dropout noise), deep-coral,
    /// mmd, source-only (the source loss alone, as long again).
    #[arg(long, default_value = "aad,dann,self-training")]
    methods: String,
    /// Frozen layers below the trained ones (all-MiniLM-L6-v2 has 6).
    #[arg(long, default_value_t = 4)]
    below: usize,
    /// Token length (128, or `auto`: the 90th percentile of the domains' token counts,
    /// rounded up to a multiple of 16).
    #[arg(long, default_value = "128")]
    seq_len: String,
    /// Word pieces kept from the *end* of a review longer than the sequence length (the rest
    /// from its start; 0: its start only, as sentence-transformers cuts). Sun et al. 2019 kept
    /// 128 + 382 of 512 on IMDb; `--tail 96` is that share at 128.
    #[arg(long, default_value_t = 0)]
    tail: usize,
    /// Epochs of the source model (early stopping on the held-out source).
    #[arg(long, default_value_t = 3)]
    source_epochs: usize,
    /// Epochs of each adaptation method (passes over the source).
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Learning rate of the source model's encoder layers (the head at 20x).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Learning rate of the adaptation methods.
    #[arg(long, default_value_t = 2e-5)]
    adapt_lr: f64,
    /// Items per batch (per domain for the adaptation methods).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Text column of CSV/TSV domains.
    #[arg(long, default_value = "text")]
    text_column: String,
    /// Label column of CSV/TSV domains.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Print the token-length distribution of the domains and stop.
    #[arg(long)]
    lengths: bool,
    /// Write every domain the pairs name as `DIR/NAME.csv` (columns `text`, `label`) and stop:
    /// a CSV domain to try the CSV path on.
    #[arg(long)]
    export_csv: Option<PathBuf>,
    /// Items per domain of the proxy A-distance before and after each fit (0: not measured;
    /// 1000 costs about 50 s per fit with two trained layers on 2 CPU cores).
    #[arg(long, default_value_t = 0)]
    pad_items: usize,
    /// Write each method's predictions for an unlabelled target (a CSV without the label
    /// column) to `DIR/PAIR-METHOD-seedN.csv`: text, predicted label, its probability.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Write (and resume from) every finished fit here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Device.
    #[arg(long, default_value = "flex")]
    device: String,
}

/// One finished fit, as the JSON file keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    pair: String,
    method: String,
    seed: u64,
    /// Target test accuracy.
    target: f64,
    /// The unadapted source model's target test accuracy (same seed).
    source_only: f64,
    /// Held-out source accuracy.
    source: f64,
    /// Seconds of the fit (the source model's own training for `unadapted`).
    seconds: f64,
    /// Proxy A-distance before and after, when measured.
    #[serde(default)]
    pad: Option<(f64, f64)>,
}

/// The file of a run: its settings (a resumed run must match them) and its rows.
#[derive(Debug, Serialize, Deserialize)]
struct RunFile {
    settings: serde_json::Value,
    rows: Vec<Row>,
}

fn cache_root() -> PathBuf {
    EmbeddingCache::default_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

/// A domain by name: an Amazon domain, a `+` union of them, or a CSV/TSV file. A file
/// without the label column is an unlabelled domain (`false`; its labels are placeholders
/// that nothing reads): it can be a target, never a source.
fn load_domain(spec: &str, data: &Path, args: &Args) -> Result<(TextSet, bool), Error> {
    if spec.ends_with(".csv") || spec.ends_with(".tsv") {
        let path = Path::new(spec);
        return match load_text_table(path, &args.text_column, &args.label_column) {
            Ok(set) => Ok((set, true)),
            Err(e)
                if e.to_string()
                    .contains(&format!("no column `{}`", args.label_column)) =>
            {
                let texts = load_text_column(path, &args.text_column)?;
                eprintln!(
                    "{spec} has no column `{}`: {} unlabelled reviews (a target only; the table scores held-out source reviews, --predictions writes what each method predicts for them)",
                    args.label_column,
                    texts.len()
                );
                let n = texts.len();
                Ok((
                    TextSet {
                        texts,
                        labels: vec![0; n],
                        class_names: vec!["negative".into(), "positive".into()],
                        domain: spec.to_string(),
                        ratings: None,
                    },
                    false,
                ))
            }
            Err(e) => Err(e.into()),
        };
    }
    let mut parts = spec.split('+');
    let first = parts.next().unwrap_or_default();
    let known = |d: &str| -> Result<TextSet, Error> {
        if !AMAZON_DOMAINS.contains(&d) {
            return Err(format!(
                "unknown domain `{d}`: one of {AMAZON_DOMAINS:?}, a `+` union of them, or a .csv/.tsv file"
            )
            .into());
        }
        Ok(amazon_domain(&data.join("amazon-reviews"), d)?)
    };
    let mut set = known(first)?;
    for d in parts {
        let more = known(d)?;
        set.texts.extend(more.texts);
        set.labels.extend(more.labels);
        set.ratings = None;
    }
    set.domain = spec.to_string();
    Ok((set, true))
}

fn percentile(sorted: &[usize], p: f64) -> usize {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The registry of the methods on the top layers.
fn registry() -> Result<Registry<BertTop>, Error> {
    let mut r = Registry::<BertTop>::new();
    r.register("source loss alone", SourceOnly::new)?;
    r.register("CORAL", DeepCoral::new)?;
    r.register("MMD", Mmd::new)?;
    r.register("self-training", SelfTraining::new)?;
    r.register("mean teacher", SelfEnsembling::new)?;
    r.register("DANN", Dann::new)?;
    r.register("CDAN+E", Dann::cdan_e)?;
    r.register("ADDA", Adda::new)?;
    r.register("AAD", Adda::aad)?;
    Ok(r)
}

/// A method's settings on top of the shared training.
fn settings(method: &str, train: &TrainConfig) -> serde_json::Value {
    let half = train.clone().with_epochs(train.epochs.div_ceil(2).max(1));
    match method {
        "dann" | "cdan+e" => serde_json::json!({"train": train, "discriminator_lr_factor": 10.0}),
        // Rounds of pseudo-labels: two, each half the epochs (at least one).
        "self-training" => serde_json::json!({"train": half, "rounds": 2}),
        "deep-coral" => serde_json::json!({"train": train, "weight": 1.0}),
        // Consistency with dropout noise: the mean teacher of self-ensembling with no input
        // augmentation (the rows are token states, not images); student and teacher each
        // run with the layers' own dropout (0.1), the published noise of SimCSE-style
        // consistency.
        "self-ensembling" => serde_json::json!({
            "train": train,
            "augment": {"affine_std": 0.0, "translate": 0.0, "noise_std": 0.0},
        }),
        _ => serde_json::json!({"train": train}),
    }
}

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
    let started = Instant::now();
    let dev = device(&args.device)?;
    let pairs: Vec<(String, String)> = if args.pairs == "all" {
        let mut v = Vec::new();
        for a in AMAZON_DOMAINS {
            for b in AMAZON_DOMAINS {
                if a != b {
                    v.push((a.to_string(), b.to_string()));
                }
            }
        }
        v
    } else {
        args.pairs
            .split(',')
            .map(|p| {
                p.split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| format!("`{p}` is not SOURCE:TARGET"))
            })
            .collect::<Result<_, _>>()?
    };
    // Rows, the table and prediction files name a domain by its short name (a file's stem):
    // two files of one stem would share rows, and the second pair would never run.
    let mut stems: BTreeMap<&str, &str> = BTreeMap::new();
    for spec in pairs.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]) {
        if let Some(other) = stems.insert(short(spec), spec)
            && other != spec
        {
            return Err(format!(
                "{other} and {spec} would both be named `{}` in the table and the results file: rename one of them",
                short(spec)
            )
            .into());
        }
    }
    let methods: Vec<String> = args
        .methods
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let registry = registry()?;
    for m in &methods {
        registry.entry(m)?;
    }

    // The texts of every domain the pairs name.
    let mut texts: BTreeMap<String, TextSet> = BTreeMap::new();
    let mut unlabelled: Vec<String> = Vec::new();
    for (a, b) in &pairs {
        for d in [a, b] {
            if !texts.contains_key(d) {
                let (set, labelled) = load_domain(d, &data, &args)?;
                if !labelled {
                    unlabelled.push(d.clone());
                }
                texts.insert(d.clone(), set);
            }
        }
    }
    let class_names = texts[&pairs[0].0].class_names.clone();
    // Every domain's labels named like the first source's classes (a label it lacks is an
    // error naming it); every source able to train a classifier.
    for (a, _) in &pairs {
        if unlabelled.contains(a) {
            return Err(format!(
                "{a} is a source but has no column `{}`: a source needs labels",
                args.label_column
            )
            .into());
        }
        texts[a].check_trainable()?;
    }
    for (name, set) in texts.iter_mut() {
        if unlabelled.contains(name) {
            set.class_names = class_names.clone();
        } else {
            *set = set.with_class_names(&class_names)?;
        }
    }

    if let Some(dir) = &args.export_csv {
        std::fs::create_dir_all(dir)?;
        for (name, set) in &texts {
            let mut w = csv::Writer::from_writer(Vec::new());
            if unlabelled.contains(name) {
                // Its labels are placeholders: the file keeps it unlabelled.
                w.write_record(["text"])?;
                for t in &set.texts {
                    w.write_record([t.as_str()])?;
                }
            } else {
                w.write_record(["text", "label"])?;
                for (t, &l) in set.texts.iter().zip(&set.labels) {
                    w.write_record([t.as_str(), set.class_names[l].as_str()])?;
                }
            }
            let path = dir.join(format!("{}.csv", name.replace(['/', '+'], "_")));
            write_atomic(&path, &w.into_inner().map_err(|e| e.to_string())?)?;
            eprintln!("wrote {} ({} reviews)", path.display(), set.len());
        }
        return Ok(());
    }

    // Token lengths decide the sequence length.
    let probe = SentenceEncoder::load_with(
        &models.join("all-MiniLM-L6-v2"),
        LoadOptions {
            max_len: Some(512),
            ..Default::default()
        },
        &dev,
    )?;
    let mut lengths: Vec<usize> = Vec::new();
    for set in texts.values() {
        let refs: Vec<&str> = set.texts.iter().map(String::as_str).collect();
        lengths.extend(probe.tokenize(&refs)?.iter().map(Vec::len));
    }
    lengths.sort_unstable();
    let p90 = percentile(&lengths, 0.9);
    eprintln!(
        "token counts of {} reviews (cut at 512): median {}, 75th percentile {}, 90th {}, 95th {}, max {}; {:.0} % exceed 128, {:.0} % exceed 256",
        lengths.len(),
        percentile(&lengths, 0.5),
        percentile(&lengths, 0.75),
        p90,
        percentile(&lengths, 0.95),
        lengths[lengths.len() - 1],
        100.0 * lengths.iter().filter(|&&l| l > 128).count() as f64 / lengths.len() as f64,
        100.0 * lengths.iter().filter(|&&l| l > 256).count() as f64 / lengths.len() as f64,
    );
    if args.lengths {
        return Ok(());
    }
    drop(probe);
    let seq_len = match args.seq_len.as_str() {
        "auto" => p90.div_ceil(16) * 16,
        n => n.parse().map_err(|e| format!("--seq-len {n}: {e}"))?,
    };
    let encoder = SentenceEncoder::load_with(
        &models.join("all-MiniLM-L6-v2"),
        LoadOptions {
            max_len: Some(seq_len),
            truncation: if args.tail > 0 {
                Truncation::HeadTail { tail: args.tail }
            } else {
                Truncation::Head
            },
        },
        &dev,
    )?;
    let layers = encoder.model().encoder.layers.len();
    if args.below >= layers {
        return Err(format!(
            "--below {} leaves no layer of {layers} to train",
            args.below
        )
        .into());
    }

    // Lower-layer states, once per domain (cached on disk across runs).
    let mut cache = EmbeddingCache::new(EmbeddingCache::default_dir());
    let mut sets: BTreeMap<String, LabelledSet> = BTreeMap::new();
    let states_started = Instant::now();
    for (name, set) in &texts {
        let refs: Vec<&str> = set.texts.iter().map(String::as_str).collect();
        let item = tl::tl_text::states_item_len(seq_len, encoder.dim());
        let values = cache.states(&encoder, &refs, args.below, 32, &dev, |done, total| {
            if done % 320 == 0 || done == total {
                eprintln!(
                    "[{:>5.0} s] states of {name}: {done}/{total}",
                    started.elapsed().as_secs_f64()
                );
            }
        })?;
        sets.insert(
            name.clone(),
            LabelledSet::new(
                Inputs::new(vec![item], values)?,
                set.labels.clone(),
                class_names.clone(),
                name.as_str(),
            )?,
        );
    }
    eprintln!(
        "[{:>5.0} s] states of {} domains after {} frozen layers at {seq_len} tokens: {:.0} s (cache: {} hits, {} computed)",
        started.elapsed().as_secs_f64(),
        sets.len(),
        args.below,
        states_started.elapsed().as_secs_f64(),
        cache.stats().hits,
        cache.stats().misses
    );

    let mut settings_json = serde_json::json!({
        "below": args.below, "seq_len": seq_len, "source_epochs": args.source_epochs,
        "epochs": args.epochs, "lr": args.lr, "adapt_lr": args.adapt_lr,
        "batch_size": args.batch_size, "model": "all-MiniLM-L6-v2",
    });
    // Named only when set, so that files written before `--tail` existed still resume.
    if args.tail > 0 {
        settings_json["tail"] = args.tail.into();
    }
    let mut run = match &args.json {
        Some(path) if path.exists() => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file: RunFile = serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is not a results file of this example ({e}); name another file",
                    path.display()
                )
            })?;
            if file.settings != settings_json {
                return Err(format!(
                    "{} holds a run with other settings ({}); name another file",
                    path.display(),
                    file.settings
                )
                .into());
            }
            eprintln!(
                "{}: going on after {} finished fits",
                path.display(),
                file.rows.len()
            );
            file
        }
        _ => RunFile {
            settings: settings_json.clone(),
            rows: Vec::new(),
        },
    };
    let save = |run: &RunFile| -> Result<(), Error> {
        if let Some(path) = &args.json {
            write_atomic(path, serde_json::to_string_pretty(run)?.as_bytes())?;
        }
        Ok(())
    };

    let plain = dev.clone();
    let ad = dev.clone().autodiff();
    let source_train = TrainConfig::new()
        .with_epochs(args.source_epochs)
        .with_batch_size(args.batch_size)
        .with_lr(args.lr)
        .with_optimizer(OptimizerKind::AdamW { weight_decay: 0.01 })
        .with_early_stopping(Some(EarlyStopping {
            patience: 1,
            min_delta: 0.0,
        }));
    let adapt_train = TrainConfig::new()
        .with_epochs(args.epochs)
        .with_batch_size(args.batch_size)
        .with_lr(args.adapt_lr)
        .with_optimizer(OptimizerKind::AdamW { weight_decay: 0.01 });
    let model_dir = cache_root().join("source-models");
    std::fs::create_dir_all(&model_dir)?;
    let config_key = {
        let mut h = tl::tl_text::cache::Fnv64::default();
        // What the source model depends on (not the adaptation's settings).
        let mut source_settings = serde_json::json!({
            "below": args.below, "seq_len": seq_len, "source_epochs": args.source_epochs,
            "lr": args.lr, "batch_size": args.batch_size, "model": "all-MiniLM-L6-v2",
        });
        if args.tail > 0 {
            source_settings["tail"] = args.tail.into();
        }
        h.field(source_settings.to_string().as_bytes());
        h.finish()
    };

    for seed in 0..args.seeds {
        let mut source_models: BTreeMap<String, (Classifier<BertTop>, f64, f64)> = BTreeMap::new();
        for (a, b) in &pairs {
            let pair = pair_name(a, b, &unlabelled);
            let done = |m: &str, run: &RunFile| {
                run.rows
                    .iter()
                    .any(|r| r.pair == pair && r.method == m && r.seed == seed)
            };
            if methods.iter().all(|m| done(m, &run)) && done("unadapted", &run) {
                continue;
            }
            // A labelled target: 80 % to adapt to, 20 % to score. An unlabelled one: all of it
            // to adapt to, scored on the held-out source (the methods' own split).
            let (target_pool, target_test) = if unlabelled.contains(b) {
                let held_out = tl::tl_core::domain::AdaptationSets::from_task(
                    &TransferTask::new(class_names.len())
                        .with_source(sets[a].clone())
                        .with_target_unlabelled(sets[b].unlabelled())
                        .with_target_test(sets[a].clone()),
                    "scoring",
                    0.1,
                    seed,
                )?
                .source_valid;
                (sets[b].clone(), held_out)
            } else {
                stratified_split(&sets[b], 0.8, seed)?
            };
            let task = TransferTask::new(class_names.len())
                .with_source(sets[a].clone())
                .with_target_unlabelled(target_pool.unlabelled())
                .with_target_test(target_test.clone());
            if !source_models.contains_key(a) {
                // The source model: the methods' own split of the source (90 % / 10 % per
                // class, by seed), early stopping on the 10 %.
                let split = tl::tl_core::domain::AdaptationSets::from_task(
                    &task,
                    "source model",
                    0.1,
                    seed,
                )?;
                // A file's model is also keyed by its content (texts and labels), so an edited
                // file trains a new one; the Amazon domains do not change.
                let content = if short(a) != a.as_str() {
                    let refs: Vec<&str> = texts[a].texts.iter().map(String::as_str).collect();
                    let mut h = tl::tl_text::cache::Fnv64::default();
                    h.field(&tl::tl_text::cache::texts_key(&refs).to_le_bytes());
                    for &l in &texts[a].labels {
                        h.write(&(l as u64).to_le_bytes());
                    }
                    format!("-{:016x}", h.finish())
                } else {
                    String::new()
                };
                let file = model_dir.join(format!(
                    "{}-seed{seed}-{config_key:016x}{content}.bpk",
                    a.replace(['/', '.', '+'], "_")
                ));
                dev.seed(seed);
                let top = BertTop::from_bert(encoder.model(), args.below)?.fork(&ad);
                let head = head_config(encoder.dim(), &[], class_names.len()).init(&ad)?;
                let fresh = Classifier::new(top, head)?;
                let t0 = Instant::now();
                // The training time is kept beside the weights, for the table.
                let seconds_file = file.with_extension("seconds");
                let kept_seconds = std::fs::read_to_string(&seconds_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok());
                // A model without its training time is trained again: the table would
                // otherwise report the seconds it took to load.
                let (model, secs) = match (load_weights(fresh.clone(), &file), kept_seconds) {
                    (Ok(m), Some(secs)) if file.exists() => {
                        eprintln!("source model {a} seed {seed}: from {}", file.display());
                        (m, secs)
                    }
                    _ => {
                        eprintln!(
                            "source model {a} seed {seed}: training (then kept in {})",
                            file.display()
                        );
                        let head_group = fresh.head_group();
                        let out = Trainer::new(source_train.clone().with_seed(seed))
                            .with_lr_factor(head_group, 20.0)
                            .with_progress(|e| match e {
                                ProgressEvent::Step { epoch, step, steps, loss } if step % 10 == 0 => {
                                    eprintln!(
                                        "[{:>5.0} s]   source model {a} seed {seed} epoch {epoch}: step {step}/{steps}, loss {loss:.4}",
                                        started.elapsed().as_secs_f64()
                                    );
                                }
                                ProgressEvent::Epoch(r) => {
                                    eprintln!(
                                        "[{:>5.0} s]   source model {a} seed {seed} epoch {}: loss {:.4}, held-out source {:.2} %",
                                        started.elapsed().as_secs_f64(),
                                        r.epoch,
                                        r.train_loss,
                                        100.0 * r.valid_accuracy.unwrap_or(f64::NAN)
                                    );
                                }
                                _ => {}
                            })
                            .fit(fresh, &split.source_train, Some(&split.source_valid), &ad)?;
                        let secs = t0.elapsed().as_secs_f64();
                        save_weights(&out.model, &file)?;
                        write_atomic(&seconds_file, format!("{secs}\n").as_bytes())?;
                        (out.model, secs)
                    }
                };
                let source_acc = evaluate(&model, &split.source_valid, &plain, 64)?.accuracy;
                eprintln!(
                    "[{:>5.0} s] source model {a} seed {seed}: held-out source {:.2} % ({secs:.0} s)",
                    started.elapsed().as_secs_f64(),
                    100.0 * source_acc
                );
                source_models.insert(a.clone(), (model, source_acc, secs));
            }
            let (source_model, source_acc, source_secs) = &source_models[a];
            let base = evaluate(source_model, &target_test, &plain, 64)?.accuracy;
            eprintln!(
                "[{:>5.0} s] {pair:<24} seed {seed}: unadapted source model {:.2} %",
                started.elapsed().as_secs_f64(),
                100.0 * base
            );
            if !done("unadapted", &run) {
                run.rows.push(Row {
                    pair: pair.clone(),
                    method: "unadapted".into(),
                    seed,
                    target: base,
                    source_only: base,
                    source: *source_acc,
                    seconds: *source_secs,
                    pad: None,
                });
                save(&run)?;
            }
            for method in &methods {
                if done(method, &run) {
                    continue;
                }
                let strategy = registry.create(method, &settings(method, &adapt_train))?;
                let mut ctx = RunContext::new(&ad)
                    .with_seed(seed)
                    .with_pad_items(args.pad_items)
                    .with_progress(|e| match e {
                        ProgressEvent::Step {
                            epoch,
                            step,
                            steps,
                            loss,
                        } if step % 10 == 0 => eprintln!(
                            "[{:>5.0} s]   {pair} seed {seed} {method} epoch {epoch}: step {step}/{steps}, loss {loss:.4}",
                            started.elapsed().as_secs_f64()
                        ),
                        ProgressEvent::Epoch(r) => eprintln!(
                            "[{:>5.0} s]   {pair} seed {seed} {method} epoch {}: loss {:.4}{}",
                            started.elapsed().as_secs_f64(),
                            r.epoch,
                            r.train_loss,
                            // Methods that keep no validation split have no figure to show.
                            r.valid_accuracy
                                .filter(|a| a.is_finite())
                                .map(|a| format!(", held-out source {:.2} %", 100.0 * a))
                                .unwrap_or_default()
                        ),
                        _ => {}
                    });
                let (adapted, report) = strategy.fit(
                    Pretrained::classifier(source_model.clone()),
                    &task,
                    &mut ctx,
                )?;
                if let (Some(dir), true) = (&args.predictions, unlabelled.contains(b)) {
                    let path = dir.join(format!(
                        "{}-to-{}-{method}-seed{seed}.csv",
                        short(a).replace('+', "_"),
                        short(b)
                    ));
                    write_predictions(&path, &adapted, &texts[b], &sets[b], &class_names, &plain)?;
                    eprintln!("wrote {}", path.display());
                }
                let row = Row {
                    pair: pair.clone(),
                    method: method.clone(),
                    seed,
                    target: report.metrics.accuracy,
                    source_only: base,
                    source: report.extra["source_accuracy"],
                    seconds: report.wall_time_s,
                    pad: report
                        .extra
                        .get("pad_before")
                        .zip(report.extra.get("pad_after"))
                        .map(|(a, b)| (*a, *b)),
                };
                eprintln!(
                    "[{:>5.0} s] {pair:<24} seed {seed} {method:<14}: target {:.2} % ({:+.2} over source-only), held-out source {:.2} % ({:.0} s)",
                    started.elapsed().as_secs_f64(),
                    100.0 * row.target,
                    100.0 * (row.target - base),
                    100.0 * row.source,
                    row.seconds
                );
                run.rows.push(row);
                save(&run)?;
            }
        }
    }
    let names: Vec<String> = pairs
        .iter()
        .map(|(a, b)| pair_name(a, b, &unlabelled))
        .collect();
    println!("{}", table(&run.rows, &names, &methods));
    Ok(())
}

/// Writes `text,label,probability` for every text of `set` as `model` predicts it.
fn write_predictions(
    path: &Path,
    model: &Classifier<BertTop>,
    texts: &TextSet,
    set: &LabelledSet,
    class_names: &[String],
    dev: &Device,
) -> Result<(), Error> {
    use tl::tl_core::train::ClassifierModel;
    let valid = model.valid();
    let probs: Vec<Vec<f32>> = tl::tl_core::train::map_batches(set, dev, 64, |x| {
        let p = burn::tensor::activation::softmax(valid.logits(x), 1);
        let [n, k] = p.dims();
        let v: Vec<f32> = p.into_data().iter::<f32>().collect();
        (0..n).map(|i| v[i * k..(i + 1) * k].to_vec()).collect()
    });
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["text", "label", "probability"])?;
    for (text, p) in texts.texts.iter().zip(&probs) {
        let (best, prob) = p
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        w.write_record([
            text.as_str(),
            class_names[best].as_str(),
            &format!("{prob:.4}"),
        ])?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(path, &w.into_inner().map_err(|e| e.to_string())?)?;
    Ok(())
}

/// A pair's name in the table; a target without labels says what is scored instead.
fn pair_name(a: &str, b: &str, unlabelled: &[String]) -> String {
    let (a_name, b_name) = (short(a), short(b));
    if unlabelled.iter().any(|u| u == b) {
        format!("{a_name} -> {b_name} (no target labels: scored on held-out {a_name})")
    } else {
        format!("{a_name} -> {b_name}")
    }
}

/// A domain's short name: a file's stem, else the name.
fn short(spec: &str) -> &str {
    if spec.ends_with(".csv") || spec.ends_with(".tsv") {
        Path::new(spec)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(spec)
    } else {
        spec
    }
}

/// Per pair and method, mean ± std over seeds and the gain over source-only paired by seed;
/// then the average over the pairs.
fn table(rows: &[Row], pairs: &[String], methods: &[String]) -> String {
    let mut all = vec!["unadapted".to_string()];
    all.extend(methods.iter().cloned());
    let mut out = String::from("| pair |");
    for m in &all {
        let m = if m == "unadapted" { "source-only" } else { m };
        out += &format!(" {m} |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(all.len());
    out += "\n";
    let mut per_method: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut gains: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for pair in pairs {
        out += &format!("| {pair} |");
        for m in &all {
            let r: Vec<&Row> = rows
                .iter()
                .filter(|r| &r.pair == pair && &r.method == m)
                .collect();
            if r.is_empty() {
                out += " |";
                continue;
            }
            let acc: Vec<f64> = r.iter().map(|r| r.target).collect();
            let gain: Vec<f64> = r.iter().map(|r| r.target - r.source_only).collect();
            let (mean, std) = mean_std(&acc);
            per_method.entry(m).or_default().push(mean);
            gains.entry(m).or_default().extend(gain.iter().copied());
            if m == "unadapted" {
                out += &format!(" {:.2} ± {:.2} |", 100.0 * mean, 100.0 * std);
            } else {
                out += &format!(
                    " {:.2} ± {:.2} ({:+.2}) |",
                    100.0 * mean,
                    100.0 * std,
                    100.0 * mean_std(&gain).0
                );
            }
        }
        out += "\n";
    }
    out += "| **average** |";
    for m in &all {
        match per_method.get(m.as_str()) {
            Some(v) => {
                let g = gains.get(m.as_str()).map(|g| mean_std(g).0).unwrap_or(0.0);
                if m == "unadapted" {
                    out += &format!(" **{:.2}** |", 100.0 * mean_std(v).0);
                } else {
                    out += &format!(" **{:.2}** ({:+.2}) |", 100.0 * mean_std(v).0, 100.0 * g);
                }
            }
            None => out += " |",
        }
    }
    out + "\n"
}
