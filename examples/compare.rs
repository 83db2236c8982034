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
//! ```text
//! cargo run --release --example compare -- [--device flex|ndarray|wgpu|wgpu-cpu|auto]
//!     [--seeds 3] [--labels-per-class 10] [--target-epochs 60] [--shift-degrees 25]
//!     [--json PATH] [--csv PATH]
//! ```

use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::device::device_label;
use tl::tl_core::model::{LayerConfig, Sequential};
use tl::tl_data::split::{k_per_class, stratified_split};
use tl::tl_inductive::*;

mod common;
use common::digits::{FEATURES, pretrain_config, target_config};

/// `compare`'s encoder: the shared one at width 1.
fn encoder_config() -> SequentialConfig {
    common::digits::encoder_config(1)
}

struct Args {
    device: String,
    seeds: u64,
    labels_per_class: usize,
    target_epochs: usize,
    shift_degrees: f32,
    json: Option<PathBuf>,
    csv: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        device: "flex".into(),
        seeds: 3,
        labels_per_class: 10,
        target_epochs: 60,
        shift_degrees: 25.0,
        json: None,
        csv: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--device" => args.device = value()?,
            "--shift-degrees" => {
                args.shift_degrees = value()?
                    .parse()
                    .map_err(|e| format!("--shift-degrees: {e}"))?
            }
            "--seeds" => args.seeds = value()?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--labels-per-class" => {
                args.labels_per_class = value()?
                    .parse()
                    .map_err(|e| format!("--labels-per-class: {e}"))?
            }
            "--target-epochs" => {
                args.target_epochs = value()?
                    .parse()
                    .map_err(|e| format!("--target-epochs: {e}"))?
            }
            "--json" => args.json = Some(value()?.into()),
            "--csv" => args.csv = Some(value()?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: compare [--device NAME] [--seeds N] [--labels-per-class K] [--target-epochs E] [--json PATH] [--csv PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if args.seeds == 0 || args.labels_per_class == 0 || args.target_epochs == 0 {
        return Err("--seeds, --labels-per-class and --target-epochs must be at least 1".into());
    }
    Ok(args)
}

/// The transductive rows: the source model adapted to rotated digits it has no labels for.
fn domain_shift(
    source_model: &Classifier<Sequential>,
    source_train: &LabelledSet,
    source_valid: &LabelledSet,
    args: &Args,
    seed: u64,
    dev: &Device,
) -> Result<Vec<FitReport>, Box<dyn std::error::Error>> {
    use tl::tl_adversarial::{Adda, Dann, DiscriminatorConfig};
    use tl::tl_transductive::{DeepCoral, Mmd, SelfEnsembling, SelfTraining, SourceOnly};
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
    let disc = DiscriminatorConfig::new().with_hidden(vec![64]);
    let m = || source_model.clone();
    let mut out = vec![
        SourceOnly::new()
            .with_train(train.clone())
            .fit(m(), &task, dev)?
            .1,
        DeepCoral::new()
            .with_train(train.clone())
            .fit(m(), &task, dev)?
            .1,
        Mmd::new().with_train(train.clone()).fit(m(), &task, dev)?.1,
        SelfTraining::new()
            .with_train(train.clone().with_epochs(4))
            .with_rounds(3)
            .fit(m(), &task, dev)?
            .1,
        SelfEnsembling::new()
            .with_train(train.clone())
            // 230 steps in all: a teacher averaging over about the last 20.
            .with_teacher_alpha(0.95)
            // The paper's digit augmentation scaled to 8x8 images: a 1-pixel translation.
            .with_augment(tl::tl_data::transform::RandomAffine {
                affine_std: 0.1,
                translate: 1.0,
                noise_std: 0.1,
            })
            .fit(m(), &task, dev)?
            .1,
        Dann::new()
            .with_train(train.clone())
            .with_discriminator(disc.clone())
            .fit(m(), &task, dev)?
            .1,
        Adda::new()
            // ADDA's target encoder collapses onto one class at 1e-3 (and 2e-4) here.
            .with_train(train.clone().with_lr(5e-5))
            .with_discriminator(disc)
            .fit(m(), &task, dev)?
            .1,
    ];
    for r in &mut out {
        r.device = device_label(dev);
    }
    Ok(out)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dev = device(&args.device)?;
    let label = device_label(&dev);
    let (source_all, target_all) = common::digits::source_and_target()?;
    eprintln!(
        "digits: {} source images (0-4), {} target images (5-9); {} labels per target class; device {label}",
        source_all.len(),
        target_all.len(),
        args.labels_per_class
    );

    let mut comparison = Comparison::default();
    let mut shifted = Comparison::default();
    for seed in 0..args.seeds {
        let (source_train, source_valid) = stratified_split(&source_all, 0.8, seed)?;
        let (target_train, target_test) = k_per_class(&target_all, args.labels_per_class, seed)?;

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
        eprintln!(
            "seed {seed}: pretrained on 0-4 in {:.1} s, source validation accuracy {:.2} %",
            start.elapsed().as_secs_f64(),
            100.0 * source_acc
        );
        for report in domain_shift(&pre.model, &source_train, &source_valid, &args, seed, &dev)? {
            eprintln!(
                "seed {seed}: {:<22} rotated-digit accuracy {:.2} % ({:.1} s)",
                report.strategy,
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            );
            shifted.push(report);
        }
        let pretrained = pre.model.encoder;

        let task = TransferTask::new(5)
            .with_target_labelled(target_train)
            .with_target_test(target_test);
        let train = target_config(seed, 3e-3, args.target_epochs);
        let strategies = [
            "scratch",
            "linear-probe",
            "full-fine-tune",
            "fine-tune-new-fc",
            "partial-fine-tune",
            "gradual-unfreezing",
            "discriminative-lr",
            "l2-sp",
            "lora",
            "frozen-random-encoder",
        ];
        for name in strategies {
            // A random encoder, for the two rows that start from one.
            let random = || {
                dev.seed(1000 + seed);
                encoder_config().init(&dev)
            };
            let encoder = pretrained.clone();
            let t = train.clone();
            let (_, mut report) = match name {
                "scratch" => FullFineTune::new()
                    .with_train(t)
                    .fit(random()?, &task, &dev)?,
                "linear-probe" => LinearProbe::new().with_train(t).fit(encoder, &task, &dev)?,
                "full-fine-tune" => FullFineTune::new()
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "fine-tune-new-fc" => {
                    // Layer surgery: keep the conv blocks, drop the source's fully connected
                    // layer (its 64 features collapse onto the 5 source classes) and add a
                    // fresh one of the same width.
                    dev.seed(2000 + seed);
                    let surgery = encoder.drop_last(2)?.push_layers(
                        &[LayerConfig::Linear { out: FEATURES }, LayerConfig::Relu],
                        &dev,
                    )?;
                    FullFineTune::new()
                        .with_train(t)
                        .fit(surgery, &task, &dev)?
                }
                "partial-fine-tune" => PartialFineTune::new(1)
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "gradual-unfreezing" => GradualUnfreezing::new()
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "discriminative-lr" => DiscriminativeLr::new()
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "l2-sp" => L2Sp::new()
                    .with_alpha(0.01)
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "lora" => LoraFineTune::new()
                    .with_rank(4)
                    .with_train(t)
                    .fit(encoder, &task, &dev)?,
                "frozen-random-encoder" => {
                    LinearProbe::new()
                        .with_train(t)
                        .fit(random()?, &task, &dev)?
                }
                other => return Err(format!("no strategy `{other}`").into()),
            };
            eprintln!(
                "seed {seed}: {name:<22} target accuracy {:.2} % ({:.1} s)",
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            );
            report.strategy = name.to_string();
            report.device = label.clone();
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
    if let Some(path) = &args.json {
        let mut all = comparison.clone();
        all.reports.extend(shifted.reports.iter().cloned());
        write_atomic(path, all.to_json()?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.csv {
        write_atomic(path, comparison.to_csv().as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
