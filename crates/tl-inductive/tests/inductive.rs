//! Behaviour of the inductive methods on small seeded blobs (seconds).

use burn::module::Module;
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, Encoder, Sequential, SequentialConfig, head_config};
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{TrainConfig, Trainer, evaluate};
use tl_inductive::l2sp::flat_params;
use tl_inductive::*;

/// Burn's device generator is process-wide and tests run in parallel: every test that
/// seeds and trains holds this lock, so its random draws are its own.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

/// `n` points per class around `classes` centres drawn from `seed`, in 6 dimensions.
fn blobs(classes: usize, n: usize, seed: u64) -> LabelledSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..6).map(|_| rng.random_range(-2.0..2.0)).collect())
        .collect();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        for (c, centre) in centres.iter().enumerate() {
            values.extend(centre.iter().map(|m| m + rng.random_range(-0.6..0.6)));
            labels.push(c);
        }
    }
    LabelledSet::new(
        Inputs::new(vec![6], values).unwrap(),
        labels,
        (0..classes).map(|c| c.to_string()).collect(),
        "blobs",
    )
    .unwrap()
}

/// The seed every run trains with (the run's seed replaces the config's).
const SEED: u64 = 1;

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(16)
        .with_lr(0.01)
        .with_seed(SEED)
}

/// A run on `device` seeded with `seed`.
fn ctx(device: &Device, seed: u64) -> RunContext<'static> {
    RunContext::new(device).with_seed(seed)
}

/// An encoder of 3 blocks (6 -> 16 -> 16 -> 8), pretrained on a 3-class source task.
fn pretrained(d: &Device) -> Sequential {
    d.seed(5);
    let encoder = SequentialConfig::new(vec![6])
        .linear(16)
        .relu()
        .linear(16)
        .relu()
        .linear(8)
        .relu()
        .init(d)
        .unwrap();
    let model = Classifier::new(encoder, head_config(8, &[], 3).init(d).unwrap()).unwrap();
    let out = Trainer::new(quick(20))
        .fit(model, &blobs(3, 30, 11), None, d)
        .unwrap();
    out.model.encoder.valid()
}

fn task(seed: u64) -> TransferTask {
    let all = blobs(4, 30, 100 + seed);
    let (train, test) = tl_data::split::stratified_split(&all, 0.5, seed).unwrap();
    TransferTask::new(4)
        .with_target_labelled(train)
        .with_target_test(test)
}

fn block_params(encoder: &Sequential) -> Vec<Vec<f32>> {
    encoder
        .param_layer_indices()
        .into_iter()
        .map(|i| {
            flat_params(&encoder.layers()[i])
                .into_iter()
                .flat_map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>())
                .collect()
        })
        .collect()
}

/// Base weights of each block, without LoRA adapter factors.
fn base_params(encoder: &Sequential) -> Vec<Vec<f32>> {
    struct Base(Vec<f32>, usize);
    impl burn::module::ModuleVisitor for Base {
        fn enter_module(&mut self, _: &str, container: &str) {
            self.1 += usize::from(container == "Reparameterization");
        }
        fn exit_module(&mut self, _: &str, container: &str) {
            self.1 -= usize::from(container == "Reparameterization");
        }
        fn visit_float<const D: usize>(
            &mut self,
            p: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            if self.1 == 0 {
                self.0.extend(p.base().into_data().iter::<f32>());
            }
        }
    }
    encoder
        .param_layer_indices()
        .into_iter()
        .map(|i| {
            let mut v = Base(Vec::new(), 0);
            encoder.layers()[i].visit(&mut v);
            v.0
        })
        .collect()
}

fn distance(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

#[test]
fn partial_fine_tuning_leaves_frozen_blocks_unchanged() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let (model, report) = PartialFineTune::new(2)
        .with_train(quick(15))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    let after = block_params(&model.encoder);
    assert_eq!(before[0], after[0]);
    assert_eq!(before[1], after[1]);
    assert_ne!(before[2], after[2], "the unfrozen top block trains");
    assert!(report.metrics.accuracy > 0.8, "{}", report.metrics.accuracy);
    assert_eq!(report.strategy, "partial-fine-tune");
}

#[test]
fn replace_top_drops_and_adds_layers() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let new = partial::replace_top(
        enc,
        2,
        &[
            tl_core::model::LayerConfig::Linear { out: 5 },
            tl_core::model::LayerConfig::Relu,
        ],
        &d,
    )
    .unwrap();
    assert_eq!(new.feature_dim(), 5);
    assert_eq!(new.blocks().len(), 3);
}

#[test]
fn partial_fine_tuning_with_surgery_keeps_the_frozen_blocks_and_trains_the_new_top() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let new_top = [
        tl_core::model::LayerConfig::Linear { out: 16 },
        tl_core::model::LayerConfig::Relu,
    ];
    let (model, report) = PartialFineTune::new(2)
        .with_drop_last(2)
        .with_add(new_top.to_vec())
        .with_train(quick(15))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    // The top block was replaced: 16 features now; the two frozen blocks are the pretrained ones.
    assert_eq!(model.encoder.feature_dim(), 16);
    let after = block_params(&model.encoder);
    assert_eq!(after.len(), 3);
    assert_eq!(before[0], after[0]);
    assert_eq!(before[1], after[1]);
    assert!(report.metrics.accuracy > 0.8, "{}", report.metrics.accuracy);
    // Settings that cannot be carried out are refused by name.
    let err = PartialFineTune::new(2)
        .with_drop_last(99)
        .fit(
            Pretrained::encoder(pretrained(&d)),
            &task(0),
            &mut ctx(&d, SEED),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("99"), "{err}");
}

#[test]
fn gradual_unfreezing_thaws_one_block_per_epoch_top_first() {
    let _guard = serial();
    assert_eq!(
        (1..=6)
            .map(|e| gradual::thawed_blocks(e, 3))
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 3, 3]
    );
    let d = dev();
    // Two epochs: head, then head + top block.
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let (model, _) = GradualUnfreezing::new()
        .with_train(quick(2))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    let after = block_params(&model.encoder);
    assert_eq!(before[0], after[0]);
    assert_eq!(before[1], after[1]);
    assert_ne!(before[2], after[2]);
    // Three epochs: the middle block thaws too, the first stays.
    let enc = pretrained(&d);
    let (model, report) = GradualUnfreezing::new()
        .with_train(quick(3))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    let after = block_params(&model.encoder);
    assert_eq!(before[0], after[0]);
    assert_ne!(before[1], after[1]);
    assert_ne!(before[2], after[2]);
    assert_eq!(report.history.len(), 3, "one history across the stages");
}

#[test]
fn discriminative_rates_decay_towards_the_input() {
    let _guard = serial();
    let f = discriminative::block_factors(3, 0.5);
    assert_eq!(f, vec![0.125, 0.25, 0.5]);
    let d = dev();
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let (model, report) = DiscriminativeLr::new()
        .with_decay(0.1)
        .with_train(quick(10))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    let after = block_params(&model.encoder);
    let moved: Vec<f32> = (0..3)
        .map(|i| distance(&before[i..=i], &after[i..=i]))
        .collect();
    assert!(moved[0] < moved[1] && moved[1] < moved[2], "{moved:?}");
    assert!(report.metrics.accuracy > 0.8);
}

#[test]
fn l2sp_at_zero_is_plain_fine_tuning_and_strong_keeps_weights_near_the_start() {
    let _guard = serial();
    let d = dev();
    let start = block_params(&pretrained(&d));
    let (plain, plain_report) = FullFineTune::new()
        .with_train(quick(8))
        .fit(
            Pretrained::encoder(pretrained(&d)),
            &task(0),
            &mut ctx(&d, SEED),
        )
        .unwrap();
    let (zero, zero_report) = L2Sp::new()
        .with_alpha(0.0)
        .with_train(quick(8))
        .fit(
            Pretrained::encoder(pretrained(&d)),
            &task(0),
            &mut ctx(&d, SEED),
        )
        .unwrap();
    let plain_w = block_params(&plain.encoder);
    assert!(distance(&plain_w, &block_params(&zero.encoder)) < 1e-5);
    assert_eq!(plain_report.metrics.accuracy, zero_report.metrics.accuracy);

    let (strong, _) = L2Sp::new()
        .with_alpha(100.0)
        .with_train(quick(8))
        .fit(
            Pretrained::encoder(pretrained(&d)),
            &task(0),
            &mut ctx(&d, SEED),
        )
        .unwrap();
    let moved_plain = distance(&start, &plain_w);
    let moved_strong = distance(&start, &block_params(&strong.encoder));
    assert!(
        moved_strong < 0.25 * moved_plain,
        "strong L2-SP moved {moved_strong}, plain fine-tuning {moved_plain}"
    );
}

#[test]
fn lora_trains_only_adapters_and_the_head_and_merges_exactly() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let t = task(0);
    let (model, report) = LoraFineTune::new()
        .with_rank(2)
        .with_train(quick(15))
        .fit(Pretrained::encoder(enc), &t, &mut ctx(&d, SEED))
        .unwrap();
    assert!(report.metrics.accuracy > 0.8, "{}", report.metrics.accuracy);
    // Base weights are untouched: the update lives in the adapters.
    let merged = lora::merge(model.clone());
    let after_base = base_params(&model.encoder);
    assert_eq!(before, after_base, "LoRA changed a base weight");
    assert_ne!(
        before,
        block_params(&merged.encoder),
        "merging applies the update"
    );
    // Trainable: adapters (6x2 + 2x16, 16x2 + 2x16, 16x2 + 2x8) and the head (8x4 + 4).
    let adapters = (6 * 2 + 2 * 16) + (16 * 2 + 2 * 16) + (16 * 2 + 2 * 8);
    assert_eq!(report.params.trainable, adapters + 8 * 4 + 4);
    assert_eq!(merged.num_params() + adapters, model.num_params());
    let test = t.target_test.as_ref().unwrap();
    let a = tl_core::train::predict(&model, test, &d, 64).unwrap();
    let b = tl_core::train::predict(&merged, test, &d, 64).unwrap();
    assert_eq!(a, b, "merged and unmerged models predict the same");
    assert_eq!(
        evaluate(&model, test, &d, 64).unwrap().accuracy,
        evaluate(&merged, test, &d, 64).unwrap().accuracy
    );
}

#[test]
fn linear_probe_trains_only_the_head() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let before = block_params(&enc);
    let (model, report) = LinearProbe::new()
        .with_train(quick(30))
        .fit(Pretrained::encoder(enc), &task(0), &mut ctx(&d, SEED))
        .unwrap();
    assert_eq!(before, block_params(&model.encoder));
    assert_eq!(report.params.trainable, 8 * 4 + 4);
    assert!(report.metrics.accuracy > 0.7, "{}", report.metrics.accuracy);
}

fn fake_report(accuracy: f64) -> tl_core::report::FitReport {
    let mut metrics = tl_core::metrics::Metrics::from_predictions(&[0, 1], &[0, 1], 2);
    metrics.accuracy = accuracy;
    tl_core::report::FitReport {
        strategy: "fake".into(),
        config: serde_json::Value::Null,
        history: vec![],
        metrics,
        wall_time_s: 0.0,
        params: tl_core::model::ParamCount {
            trainable: 0,
            total: 0,
        },
        device: "none".into(),
        seed: 0,
        extra: Default::default(),
    }
}

#[test]
fn search_returns_the_trial_with_the_best_validation_metric_and_never_the_test_set() {
    let _guard = serial();
    let t = task(0);
    let test_len = t.target_test.as_ref().unwrap().len();
    let search = HyperSearch::new()
        .with_lr(vec![1e-3, 3e-3, 1e-2, 3e-2])
        .with_reg(vec![0.0, 1.0]);
    let mut seen = Vec::new();
    let result = search
        .run_with(
            &t,
            |hp, inner| {
                seen.push((
                    inner.target_labelled.as_ref().unwrap().len(),
                    inner.target_test.as_ref().unwrap().len(),
                ));
                // Peaks at lr 1e-2 with reg 1.
                let acc = 1.0 - (hp.lr.log10() + 2.0).abs() / 10.0 - (1.0 - hp.reg) / 20.0;
                Ok(fake_report(acc))
            },
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(result.trials.len(), 8);
    assert_eq!(result.best_params().lr, 1e-2);
    assert_eq!(result.best_params().reg, 1.0);
    // Every trial trains on part of the labelled set and is scored on the rest (about a
    // quarter): the test set is never involved.
    let labelled = t.target_labelled.as_ref().unwrap().len();
    let _ = test_len;
    assert!(
        seen.iter().all(|&(train, valid)| train + valid == labelled
            && (valid as f64) > 0.15 * labelled as f64
            && (valid as f64) < 0.35 * labelled as f64),
        "{seen:?}"
    );
    assert!(result.to_markdown().contains("**best**"));

    // A diverging trial is recorded, and the search goes on.
    let result = HyperSearch::new()
        .with_lr(vec![1e-3, 1e-2])
        .run_with(
            &t,
            |hp, _| {
                if hp.lr > 5e-3 {
                    Err(tl_core::CoreError::NonFinite {
                        epoch: 1,
                        step: 1,
                        loss: f32::NAN,
                    })
                } else {
                    Ok(fake_report(0.6))
                }
            },
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(result.best, 0);
    assert!(result.trials[1].error.is_some());
    assert!(result.to_markdown().contains("diverged"));
    // A diverged first trial is never the best, even beside a trial that scores 0; when
    // every trial diverges there is no best, and the search says so.
    let diverge_above = |limit: f64, acc: f64| {
        move |hp: &tl_inductive::search::HyperParams, _: &TransferTask| {
            if hp.lr > limit {
                Err(tl_core::CoreError::NonFinite {
                    epoch: 1,
                    step: 1,
                    loss: f32::NAN,
                })
            } else {
                Ok(fake_report(acc))
            }
        }
    };
    let result = HyperSearch::new()
        .with_lr(vec![1e-2, 1e-3])
        .run_with(&t, diverge_above(5e-3, 0.0), |_, _, _| {})
        .unwrap();
    assert_eq!(result.best, 1);
    let err = HyperSearch::new()
        .with_lr(vec![1e-2, 3e-2])
        .run_with(&t, diverge_above(5e-3, 0.5), |_, _, _| {})
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("every one of the 2 trials diverged"),
        "{err}"
    );
    assert!(HyperSearch::new().with_lr(vec![2.0]).validate().is_err());

    let random = HyperSearch::new()
        .with_lr(vec![1e-3, 3e-3, 1e-2, 3e-2])
        .with_mode(SearchMode::Random { trials: 3 })
        .candidates();
    assert_eq!(random.len(), 3);

    // A real search over a linear probe's learning rate, through the registry.
    let d = dev();
    let enc = pretrained(&d);
    let mut registry = tl_core::strategy::Registry::new();
    tl_inductive::register(&mut registry).unwrap();
    let settings = serde_json::json!({"train": quick(10)});
    let probe = Tuned {
        registry: &registry,
        name: "linear-probe",
        settings: &settings,
        reg_setting: None,
    };
    let start = Pretrained::encoder(enc.clone());
    let mut trials = Vec::new();
    let result = HyperSearch::new()
        .with_lr(vec![1e-4, 3e-2])
        .run(
            &probe,
            &start,
            &t,
            &mut ctx(&d, SEED),
            |done, total, trial| trials.push((done, total, trial.params.lr)),
        )
        .unwrap();
    assert_eq!(result.best_params().lr, 3e-2, "{}", result.to_markdown());
    assert_eq!(trials, [(1, 2, 1e-4), (2, 2, 3e-2)]);
    // Strengths to search need the setting they go to; a strategy without training settings
    // has nothing to search.
    let err = HyperSearch::new()
        .with_reg(vec![0.0, 0.1])
        .run(&probe, &start, &t, &mut ctx(&d, SEED), |_, _, _| {})
        .unwrap_err();
    assert!(err.to_string().contains("reg_setting"), "{err}");
    let l2sp = Tuned {
        name: "l2-sp",
        reg_setting: Some("alpha"),
        ..probe
    };
    let trial = l2sp
        .settings_for(
            &quick(10),
            &tl_inductive::search::HyperParams {
                lr: 0.5,
                weight_decay: 0.0,
                reg: 0.25,
            },
        )
        .unwrap();
    assert_eq!(
        (trial["alpha"].as_f64(), trial["train"]["lr"].as_f64()),
        (Some(0.25), Some(0.5))
    );
}

#[test]
fn bad_configs_and_missing_parts_are_refused_before_training() {
    let _guard = serial();
    let d = dev();
    let enc = pretrained(&d);
    let t = task(0);
    let field = |r: Result<
        (Classifier<Sequential>, tl_core::report::FitReport),
        tl_core::CoreError,
    >| match r {
        Err(tl_core::CoreError::InvalidConfig { field, .. }) => field,
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    };
    assert_eq!(
        field(DiscriminativeLr::new().with_decay(0.0).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "decay"
    );
    assert_eq!(
        field(L2Sp::new().with_alpha(-1.0).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "alpha"
    );
    assert_eq!(
        field(LoraFineTune::new().with_rank(0).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "rank"
    );
    assert_eq!(
        field(LoraFineTune::new().with_targets(vec![]).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "targets"
    );
    assert_eq!(
        field(LoraFineTune::new().with_targets(vec!["(".into()]).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "targets"
    );
    assert_eq!(
        field(PartialFineTune::new(4).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "freeze_first"
    );
    assert_eq!(
        field(FullFineTune::new().with_head_hidden(vec![0]).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "head_hidden"
    );
    assert_eq!(
        field(FullFineTune::new().with_train(quick(0)).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "epochs"
    );
    for bad in [
        HyperSearch::new().with_lr(vec![]),
        HyperSearch::new().with_valid_fraction(1.0),
    ] {
        assert!(
            bad.run_with(&t, |_, _| Ok(fake_report(0.5)), |_, _, _| {})
                .is_err()
        );
    }
    assert_eq!(
        field(
            LoraFineTune::new()
                .with_targets(vec!["^head\\.nothing$".into()])
                .fit(Pretrained::encoder(enc.clone()), &t, &mut ctx(&d, SEED))
        ),
        "targets"
    );
    let stopping = quick(5).with_early_stopping(Some(tl_core::train::EarlyStopping {
        patience: 2,
        min_delta: 0.0,
    }));
    assert_eq!(
        field(FullFineTune::new().with_train(stopping).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "early_stopping"
    );
    let stopping = quick(5).with_early_stopping(Some(tl_core::train::EarlyStopping {
        patience: 2,
        min_delta: 0.0,
    }));
    let err = LinearProbe::new()
        .with_train(stopping)
        .fit(Pretrained::encoder(enc.clone()), &t, &mut ctx(&d, SEED))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HyperSearch"),
        "refused by the method, not the trainer: {err}"
    );
    // A bad rate is named as the rate, not as the head's factor of it.
    assert_eq!(
        field(FullFineTune::new().with_train(quick(5).with_lr(2.0)).fit(
            Pretrained::encoder(enc.clone()),
            &t,
            &mut ctx(&d, SEED)
        )),
        "lr"
    );
    // Items the encoder does not take are refused by name, before any work.
    let wide = blobs(4, 5, 1);
    let wide = LabelledSet::new(
        Inputs::new(vec![3, 2], wide.inputs.values.clone()).unwrap(),
        wide.labels.clone(),
        wide.class_names.clone(),
        "wrong-shape",
    )
    .unwrap();
    let wrong = TransferTask::new(4)
        .with_target_labelled(wide.clone())
        .with_target_test(wide);
    for err in [
        LinearProbe::new()
            .fit(Pretrained::encoder(enc.clone()), &wrong, &mut ctx(&d, SEED))
            .unwrap_err(),
        FullFineTune::new()
            .fit(Pretrained::encoder(enc.clone()), &wrong, &mut ctx(&d, SEED))
            .unwrap_err(),
    ] {
        assert!(err.to_string().contains("[3, 2]"), "{err}");
    }
    let no_test = TransferTask::new(4).with_target_labelled(t.target_labelled.clone().unwrap());
    let err = LinearProbe::new()
        .fit(Pretrained::encoder(enc), &no_test, &mut ctx(&d, SEED))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linear-probe") && err.contains("test"),
        "{err}"
    );
}
