//! Helpers the examples share: the main job's digits setup.
#![allow(dead_code)] // each example uses what it needs

/// Set by `tl compare --quiet`: progress lines are not printed.
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `eprintln!` unless [`QUIET`] is set.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::common::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!($($arg)*);
        }
    };
}

/// The main job's setup on the embedded digits, shared by `compare` and
/// `pretraining_variants` so that both transfer the same model the same way.
pub mod digits {
    use tl::prelude::*;

    /// Features of the encoder at width 1.
    pub const FEATURES: usize = 64;

    /// Two conv blocks (32 x 2 x 2 = 128 values at width 1) and a fully connected layer to
    /// `FEATURES` features; every layer `width` times as wide.
    pub fn encoder_config(width: usize) -> SequentialConfig {
        SequentialConfig::new(vec![1, 8, 8])
            .conv(16 * width, 3, 1)
            .relu()
            .max_pool(2)
            .conv(32 * width, 3, 1)
            .relu()
            .max_pool(2)
            .linear(FEATURES * width)
            .relu()
    }

    /// The embedded digits split into the source task (0-4) and the target task (5-9), each
    /// relabelled from 0.
    pub fn source_and_target() -> Result<(LabelledSet, LabelledSet), Box<dyn std::error::Error>> {
        let digits = tl::tl_data::digits()?;
        let select = tl::tl_data::split::select_classes;
        Ok((
            select(&digits, &[0, 1, 2, 3, 4])?,
            select(&digits, &[5, 6, 7, 8, 9])?,
        ))
    }

    /// Pretraining on the source digits.
    pub fn pretrain_config(seed: u64) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(15)
            .with_batch_size(32)
            .with_lr(2e-3)
            .with_seed(seed)
    }

    /// Training on the 50 labelled target digits.
    pub fn target_config(seed: u64, lr: f64, epochs: usize) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(10)
            .with_lr(lr)
            .with_schedule(Schedule::Cosine { min_factor: 0.1 })
            .with_seed(seed)
    }
}

/// The cross-modal rows on the embedded digits, shared by `crossmodal` and the main job.
pub mod crossmodal {
    use serde_json::json;
    use tl::prelude::*;
    use tl::tl_core::report::mean_std;
    use tl::tl_core::strategy::Json;
    use tl::tl_core::train::map_batches;
    use tl::tl_crossmodal::{DIGIT_WORDS, digit_templates};

    type Error = Box<dyn std::error::Error>;

    /// Accuracy of `model` on `set` when only `candidates` may be predicted (zero-shot among the
    /// held-out classes).
    pub fn restricted_accuracy(
        model: &Classifier<Sequential>,
        set: &LabelledSet,
        candidates: &[usize],
        dev: &Device,
    ) -> f64 {
        let model = model.valid();
        let picks = map_batches(set, dev, 256, |x| {
            let logits = model.forward(x);
            let [n, c] = logits.dims();
            let v: Vec<f32> = logits.into_data().iter::<f32>().collect();
            (0..n)
                .map(|i| {
                    *candidates
                        .iter()
                        .max_by(|&&a, &&b| v[i * c + a].total_cmp(&v[i * c + b]))
                        .unwrap_or(&0)
                })
                .collect()
        });
        let right = picks
            .iter()
            .zip(&set.labels)
            .filter(|(p, l)| p == l)
            .count();
        right as f64 / set.len().max(1) as f64
    }

    /// The items of `set` whose label is in `classes` (labels kept).
    pub fn with_classes(set: &LabelledSet, classes: std::ops::Range<usize>) -> LabelledSet {
        let idx: Vec<usize> = (0..set.len())
            .filter(|&i| classes.contains(&set.labels[i]))
            .collect();
        set.select(&idx)
    }

    /// One strategy from the registry on `task` from `encoder`.
    pub fn fit_row(
        registry: &Registry,
        strategy: &str,
        settings: &Json,
        encoder: Sequential,
        task: &TransferTask,
        seed: u64,
        dev: &Device,
    ) -> Result<(Classifier<Sequential>, FitReport), Error> {
        let strategy = registry.create(strategy, settings)?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        Ok(strategy.fit(Pretrained::encoder(encoder), task, &mut ctx)?)
    }

    pub fn digit_words(mut set: LabelledSet) -> LabelledSet {
        set.class_names = DIGIT_WORDS.iter().map(|w| w.to_string()).collect();
        set
    }

    /// The rows of a part: label, strategy, settings.
    pub type Rows = Vec<(&'static str, &'static str, Json)>;

    pub fn clip_rows(train: &TrainConfig, dim: usize) -> Rows {
        let base = json!({"train": train, "dim": dim, "templates": digit_templates()});
        let with = |extra: Json| {
            let mut s = base.clone();
            for (k, v) in extra.as_object().into_iter().flatten() {
                s[k] = v.clone();
            }
            s
        };
        vec![
            ("clip (MiniLM)", "clip", base.clone()),
            ("clip-text-only (MiniLM)", "clip-text-only", base.clone()),
            ("clip-probe (MiniLM)", "clip-probe", base.clone()),
            (
                "clip, no text projection (MiniLM)",
                "clip",
                with(json!({"text_projection": false})),
            ),
            (
                "clip (hashed words)",
                "clip",
                with(json!({"text": {"kind": "hashed", "dim": 384}})),
            ),
        ]
    }

    /// The digits' rows: the CLIP rows, and text to image (drawings from a phrasing the
    /// captions never used, a classifier trained on them alone).
    pub fn digit_rows(train: &TrainConfig) -> Rows {
        let mut rows = clip_rows(train, 64);
        rows.push((
            "text-to-image (MiniLM)",
            "text-to-image",
            json!({
                "templates": digit_templates(),
                "draw_templates": ["a picture of a handwritten {}"],
                "hidden": [128],
                "latent": 16,
                "beta": 1.0,
                "train": {"epochs": 40, "batch_size": 64, "lr": 0.002},
                "classifier": {"epochs": 30, "batch_size": 32, "lr": 0.002},
            }),
        ));
        rows
    }

    /// One seed of the digits: half of the digits align with captions of their names, the
    /// other half is scored (the rows of [`digit_rows`]); then alignment on 0-6 only, scored
    /// on 7-9 among the three unseen names (`unseen_among_unseen` in the extras). Reports
    /// named by row.
    pub fn digits_seed(
        registry: &Registry,
        epochs: usize,
        seed: u64,
        dev: &Device,
    ) -> Result<(Vec<FitReport>, Vec<FitReport>), Error> {
        let digits = digit_words(tl::tl_data::digits()?);
        let train = TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(64)
            .with_lr(2e-3);
        let (mut seen, mut unseen) = (Vec::new(), Vec::new());
        let (align, test) = tl::tl_data::split::stratified_split(&digits, 0.5, seed)?;
        let task = TransferTask::new(10)
            .with_source(align.clone())
            .with_target_test(test.clone());
        for (label, strategy, settings) in digit_rows(&train) {
            dev.seed(100 + seed);
            let encoder = super::digits::encoder_config(1).init(dev)?;
            let (_, mut report) =
                fit_row(registry, strategy, &settings, encoder, &task, seed, dev)?;
            crate::say!(
                "seed {seed}: {label:<26} held-out images {:.2} % ({:.1} s)",
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            );
            report.strategy = label.into();
            seen.push(report);
        }
        // The control: align on 0-6, score 7-9 among the three unseen names.
        let task = TransferTask::new(10)
            .with_source(with_classes(&align, 0..7))
            .with_target_test(with_classes(&test, 7..10));
        for (label, strategy, settings) in digit_rows(&train) {
            if strategy == "clip-text-only" || strategy == "clip-probe" || label.contains("no text")
            {
                continue;
            }
            dev.seed(100 + seed);
            let encoder = super::digits::encoder_config(1).init(dev)?;
            let (model, mut report) =
                fit_row(registry, strategy, &settings, encoder, &task, seed, dev)?;
            let zsl =
                restricted_accuracy(&model, task.target_test.as_ref().unwrap(), &[7, 8, 9], dev);
            crate::say!(
                "seed {seed}: {label:<26} unseen 7-9 among 7-9 {:.2} % (chance 33.3), among all ten {:.2} %",
                100.0 * zsl,
                100.0 * report.metrics.accuracy
            );
            report.extra.insert("unseen_among_unseen".into(), zsl);
            report.strategy = label.into();
            unseen.push(report);
        }
        Ok((seen, unseen))
    }

    pub fn print_unseen(c: &Comparison, what: &str, chance: f64) {
        let mut names: Vec<&str> = c.reports.iter().map(|r| r.strategy.as_str()).collect();
        let mut once = std::collections::HashSet::new();
        names.retain(|n| once.insert(*n));
        println!(
            "\nUnseen classes ({what}); zero-shot among the unseen names (chance {:.1} %) and among all classes:\n",
            100.0 * chance
        );
        println!("| row | among unseen (%) | among all (%) |\n|---|---|---|");
        for name in names {
            let rows: Vec<&FitReport> = c.reports.iter().filter(|r| r.strategy == name).collect();
            let (m, s) = mean_std(
                &rows
                    .iter()
                    .map(|r| r.extra["unseen_among_unseen"])
                    .collect::<Vec<_>>(),
            );
            let (am, as_) = mean_std(&rows.iter().map(|r| r.metrics.accuracy).collect::<Vec<_>>());
            println!(
                "| {name} | {:.2} ± {:.2} | {:.2} ± {:.2} |",
                100.0 * m,
                100.0 * s,
                100.0 * am,
                100.0 * as_
            );
        }
    }
}
