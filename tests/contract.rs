//! The strategy contract, for every registered strategy of every family, on a tiny made-up
//! task (8x8 bar images, three classes; the target domain is the source shifted and dimmed):
//! (a) a task missing a part the strategy needs is refused before any training, naming the
//! strategy and the part; (b) the same seed gives identical metrics and history twice; (c)
//! every report field is filled; (d) nothing is NaN; (e) a method that says it reads the
//! encoder's features only predicts the same on the task's features with an identity encoder.
//! A strategy joins by registering.

mod common;

use common::serial;
use serde_json::json;
use std::cell::Cell;
use tl::prelude::*;
use tl::tl_core::device::device_label;
use tl::tl_core::strategy::{Entry, Json};

const SIDE: usize = 8;
const CLASSES: usize = 3;

/// `n` images per class: class `c` is a bright horizontal bar at rows `2c + 1 ..= 2c + 2`,
/// moved right by `shift` columns and scaled by `gain`, plus seeded noise.
fn bars(n: usize, shift: usize, gain: f32, seed: u64, domain: &str) -> LabelledSet {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for c in 0..CLASSES {
        for _ in 0..n {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let on = (y == 2 * c + 1 || y == 2 * c + 2) && x >= shift && x < 6 + shift;
                    let v = if on { gain } else { 0.0 } + rng.random_range(0.0..0.2f32);
                    values.push(v.min(1.0));
                }
            }
            labels.push(c);
        }
    }
    LabelledSet::new(
        Inputs::new(vec![1, SIDE, SIDE], values).unwrap(),
        labels,
        (0..CLASSES).map(|c| format!("bar {c}")).collect(),
        domain,
    )
    .unwrap()
}

/// Every part: a labelled source, a few labelled target items, unlabelled target items and a
/// target test set.
fn full_task() -> TransferTask {
    let target = bars(10, 1, 0.7, 2, "target");
    TransferTask::new(CLASSES)
        .with_source(bars(20, 0, 1.0, 1, "source"))
        .with_target_labelled(bars(4, 1, 0.7, 3, "target"))
        .with_target_unlabelled(target.unlabelled())
        .with_target_test(target)
}

/// A small conv encoder (with ReLUs, where AdaBN puts its identity batch norms; image
/// activations, which attention transfer matches) and a head trained on the source for a few
/// epochs.
fn source_model(task: &TransferTask, dev: &Device) -> Classifier<Sequential> {
    dev.seed(0);
    let model = Classifier::new(
        SequentialConfig::new(vec![1, SIDE, SIDE])
            .conv(4, 3, 1)
            .relu()
            .max_pool(2)
            .linear(16)
            .relu()
            .init(dev)
            .unwrap(),
        head_config(16, &[], CLASSES).init(dev).unwrap(),
    )
    .unwrap();
    let config = TrainConfig::new()
        .with_epochs(5)
        .with_batch_size(16)
        .with_lr(0.01);
    Trainer::new(config)
        .fit(model, task.source.as_ref().unwrap(), None, dev)
        .unwrap()
        .model
}

/// The entry's defaults, made tiny: two epochs of small batches (and a short probe).
fn quick_settings(entry: &Entry) -> Json {
    let defaults = entry.default_config();
    let mut settings = json!({});
    if defaults.get("train").is_some() {
        settings["train"] = json!({"epochs": 2, "batch_size": 16});
    }
    if defaults.get("pretrain_train").is_some() {
        settings["pretrain_train"] = json!({"epochs": 2, "batch_size": 16});
        settings["head_train"] = json!({"epochs": 2, "batch_size": 4});
    }
    if defaults.get("episodes").is_some() {
        settings["episodes"] = json!({"way": 3, "shot": 1, "query": 2});
        if defaults.get("episodes_per_epoch").is_some() {
            settings["episodes_per_epoch"] = json!(3);
        }
    }
    if defaults.get("meta_iterations").is_some() {
        settings["meta_iterations"] = json!(3);
        settings["inner"] = json!({"epochs": 2, "batch_size": 4});
        settings["adapt"] = json!({"epochs": 2, "batch_size": 4});
    }
    if defaults.get("kd").is_some() {
        settings["kd"] = json!({"train": {"epochs": 2, "batch_size": 16}});
    }
    if defaults.get("probe").is_some() {
        settings["probe"] = json!({"train": {"epochs": 3}});
    }
    if defaults.get("rounds").is_some() {
        settings["rounds"] = json!(2);
    }
    if defaults.get("text").is_some() {
        // No model download in the default tests: hashed words as the text space.
        settings["text"] = json!({"kind": "hashed", "dim": 32});
    }
    if defaults.get("patch").is_some() {
        settings["patch"] = json!(2);
    }
    settings
}

fn without(task: &TransferTask, part: TaskPart) -> TransferTask {
    let mut task = task.clone();
    match part {
        TaskPart::SourceLabelled => task.source = None,
        TaskPart::TargetLabelled => task.target_labelled = None,
        TaskPart::TargetUnlabelled => task.target_unlabelled = None,
        TaskPart::TargetTest => task.target_test = None,
    }
    task
}

fn assert_finite(what: &str, value: f64) {
    assert!(value.is_finite(), "{what} is {value}");
}

#[test]
fn every_registered_strategy_keeps_the_contract() {
    let _serial = serial();
    let dev = device("flex").unwrap();
    let registry = tl::registry().unwrap();
    let task = full_task();
    let model = source_model(&task, &dev);
    let test_len = task.target_test.as_ref().unwrap().len();
    assert!(registry.entries().len() >= 24, "{registry:?}");
    // The task as the source model's encoder sees it: every part's features.
    let encode = |set: &LabelledSet| {
        tl::tl_core::train::encode_set(
            &model.encoder,
            set,
            &dev,
            tl::tl_core::train::EVAL_BATCH_SIZE,
        )
        .unwrap()
    };
    let test_features = encode(task.target_test.as_ref().unwrap());
    let features = TransferTask::new(CLASSES)
        .with_source(encode(task.source.as_ref().unwrap()))
        .with_target_labelled(encode(task.target_labelled.as_ref().unwrap()))
        .with_target_unlabelled(test_features.unlabelled())
        .with_target_test(test_features);
    let mut on_features_checked = Vec::new();
    for entry in registry.entries() {
        let name = entry.name();
        let strategy = registry.create(name, &quick_settings(entry)).unwrap();
        assert_eq!(strategy.name(), name);
        assert_eq!(strategy.family(), entry.family());
        assert!(!strategy.needs().is_empty(), "{name} needs nothing");

        // (a) Refused before training, naming the strategy and the missing part.
        for &part in strategy.needs() {
            let steps = Cell::new(0);
            let mut ctx = RunContext::new(&dev)
                .with_seed(7)
                .with_progress(|_| steps.set(steps.get() + 1));
            let start = Pretrained::classifier(model.clone());
            let err = strategy
                .fit(start, &without(&task, part), &mut ctx)
                .err()
                .unwrap_or_else(|| panic!("{name} ran without the {part}"));
            match &err {
                CoreError::MissingTaskPart {
                    strategy: s,
                    part: p,
                } => {
                    assert_eq!((s.as_str(), *p), (name, part), "{err}");
                }
                other => panic!("{name} without the {part}: {other}"),
            }
            let message = err.to_string();
            assert!(
                message.contains(name) && message.contains(&part.to_string()),
                "{message}"
            );
            drop(ctx);
            assert_eq!(steps.get(), 0, "{name} trained before refusing");
        }

        // (b) The same seed twice: identical metrics and history.
        let fit = || {
            let mut ctx = RunContext::new(&dev).with_seed(7);
            let start = Pretrained::classifier(model.clone());
            strategy
                .fit(start, &task, &mut ctx)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .1
        };
        let (first, second) = (fit(), fit());
        assert_eq!(first.metrics, second.metrics, "{name} is not reproducible");
        let losses = |r: &FitReport| r.history.iter().map(|e| e.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&first), losses(&second), "{name}'s history differs");

        // (c) Every field filled.
        let r = first;
        eprintln!(
            "{name:<20} {:<13} accuracy {:.3}, {} epochs, {} refusals",
            r.strategy,
            r.metrics.accuracy,
            r.history.len(),
            strategy.needs().len()
        );
        assert_eq!(r.strategy, name);
        assert!(r.config.is_object(), "{name}: config {}", r.config);
        assert_eq!(r.config, strategy.config().unwrap(), "{name}");
        assert_eq!(
            r.history.is_empty(),
            !strategy.trains(),
            "{name}: {} epochs recorded",
            r.history.len()
        );
        assert_eq!(r.metrics.confusion.total(), test_len, "{name}");
        assert!(
            r.params.total > 0 && r.params.trainable <= r.params.total,
            "{name}"
        );
        assert!(r.wall_time_s >= 0.0, "{name}");
        assert_eq!(r.device, device_label(&dev));
        assert_eq!(r.seed, 7);

        // (d) Never NaN.
        assert_finite(&format!("{name} accuracy"), r.metrics.accuracy);
        assert_finite(&format!("{name} macro-F1"), r.metrics.macro_f1);
        assert_finite(&format!("{name} test loss"), r.metrics.loss.unwrap());
        assert_finite(&format!("{name} wall time"), r.wall_time_s);
        for (key, v) in &r.extra {
            assert_finite(&format!("{name} {key}"), *v);
        }
        for e in &r.history {
            assert_finite(&format!("{name} epoch {} loss", e.epoch), e.train_loss);
            for (key, v) in &e.extra {
                assert_finite(&format!("{name} epoch {} {key}", e.epoch), *v);
            }
        }

        // (e) With its base training off, where it has one (as `tl run`'s episodes fit it),
        // a method that says it reads features only predicts the same on the features.
        let mut settings = quick_settings(entry);
        for key in ["meta_train", "pretrain"] {
            if entry.default_config().get(key).is_some() {
                settings[key] = json!(false);
            }
        }
        let strategy = registry.create(name, &settings).unwrap();
        if strategy.reads_features_only() {
            let fit = |start, task: &TransferTask| {
                let mut ctx = RunContext::new(&dev).with_seed(7);
                strategy
                    .fit(start, task, &mut ctx)
                    .unwrap_or_else(|e| panic!("{name} on features: {e}"))
                    .1
            };
            let on_items = fit(Pretrained::classifier(model.clone()), &task);
            let identity = SequentialConfig::new(vec![model.encoder.feature_dim()])
                .init(&dev)
                .unwrap();
            let on_features = fit(Pretrained::encoder(identity), &features);
            assert_eq!(
                on_items.metrics.confusion, on_features.metrics.confusion,
                "{name}: features alone predict otherwise"
            );
            let (a, b) = (on_items.metrics.loss, on_features.metrics.loss);
            assert!(
                (a.unwrap() - b.unwrap()).abs() < 1e-4,
                "{name}: {a:?} {b:?}"
            );
            on_features_checked.push(name.to_string());
        }
    }
    // ProtoNet, matching networks, Baseline, Baseline++, the linear probe and every
    // unsupervised objective without its pretraining.
    assert!(
        on_features_checked.len() >= 7,
        "features-only methods: {on_features_checked:?}"
    );
}

#[test]
fn the_registry_covers_every_family_and_names_what_it_does_not_know() {
    let registry = tl::registry().unwrap();
    let families: std::collections::BTreeSet<_> =
        registry.entries().iter().map(|e| e.family()).collect();
    for family in [
        Family::Inductive,
        Family::Transductive,
        Family::Unsupervised,
        Family::Adversarial,
        Family::Distillation,
        Family::FewShot,
        Family::Disentanglement,
        Family::CrossModal,
    ] {
        assert!(families.contains(&family), "no {family} strategy");
    }
    let err = registry
        .create("dnn", &json!({}))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no strategy `dnn`") && err.contains("dann"),
        "{err}"
    );
    let err = registry
        .create("lora", &json!({"rnak": 4}))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`rnak`") && err.contains("rank"), "{err}");
    let lora = registry.create("lora", &json!({"rank": 2})).unwrap();
    assert_eq!(lora.config().unwrap()["rank"], json!(2));
    // A tagged setting switched to another kind replaces the old one whole.
    let sgd =
        json!({"train": {"optimizer": {"kind": "sgd", "momentum": 0.9, "weight_decay": 0.0}}});
    let s = registry.create("full-fine-tune", &sgd).unwrap();
    assert_eq!(
        s.config().unwrap()["train"]["optimizer"]["kind"],
        json!("sgd")
    );
}
