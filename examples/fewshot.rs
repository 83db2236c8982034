//! Few-shot learning on Omniglot (tl-fewshot): classes never seen in training, one or five
//! drawings each.
//!
//! Needs `TL_DATA_DIR` (`omniglot/`, and `mnist/`, `usps/` for `cross`); see the README.
//!
//! - `omniglot`: every method trains on `images_background_small1` (5 alphabets, 136
//!   characters; the episodic ones with the four quarter turns as new classes, 544) and is
//!   tested on `images_background_small2` (5 other alphabets, 156 characters, never seen):
//!   5-way and 20-way, 1-shot and 5-shot, 15 queries per class, the same seeded episodes for
//!   every method, mean accuracy with its 95 % interval, training time and time per episode.
//! - `runs`: Lake's 20 official one-shot runs (20-way, one drawing each, 20 test drawings
//!   per run, characters of the evaluation alphabets): ProtoNet trained on small1 and small2
//!   together (with turns), and the small1 model; error rate over the 400 test drawings.
//! - `cross`: the Omniglot backbones on 5-way 1/5-shot episodes of MNIST and USPS digits.
//! - `generate`: one-shot generation (`tl_fewshot::OneShotGenerator`, a conditional VAE whose
//!   context is the one example) trained on small1 + small2, conditioned through the small1
//!   ProtoNet; for each of the 20 drawings of each official run, `--siblings` new drawings.
//!   The judge is the ProtoNet trained on small1 + small2: it classifies each generated
//!   drawing among the run's 20 characters, whose prototypes are the run's *test* drawings
//!   (other people's drawings of them, so a copy of the example gets no more than the
//!   example itself). Also the pixel distance of the siblings to their example and to each
//!   other (a copy is at 0), and a PNG grid: each example, then its siblings.
//!
//! Images are 28x28 (Omniglot's 105x105 drawings resized, ink = 1), the backbone the usual
//! Conv-4 (four blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling; 64 channels,
//! 64 features). Trained encoders are kept under `--cache` and reused.
//!
//! ```text
//! cargo run --release --example fewshot -- [--part omniglot|runs|cross|all]
//!     [--train-episodes 2000] [--test-episodes 1000] [--json PATH]
//! ```

use burn::module::Module;
use clap::Parser;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::one_shot::conv4;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::train::{ProgressEvent, Schedule};
use tl::tl_data::images::{OneShotRun, omniglot, omniglot_runs};
use tl::tl_data::transform::{frame_set, orientation_labels};
use tl::tl_fewshot::{
    Baseline, EpisodeScore, EpisodeShape, MatchingNet, ProtoNet, Reptile, embed_set,
    evaluate_episodes, identity_encoder, matching_accuracy, protonet_accuracy,
};

type Error = Box<dyn std::error::Error>;

/// Few-shot learning on Omniglot, Lake's one-shot runs, and Omniglot -> digits.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Which experiment.
    #[arg(long, default_value = "all", value_parser = ["omniglot", "runs", "cross", "generate", "all"])]
    part: String,
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Image side.
    #[arg(long, default_value_t = 28)]
    size: usize,
    /// Channels of each Conv-4 block.
    #[arg(long, default_value_t = 64)]
    channels: usize,
    /// Training episodes of ProtoNet and matching networks (100 per epoch).
    #[arg(long, default_value_t = 2000)]
    train_episodes: usize,
    /// Classes per training episode (more than at test time helps, Snell et al.).
    #[arg(long, default_value_t = 20)]
    train_way: usize,
    /// Shots per class in training episodes.
    #[arg(long, default_value_t = 1)]
    train_shot: usize,
    /// Queries per class in training episodes.
    #[arg(long, default_value_t = 5)]
    train_query: usize,
    /// Epochs of Baseline/Baseline++ training on every base class.
    #[arg(long, default_value_t = 10)]
    pretrain_epochs: usize,
    /// Test episodes per shape.
    #[arg(long, default_value_t = 1000)]
    test_episodes: usize,
    /// Test episodes of fine-tuning (the first N of the same episodes: it trains the whole
    /// backbone per episode).
    #[arg(long, default_value_t = 50)]
    fine_tune_episodes: usize,
    /// Reptile's meta-iterations (5-way 5-shot training tasks).
    #[arg(long, default_value_t = 1000)]
    reptile_iterations: usize,
    /// Seed of training and of the test episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where trained encoders are kept (reused when their settings match).
    #[arg(long, default_value = "~/.cache/tl-fewshot")]
    cache: String,
    /// Train again even when a cached encoder exists.
    #[arg(long)]
    retrain: bool,
    /// Epochs of the one-shot generator.
    #[arg(long, default_value_t = 30)]
    generator_epochs: usize,
    /// Generated siblings per example.
    #[arg(long, default_value_t = 10)]
    siblings: usize,
    /// Where the generated grid (PNG) goes.
    #[arg(long, default_value = "target/fewshot")]
    out: PathBuf,
    /// Write every row as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

struct At<'a> {
    data: PathBuf,
    dev: Device,
    args: &'a Args,
    cache: PathBuf,
    rows: Vec<Value>,
}

/// A trained encoder with its training time (0 when loaded from the cache: the time is
/// the one recorded when it was trained).
struct Trained {
    encoder: Sequential,
    seconds: f64,
}

/// Trains a model (from `fresh`, built after seeding the device) on `base`, or loads it
/// from the cache when one with the same key and data exists; the model and its training
/// time.
fn cached<M: Module>(
    at: &At,
    key: &str,
    base: &LabelledSet,
    fresh: impl FnOnce() -> Result<M, Error>,
    train: impl FnOnce(M) -> Result<M, Error>,
) -> Result<(M, f64), Error> {
    let a = at.args;
    let key = format!("{key}-s{}-c{}-seed{}", a.size, a.channels, a.seed);
    tl::one_shot::cached(
        &at.cache, &key, base, a.retrain, a.seed, &at.dev, fresh, train, &eprint,
    )
}

/// A log line on standard error.
fn eprint(line: &str) {
    eprintln!("{line}");
}

/// A Conv-4 encoder trained by `train`, or loaded from the cache (see [`cached`]).
fn trained(
    at: &At,
    key: &str,
    base: &LabelledSet,
    train: impl FnOnce(Sequential) -> Result<Sequential, Error>,
) -> Result<Trained, Error> {
    let a = at.args;
    let fresh = || Ok(conv4(a.size, a.channels).init(&at.dev)?);
    let (encoder, seconds) = cached(at, key, base, fresh, train)?;
    Ok(Trained { encoder, seconds })
}

fn progress(name: &str) -> impl FnMut(&ProgressEvent) + '_ {
    tl::one_shot::progress(name, &eprint)
}

fn episodic_train(at: &At) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(at.args.train_episodes.div_ceil(100))
        .with_lr(1e-3)
        .with_schedule(Schedule::Cosine { min_factor: 0.05 })
        .with_seed(at.args.seed)
}

fn train_shape(at: &At) -> EpisodeShape {
    let a = at.args;
    EpisodeShape::new(a.train_way, a.train_shot, a.train_query)
}

/// Which episodic learner.
#[derive(Clone, Copy)]
enum Episodic {
    Proto,
    Matching,
}

/// ProtoNet or matching networks trained on episodes of `base` (cached under `key`).
fn train_episodic(
    at: &At,
    which: Episodic,
    key: &str,
    base: &LabelledSet,
) -> Result<Trained, Error> {
    let a = at.args;
    let key = format!(
        "{key}-{}e-{}w{}s{}q",
        a.train_episodes, a.train_way, a.train_shot, a.train_query
    );
    let name = match which {
        Episodic::Proto => "protonet",
        Episodic::Matching => "matching-net",
    };
    trained(at, &key, base, |e| {
        let mut ctx = RunContext::new(&at.dev)
            .with_seed(a.seed)
            .with_progress(progress(name));
        let trained = match which {
            Episodic::Proto => ProtoNet::new()
                .with_episodes(train_shape(at))
                .with_episodes_per_epoch(100)
                .with_train(episodic_train(at))
                .meta_train(e, base, &mut ctx)?,
            Episodic::Matching => MatchingNet::new()
                .with_episodes(train_shape(at))
                .with_episodes_per_epoch(100)
                .with_train(episodic_train(at))
                .meta_train(e, base, &mut ctx)?,
        };
        Ok(trained.0)
    })
}

fn train_protonet(at: &At, key: &str, base: &LabelledSet) -> Result<Trained, Error> {
    train_episodic(at, Episodic::Proto, key, base)
}

fn baseline_method(at: &At, cosine: bool) -> Baseline {
    Baseline::new().with_cosine(cosine).with_pretrain_train(
        TrainConfig::new()
            .with_epochs(at.args.pretrain_epochs)
            .with_batch_size(64)
            .with_lr(1e-3)
            .with_schedule(Schedule::Cosine { min_factor: 0.05 })
            .with_seed(at.args.seed),
    )
}

fn train_baseline(at: &At, base: &LabelledSet, cosine: bool) -> Result<Trained, Error> {
    let method = baseline_method(at, cosine);
    let key = format!("{}-small1-{}ep", method.name(), at.args.pretrain_epochs);
    trained(at, &key, base, |e| {
        let mut ctx = RunContext::new(&at.dev)
            .with_seed(at.args.seed)
            .with_progress(progress(method.name()));
        Ok(method.pretrain_encoder(e, base, &mut ctx)?.0)
    })
}

/// The head training of Baseline/Baseline++ on one episode's support: 100 full-batch steps.
fn head_method(cosine: bool, support: usize) -> Baseline {
    Baseline::new()
        .with_cosine(cosine)
        .with_pretrain(false)
        .with_head_train(
            TrainConfig::new()
                .with_epochs(100)
                .with_batch_size(support)
                .with_lr(1e-2),
        )
}

/// Scores one method on `episodes` seeded episodes of `shape`; returns the score and the
/// milliseconds per episode.
fn score(
    set: &LabelledSet,
    shape: EpisodeShape,
    episodes: usize,
    seed: u64,
    classify: impl FnMut(&tl::tl_data::split::Episode) -> tl::tl_core::Result<f64>,
) -> Result<(EpisodeScore, f64), Error> {
    let started = Instant::now();
    let s = evaluate_episodes(set, shape, episodes, seed, classify)?;
    Ok((
        s,
        1e3 * started.elapsed().as_secs_f64() / episodes.max(1) as f64,
    ))
}

/// What a method does with a test episode.
enum Method<'a> {
    /// Prototypes of the frozen encoder's features (embedded once).
    Proto(&'a LabelledSet),
    /// Matching-network attention over the frozen encoder's features (embedded once).
    Matching(&'a LabelledSet),
    /// A new linear (false) or cosine (true) head on the frozen encoder's features.
    Head(&'a LabelledSet, bool),
    /// The whole backbone and a new head trained on the support images.
    FineTune(&'a Sequential),
    /// Reptile's meta-learned classifier (5-way), fine-tuned on the support images.
    Reptile(&'a Classifier<Sequential>),
}

fn run_method(
    at: &At,
    images: &LabelledSet,
    method: &Method,
    shape: EpisodeShape,
    episodes: usize,
) -> Result<(EpisodeScore, f64), Error> {
    let dev = &at.dev;
    let seed = at.args.seed;
    match method {
        Method::Proto(features) => {
            let id = identity_encoder(features.inputs.item_shape[0], dev)?;
            score(features, shape, episodes, seed, |e| {
                protonet_accuracy(&id, e, dev)
            })
        }
        Method::Matching(features) => {
            let id = identity_encoder(features.inputs.item_shape[0], dev)?;
            let scale = MatchingNet::new().scale;
            score(features, shape, episodes, seed, |e| {
                matching_accuracy(&id, e, scale, dev)
            })
        }
        Method::Head(features, cosine) => {
            let id = identity_encoder(features.inputs.item_shape[0], dev)?;
            let method = head_method(*cosine, shape.way * shape.shot);
            score(features, shape, episodes, seed, |e| {
                let mut ctx = RunContext::new(dev).with_seed(seed);
                let (model, _) = method.adapt(id.clone(), &e.support, shape.way, &mut ctx)?;
                Ok(tl::tl_core::train::evaluate(&model, &e.query, dev, 512)?.accuracy)
            })
        }
        Method::FineTune(encoder) => {
            let method = Baseline::fine_tuning()
                .with_pretrain(false)
                .with_head_train(
                    TrainConfig::new()
                        .with_epochs(30)
                        .with_batch_size(shape.way * shape.shot)
                        .with_lr(1e-3),
                );
            score(images, shape, episodes, seed, |e| {
                let mut ctx = RunContext::new(dev).with_seed(seed);
                let (model, _) =
                    method.adapt((*encoder).clone(), &e.support, shape.way, &mut ctx)?;
                Ok(tl::tl_core::train::evaluate(&model, &e.query, dev, 512)?.accuracy)
            })
        }
        Method::Reptile(model) => {
            let adapt = Reptile::new().adapt;
            score(images, shape, episodes, seed, |e| {
                let out = Trainer::new(adapt.clone().with_seed(seed)).fit(
                    (*model).clone(),
                    &e.support,
                    None,
                    dev,
                )?;
                Ok(tl::tl_core::train::evaluate(&out.model, &e.query, dev, 512)?.accuracy)
            })
        }
    }
}

/// Reptile meta-trained on 5-way 5-shot tasks of `base` (the whole classifier is the
/// meta-learned start), or loaded from the cache.
fn train_reptile(at: &At, base: &LabelledSet) -> Result<(Classifier<Sequential>, f64), Error> {
    let a = at.args;
    let key = format!("reptile-small1-{}it", a.reptile_iterations);
    let fresh = || {
        Ok(Classifier::new(
            conv4(a.size, a.channels).init(&at.dev)?,
            head_config(a.channels, &[], 5).init(&at.dev)?,
        )?)
    };
    cached(at, &key, base, fresh, |model| {
        let method = Reptile::new().with_meta_iterations(a.reptile_iterations);
        let mut ctx = RunContext::new(&at.dev)
            .with_seed(a.seed)
            .with_progress(progress("reptile"));
        Ok(method.meta_train(model, base, &mut ctx)?.0)
    })
}

const SHAPES: [(usize, usize); 4] = [(5, 1), (5, 5), (20, 1), (20, 5)];

fn table_header(columns: &[String]) {
    println!("| method | {} | training |", columns.join(" | "));
    println!("|---|{}---|", "---|".repeat(columns.len()));
}

fn omniglot_part(at: &mut At) -> Result<(), Error> {
    let a = at.args;
    let dir = at.data.join("omniglot");
    let small1 = omniglot(&dir.join("images_background_small1.zip"), a.size)?;
    let small2 = omniglot(&dir.join("images_background_small2.zip"), a.size)?;
    let base = orientation_labels(&small1, false)?;
    eprintln!(
        "omniglot: train {} characters x 4 turns = {} classes, {} images; test {} characters, {} images",
        small1.num_classes(),
        base.num_classes(),
        base.len(),
        small2.num_classes(),
        small2.len()
    );
    let protonet = train_protonet(at, "protonet-small1", &base)?;
    let matching = train_episodic(at, Episodic::Matching, "matching-small1", &base)?;
    let baseline = train_baseline(at, &base, false)?;
    let baseline_pp = train_baseline(at, &base, true)?;
    let reptile = train_reptile(at, &base)?;
    at.dev.seed(a.seed);
    let random = conv4(a.size, a.channels).init(&at.dev)?;
    let embed = |e: &Sequential| embed_set(e, &small2, &at.dev);
    let (f_proto, f_match, f_base, f_pp, f_random) = (
        embed(&protonet.encoder)?,
        embed(&matching.encoder)?,
        embed(&baseline.encoder)?,
        embed(&baseline_pp.encoder)?,
        embed(&random)?,
    );
    let methods: Vec<(&str, Method, f64, usize)> = vec![
        (
            "protonet",
            Method::Proto(&f_proto),
            protonet.seconds,
            a.test_episodes,
        ),
        (
            "matching-net",
            Method::Matching(&f_match),
            matching.seconds,
            a.test_episodes,
        ),
        (
            "baseline",
            Method::Head(&f_base, false),
            baseline.seconds,
            a.test_episodes,
        ),
        (
            "baseline++",
            Method::Head(&f_pp, true),
            baseline_pp.seconds,
            a.test_episodes,
        ),
        (
            "fine-tune",
            Method::FineTune(&baseline.encoder),
            baseline.seconds,
            a.fine_tune_episodes,
        ),
        (
            "reptile (5-way head)",
            Method::Reptile(&reptile.0),
            reptile.1,
            a.fine_tune_episodes,
        ),
        (
            "protonet on the baseline++ backbone",
            Method::Proto(&f_pp),
            baseline_pp.seconds,
            a.test_episodes,
        ),
        (
            "protonet, random encoder",
            Method::Proto(&f_random),
            0.0,
            a.test_episodes,
        ),
    ];
    let columns: Vec<String> = SHAPES
        .iter()
        .map(|(w, s)| format!("{w}-way {s}-shot"))
        .collect();
    let mut lines = Vec::new();
    for (name, method, seconds, episodes) in &methods {
        let mut cells = Vec::new();
        for &(way, shot) in &SHAPES {
            if matches!(method, Method::Reptile(_)) && way != 5 {
                cells.push("—".into());
                continue;
            }
            let shape = EpisodeShape::new(way, shot, 15);
            let (s, ms) = run_method(at, &small2, method, shape, *episodes)?;
            eprintln!(
                "omniglot {name} {way}-way {shot}-shot: {s} ({ms:.1} ms/episode, {episodes} episodes)"
            );
            cells.push(format!("{s} ({ms:.0} ms)"));
            at.rows.push(json!({
                "part": "omniglot", "method": name, "way": way, "shot": shot,
                "queries": shape.query, "episodes": s.episodes, "accuracy": s.mean,
                "ci95": s.ci95, "ms_per_episode": ms, "train_seconds": seconds,
            }));
        }
        let episodes_note = if *episodes == a.test_episodes {
            String::new()
        } else {
            format!(" ({episodes} episodes)")
        };
        lines.push(format!(
            "| {name}{episodes_note} | {} | {seconds:.0} s |",
            cells.join(" | ")
        ));
    }
    println!(
        "\n## Omniglot: train small1 (136 characters), test small2 (156 characters of 5 unseen alphabets), {}x{}, {} episodes, 15 queries per class; mean accuracy ± 95 % interval (ms per episode)\n",
        a.size, a.size, a.test_episodes
    );
    table_header(&columns);
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Error rate over Lake's runs of prototypes of `encoder` (one drawing per class).
fn runs_error(
    encoder: &Sequential,
    runs: &[OneShotRun],
    dev: &Device,
) -> Result<(f64, Vec<f64>), Error> {
    let mut errors = Vec::new();
    for run in runs {
        let episode = tl::tl_data::split::Episode {
            support: run.train.clone(),
            query: run.test.clone(),
            classes: (0..run.train.num_classes()).collect(),
        };
        errors.push(1.0 - protonet_accuracy(encoder, &episode, dev)?);
    }
    let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    Ok((mean, errors))
}

fn runs_part(at: &mut At) -> Result<(), Error> {
    let a = at.args;
    let dir = at.data.join("omniglot");
    let small1 = omniglot(&dir.join("images_background_small1.zip"), a.size)?;
    let small2 = omniglot(&dir.join("images_background_small2.zip"), a.size)?;
    let runs = omniglot_runs(&dir.join("all_runs.zip"), a.size)?;
    let both = tl::tl_data::split::classes_side_by_side(&small1, &small2)?;
    let base1 = orientation_labels(&small1, false)?;
    let base12 = orientation_labels(&both, false)?;
    eprintln!(
        "runs: {} runs; training on small1+small2: {} characters x 4 turns = {} classes",
        runs.len(),
        both.num_classes(),
        base12.num_classes()
    );
    let p1 = train_protonet(at, "protonet-small1", &base1)?;
    let p12 = train_protonet(at, "protonet-small12", &base12)?;
    println!(
        "\n## Lake's 20 one-shot runs (20-way 1-shot, 400 test drawings), {}x{}\n",
        a.size, a.size
    );
    println!("| model | error | training |\n|---|---|---|");
    for (name, t) in [
        ("protonet, small1", &p1),
        ("protonet, small1 + small2", &p12),
    ] {
        let (mean, per_run) = runs_error(&t.encoder, &runs, &at.dev)?;
        let each: Vec<String> = per_run
            .iter()
            .map(|e| format!("{:.0}", 100.0 * e))
            .collect();
        eprintln!(
            "runs {name}: {:.2} % error; per run (%): {}",
            100.0 * mean,
            each.join(" ")
        );
        println!("| {name} | {:.2} % | {:.0} s |", 100.0 * mean, t.seconds);
        at.rows.push(json!({
            "part": "runs", "method": "protonet", "trained_on": name, "error": mean,
            "per_run": per_run, "train_seconds": t.seconds,
        }));
    }
    println!("| people (Lake et al. 2015) | 4.5 % | |");
    Ok(())
}

fn cross_part(at: &mut At) -> Result<(), Error> {
    let a = at.args;
    let dir = at.data.join("omniglot");
    let small1 = omniglot(&dir.join("images_background_small1.zip"), a.size)?;
    let base = orientation_labels(&small1, false)?;
    let protonet = train_protonet(at, "protonet-small1", &base)?;
    let baseline_pp = train_baseline(at, &base, true)?;
    let (_, mnist) = tl::tl_data::idx::mnist(&at.data.join("mnist"))?;
    let (_, usps) = tl::tl_data::libsvm::usps(&at.data.join("usps"))?;
    let resize = |s: &LabelledSet| frame_set(s, 20, a.size);
    let usps = resize(&usps)?;
    let mnist = if a.size == 28 { mnist } else { resize(&mnist)? };
    at.dev.seed(a.seed);
    let random = conv4(a.size, a.channels).init(&at.dev)?;
    println!(
        "\n## Omniglot -> digits: 5-way episodes of the test digits, 15 queries, {} episodes\n",
        a.test_episodes
    );
    println!(
        "| backbone | MNIST 1-shot | MNIST 5-shot | USPS 1-shot | USPS 5-shot |\n|---|---|---|---|---|"
    );
    for (name, encoder, cosine) in [
        ("protonet", &protonet.encoder, None),
        ("baseline++", &baseline_pp.encoder, Some(true)),
        ("random encoder (protonet)", &random, None),
    ] {
        let mut cells = Vec::new();
        for (set_name, set) in [("mnist", &mnist), ("usps", &usps)] {
            let features = embed_set(encoder, set, &at.dev)?;
            for shot in [1, 5] {
                let method = match cosine {
                    Some(c) => Method::Head(&features, c),
                    None => Method::Proto(&features),
                };
                let shape = EpisodeShape::new(5, shot, 15);
                let (s, ms) = run_method(at, set, &method, shape, a.test_episodes)?;
                eprintln!("cross {name} {set_name} 5-way {shot}-shot: {s}");
                cells.push(s.to_string());
                at.rows.push(json!({
                    "part": "cross", "method": name, "target": set_name, "way": 5, "shot": shot,
                    "episodes": s.episodes, "accuracy": s.mean, "ci95": s.ci95, "ms_per_episode": ms,
                }));
            }
        }
        println!("| {name} | {} |", cells.join(" | "));
    }
    Ok(())
}

/// One-shot generation (`tl::one_shot`, which the recipe
/// `recipes/omniglot-one-shot-generation.toml` runs too).
fn generate_part(at: &mut At) -> Result<(), Error> {
    let a = at.args;
    let settings = one_shot_settings(a, &at.cache);
    std::fs::create_dir_all(&a.out)?;
    let sets = tl::one_shot::omniglot_sets(&settings, &at.data)?;
    let row =
        tl::one_shot::generation_seed(&settings, &sets, a.seed, Some(&a.out), &at.dev, &eprint)?;
    println!(
        "\n## {}",
        tl::one_shot::generation_table(std::slice::from_ref(&row))
    );
    at.rows.push(row);
    Ok(())
}

/// The settings that the Conv-4 parts and the generation part share.
fn one_shot_settings(a: &Args, cache: &Path) -> tl::one_shot::OneShotSettings {
    tl::one_shot::OneShotSettings {
        size: a.size,
        channels: a.channels,
        train_episodes: a.train_episodes,
        train_way: a.train_way,
        train_shot: a.train_shot,
        train_query: a.train_query,
        generator_epochs: a.generator_epochs,
        siblings: a.siblings,
        cache: cache.display().to_string(),
        retrain: a.retrain,
    }
}

/// Refuses settings that would fail (or score nothing) only after the training, naming the
/// flag.
fn check(a: &Args) -> Result<(), Error> {
    match one_shot_settings(a, Path::new(&a.cache)).validate() {
        Err(tl::tl_core::CoreError::InvalidConfig { field, reason }) => {
            return Err(format!("--{} {reason}", field.replace('_', "-")).into());
        }
        other => other?,
    }
    for (flag, v) in [
        ("--test-episodes", a.test_episodes),
        ("--fine-tune-episodes", a.fine_tune_episodes),
        ("--pretrain-epochs", a.pretrain_epochs),
        ("--reptile-iterations", a.reptile_iterations),
    ] {
        if v == 0 {
            return Err(format!("{flag} 0: must be at least 1").into());
        }
    }
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
    check(&args)?;
    let Some(data) = tl::tl_core::paths::data_dir() else {
        eprintln!("set TL_DATA_DIR (see the README)");
        std::process::exit(2);
    };
    let mut at = At {
        data,
        dev: device(&args.device)?,
        args: &args,
        // `~` expanded as the library does for the recipe's `cache`.
        cache: one_shot_settings(&args, Path::new(&args.cache)).cache_dir(),
        rows: Vec::new(),
    };
    let part = args.part.as_str();
    // Written after each part, so that a later part's failure keeps the earlier rows.
    let save = |rows: &[Value]| -> Result<(), Error> {
        if let Some(path) = &args.json {
            write_atomic(path, serde_json::to_string_pretty(rows)?.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    };
    type Part = fn(&mut At) -> Result<(), Error>;
    let parts: [(&str, Part); 4] = [
        ("omniglot", omniglot_part),
        ("runs", runs_part),
        ("cross", cross_part),
        ("generate", generate_part),
    ];
    for (name, f) in parts {
        if part == name || part == "all" {
            f(&mut at)?;
            save(&at.rows)?;
        }
    }
    Ok(())
}
