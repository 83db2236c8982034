//! Does a richer source task make fine-tuning beat training from scratch on the main job?
//!
//! `compare` pretrains a small CNN on the embedded digits 0-4 and transfers it to 5-9 with 10
//! labels per class; at convergence fine-tuning only draws level with scratch. This example
//! varies the *pretraining* and keeps the target side of `compare`, so each variant's rows
//! are set against scratch seed by seed (the same 50 labelled images):
//!
//! - `--pretraining supervised`: `compare`'s source task, the 5 classes;
//! - `--pretraining rotation-labels`: self-supervised label augmentation (Lee, Hwang and Shin
//!   2020): every source image in 4 quarter turns, labelled class x orientation (20 classes);
//! - `--pretraining rotation-flip-labels`: the same with mirrored copies (40 classes).
//!
//! Rows: `scratch`; `full-fine-tune` (the whole pretrained encoder); `fine-tune-new-fc` (conv
//! blocks kept, the fully connected layer re-initialised); `frozen-conv-linear` (the conv
//! blocks frozen, a linear head on their 128 values: what the conv features alone are worth).
//! With `--target-rotation-labels`, three more rows train the target the same way (its 50
//! images in 4 orientations, 20 joint labels) and predict a test image by summing, per
//! class, the logits of its 4 orientations: `scratch-rotation-labels`,
//! `fine-tune-rotation-labels`, `fine-tune-new-fc-rotation-labels`.
//!
//! ```text
//! cargo run --release --example pretraining_variants -- [--pretraining supervised|rotation-labels|rotation-flip-labels]
//!     [--pretrain-epochs 15] [--width 1] [--fine-tune-lr 3e-3] [--target-rotation-labels]
//!     [--seeds 10] [--device flex] [--json PATH]
//! ```

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::device::device_label;
use tl::tl_core::model::{LayerConfig, Sequential, count_params};
use tl::tl_core::train::ClassifierModel;
use tl::tl_data::split::{k_per_class, stratified_split};
use tl::tl_data::transform::orientation_labels;
use tl::tl_inductive::*;

mod common;
use common::digits::{FEATURES, encoder_config, pretrain_config, target_config};

/// Does a richer source task make fine-tuning beat training from scratch? Digits 0-4 -> 5-9,
/// 10 labels per class, each pretraining variant set against scratch seed by seed.
#[derive(Parser)]
struct Args {
    /// The source task the encoder is pretrained on.
    #[arg(long, value_enum, default_value_t = Pretraining::Supervised)]
    pretraining: Pretraining,
    /// Pretraining epochs.
    #[arg(long, default_value_t = 15)]
    pretrain_epochs: usize,
    /// Every layer of the encoder this many times as wide.
    #[arg(long, default_value_t = 1)]
    width: usize,
    /// Learning rate of the rows that start pretrained.
    #[arg(long, default_value_t = 3e-3)]
    fine_tune_lr: f64,
    /// Add three rows that train the target with rotation labels.
    #[arg(long)]
    target_rotation_labels: bool,
    /// Number of seeds.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Backend: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Also write every run's report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The pretraining variants.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Pretraining {
    /// `compare`'s source task, the 5 classes.
    Supervised,
    /// Every source image in 4 quarter turns, labelled class x orientation (20 classes).
    RotationLabels,
    /// The same with mirrored copies (40 classes).
    RotationFlipLabels,
}

impl std::fmt::Display for Pretraining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

/// The checks clap cannot express: counts of at least 1 and a positive rate.
fn check_args(args: &Args) -> Result<(), String> {
    if args.seeds == 0 || args.pretrain_epochs == 0 || args.width == 0 {
        return Err("--seeds, --pretrain-epochs and --width must be at least 1".into());
    }
    if !(args.fine_tune_lr > 0.0 && args.fine_tune_lr.is_finite()) {
        return Err(format!(
            "--fine-tune-lr: {} must be positive",
            args.fine_tune_lr
        ));
    }
    Ok(())
}

/// The conv blocks kept, the fully connected layer re-initialised.
fn new_fc(encoder: Sequential, width: usize, dev: &Device) -> tl::tl_core::Result<Sequential> {
    encoder.drop_last(2)?.push_layers(
        &[
            LayerConfig::Linear {
                out: FEATURES * width,
            },
            LayerConfig::Relu,
        ],
        dev,
    )
}

/// Trains `encoder` with a 20-way head on the target's 4 orientations and scores the test
/// set by summing each class's logits over a test image's 4 orientations.
fn fit_rotation_labels(
    name: &str,
    encoder: Sequential,
    (labelled, test): (&LabelledSet, &LabelledSet),
    train: &TrainConfig,
    seed: u64,
    dev: &Device,
) -> Result<FitReport, Box<dyn std::error::Error>> {
    let start = Instant::now();
    // The logits below are read as 4 per class of the labelled set.
    if test.num_classes() != labelled.num_classes() {
        return Err("the labelled and test sets name different classes".into());
    }
    let (train_set, test_set) = (
        orientation_labels(labelled, false)?,
        orientation_labels(test, false)?,
    );
    let classes = train_set.num_classes();
    dev.seed(3000 + seed);
    let head = head_config(encoder.output_dim(), &[], classes).init(dev)?;
    let out =
        Trainer::new(train.clone()).fit(Classifier::new(encoder, head)?, &train_set, None, dev)?;
    let params = count_params(&out.model);
    let model = out.model.valid();
    let plain = dev.clone().without_autodiff();
    let all: Vec<usize> = (0..test_set.len()).collect();
    let logits: Vec<f32> = model
        .logits(test_set.inputs.tensor(&all, &plain))
        .into_data()
        .iter::<f32>()
        .collect();
    // Item 4i + k of the test set is test image i turned k times, labelled 4 class + k.
    let predicted: Vec<usize> = (0..test.len())
        .map(|i| {
            let score = |c: usize| -> f32 {
                (0..4)
                    .map(|k| logits[(4 * i + k) * classes + 4 * c + k])
                    .sum()
            };
            (0..test.num_classes())
                .max_by(|a, b| score(*a).total_cmp(&score(*b)))
                .unwrap_or(0)
        })
        .collect();
    Ok(FitReport {
        strategy: name.into(),
        config: serde_json::json!({ "train": train, "orientations": 4, "aggregate": "sum of logits" }),
        history: out.history,
        metrics: Metrics::from_predictions(&test.labels, &predicted, test.num_classes()),
        wall_time_s: start.elapsed().as_secs_f64(),
        params,
        device: device_label(dev),
        seed,
        extra: Default::default(),
    })
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    check_args(&args)?;
    let dev = device(&args.device)?;
    let (source_all, target_all) = common::digits::source_and_target()?;
    let mut rows = vec![
        "scratch",
        "full-fine-tune",
        "fine-tune-new-fc",
        "frozen-conv-linear",
    ];
    if args.target_rotation_labels {
        rows.extend([
            "scratch-rotation-labels",
            "fine-tune-rotation-labels",
            "fine-tune-new-fc-rotation-labels",
        ]);
    }
    let mut comparison = Comparison::default();
    for seed in 0..args.seeds {
        let (source_train, source_valid) = stratified_split(&source_all, 0.8, seed)?;
        let (target_train, target_test) = k_per_class(&target_all, 10, seed)?;
        let (pre_train, pre_valid) = match args.pretraining {
            Pretraining::Supervised => (source_train, source_valid),
            kind => {
                let flips = kind == Pretraining::RotationFlipLabels;
                (
                    orientation_labels(&source_train, flips)?,
                    orientation_labels(&source_valid, flips)?,
                )
            }
        };
        dev.seed(seed);
        let model = Classifier::new(
            encoder_config(args.width).init(&dev)?,
            head_config(FEATURES * args.width, &[], pre_train.num_classes()).init(&dev)?,
        )?;
        let pre = Trainer::new(pretrain_config(seed).with_epochs(args.pretrain_epochs)).fit(
            model,
            &pre_train,
            Some(&pre_valid),
            &dev,
        )?;
        let source_acc = evaluate(&pre.model, &pre_valid, &dev, 256)?.accuracy;
        let pretrained = pre.model.encoder;
        let target = (&target_train, &target_test);
        let task = TransferTask::new(5)
            .with_target_labelled(target_train.clone())
            .with_target_test(target_test.clone());
        // compare's target training; `--fine-tune-lr` for the rows that start pretrained.
        let scratch_train = target_config(seed, 3e-3, 60);
        let tuned = scratch_train.clone().with_lr(args.fine_tune_lr);
        let mut line = format!(
            "seed {seed}: {} pretraining {:.2} %;",
            args.pretraining,
            100.0 * source_acc
        );
        for &name in &rows {
            let random = || {
                dev.seed(1000 + seed);
                encoder_config(args.width).init(&dev)
            };
            let enc = pretrained.clone();
            let mut report = match name {
                "scratch" => {
                    FullFineTune::new()
                        .with_train(scratch_train.clone())
                        .fit(
                            Pretrained::encoder(random()?),
                            &task,
                            &mut RunContext::new(&dev).with_seed(seed),
                        )?
                        .1
                }
                "full-fine-tune" => {
                    FullFineTune::new()
                        .with_train(tuned.clone())
                        .fit(
                            Pretrained::encoder(enc),
                            &task,
                            &mut RunContext::new(&dev).with_seed(seed),
                        )?
                        .1
                }
                "fine-tune-new-fc" => {
                    dev.seed(2000 + seed);
                    let surgery = new_fc(enc, args.width, &dev)?;
                    FullFineTune::new()
                        .with_train(tuned.clone())
                        .fit(
                            Pretrained::encoder(surgery),
                            &task,
                            &mut RunContext::new(&dev).with_seed(seed),
                        )?
                        .1
                }
                "frozen-conv-linear" => {
                    LinearProbe::new()
                        .with_train(scratch_train.clone())
                        .fit(
                            Pretrained::encoder(enc.drop_last(2)?),
                            &task,
                            &mut RunContext::new(&dev).with_seed(seed),
                        )?
                        .1
                }
                "scratch-rotation-labels" => {
                    fit_rotation_labels(name, random()?, target, &scratch_train, seed, &dev)?
                }
                "fine-tune-rotation-labels" => {
                    fit_rotation_labels(name, enc, target, &tuned, seed, &dev)?
                }
                "fine-tune-new-fc-rotation-labels" => {
                    dev.seed(2000 + seed);
                    let surgery = new_fc(enc, args.width, &dev)?;
                    fit_rotation_labels(name, surgery, target, &tuned, seed, &dev)?
                }
                other => return Err(format!("no row `{other}`").into()),
            };
            line += &format!(" {name} {:.2}", 100.0 * report.metrics.accuracy);
            report.strategy = name.to_string();
            report.device = device_label(&dev);
            // Accuracy on the pretraining task (20 or 40 joint classes with rotation labels).
            report
                .extra
                .insert("pretraining_accuracy".into(), source_acc);
            comparison.push(report);
        }
        eprintln!("{line}");
    }
    println!(
        "\nDigits 0-4 -> 5-9, 10 labels per class; pretraining {} ({} epochs, width x{}), fine-tuning rate {:e}, {} seeds, device {}\n",
        args.pretraining,
        args.pretrain_epochs,
        args.width,
        args.fine_tune_lr,
        args.seeds,
        device_label(&dev)
    );
    println!("{}", comparison.to_markdown());
    println!("{}", comparison.gains_to_markdown("scratch"));
    if let Some(path) = &args.json {
        write_atomic(path, comparison.to_json()?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
