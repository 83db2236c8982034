//! Distillation on real data (tl-distill): what a teacher's knowledge is worth to a student
//! 10-100x smaller, on MNIST, through unlabelled USPS, with a class left out, and for text.
//!
//! Needs `TL_DATA_DIR` (MNIST, USPS, Amazon reviews) and `TL_MODEL_DIR` (`mnist-cnn`,
//! `all-MiniLM-L6-v2`); see the README.
//!
//! - `mnist`: teacher = the real MNIST CNN (390 k parameters). Students: a small CNN (44x
//!   fewer parameters) alone, with KD, FitNets hints + KD, attention transfer + KD and
//!   relational KD; Hinton's 784-800-800-10 MLP alone and with KD. Test errors out of 10,000,
//!   accuracy, parameters, and inference images/s of student and teacher in the same run.
//! - `usps`: the same teacher and student; the transfer set is USPS train *without labels*
//!   (MNIST-style framing: 16 -> 20 px, 4 px of padding); scored on USPS test against the
//!   teacher, against the student trained on MNIST labels, and with both (MNIST labels and
//!   the teacher's soft targets on MNIST and unlabelled USPS).
//! - `left-out`: Hinton's experiment: the transfer set has no 3; the student's accuracy on
//!   the test 3s before and after raising class 3's bias (chosen on held-out training images,
//!   never on the test set).
//! - `text`: the static student distilled from all-MiniLM-L6-v2 (see `tl_distill::StaticEmbedding`)
//!   against MiniLM itself: logistic regression on each one's sentence vectors for the four
//!   Amazon domains (1,600 train / 400 test), in-domain and books -> the other three;
//!   sentences/s of both on the same reviews in the same run; size on disk.
//!
//! ```text
//! cargo run --release --example distillation -- [--part mnist|usps|left-out|text|all]
//!     [--seeds 3] [--epochs 10] [--train-items 60000] [--json PATH]
//! ```

use clap::Parser;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::model::LayerConfig;
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::Json;
use tl::tl_core::train::map_batches;
use tl::tl_data::split::{k_per_class, stratified_split};
use tl::tl_data::transform::frame_set;
use tl::tl_models::arch::{MNIST_MEAN, MNIST_STD, mnist_cnn_pretrained};

type Error = Box<dyn std::error::Error>;

/// Distillation on MNIST, USPS and Amazon reviews.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Which experiment.
    #[arg(long, default_value = "all", value_parser = ["mnist", "usps", "left-out", "text", "all"])]
    part: String,
    /// Device: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Seeds (runs per row), 0..N.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Epochs of every student.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// MNIST training images used (the first N of a seeded shuffle; 60,000 = all).
    #[arg(long, default_value_t = 60_000)]
    train_items: usize,
    /// Skip Hinton's MLP rows (the slowest).
    #[arg(long)]
    no_mlp: bool,
    /// Temperature of the MNIST rows' KD.
    #[arg(long, default_value_t = 4.0)]
    temperature: f64,
    /// Weight of the labels in the MNIST rows' KD (the soft targets get 1 - alpha).
    #[arg(long, default_value_t = 0.1)]
    alpha: f64,
    /// Labelled images per class in the few-label MNIST rows.
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    labels_per_class: usize,
    /// Epochs of fine-tuning the static text student on each domain (0: skip).
    #[arg(long, default_value_t = 10)]
    fine_tune_epochs: usize,
    /// Channels of the CNN student's first conv (then 2x and 4x).
    #[arg(long, default_value_t = 4)]
    student_width: usize,
    /// Only these MNIST rows (by name prefix: "cnn student alone", ...); all by default.
    #[arg(long)]
    rows: Vec<String>,
    /// Write every run's report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Embedding cache of the text part (default ~/.cache/tl-text/embeddings).
    #[arg(long)]
    cache: Option<PathBuf>,
}

/// The small CNN student: `w`/`2w`/`4w` channels, 3x3, pool after each (`--student-width`,
/// 4 by default: 2,954 parameters, 132x fewer than the teacher).
fn cnn_student(w: usize) -> Vec<LayerConfig> {
    let conv = |out_channels| LayerConfig::Conv2d {
        out_channels,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let pool = LayerConfig::MaxPool2d {
        kernel: 2,
        stride: 2,
    };
    vec![
        LayerConfig::Standardize {
            mean: MNIST_MEAN,
            std: MNIST_STD,
        },
        conv(w),
        LayerConfig::Relu,
        pool.clone(),
        conv(2 * w),
        LayerConfig::Relu,
        pool.clone(),
        conv(4 * w),
        LayerConfig::Relu,
        pool,
    ]
}

/// Hinton et al.'s 784-800-800-10 MLP (ReLU).
fn mlp_student() -> Vec<LayerConfig> {
    vec![
        LayerConfig::Standardize {
            mean: MNIST_MEAN,
            std: MNIST_STD,
        },
        LayerConfig::Linear { out: 800 },
        LayerConfig::Relu,
        LayerConfig::Linear { out: 800 },
        LayerConfig::Relu,
    ]
}

fn train_config(epochs: usize) -> Json {
    json!({
        "epochs": epochs,
        "batch_size": 64,
        "lr": 2e-3,
        "schedule": {"kind": "cosine", "min_factor": 0.05},
    })
}

/// A row: name, registered method, settings.
fn row(
    name: &'static str,
    method: &'static str,
    settings: Json,
) -> (&'static str, &'static str, Json) {
    (name, method, settings)
}

/// What a row's student learns from.
#[derive(Clone, Copy, PartialEq)]
enum Labels {
    /// Every MNIST training label.
    All,
    /// `--labels-per-class` labels per class; the rest of the images are unlabelled.
    Few,
}

type Row = (&'static str, &'static str, Json, Labels);

fn mnist_rows(args: &Args, few_epochs: usize) -> Vec<Row> {
    let (mlp, a, t) = (!args.no_mlp, args.alpha, args.temperature);
    let train = train_config(args.epochs);
    let kd = |student: Vec<LayerConfig>, alpha: f64, transfer: &str| json!({"student": student, "alpha": alpha, "temperature": t, "transfer": transfer, "train": train});
    let cnn = || cnn_student(args.student_width);
    let mut rows: Vec<Row> = vec![
        (
            "cnn student alone",
            "knowledge-distillation",
            json!({"kd": kd(cnn(), 1.0, "labelled")}),
            Labels::All,
        ),
        (
            "cnn student + KD",
            "knowledge-distillation",
            json!({"kd": kd(cnn(), a, "labelled")}),
            Labels::All,
        ),
    ];
    if mlp {
        rows.push((
            "mlp 800-800 alone",
            "knowledge-distillation",
            json!({"kd": kd(mlp_student(), 1.0, "labelled")}),
            Labels::All,
        ));
        rows.push((
            "mlp 800-800 + KD",
            "knowledge-distillation",
            json!({"kd": kd(mlp_student(), a, "labelled")}),
            Labels::All,
        ));
    }
    // The few labels alone: as many steps as the others take over every image.
    let mut alone = kd(cnn(), 1.0, "labelled");
    alone["train"]["epochs"] = json!(few_epochs);
    rows.extend([
        ("cnn student alone", "knowledge-distillation", json!({"kd": alone}), Labels::Few),
        ("cnn student + KD", "knowledge-distillation", json!({"kd": kd(cnn(), a, "both")}), Labels::Few),
        (
            "cnn student + hints + KD",
            "fitnets",
            // The third pool (16x3x3) regressed onto the teacher's (128x3x3).
            json!({"kd": kd(cnn(), a, "both"), "hints": [{"student_layer": 9, "teacher_layer": 9}], "hint_weight": 0.1}),
            Labels::Few,
        ),
        (
            "cnn student + attention + KD",
            "attention-transfer",
            // The three pools' outputs (14x14, 7x7, 3x3), as the paper matches group outputs.
            json!({"kd": kd(cnn(), a, "both"), "layers": [{"student": 3, "teacher": 3}, {"student": 6, "teacher": 6}, {"student": 9, "teacher": 9}]}),
            Labels::Few,
        ),
        ("cnn student + RKD + KD", "relational-kd", json!({"kd": kd(cnn(), a, "both")}), Labels::Few),
    ]);
    rows.retain(|r| args.rows.is_empty() || args.rows.iter().any(|p| r.0.starts_with(p.as_str())));
    rows
}

/// Inference images/s of `model` on `set` (batches of 256, inference mode), best of 3.
fn images_per_s<M: tl::tl_core::train::ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    dev: &Device,
) -> f64 {
    let model = model.valid();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let n: usize = map_batches(set, dev, 256, |x| vec![model.logits(x).dims()[0]])
            .iter()
            .sum();
        best = best.max(n as f64 / start.elapsed().as_secs_f64());
    }
    best
}

struct At<'a> {
    data: PathBuf,
    models: PathBuf,
    dev: Device,
    args: &'a Args,
    registry: Registry,
}

fn run_rows(
    at: &At<'_>,
    rows: &[(&'static str, &'static str, Json)],
    task: &TransferTask,
    teacher: &Classifier<Sequential>,
    seed: u64,
    out: &mut Comparison,
    speed: Option<&LabelledSet>,
) -> Result<(), Error> {
    for (name, method, settings) in rows {
        let strategy = at.registry.create(method, settings)?;
        let mut ctx = RunContext::new(&at.dev).with_seed(seed).with_progress(|e| {
            if let tl::tl_core::train::ProgressEvent::Epoch(r) = e {
                eprintln!("    {name}: epoch {} loss {:.4}", r.epoch, r.train_loss);
            }
        });
        let (student, mut report) =
            strategy.fit(Pretrained::classifier(teacher.clone()), task, &mut ctx)?;
        drop(ctx);
        let errors = (1.0 - report.metrics.accuracy) * report.metrics.confusion.total() as f64;
        report.extra.insert("errors".into(), errors.round());
        if let Some(set) = speed {
            let s = images_per_s(&student, set, &at.dev);
            let t = images_per_s(teacher, set, &at.dev);
            report.extra.insert("images_per_s".into(), s);
            report.extra.insert("teacher_images_per_s".into(), t);
            report.extra.insert("speedup".into(), s / t);
        }
        eprintln!(
            "seed {seed}: {name:<30} {:.2} % ({} errors), teacher {:.2} %, {:.0}x fewer parameters, {:.1} s",
            100.0 * report.metrics.accuracy,
            errors.round(),
            100.0 * report.extra["teacher_accuracy"],
            report.extra["compression"],
            report.wall_time_s
        );
        report.strategy = name.to_string();
        out.push(report);
    }
    Ok(())
}

/// Mean ± std of an `extra` figure over a strategy's runs.
fn extra_stat(c: &Comparison, strategy: &str, key: &str) -> Option<(f64, f64)> {
    let v: Vec<f64> = c
        .reports
        .iter()
        .filter(|r| r.strategy == strategy)
        .filter_map(|r| r.extra.get(key).copied())
        .collect();
    (!v.is_empty()).then(|| mean_std(&v))
}

/// Errors, parameters and speed per row.
fn errors_table(c: &Comparison, baseline: &str) -> String {
    let mut s = String::from(
        "| student | test errors | accuracy | parameters | teacher / student parameters | images/s (student / teacher) | training (s) | gain over the student alone (paired) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in c.summary() {
        let (e, es) = extra_stat(c, &row.strategy, "errors").unwrap_or((f64::NAN, 0.0));
        let comp = extra_stat(c, &row.strategy, "compression").map_or(f64::NAN, |x| x.0);
        let speed = match (
            extra_stat(c, &row.strategy, "images_per_s"),
            extra_stat(c, &row.strategy, "teacher_images_per_s"),
        ) {
            (Some(s), Some(t)) => format!("{:.0} / {:.0} ({:.1}x)", s.0, t.0, s.0 / t.0),
            _ => "-".into(),
        };
        let gain = if row.strategy == baseline {
            "-".to_string()
        } else {
            match c.paired_gain(&row.strategy, baseline) {
                Some(g) => format!(
                    "{:+.2} ± {:.2} points, ahead {}/{}",
                    100.0 * g.mean,
                    100.0 * g.std,
                    g.ahead,
                    g.pairs
                ),
                None => "-".into(),
            }
        };
        s.push_str(&format!(
            "| {} | {e:.1} ± {es:.1} | {:.2} % ± {:.2} | {} | {comp:.1}x | {speed} | {:.0} | {gain} |\n",
            row.strategy,
            100.0 * row.accuracy_mean,
            100.0 * row.accuracy_std,
            row.total_params,
            row.wall_time_mean_s,
        ));
    }
    s
}

fn mnist_sets(at: &At<'_>, seed: u64) -> Result<(LabelledSet, LabelledSet), Error> {
    let (train, test) = tl::tl_data::idx::mnist(&at.data.join("mnist"))?;
    let train = if at.args.train_items < train.len() {
        let fraction = at.args.train_items as f64 / train.len() as f64;
        stratified_split(&train, fraction, seed)?.0
    } else {
        train
    };
    Ok((train, test))
}

fn mnist(at: &At<'_>, all: &mut Comparison) -> Result<(), Error> {
    let (teacher, _) =
        mnist_cnn_pretrained(&at.models.join("mnist-cnn/handwriting_model.pth"), &at.dev)?;
    let (mut full, mut few) = (Comparison::default(), Comparison::default());
    let k = at.args.labels_per_class;
    for seed in 0..at.args.seeds {
        let (train, test) = mnist_sets(at, seed)?;
        let (labelled, rest) = k_per_class(&train, k, seed)?;
        eprintln!(
            "mnist, seed {seed}: {} training images ({} of them labelled in the few-label rows)",
            train.len(),
            labelled.len()
        );
        let few_epochs = at.args.epochs * train.len() / labelled.len();
        let all_labels = TransferTask::new(10)
            .with_target_labelled(train.clone())
            .with_target_test(test.clone());
        let few_labels = TransferTask::new(10)
            .with_target_labelled(labelled)
            .with_target_unlabelled(rest.unlabelled())
            .with_target_test(test.clone());
        let speed_set = test.select(&(0..2_000).collect::<Vec<_>>());
        for r in mnist_rows(at.args, few_epochs) {
            let (task, out) = match r.3 {
                Labels::All => (&all_labels, &mut full),
                Labels::Few => (&few_labels, &mut few),
            };
            run_rows(
                at,
                &[(r.0, r.1, r.2)],
                task,
                &teacher,
                seed,
                out,
                Some(&speed_set),
            )?;
        }
    }
    let first = full
        .reports
        .first()
        .or(few.reports.first())
        .ok_or("no rows ran")?;
    let teacher_acc = first.extra["teacher_accuracy"];
    println!(
        "\nMNIST, teacher: the pretrained CNN, {:.2} % ({} test errors), {} parameters; {} training images, {} epochs, T = {}, alpha = {}, {} seeds",
        100.0 * teacher_acc,
        ((1.0 - teacher_acc) * 10_000.0).round(),
        first.extra["teacher_params"],
        at.args.train_items.min(60_000),
        at.args.epochs,
        at.args.temperature,
        at.args.alpha,
        at.args.seeds
    );
    if !full.reports.is_empty() {
        println!(
            "\nEvery training label:\n\n{}",
            errors_table(&full, "cnn student alone")
        );
    }
    if !few.reports.is_empty() {
        println!(
            "\n{k} labels per class, the other images unlabelled (the transfer set of the KD rows):\n\n{}",
            errors_table(&few, "cnn student alone")
        );
    }
    for r in full.reports.iter_mut() {
        r.strategy = format!("{} (all labels)", r.strategy);
    }
    for r in few.reports.iter_mut() {
        r.strategy = format!("{} ({k} labels per class)", r.strategy);
    }
    all.reports.extend(full.reports);
    all.reports.extend(few.reports);
    Ok(())
}

fn usps(at: &At<'_>, all: &mut Comparison) -> Result<(), Error> {
    let (teacher, _) =
        mnist_cnn_pretrained(&at.models.join("mnist-cnn/handwriting_model.pth"), &at.dev)?;
    let (usps_train, usps_test) = tl::tl_data::libsvm::usps(&at.data.join("usps"))?;
    let (usps_train, usps_test) = (
        frame_set(&usps_train, 20, 28)?,
        frame_set(&usps_test, 20, 28)?,
    );
    let train = train_config(at.args.epochs);
    let kd = |alpha: f64, transfer: &str| json!({"kd": {"student": cnn_student(at.args.student_width), "alpha": alpha, "temperature": 4.0, "transfer": transfer, "train": train}});
    let mut c = Comparison::default();
    for seed in 0..at.args.seeds {
        let (mnist_train, _) = mnist_sets(at, seed)?;
        let on_mnist = TransferTask::new(10)
            .with_target_labelled(mnist_train)
            .with_target_test(usps_test.clone());
        run_rows(
            at,
            &[row(
                "student, MNIST labels",
                "knowledge-distillation",
                kd(1.0, "labelled"),
            )],
            &on_mnist,
            &teacher,
            seed,
            &mut c,
            None,
        )?;
        let on_usps = TransferTask::new(10)
            .with_target_labelled(on_mnist.target_labelled.clone().ok_or("no MNIST")?)
            .with_target_unlabelled(usps_train.unlabelled())
            .with_target_test(usps_test.clone());
        run_rows(
            at,
            &[
                row(
                    "student, KD on unlabelled USPS",
                    "knowledge-distillation",
                    kd(0.0, "unlabelled"),
                ),
                row(
                    "student, MNIST labels + KD on unlabelled USPS",
                    "knowledge-distillation",
                    kd(0.1, "both"),
                ),
            ],
            &on_usps,
            &teacher,
            seed,
            &mut c,
            None,
        )?;
    }
    let teacher_acc = c.reports[0].extra["teacher_accuracy"];
    println!(
        "\nMNIST teacher -> USPS (MNIST-style framing), scored on USPS test ({} images); the teacher: {:.2} %; {} seeds\n",
        usps_test.len(),
        100.0 * teacher_acc,
        at.args.seeds
    );
    println!("{}", errors_table(&c, "student, MNIST labels"));
    all.reports.extend(c.reports);
    Ok(())
}

/// Class scores of every item (inference mode).
fn logits_of(model: &Classifier<Sequential>, set: &LabelledSet, dev: &Device) -> Vec<Vec<f32>> {
    let model = model.valid();
    map_batches(set, dev, 256, |x| {
        let scores = model.forward(x);
        let [n, k] = scores.dims();
        let v: Vec<f32> = scores.into_data().iter::<f32>().collect();
        (0..n).map(|i| v[i * k..(i + 1) * k].to_vec()).collect()
    })
}

/// Accuracy overall and on `class`, with `bias` added to that class's score.
fn biased(logits: &[Vec<f32>], labels: &[usize], class: usize, bias: f32) -> (f64, f64) {
    let (mut right, mut right_c, mut n_c) = (0usize, 0usize, 0usize);
    for (l, &y) in logits.iter().zip(labels) {
        let pred = (0..l.len())
            .max_by(|&a, &b| {
                let s = |i: usize| l[i] + if i == class { bias } else { 0.0 };
                s(a).total_cmp(&s(b))
            })
            .unwrap_or(0);
        right += usize::from(pred == y);
        if y == class {
            n_c += 1;
            right_c += usize::from(pred == y);
        }
    }
    (
        right as f64 / labels.len() as f64,
        right_c as f64 / n_c.max(1) as f64,
    )
}

fn left_out(at: &At<'_>, all: &mut Comparison) -> Result<(), Error> {
    const CLASS: usize = 3;
    let (teacher, _) =
        mnist_cnn_pretrained(&at.models.join("mnist-cnn/handwriting_model.pth"), &at.dev)?;
    let train = train_config(at.args.epochs);
    let settings = json!({"kd": {"student": cnn_student(at.args.student_width), "alpha": 0.1, "temperature": 8.0, "train": train}});
    let mut lines = Vec::new();
    let mut c = Comparison::default();
    for seed in 0..at.args.seeds {
        let (mnist_train, test) = mnist_sets(at, seed)?;
        // 5,000 held-out training images (3s included) choose the bias; the rest minus its
        // 3s is the transfer set.
        let (rest, held) =
            stratified_split(&mnist_train, 1.0 - 5_000.0 / mnist_train.len() as f64, seed)?;
        let keep: Vec<usize> = (0..rest.len())
            .filter(|&i| rest.labels[i] != CLASS)
            .collect();
        let transfer = rest.select(&keep);
        let task = TransferTask::new(10)
            .with_target_labelled(transfer)
            .with_target_test(test.clone());
        let strategy = at.registry.create("knowledge-distillation", &settings)?;
        let mut ctx = RunContext::new(&at.dev).with_seed(seed);
        let (student, mut report) =
            strategy.fit(Pretrained::classifier(teacher.clone()), &task, &mut ctx)?;
        let (val, val_y) = (logits_of(&student, &held, &at.dev), held.labels.clone());
        let best = (0..=60)
            .map(|i| i as f32 * 0.25)
            .map(|b| (b, biased(&val, &val_y, CLASS, b).0))
            .fold((0.0f32, -1.0f64), |a, x| if x.1 > a.1 { x } else { a })
            .0;
        let logits = logits_of(&student, &test, &at.dev);
        let (acc0, three0) = biased(&logits, &test.labels, CLASS, 0.0);
        let (acc1, three1) = biased(&logits, &test.labels, CLASS, best);
        eprintln!(
            "seed {seed}: no 3 in the transfer set: {:.2} % overall, {:.2} % of the 3s; bias +{best}: {:.2} %, {:.2} % of the 3s",
            100.0 * acc0,
            100.0 * three0,
            100.0 * acc1,
            100.0 * three1
        );
        for (k, v) in [
            ("threes_accuracy", three0),
            ("bias", best as f64),
            ("accuracy_after_bias", acc1),
            ("threes_accuracy_after_bias", three1),
        ] {
            report.extra.insert(k.into(), v);
        }
        report.strategy = "KD, no 3 in the transfer set".into();
        lines.push((acc0, three0, best as f64, acc1, three1));
        c.push(report);
    }
    let col = |f: fn(&(f64, f64, f64, f64, f64)) -> f64| {
        mean_std(&lines.iter().map(f).collect::<Vec<_>>())
    };
    let fmt = |(m, s): (f64, f64)| format!("{:.2} % ± {:.2}", 100.0 * m, 100.0 * s);
    println!(
        "\nHinton's left-out class: the CNN student never sees a 3 (KD, T = 8, {} seeds; the bias is chosen on 5,000 held-out training images)\n",
        at.args.seeds
    );
    println!("| | accuracy, all test images | accuracy on the 1,010 test 3s |\n|---|---:|---:|");
    println!(
        "| as distilled | {} | {} |",
        fmt(col(|l| l.0)),
        fmt(col(|l| l.1))
    );
    println!(
        "| class 3's bias raised by {:.2} ± {:.2} | {} | {} |",
        col(|l| l.2).0,
        col(|l| l.2).1,
        fmt(col(|l| l.3)),
        fmt(col(|l| l.4))
    );
    all.reports.extend(c.reports);
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
    let (Some(data), Some(models)) = (
        tl::tl_core::paths::data_dir(),
        tl::tl_core::paths::model_dir(),
    ) else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR (see the README)");
        std::process::exit(2);
    };
    let at = At {
        data,
        models,
        dev: device(&args.device)?,
        args: &args,
        registry: tl::registry()?,
    };
    let part = args.part.as_str();
    let runs = |p: &str| part == p || part == "all";
    if runs("left-out") && args.train_items.min(60_000) <= 5_000 {
        return Err(format!(
            "--train-items {} leaves no transfer set in --part left-out (5,000 training images \
             are held out to choose the bias): give more than 5,000",
            args.train_items
        )
        .into());
    }
    let mut all = Comparison::default();
    // Written after each part, so that a later part's failure keeps the earlier results.
    let save = |all: &Comparison| -> Result<(), Error> {
        if let Some(path) = &args.json {
            write_atomic(path, all.to_json()?.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    };
    if runs("mnist") {
        mnist(&at, &mut all)?;
        save(&all)?;
    }
    if runs("usps") {
        usps(&at, &mut all)?;
        save(&all)?;
    }
    if runs("left-out") {
        left_out(&at, &mut all)?;
        save(&all)?;
    }
    if runs("text") {
        text(&at, &mut all)?;
        save(&all)?;
    }
    Ok(())
}

/// Logistic regression (the registry's `linear-probe` on an identity encoder: Adam, 100
/// epochs) on sentence vectors; the test accuracy.
fn probe(
    at: &At<'_>,
    train: &LabelledSet,
    test: &LabelledSet,
    seed: u64,
    name: String,
    all: &mut Comparison,
) -> Result<f64, Error> {
    let width = train.inputs.item_size();
    let identity = SequentialConfig::new(vec![width]).init(&at.dev)?;
    let strategy = at.registry.create(
        "linear-probe",
        &json!({"train": {"epochs": 100, "batch_size": 64, "lr": 1e-2}}),
    )?;
    let task = TransferTask::new(2)
        .with_target_labelled(train.clone())
        .with_target_test(test.clone());
    let mut ctx = RunContext::new(&at.dev).with_seed(seed);
    let mut report = strategy
        .fit(Pretrained::encoder(identity), &task, &mut ctx)?
        .1;
    report.strategy = name;
    let accuracy = report.metrics.accuracy;
    all.push(report);
    Ok(accuracy)
}

fn vectors_set(
    vectors: Vec<f32>,
    dim: usize,
    like: &tl::tl_data::text::TextSet,
    name: &str,
) -> Result<LabelledSet, Error> {
    Ok(LabelledSet::new(
        Inputs::new(vec![dim], vectors)?,
        like.labels.clone(),
        like.class_names.clone(),
        name,
    )?)
}

fn folder_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

fn text(at: &At<'_>, all: &mut Comparison) -> Result<(), Error> {
    use tl::tl_distill::{StaticConfig, StaticEmbedding};
    use tl::tl_text::{EmbeddingCache, LoadOptions, SentenceEncoder};
    const DOMAINS: [&str; 4] = ["books", "dvd", "electronics", "kitchen"];
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let minilm_dir = at.models.join("all-MiniLM-L6-v2");
    // 128 tokens, as tl-text's linear probe (the same cache entries).
    let minilm = SentenceEncoder::load_with(
        &minilm_dir,
        LoadOptions {
            max_len: Some(128),
            ..Default::default()
        },
        &at.dev,
    )?;
    let static_dir = home.join(".cache/tl-distill/all-MiniLM-L6-v2-static256");
    let (student, distill_s) = match StaticEmbedding::load(&static_dir) {
        Ok(s) => (s, None),
        Err(_) => {
            let start = Instant::now();
            let s = StaticEmbedding::distill(
                &minilm,
                &StaticConfig::default(),
                &at.dev,
                |done, total| {
                    if done % 8192 < 1024 || done == total {
                        eprintln!("distilling: {done}/{total} tokens");
                    }
                },
            )?;
            let secs = start.elapsed().as_secs_f64();
            s.save(&static_dir)?;
            (s, Some(secs))
        }
    };
    let info = student.info().clone();
    eprintln!(
        "static student: {} tokens x {} dimensions ({:.1} % of the variance kept){}",
        info.tokens_kept,
        info.dim,
        100.0 * info.explained_variance,
        distill_s.map_or(" (from the cache)".into(), |s| format!(
            ", distilled in {s:.1} s"
        ))
    );
    let cache_dir = at
        .args
        .cache
        .clone()
        .unwrap_or_else(|| home.join(".cache/tl-text/embeddings"));
    let mut cache = EmbeddingCache::new(&cache_dir);
    let mut sets = Vec::new();
    let mut static_time = 0.0;
    let mut static_texts = 0usize;
    for domain in DOMAINS {
        let reviews = tl::tl_data::text::amazon_domain(&at.data.join("amazon-reviews"), domain)?;
        let texts: Vec<&str> = reviews.texts.iter().map(String::as_str).collect();
        let teacher_vectors = cache.embed(&minilm, &texts, 32, &at.dev, |done, total| {
            if done % 320 == 0 || done == total {
                eprintln!("MiniLM on {domain}: {done}/{total}");
            }
        })?;
        let start = Instant::now();
        let student_vectors = student.embed(&texts)?;
        static_time += start.elapsed().as_secs_f64();
        static_texts += texts.len();
        sets.push((
            domain,
            vectors_set(teacher_vectors, minilm.dim(), &reviews, domain)?,
            vectors_set(student_vectors, student.dim(), &reviews, domain)?,
            texts.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        ));
    }

    // Speed on the same 256 reviews, in this run.
    let sample: Vec<&str> = sets[0].3.iter().take(256).map(String::as_str).collect();
    let start = Instant::now();
    let _ = minilm.embed(&sample, 32, &at.dev, |_, _| {})?;
    let minilm_rate = sample.len() as f64 / start.elapsed().as_secs_f64();
    let mut static_rate = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let _ = student.embed(&sample)?;
        static_rate = static_rate.max(sample.len() as f64 / start.elapsed().as_secs_f64());
    }

    let mut rows = Vec::new();
    for (domain, teacher_set, student_set, _) in &sets {
        let (mut t, mut s) = (Vec::new(), Vec::new());
        for seed in 0..at.args.seeds {
            let (tt, te) = stratified_split(teacher_set, 0.8, seed)?;
            let (st, se) = stratified_split(student_set, 0.8, seed)?;
            t.push(probe(at, &tt, &te, seed, format!("MiniLM: {domain}"), all)?);
            s.push(probe(at, &st, &se, seed, format!("static: {domain}"), all)?);
        }
        eprintln!(
            "{domain}: MiniLM {:.2} %, static {:.2} %",
            100.0 * mean_std(&t).0,
            100.0 * mean_std(&s).0
        );
        rows.push((format!("{domain} (in domain, 1,600 / 400)"), t, s));
    }
    // Books -> each other domain: trained on books' 1,600, scored on all 2,000 of the other.
    for (domain, teacher_set, student_set, _) in sets.iter().skip(1) {
        let (mut t, mut s) = (Vec::new(), Vec::new());
        for seed in 0..at.args.seeds {
            let (tt, _) = stratified_split(&sets[0].1, 0.8, seed)?;
            let (st, _) = stratified_split(&sets[0].2, 0.8, seed)?;
            t.push(probe(
                at,
                &tt,
                teacher_set,
                seed,
                format!("MiniLM: books -> {domain}"),
                all,
            )?);
            s.push(probe(
                at,
                &st,
                student_set,
                seed,
                format!("static: books -> {domain}"),
                all,
            )?);
        }
        rows.push((format!("books -> {domain} (2,000)"), t, s));
    }
    // The static student fine-tuned whole (its table and a new head) on each domain's 1,600
    // reviews, first 512 tokens.
    let tokenizer = tl::tl_text::TextTokenizer::load(&minilm_dir.join("tokenizer.json"), 512)?;
    let mut tuned_rows = Vec::new();
    if at.args.fine_tune_epochs > 0 {
        for (domain, _, student_set, texts) in &sets {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let ids = tokenizer.encode_all(&refs)?;
            let inputs = tl::tl_text::encoder::ids_to_inputs(&ids, 512, tokenizer.pad_id())?;
            let tokens = LabelledSet::new(
                inputs,
                student_set.labels.clone(),
                student_set.class_names.clone(),
                *domain,
            )?;
            let mut accs = Vec::new();
            for seed in 0..at.args.seeds {
                let (train, test) = stratified_split(&tokens, 0.8, seed)?;
                let task = TransferTask::new(2)
                    .with_target_labelled(train)
                    .with_target_test(test);
                let strategy = tl::tl_inductive::FullFineTune::new().with_train(
                    TrainConfig::new()
                        .with_epochs(at.args.fine_tune_epochs)
                        .with_batch_size(32)
                        .with_lr(1e-3),
                );
                let mut ctx = RunContext::new(&at.dev).with_seed(seed);
                let encoder = student.encoder(512, &at.dev);
                encoder.check_inputs(&tokens.inputs, &tokens.domain)?;
                let start = Pretrained::encoder(encoder);
                let (_, mut report) = strategy.fit(start, &task, &mut ctx)?;
                eprintln!(
                    "{domain}, seed {seed}: static student fine-tuned {:.2} % ({:.1} s)",
                    100.0 * report.metrics.accuracy,
                    report.wall_time_s
                );
                accs.push(report.metrics.accuracy);
                report.strategy = format!("static, fine-tuned: {domain}");
                all.push(report);
            }
            tuned_rows.push((domain.to_string(), accs));
        }
    }
    println!(
        "\nStatic student distilled from all-MiniLM-L6-v2 ({} tokens, PCA to {} dims, SIF a = 1e-4) against MiniLM (128 tokens): \
         logistic regression on each one's sentence vectors, Amazon reviews, {} seeds\n",
        info.tokens_kept, info.dim, at.args.seeds
    );
    println!("| task | MiniLM | static student | static / MiniLM |\n|---|---:|---:|---:|");
    let fmt = |v: &[f64]| {
        let (m, s) = mean_std(v);
        format!("{:.2} % ± {:.2}", 100.0 * m, 100.0 * s)
    };
    let (mut ratio_sum, mut n) = (0.0, 0.0);
    for (name, t, s) in &rows {
        let ratio = mean_std(s).0 / mean_std(t).0;
        ratio_sum += ratio;
        n += 1.0;
        println!(
            "| {name} | {} | {} | {:.1} % |",
            fmt(t),
            fmt(s),
            100.0 * ratio
        );
    }
    println!("| mean | | | {:.1} % |", 100.0 * ratio_sum / n);
    if !tuned_rows.is_empty() {
        println!(
            "\nThe static student fine-tuned whole (table and head, full-fine-tune, {} epochs, first 512 tokens), same splits:\n\n| domain | static, probe | static, fine-tuned |\n|---|---:|---:|",
            at.args.fine_tune_epochs
        );
        for ((name, _, s), (_, tuned)) in rows.iter().zip(&tuned_rows) {
            println!("| {name} | {} | {} |", fmt(s), fmt(tuned));
        }
    }
    let minilm_files: Vec<PathBuf> = ["model.safetensors", "tokenizer.json"]
        .iter()
        .map(|f| minilm_dir.join(f))
        .collect();
    let static_files: Vec<PathBuf> = ["vectors.f32", "tokenizer.json", "static.json"]
        .iter()
        .map(|f| static_dir.join(f))
        .collect();
    println!(
        "\n| | sentences/s (same 256 reviews, this run) | all 8,000 reviews | parameters | on disk (weights + tokenizer) |\n|---|---:|---:|---:|---:|"
    );
    println!(
        "| all-MiniLM-L6-v2 (128 tokens) | {minilm_rate:.1} | - | {} | {:.1} MB |",
        tl::tl_core::model::count_params(minilm.model()).total,
        folder_bytes(&minilm_files) as f64 / 1e6
    );
    println!(
        "| static student (no length limit) | {static_rate:.0} ({:.0}x) | {:.2} s ({:.0}/s) | {} | {:.1} MB |",
        static_rate / minilm_rate,
        static_time,
        static_texts as f64 / static_time,
        info.vocab_size * info.dim,
        folder_bytes(&static_files) as f64 / 1e6
    );
    Ok(())
}
