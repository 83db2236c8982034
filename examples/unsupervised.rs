//! Unsupervised transfer on real data (needs `TL_DATA_DIR`; `TL_MODEL_DIR` adds the supervised
//! reference row):
//!
//! 1. **MNIST + USPS -> USPS**: one small CNN is pretrained without labels on MNIST and USPS
//!    training images together (denoising autoencoder, masked autoencoder, SimCLR), then
//!    meets 1, 5 or 10 labelled USPS training images per class (tl-inductive's linear probe and
//!    full fine-tuning) and is scored on the 2,007 USPS test images. Rows: scratch (the same
//!    CNN, random init), each objective, and as a reference the supervised MNIST CNN of
//!    `../shared/models/mnist-cnn` (trained with MNIST's labels). k-means on the USPS test
//!    features (one cluster per digit) scores each encoder before any label is used.
//!    Images are 16x16 in USPS framing: MNIST digits are cropped to their 20x20 box and
//!    resized to 16, so both domains fill the frame (the reference CNN takes 28x28 and gets
//!    USPS in MNIST framing: 16 -> 20, padded to 28).
//! 2. **Omniglot**: the same objectives pretrain the CNN on `images_background_small1` (28x28,
//!    labels ignored); then 5-way 5-shot episodes over the characters of
//!    `images_background_small2` (15 queries per character), classified by a linear probe.
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=../shared/models cargo run --release \
//!     --example unsupervised -- [--part usps|omniglot|all] [--seeds 3] [--epochs 10]
//!     [--omniglot-epochs 30] [--mnist 60000] [--episodes 50] [--json PATH] [--device flex]
//!     [--objectives denoising-ae,masked-ae,simclr] [--no-reference]
//! ```

use clap::{Parser, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::model::{Sequential, SequentialConfig};
use tl::tl_core::report::mean_std;
use tl::tl_data::split::EpisodeSampler;
use tl::tl_data::transform::{centre_crop_set, frame_set, resize_set};
use tl::tl_inductive::{FullFineTune, LinearProbe};
use tl::tl_unsupervised::*;

type Error = Box<dyn std::error::Error>;

/// The CNN every objective pretrains: two conv blocks (32, 64 channels) and 128 features.
fn cnn(side: usize) -> SequentialConfig {
    SequentialConfig::new(vec![1, side, side])
        .conv(32, 3, 1)
        .relu()
        .max_pool(2)
        .conv(64, 3, 1)
        .relu()
        .max_pool(2)
        .linear(128)
        .relu()
}

/// Unsupervised transfer on real data (needs TL_DATA_DIR; TL_MODEL_DIR adds the supervised
/// reference row): MNIST + USPS -> USPS with few labels, and Omniglot 5-way 5-shot episodes.
#[derive(Parser)]
struct Args {
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Number of seeds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Pretraining epochs of the USPS part.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Pretraining epochs of the Omniglot part.
    #[arg(long, default_value_t = 30)]
    omniglot_epochs: usize,
    /// MNIST training images in the unlabelled pretraining set.
    #[arg(long, default_value_t = 60_000)]
    mnist: usize,
    /// Omniglot episodes per seed.
    #[arg(long, default_value_t = 50, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    episodes: usize,
    /// The objectives to pretrain with, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "denoising-ae,masked-ae,simclr"
    )]
    objectives: Vec<Objective>,
    /// Leave out the supervised reference row even when TL_MODEL_DIR is set.
    #[arg(long)]
    no_reference: bool,
    /// Backend: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The parts of the example.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Part {
    /// MNIST + USPS -> USPS.
    Usps,
    /// Omniglot small1 -> small2 episodes.
    Omniglot,
    /// Both.
    All,
}

/// The objectives, by report name.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Objective {
    /// Denoising autoencoder.
    DenoisingAe,
    /// Masked autoencoder.
    MaskedAe,
    /// SimCLR.
    Simclr,
}

impl Objective {
    /// The report name, as on the command line.
    fn name(self) -> String {
        let value = self.to_possible_value().expect("no variant is skipped");
        value.get_name().to_string()
    }
}

/// Pretrains a fresh CNN (initialised with `seed`) by `objective`, printing each epoch.
fn pretrain(
    objective: &str,
    side: usize,
    data: &UnlabelledSet,
    epochs: usize,
    seed: u64,
    dev: &Device,
    started: &Instant,
) -> Result<(Sequential, f64), Error> {
    dev.seed(seed);
    let encoder = cnn(side).init(dev)?;
    let train = TrainConfig::new()
        .with_epochs(epochs)
        .with_lr(1e-3)
        .with_seed(seed)
        .with_schedule(Schedule::Cosine { min_factor: 0.1 });
    let progress = |e: &ProgressEvent| {
        if let ProgressEvent::Epoch(r) = e {
            eprintln!(
                "[{:>5.0} s] {objective:<13} seed {seed} epoch {:>2}/{epochs} loss {:.4} ({:.0} s)",
                started.elapsed().as_secs_f64(),
                r.epoch,
                r.train_loss,
                r.seconds
            );
        }
    };
    let clock = Instant::now();
    let mut ctx = RunContext::new(dev).with_seed(seed).with_progress(progress);
    let (encoder, _history) = match objective {
        "denoising-ae" => DenoisingAutoencoder::new()
            .with_train(train.with_batch_size(128))
            .pretrain(encoder, data, &mut ctx)?,
        "masked-ae" => MaskedAutoencoder::new()
            .with_train(train.with_batch_size(128))
            .with_patch(side / 4)
            .pretrain(encoder, data, &mut ctx)?,
        "simclr" => SimClr::new()
            .with_train(train.with_batch_size(256))
            .pretrain(encoder, data, &mut ctx)?,
        other => return Err(format!("unknown objective {other}").into()),
    };
    Ok((encoder, clock.elapsed().as_secs_f64()))
}

/// One few-label result.
#[derive(serde::Serialize)]
struct Row {
    encoder: String,
    step: String,
    shots: usize,
    seed: u64,
    accuracy: f64,
}

/// Rows grouped by (encoder, step) with one `mean ± std` column per number of shots.
fn pivot(rows: &[Row], shots: &[usize]) -> String {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let key = (r.encoder.clone(), r.step.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = String::from("| encoder | few-label step |");
    for s in shots {
        out += &format!(" {s} label{}/class |", if *s == 1 { "" } else { "s" });
    }
    out += "\n|---|---|";
    out += &"---:|".repeat(shots.len());
    out += "\n";
    for (encoder, step) in keys {
        out += &format!("| {encoder} | {step} |");
        for &s in shots {
            let acc: Vec<f64> = rows
                .iter()
                .filter(|r| r.encoder == encoder && r.step == step && r.shots == s)
                .map(|r| 100.0 * r.accuracy)
                .collect();
            let (m, sd) = mean_std(&acc);
            out += &format!(" {m:.2} % ± {sd:.2} |");
        }
        out += "\n";
    }
    out
}

/// k-means scores and pretraining costs, one row per encoder.
fn cluster_table(scores: &[(String, ClusterScores, f64)]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (n, _, _) in scores {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    let mut out = String::from(
        "| encoder | k-means purity | k-means NMI | pretraining s |\n|---|---:|---:|---:|\n",
    );
    for name in names {
        let of: Vec<&(String, ClusterScores, f64)> =
            scores.iter().filter(|(n, _, _)| n == name).collect();
        let (p, ps) = mean_std(&of.iter().map(|s| 100.0 * s.1.purity).collect::<Vec<_>>());
        let (n, ns) = mean_std(&of.iter().map(|s| 100.0 * s.1.nmi).collect::<Vec<_>>());
        let (t, _) = mean_std(&of.iter().map(|s| s.2).collect::<Vec<_>>());
        out += &format!("| {name} | {p:.2} % ± {ps:.2} | {n:.2} % ± {ns:.2} | {t:.0} |\n");
    }
    out
}

/// MNIST in USPS framing: the central 20x20 box, resized to 16x16.
fn usps_framing(set: &LabelledSet) -> Result<LabelledSet, Error> {
    Ok(resize_set(&centre_crop_set(set, 20)?, 16, 16)?)
}

fn record(rows: &mut Vec<Row>, encoder: &str, runs: Vec<FewLabelRun>, started: &Instant) {
    for run in runs {
        let step = match run.report.strategy.as_str() {
            "linear-probe" => "linear probe",
            _ => "full fine-tuning",
        };
        eprintln!(
            "[{:>5.0} s] {encoder:<28} {step:<16} {:>2} labels/class seed {} accuracy {:.2} %",
            started.elapsed().as_secs_f64(),
            run.shots,
            run.report.seed,
            100.0 * run.report.metrics.accuracy
        );
        rows.push(Row {
            encoder: encoder.to_string(),
            step: step.to_string(),
            shots: run.shots,
            seed: run.report.seed,
            accuracy: run.report.metrics.accuracy,
        });
    }
}

struct Plan {
    objectives: Vec<String>,
    seeds: u64,
    epochs: usize,
    mnist: usize,
    shots: Vec<usize>,
}

fn usps_part(
    data: &Path,
    models: Option<&Path>,
    plan: &Plan,
    dev: &Device,
    started: &Instant,
) -> Result<(String, serde_json::Value), Error> {
    let (mnist, _) = tl::tl_data::idx::mnist(&data.join("mnist"))?;
    let (usps_train, usps_test) = tl::tl_data::libsvm::usps(&data.join("usps"))?;
    let take: Vec<usize> = (0..plan.mnist.min(mnist.len())).collect();
    let mnist = usps_framing(&mnist.select(&take))?;
    let mut values = mnist.inputs.values.clone();
    values.extend_from_slice(&usps_train.inputs.values);
    let unlabelled = UnlabelledSet::new(Inputs::new(vec![1, 16, 16], values)?, "mnist+usps")?;
    eprintln!(
        "pretraining set: {} MNIST + {} USPS images, labels dropped",
        mnist.len(),
        usps_train.len()
    );
    let few = FewLabels::new().with_shots(plan.shots.clone());
    // A random encoder has nothing to keep: it trains at the head's rate throughout.
    let scratch = FewLabels::new()
        .with_shots(plan.shots.clone())
        .with_fine_tune(Some(
            FullFineTune::new().with_train(
                TrainConfig::new()
                    .with_epochs(100)
                    .with_lr(1e-3)
                    .with_batch_size(32),
            ),
        ));
    let (mut rows, mut clusters, mut reports) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..plan.seeds {
        dev.seed(seed);
        let random = cnn(16).init(dev)?;
        clusters.push((
            "scratch (random init)".to_string(),
            cluster_scores(&random, &usps_test, &RunContext::new(dev).with_seed(seed))?,
            0.0,
        ));
        let runs = scratch.run(
            &random,
            &usps_train,
            &usps_test,
            &mut RunContext::new(dev).with_seed(seed),
        )?;
        record(&mut rows, "scratch (random init)", runs, started);
        for objective in plan.objectives.iter().map(String::as_str) {
            let (encoder, seconds) =
                pretrain(objective, 16, &unlabelled, plan.epochs, seed, dev, started)?;
            let scores =
                cluster_scores(&encoder, &usps_test, &RunContext::new(dev).with_seed(seed))?;
            eprintln!("{objective} seed {seed}: k-means on USPS test {scores:?}");
            clusters.push((objective.to_string(), scores, seconds));
            let runs = few.run(
                &encoder,
                &usps_train,
                &usps_test,
                &mut RunContext::new(dev).with_seed(seed),
            )?;
            record(&mut rows, objective, runs, started);
            reports.push(serde_json::json!({
                "objective": objective,
                "seed": seed,
                "wall_time_s": seconds,
            }));
        }
        if let Some(models) = models {
            let weights = models.join("mnist-cnn/handwriting_model.pth");
            let encoder = tl::tl_models::arch::mnist_cnn_pretrained(&weights, dev)?
                .0
                .encoder;
            let (train28, test28) = (
                frame_set(&usps_train, 20, 28)?,
                frame_set(&usps_test, 20, 28)?,
            );
            let name = "supervised MNIST CNN (reference)";
            clusters.push((
                name.to_string(),
                cluster_scores(&encoder, &test28, &RunContext::new(dev).with_seed(seed))?,
                0.0,
            ));
            let runs = few.run(
                &encoder,
                &train28,
                &test28,
                &mut RunContext::new(dev).with_seed(seed),
            )?;
            record(&mut rows, name, runs, started);
        }
    }
    let text = format!(
        "MNIST + USPS (no labels) -> USPS, {} seeds, {} pretraining epochs, USPS test (2,007)\n\n{}\n\
         k-means on the USPS test features (10 clusters; labels only score)\n\n{}",
        plan.seeds,
        plan.epochs,
        pivot(&rows, &plan.shots),
        cluster_table(&clusters)
    );
    let json = serde_json::json!({
        "few_label": rows,
        "clusters": clusters.iter().map(|(n, s, t)| serde_json::json!({
            "encoder": n, "purity": s.purity, "nmi": s.nmi, "pretrain_s": t})).collect::<Vec<_>>(),
        "pretraining": reports,
    });
    Ok((text, json))
}

fn omniglot_part(
    data: &Path,
    plan: &Plan,
    episodes: usize,
    dev: &Device,
    started: &Instant,
) -> Result<(String, serde_json::Value), Error> {
    let background =
        tl::tl_data::images::omniglot(&data.join("omniglot/images_background_small1.zip"), 28)?;
    let evaluation =
        tl::tl_data::images::omniglot(&data.join("omniglot/images_background_small2.zip"), 28)?;
    let unlabelled = background.unlabelled();
    eprintln!(
        "pretraining set: {} Omniglot images of small1, labels dropped; episodes from {} characters of small2",
        unlabelled.len(),
        evaluation.num_classes()
    );
    let probe = LinearProbe::new().with_train(
        TrainConfig::new()
            .with_epochs(100)
            .with_lr(1e-2)
            .with_batch_size(25),
    );
    let (mut rows, mut reports) = (Vec::new(), Vec::new());
    for seed in 0..plan.seeds {
        let mut encoders = Vec::new();
        dev.seed(seed);
        encoders.push(("scratch (random init)".to_string(), cnn(28).init(dev)?));
        for objective in plan.objectives.iter().map(String::as_str) {
            let (encoder, seconds) =
                pretrain(objective, 28, &unlabelled, plan.epochs, seed, dev, started)?;
            encoders.push((objective.to_string(), encoder));
            reports.push(serde_json::json!({
                "objective": objective,
                "seed": seed,
                "wall_time_s": seconds,
            }));
        }
        for (name, encoder) in &encoders {
            // The same episodes for every encoder of a seed.
            let mut sampler = EpisodeSampler::new(&evaluation, 5, 5, 15, seed)?;
            let mut acc = Vec::new();
            for _ in 0..episodes {
                let episode = sampler.sample(&evaluation)?;
                let task = TransferTask::new(5)
                    .with_target_labelled(episode.support)
                    .with_target_test(episode.query);
                let mut ctx = RunContext::new(dev).with_seed(seed);
                let start = Pretrained::encoder(encoder.clone());
                acc.push(probe.fit(start, &task, &mut ctx)?.1.metrics.accuracy);
            }
            let (m, _) = mean_std(&acc);
            eprintln!(
                "[{:>5.0} s] omniglot {name:<22} seed {seed}: {episodes} episodes, mean accuracy {:.2} %",
                started.elapsed().as_secs_f64(),
                100.0 * m
            );
            rows.push(Row {
                encoder: name.clone(),
                step: "linear probe".into(),
                shots: 5,
                seed,
                accuracy: m,
            });
        }
    }
    let text = format!(
        "Omniglot small1 (no labels) -> small2, 5-way 5-shot, {episodes} episodes x {} seeds \
         (mean over episodes, ± std over seeds), {} pretraining epochs\n\n{}",
        plan.seeds,
        plan.epochs,
        pivot(&rows, &[5])
    );
    let json = serde_json::json!({ "episodes": rows, "pretraining": reports });
    Ok((text, json))
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
    let Some(data) = tl::tl_core::paths::data_dir() else {
        eprintln!("set TL_DATA_DIR (and TL_MODEL_DIR for the reference row); see the README");
        std::process::exit(2);
    };
    // The reference row is optional: without the CNN's weights the run goes on without it
    // (it would otherwise fail after every objective of seed 0 had pretrained).
    let models = tl::tl_core::paths::model_dir()
        .filter(|_| !args.no_reference)
        .filter(|m| {
            let weights = m.join("mnist-cnn/handwriting_model.pth");
            let found = weights.is_file();
            if !found {
                eprintln!(
                    "no {}: the supervised reference row is skipped",
                    weights.display()
                );
            }
            found
        });
    let dev = device(&args.device)?;
    let started = Instant::now();
    let mut plan = Plan {
        objectives: args.objectives.iter().map(|o| o.name()).collect(),
        seeds: args.seeds,
        epochs: args.epochs,
        mnist: args.mnist,
        shots: vec![1, 5, 10],
    };
    let mut json = serde_json::Map::new();
    // Written after each part, so that a later part's failure keeps the earlier results.
    let save = |json: &serde_json::Map<String, serde_json::Value>| -> Result<(), Error> {
        if let Some(path) = &args.json {
            write_atomic(path, serde_json::to_string_pretty(json)?.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    };
    if matches!(args.part, Part::Usps | Part::All) {
        let (text, value) = usps_part(&data, models.as_deref(), &plan, &dev, &started)?;
        println!("\n{text}");
        json.insert("usps".into(), value);
        save(&json)?;
    }
    if matches!(args.part, Part::Omniglot | Part::All) {
        plan.epochs = args.omniglot_epochs;
        let (text, value) = omniglot_part(&data, &plan, args.episodes, &dev, &started)?;
        println!("\n{text}");
        json.insert("omniglot".into(), value);
        save(&json)?;
    }
    Ok(())
}
