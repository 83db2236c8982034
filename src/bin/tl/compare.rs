//! The main job: compare transfer strategies on the embedded digits, over several seeds.
//!
//! A small CNN is pretrained on digits 0-4 (the source task). The target task is digits 5-9
//! with only 10 labelled images per class; the rest of 5-9 is the target test set. Each
//! strategy starts from the same pretrained weights (or from scratch) and is scored on the
//! target test set:
//!
//! - `scratch`: the same architecture, randomly initialised, trained on the 50 target labels;
//! - the inductive methods of `tl-inductive`, each from the pretrained encoder with a new
//!   head: `linear-probe` (encoder frozen), `full-fine-tune`, `fine-tune-new-fc` (layer
//!   surgery: the conv blocks kept, the fully connected layer re-initialised, then all
//!   trained), `partial-fine-tune` (first conv
//!   block frozen), `gradual-unfreezing`, `discriminative-lr`, `l2-sp`, `lora` (rank 4 on the
//!   fully connected layer; Burn adapts weight matrices, not convolution kernels);
//! - `frozen-random-encoder`: a control: a *random* encoder frozen, a new head trained; the
//!   gap to `linear-probe` is what the pretrained features are worth.
//!
//! The encoder is two conv blocks and a 64-wide fully connected layer; the source model's
//! 5-way output layer is the task-specific part that is dropped, and every target model gets
//! a fresh one.
//!
//! Below it, each row's gain over scratch paired by seed (`Comparison::gains_to_markdown`).
//! A third table keeps the task and changes the domain (transductive transfer): the source
//! model classifies digits 0-4 drawn under a generated shift (rotated by `--shift-degrees`,
//! 25 by default): the held-out 0-4 images, rotated, are the unlabelled target, and the same
//! images with their labels score it (the transductive setting). Rows: `source-only` (more
//! source training), tl-transductive's `deep-coral`, `mmd`, `self-training`,
//! `self-ensembling`, and tl-adversarial's `dann` and `adda`.
//!
//! A fourth table distils (tl-distill): a teacher (the encoder at width 2, 53 k parameters)
//! trained on 60 % of all ten digits, and a student MLP 22x smaller (64-32-10) that has only
//! 10 labels per class of the same images: `student alone` (cross-entropy on the 100 labels),
//! `kd` (Hinton's loss on the 100 labelled images) and `kd + unlabelled` (the rest of the
//! teacher's images as an unlabelled transfer set, soft targets only); scored on the other 40 %,
//! with the gain over the student alone paired by seed.
//!
//! A fifth table is few-shot (tl-fewshot): digits 5-9 as unseen classes in 5-way 1-shot and
//! 5-shot episodes (15 queries per class, `--episodes` per seed): `protonet`, `baseline++`
//! and `fine-tune` on the conv blocks of the pretrained encoder and of a random one, and
//! ProtoNet meta-trained on 0-4 in its four quarter turns; mean accuracy with its 95 %
//! interval over every seed's episodes (`--fewshot-json` writes them).
//!
//! A sixth table separates content from style (tl-disentangle): half of the digits upright
//! with labels, the other half turned a quarter (10 labels per class, the rest to test), each
//! row from a fresh MLP encoder: `scratch`, `vae` and `beta-vae` (codes learnt without labels,
//! then a probe) and `content-style` (content and style codes from pairs of one class across
//! the two domains); then what the content/style codes hold (the rotation from the style and
//! from the content code, the class from the style code).
//!
//! A seventh table is cross-modal (tl-crossmodal), when all-MiniLM-L6-v2 is under
//! `TL_MODEL_DIR` (else one line says it is skipped): half of the digits aligned with captions
//! of their names ("a handwritten digit seven"), the other half classified from the names
//! alone (`clip`), by a classifier trained on the prompts' text only (`clip-text-only`), by a
//! probe (`clip-probe`), with hashed words instead of MiniLM, and by a classifier trained only
//! on images a conditional VAE drew from the names (`text-to-image`); then the negative control:
//! aligned on 0-6, scored on 7-9 among the unseen names.
//!
//! Every row is a strategy from the registry (`tl::registry()`), created by name with its
//! settings; a row's start (the pretrained encoder, a random one, or the encoder after layer
//! surgery) is the only thing the table sets beside them.
//!
//! ```text
//! cargo run --release -- compare [--device flex|ndarray|wgpu|wgpu-cpu|auto]
//!     [--seeds 3] [--labels-per-class 10] [--target-epochs 60] [--shift-degrees 25]
//!     [--json PATH] [--csv PATH]
//! ```

use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::device::device_label;
use tl::tl_core::model::{LayerConfig, Sequential};
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::Json;
use tl::tl_data::split::{k_per_class, stratified_split};

use crate::common;
use common::digits::{FEATURES, pretrain_config, target_config};

/// `compare`'s encoder: the shared one at width 1.
fn encoder_config() -> SequentialConfig {
    common::digits::encoder_config(1)
}

/// A rotation in degrees: a finite number.
fn finite_degrees(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(d) if d.is_finite() => Ok(d),
        Ok(d) => Err(format!("{d} is not a finite number of degrees")),
        Err(e) => Err(e.to_string()),
    }
}

/// `tl compare`: strategies of every family compared on the embedded digits (the main job).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Seeds (runs per strategy), 0..N.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Labelled target images per class.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    labels_per_class: u64,
    /// Epochs of every target-side fit.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    target_epochs: u64,
    /// Rotation of the transductive table's target domain, in degrees.
    #[arg(long, default_value_t = 25.0, value_parser = finite_degrees)]
    shift_degrees: f32,
    /// Write every run's report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one CSV line per run of the first table here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Few-shot episodes per seed and shape (5-way 1-shot and 5-shot on 5-9).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    episodes: u64,
    /// Write the few-shot table's rows as JSON here.
    #[arg(long)]
    fewshot_json: Option<PathBuf>,
    /// No progress lines (the tables are still printed).
    #[arg(long)]
    quiet: bool,
}

/// What a row starts from.
#[derive(Clone, Copy)]
enum StartFrom {
    /// The encoder pretrained on 0-4.
    Pretrained,
    /// A random encoder (seeded apart from the pretrained one).
    Random,
    /// Layer surgery: the conv blocks kept, the source's fully connected layer (whose 64
    /// features collapse onto the 5 source classes) dropped and a fresh one added.
    NewFc,
}

/// The first table's rows: name, registered strategy, its settings beyond the training
/// config, and the start.
fn target_rows() -> Vec<(&'static str, &'static str, Json, StartFrom)> {
    use StartFrom::*;
    let none = || json!({});
    vec![
        ("scratch", "full-fine-tune", none(), Random),
        ("linear-probe", "linear-probe", none(), Pretrained),
        ("full-fine-tune", "full-fine-tune", none(), Pretrained),
        ("fine-tune-new-fc", "full-fine-tune", none(), NewFc),
        ("partial-fine-tune", "partial-fine-tune", none(), Pretrained),
        (
            "gradual-unfreezing",
            "gradual-unfreezing",
            none(),
            Pretrained,
        ),
        ("discriminative-lr", "discriminative-lr", none(), Pretrained),
        ("l2-sp", "l2-sp", json!({"alpha": 0.01}), Pretrained),
        ("lora", "lora", json!({"rank": 4}), Pretrained),
        ("frozen-random-encoder", "linear-probe", none(), Random),
    ]
}

/// The transductive rows: registered strategy and settings (each from the source model).
fn domain_rows(train: &TrainConfig) -> Result<Vec<(&'static str, Json)>, serde_json::Error> {
    let disc = json!({"hidden": [64]});
    Ok(vec![
        ("source-only", json!({"train": train})),
        ("deep-coral", json!({"train": train})),
        ("mmd", json!({"train": train})),
        (
            "self-training",
            json!({"train": train.clone().with_epochs(4), "rounds": 3}),
        ),
        (
            "self-ensembling",
            json!({
                "train": train,
                // 230 steps in all: a teacher averaging over about the last 20.
                "teacher_alpha": 0.95,
                // The paper's digit augmentation scaled to 8x8 images: a 1-pixel translation.
                "augment": serde_json::to_value(tl::tl_data::transform::RandomAffine {
                    affine_std: 0.1,
                    translate: 1.0,
                    noise_std: 0.1,
                })?,
            }),
        ),
        ("dann", json!({"train": train, "discriminator": disc})),
        // ADDA's target encoder collapses onto one class at 1e-3 (and 2e-4) here.
        (
            "adda",
            json!({"train": train.clone().with_lr(5e-5), "discriminator": disc}),
        ),
    ])
}

/// The transductive rows: the source model adapted to rotated digits it has no labels for.
fn domain_shift(
    registry: &Registry,
    source_model: &Classifier<Sequential>,
    source_train: &LabelledSet,
    source_valid: &LabelledSet,
    args: &Args,
    seed: u64,
    dev: &Device,
) -> Result<Vec<FitReport>, Box<dyn std::error::Error>> {
    let rotated = tl::tl_data::shift::Shift::Rotate {
        degrees: args.shift_degrees,
    }
    .apply(source_valid, seed)?;
    let task = TransferTask::new(5)
        .with_source(source_train.clone())
        .with_target_unlabelled(rotated.unlabelled())
        .with_target_test(rotated);
    let train = TrainConfig::new()
        .with_epochs(10)
        .with_batch_size(32)
        .with_lr(1e-3)
        .with_seed(seed);
    let mut out = Vec::new();
    for (name, settings) in domain_rows(&train)? {
        let strategy = registry.create(name, &settings)?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let start = Pretrained::classifier(source_model.clone());
        out.push(strategy.fit(start, &task, &mut ctx)?.1);
    }
    Ok(out)
}

/// The disentanglement rows: upright digits (labelled) and the other half of the digits
/// turned a quarter (10 labels per class; the rest, unlabelled, to test), each row from a
/// fresh MLP encoder.
fn disentanglement(
    registry: &Registry,
    seed: u64,
    dev: &Device,
) -> Result<Vec<FitReport>, Box<dyn std::error::Error>> {
    let digits = tl::tl_data::digits()?;
    let (upright, other) = stratified_split(&digits, 0.5, seed)?;
    let turned = tl::tl_data::shift::Shift::Rotate { degrees: 90.0 }.apply(&other, seed)?;
    let (labelled, test) = k_per_class(&turned, 10, seed)?;
    let task = TransferTask::new(10)
        .with_source(upright)
        .with_target_labelled(labelled)
        .with_target_unlabelled(test.unlabelled())
        .with_target_test(test);
    let train = TrainConfig::new()
        .with_epochs(15)
        .with_batch_size(64)
        .with_lr(2e-3)
        .with_seed(seed);
    let rows = [
        (
            "scratch",
            "full-fine-tune",
            json!({"train": target_config(seed, 3e-3, 60)}),
        ),
        (
            "vae",
            "vae",
            json!({"train": train, "latent": 18, "decoder_hidden": [128]}),
        ),
        (
            "beta-vae",
            "beta-vae",
            json!({"train": train, "beta": 2.0, "latent": 18, "decoder_hidden": [128]}),
        ),
        (
            "content-style",
            "content-style",
            json!({"train": train, "content": 16, "style": 2, "decoder_hidden": [128]}),
        ),
    ];
    let mut out = Vec::new();
    for (name, strategy, settings) in rows {
        let strategy = registry.create(strategy, &settings)?;
        dev.seed(3000 + seed);
        let encoder = SequentialConfig::new(vec![1, 8, 8])
            .linear(128)
            .relu()
            .init(dev)?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let (_, mut report) = strategy.fit(Pretrained::encoder(encoder), &task, &mut ctx)?;
        crate::say!(
            "seed {seed}: {name:<22} turned-digit accuracy {:.2} % ({:.1} s)",
            100.0 * report.metrics.accuracy,
            report.wall_time_s
        );
        report.strategy = name.to_string();
        out.push(report);
    }
    Ok(out)
}

/// Prints what the content/style model's codes hold (from its reports' extras).
fn print_codes(reports: &Comparison) {
    let pick = |k: &str| -> Vec<f64> {
        reports
            .reports
            .iter()
            .filter_map(|r| r.extra.get(k).copied())
            .collect()
    };
    let cell = |k: &str| {
        let (m, s) = mean_std(&pick(k));
        format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * s)
    };
    println!(
        "\nWhat the content/style codes hold (linear probes on held-out halves, %): rotation from the style code {}, from the content code {} (chance 50); class from the style code {} (chance 10)",
        cell("domain_from_style"),
        cell("domain_from_content"),
        cell("class_from_style")
    );
}

/// The distillation rows: a teacher trained on 60 % of the ten digits, a 22x smaller
/// student with 10 labels per class.
fn distillation(
    registry: &Registry,
    seed: u64,
    dev: &Device,
) -> Result<Vec<FitReport>, Box<dyn std::error::Error>> {
    let digits = tl::tl_data::digits()?;
    let (train, test) = stratified_split(&digits, 0.6, seed)?;
    dev.seed(seed);
    let teacher = Classifier::new(
        common::digits::encoder_config(2).init(dev)?,
        head_config(2 * FEATURES, &[], 10).init(dev)?,
    )?;
    let teacher = Trainer::new(pretrain_config(seed))
        .fit(teacher, &train, None, dev)?
        .model;
    let (labelled, rest) = k_per_class(&train, 10, seed)?;
    let task = TransferTask::new(10)
        .with_target_labelled(labelled)
        .with_target_unlabelled(rest.unlabelled())
        .with_target_test(test);
    let student = json!([{"linear": {"out": 32}}, "relu"]);
    let few = target_config(seed, 3e-3, 60);
    let all = TrainConfig::new()
        .with_epochs(40)
        .with_batch_size(32)
        .with_lr(3e-3)
        .with_schedule(Schedule::Cosine { min_factor: 0.1 });
    let rows = [
        ("student alone", json!({"alpha": 1.0, "train": few})),
        ("kd", json!({"alpha": 0.5, "train": few})),
        (
            "kd + unlabelled",
            json!({"alpha": 0.1, "transfer": "both", "train": all}),
        ),
    ];
    let mut out = Vec::new();
    for (name, mut kd) in rows {
        kd["student"] = student.clone();
        kd["temperature"] = json!(4.0);
        let strategy = registry.create("knowledge-distillation", &json!({ "kd": kd }))?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let start = Pretrained::classifier(teacher.clone());
        let (_, mut report) = strategy.fit(start, &task, &mut ctx)?;
        crate::say!(
            "seed {seed}: {name:<22} digit accuracy {:.2} % (teacher {:.2} %, {:.0}x its size; {:.1} s)",
            100.0 * report.metrics.accuracy,
            100.0 * report.extra["teacher_accuracy"],
            report.extra["compression"],
            report.wall_time_s
        );
        report.strategy = name.to_string();
        out.push(report);
    }
    Ok(out)
}

/// Prints the few-shot table (every seed's episodes pooled) and writes its JSON.
fn print_fewshot(
    scores: &FewShotScores,
    args: &Args,
    json_path: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    use tl::tl_fewshot::EpisodeScore;
    let mut names: Vec<&str> = Vec::new();
    for (name, _, _) in scores {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let pooled = |name: &str, shot: usize| {
        let all: Vec<f64> = scores
            .iter()
            .filter(|(n, s, _)| n == name && *s == shot)
            .flat_map(|(_, _, a)| a.iter().copied())
            .collect();
        EpisodeScore::of(&all)
    };
    println!(
        "\nFew-shot: classes never seen (digits 5-9), 5-way episodes with 15 queries per class, \
         {} episodes per seed x {} seeds; mean accuracy ± 95 % interval\n",
        args.episodes, args.seeds
    );
    println!("| method | 5-way 1-shot | 5-way 5-shot |\n|---|---|---|");
    let mut rows = Vec::new();
    for name in &names {
        let (one, five) = (pooled(name, 1), pooled(name, 5));
        println!("| {name} | {one} | {five} |");
        rows.push(json!({"method": name, "1-shot": one, "5-shot": five}));
    }
    if let Some(path) = json_path {
        write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
        crate::say!("wrote {}", path.display());
    }
    Ok(())
}

/// The few-shot rows: name, registered strategy, settings, and whether it starts from the
/// pretrained encoder (else a random one).
fn fewshot_rows() -> Vec<(&'static str, &'static str, Json, bool)> {
    let head =
        json!({"pretrain": false, "head_train": {"epochs": 50, "batch_size": 25, "lr": 1e-2}});
    let fine =
        json!({"pretrain": false, "head_train": {"epochs": 30, "batch_size": 25, "lr": 1e-3}});
    let proto = json!({"meta_train": false});
    let mut rows = Vec::new();
    for pretrained in [true, false] {
        rows.push(("protonet", "protonet", proto.clone(), pretrained));
        rows.push(("baseline++", "baseline++", head.clone(), pretrained));
        rows.push(("fine-tune", "fine-tune", fine.clone(), pretrained));
    }
    rows
}

/// Accuracy of one few-shot row on `episodes` episodes of the target digits (per shape).
type FewShotScores = Vec<(String, usize, Vec<f64>)>;

/// The few-shot rows on 5-way episodes of digits 5-9 (every image, 15 queries per class):
/// each registered method on the conv blocks of the encoder pretrained on 0-4 and of a
/// random one; and ProtoNet meta-trained on 0-4 in its four quarter turns (20 classes), from
/// the random conv blocks.
fn fewshot(
    registry: &Registry,
    pretrained: &Sequential,
    source: &LabelledSet,
    target: &LabelledSet,
    episodes: usize,
    seed: u64,
    dev: &Device,
) -> Result<FewShotScores, Box<dyn std::error::Error>> {
    use tl::tl_fewshot::{EpisodeShape, ProtoNet, evaluate_episodes};
    // The conv blocks' 128 features: the fully connected layer's 64 collapse onto the five
    // source classes, and new classes fall between them (measured: ProtoNet 5-way 1-shot on
    // 5-9 at 44.8 % with them, 62.4 % without).
    dev.seed(3000 + seed);
    let random = encoder_config().init(dev)?.drop_last(2)?;
    let pretrained = &pretrained.clone().drop_last(2)?;
    let base = tl::tl_data::transform::orientation_labels(source, false)?;
    let mut ctx = RunContext::new(dev).with_seed(seed);
    let meta = ProtoNet::new()
        .with_episodes(EpisodeShape::new(10, 1, 10))
        .with_episodes_per_epoch(50)
        .with_train(
            TrainConfig::new()
                .with_epochs(6)
                .with_lr(2e-3)
                .with_seed(seed),
        );
    let (meta_trained, _) = meta.meta_train(random.clone(), &base, &mut ctx)?;
    let mut rows: Vec<(String, &str, Json, &Sequential)> = fewshot_rows()
        .into_iter()
        .map(|(name, method, settings, from)| {
            let (label, start) = if from {
                ("pretrained", pretrained)
            } else {
                ("random", &random)
            };
            (format!("{name}, {label} encoder"), method, settings, start)
        })
        .collect();
    rows.push((
        "protonet, meta-trained on 0-4".into(),
        "protonet",
        json!({"meta_train": false}),
        &meta_trained,
    ));
    let mut out = Vec::new();
    for (name, method, settings, start) in rows {
        let strategy = registry.create(method, &settings)?;
        for shot in [1, 5] {
            let mut accuracies = Vec::new();
            evaluate_episodes(
                target,
                EpisodeShape::new(5, shot, 15),
                episodes,
                seed,
                |e| {
                    let task = TransferTask::new(5)
                        .with_target_labelled(e.support.clone())
                        .with_target_test(e.query.clone());
                    let mut ctx = RunContext::new(dev).with_seed(seed);
                    let (_, report) =
                        strategy.fit(Pretrained::encoder(start.clone()), &task, &mut ctx)?;
                    accuracies.push(report.metrics.accuracy);
                    Ok(report.metrics.accuracy)
                },
            )?;
            crate::say!(
                "seed {seed}: {name:<36} 5-way {shot}-shot {}",
                tl::tl_fewshot::EpisodeScore::of(&accuracies)
            );
            out.push((name.clone(), shot, accuracies));
        }
    }
    Ok(out)
}

/// all-MiniLM-L6-v2's folder under `TL_MODEL_DIR`, when there.
fn minilm_folder() -> Option<PathBuf> {
    tl::tl_core::paths::model_dir()
        .map(|d| d.join("all-MiniLM-L6-v2"))
        .filter(|d| d.join("config.json").is_file())
}

/// Runs the main job with `args`.
pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // Two outputs of one path: the second would replace the first.
    let outputs: Vec<(&str, &PathBuf)> = [
        ("--json", &args.json),
        ("--csv", &args.csv),
        ("--fewshot-json", &args.fewshot_json),
    ]
    .into_iter()
    .filter_map(|(flag, p)| p.as_ref().map(|p| (flag, p)))
    .collect();
    for (i, (a, pa)) in outputs.iter().enumerate() {
        if let Some((b, _)) = outputs[i + 1..].iter().find(|(_, pb)| pb == pa) {
            return Err(format!("{a} and {b} name the same file {}", pa.display()).into());
        }
    }
    common::QUIET.store(args.quiet, std::sync::atomic::Ordering::Relaxed);
    let dev = device(&args.device)?;
    let label = device_label(&dev);
    let registry = tl::registry()?;
    let (source_all, target_all) = common::digits::source_and_target()?;
    crate::say!(
        "digits: {} source images (0-4), {} target images (5-9); {} labels per target class; device {label}",
        source_all.len(),
        target_all.len(),
        args.labels_per_class
    );

    let mut comparison = Comparison::default();
    let mut shifted = Comparison::default();
    let mut distilled = Comparison::default();
    let mut fewshot_scores: FewShotScores = Vec::new();
    let mut disentangled = Comparison::default();
    let (mut aligned, mut aligned_unseen) = (Comparison::default(), Comparison::default());
    let minilm = minilm_folder();
    if minilm.is_none() {
        crate::say!(
            "cross-modal rows skipped: no all-MiniLM-L6-v2 under TL_MODEL_DIR (scripts/fetch-minilm.sh fetches it)"
        );
    }
    for seed in 0..args.seeds {
        let (source_train, source_valid) = stratified_split(&source_all, 0.8, seed)?;
        let (target_train, target_test) =
            k_per_class(&target_all, args.labels_per_class as usize, seed)?;

        // The pretrained model: trained on the source task once per seed.
        dev.seed(seed);
        let source_model = Classifier::new(
            encoder_config().init(&dev)?,
            head_config(FEATURES, &[], 5).init(&dev)?,
        )?;
        let start = Instant::now();
        let pre = Trainer::new(pretrain_config(seed)).fit(
            source_model,
            &source_train,
            Some(&source_valid),
            &dev,
        )?;
        let source_acc = evaluate(&pre.model, &source_valid, &dev, 256)?.accuracy;
        crate::say!(
            "seed {seed}: pretrained on 0-4 in {:.1} s, source validation accuracy {:.2} %",
            start.elapsed().as_secs_f64(),
            100.0 * source_acc
        );
        let reports = domain_shift(
            &registry,
            &pre.model,
            &source_train,
            &source_valid,
            args,
            seed,
            &dev,
        )?;
        for report in reports {
            crate::say!(
                "seed {seed}: {:<22} rotated-digit accuracy {:.2} % ({:.1} s)",
                report.strategy,
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            );
            shifted.push(report);
        }
        let pretrained = pre.model.encoder;
        fewshot_scores.extend(fewshot(
            &registry,
            &pretrained,
            &source_all,
            &target_all,
            args.episodes as usize,
            seed,
            &dev,
        )?);
        for report in distillation(&registry, seed, &dev)? {
            distilled.push(report);
        }
        for report in disentanglement(&registry, seed, &dev)? {
            disentangled.push(report);
        }
        if minilm.is_some() {
            let (seen, unseen) = common::crossmodal::digits_seed(&registry, 30, seed, &dev)?;
            aligned.reports.extend(seen);
            aligned_unseen.reports.extend(unseen);
        }

        let task = TransferTask::new(5)
            .with_target_labelled(target_train)
            .with_target_test(target_test);
        let train = target_config(seed, 3e-3, args.target_epochs as usize);
        for (name, strategy, mut settings, from) in target_rows() {
            settings["train"] = serde_json::to_value(&train)?;
            let strategy = registry.create(strategy, &settings)?;
            let encoder = match from {
                StartFrom::Pretrained => pretrained.clone(),
                StartFrom::Random => {
                    dev.seed(1000 + seed);
                    encoder_config().init(&dev)?
                }
                StartFrom::NewFc => {
                    dev.seed(2000 + seed);
                    pretrained.clone().drop_last(2)?.push_layers(
                        &[LayerConfig::Linear { out: FEATURES }, LayerConfig::Relu],
                        &dev,
                    )?
                }
            };
            let mut ctx = RunContext::new(&dev).with_seed(seed);
            let (_, mut report) = strategy.fit(Pretrained::encoder(encoder), &task, &mut ctx)?;
            crate::say!(
                "seed {seed}: {name:<22} target accuracy {:.2} % ({:.1} s)",
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            );
            report.strategy = name.to_string();
            report.extra.insert("source_accuracy".into(), source_acc);
            comparison.push(report);
        }
    }

    println!(
        "\nDigits 0-4 -> 5-9, {} labels per class, {} target epochs, {} seeds, device {label}\n",
        args.labels_per_class, args.target_epochs, args.seeds
    );
    println!("{}", comparison.to_markdown());
    println!("{}", comparison.gains_to_markdown("scratch"));
    println!(
        "\nSame task, new domain: digits 0-4 rotated by {} degrees (unlabelled), {} seeds\n",
        args.shift_degrees, args.seeds
    );
    println!("{}", shifted.to_markdown());
    let teacher = mean_std(
        &distilled
            .reports
            .iter()
            .filter(|r| r.strategy == "student alone")
            .map(|r| r.extra["teacher_accuracy"])
            .collect::<Vec<_>>(),
    );
    println!(
        "\nDistillation: a teacher trained on 60 % of the ten digits ({:.2} % ± {:.2} on the other 40 %), \
         a student 22x smaller with 10 labels per class, {} seeds\n",
        100.0 * teacher.0,
        100.0 * teacher.1,
        args.seeds
    );
    println!("{}", distilled.to_markdown());
    println!("{}", distilled.gains_to_markdown("student alone"));
    print_fewshot(&fewshot_scores, args, args.fewshot_json.as_deref())?;
    println!(
        "\nDisentanglement: upright digits (labelled) and the other half turned a quarter (10 labels per class, the rest to test); content from pairs of one class, style free, {} seeds\n",
        args.seeds
    );
    println!("{}", disentangled.to_markdown());
    println!("{}", disentangled.gains_to_markdown("scratch"));
    print_codes(&Comparison {
        reports: disentangled
            .reports
            .iter()
            .filter(|r| r.strategy == "content-style")
            .cloned()
            .collect(),
    });
    if minilm.is_some() {
        println!(
            "\nCross-modal: half of the digits aligned with captions of their names (all-MiniLM-L6-v2 locked), the other half classified from the names alone, {} seeds\n",
            args.seeds
        );
        println!("{}", aligned.to_markdown());
        common::crossmodal::print_unseen(&aligned_unseen, "7-9 after aligning on 0-6", 1.0 / 3.0);
    }
    if let Some(path) = &args.json {
        let mut all = comparison.clone();
        all.reports.extend(aligned.reports.iter().cloned());
        all.reports.extend(aligned_unseen.reports.iter().cloned());
        all.reports.extend(shifted.reports.iter().cloned());
        all.reports.extend(distilled.reports.iter().cloned());
        all.reports.extend(disentangled.reports.iter().cloned());
        write_atomic(path, all.to_json()?.as_bytes())?;
        crate::say!("wrote {}", path.display());
    }
    if let Some(path) = &args.csv {
        write_atomic(path, comparison.to_csv().as_bytes())?;
        crate::say!("wrote {}", path.display());
    }
    Ok(())
}
