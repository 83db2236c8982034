//! tl-transductive's contract: the losses, each method against source-only on a synthetic
//! shift, the report, and refusals.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use tl_core::model::{Classifier, Sequential, SequentialConfig, head_config};
use tl_core::report::FitReport;
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{EVAL_BATCH_SIZE, TrainConfig, Trainer};
use tl_data::shift::rotated_blobs;
use tl_transductive::loss::{coral, mmd};
use tl_transductive::*;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn value(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

fn gaussian(n: usize, d: usize, mean: f32, scale: f32, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(mean, scale).unwrap();
    let v: Vec<f32> = (0..n * d).map(|_| normal.sample(&mut rng)).collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

#[test]
fn mmd_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift() {
    let d = dev();
    let k = [0.25, 0.5, 1.0, 2.0, 4.0];
    let a = gaussian(200, 4, 0.0, 1.0, 1, &d);
    let same = value(mmd(a.clone(), gaussian(200, 4, 0.0, 1.0, 2, &d), &k));
    let mut last = same;
    assert!(same.abs() < 0.05, "one distribution: {same}");
    for shift in [0.5, 1.0, 2.0] {
        let m = value(mmd(a.clone(), gaussian(200, 4, shift, 1.0, 3, &d), &k));
        assert!(m > last + 0.02, "shift {shift}: {m} after {last}");
        last = m;
    }
}

#[test]
fn coral_is_zero_for_equal_covariances_and_positive_otherwise() {
    let d = dev();
    let a = gaussian(100, 3, 0.0, 1.0, 1, &d);
    // A shifted copy has the same covariance.
    assert!(value(coral(a.clone(), a.clone() + 5.0)).abs() < 1e-6);
    let wider = value(coral(a.clone(), a.clone() * 2.0));
    assert!(wider > 0.01, "{wider}");
    // 4 d^2 scaling: the covariance of a * 2 is 4 C, so the loss is |3 C|^2 / 36.
    let c = tl_transductive::loss::covariance(a.clone());
    let expected = value((c * 3.0).powi_scalar(2).sum()) / 36.0;
    assert!(
        (wider - expected).abs() < 1e-4 * expected.max(1.0),
        "{wider} vs {expected}"
    );
}

/// Source: blobs; target: the same rotated by 80 degrees.
pub fn blob_task() -> TransferTask {
    TransferTask::new(2)
        .with_source(rotated_blobs(600, 0.0, 1).unwrap())
        .with_target_unlabelled(rotated_blobs(600, 80.0, 2).unwrap().unlabelled())
        .with_target_test(rotated_blobs(600, 80.0, 3).unwrap())
}

/// An MLP (optionally with batch norm on its input) trained on the source for 15 epochs.
fn source_model(task: &TransferTask, batch_norm: bool, device: &Device) -> Classifier<Sequential> {
    source_model_seeded(task, batch_norm, device, SEED)
}

/// [`source_model`] trained with `seed`.
fn source_model_seeded(
    task: &TransferTask,
    batch_norm: bool,
    device: &Device,
    seed: u64,
) -> Classifier<Sequential> {
    device.seed(seed);
    let mut enc = SequentialConfig::new(vec![2]);
    if batch_norm {
        enc = enc.batch_norm();
    }
    let enc = enc
        .linear(32)
        .relu()
        .linear(32)
        .relu()
        .init(device)
        .unwrap();
    let model = Classifier::new(enc, head_config(32, &[], 2).init(device).unwrap()).unwrap();
    Trainer::new(quick(15).with_seed(seed))
        .fit(model, task.source.as_ref().unwrap(), None, device)
        .unwrap()
        .model
}

fn head_weights(m: &Classifier<Sequential>) -> Vec<f32> {
    match &m.head.layers()[0] {
        tl_core::model::Layer::Linear(l) => l.weight.val().into_data().iter::<f32>().collect(),
        _ => unreachable!("a linear head"),
    }
}

/// The seed every run trains with (the run's seed replaces the config's).
const SEED: u64 = 0;

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(64)
        .with_lr(3e-3)
        .with_seed(SEED)
}

/// A run on `device` seeded with `seed`.
fn ctx(device: &Device, seed: u64) -> RunContext<'static> {
    RunContext::new(device).with_seed(seed)
}

/// The rotated-blobs task, its source model, and source-only's report (10 epochs).
fn blobs_and_baseline(device: &Device) -> (TransferTask, Classifier<Sequential>, FitReport) {
    blobs_and_baseline_seeded(device, SEED)
}

/// [`blobs_and_baseline`] with every fit seeded with `seed`.
fn blobs_and_baseline_seeded(
    device: &Device,
    seed: u64,
) -> (TransferTask, Classifier<Sequential>, FitReport) {
    let task = blob_task();
    let model = source_model_seeded(&task, false, device, seed);
    let (_, base) = SourceOnly::new()
        .with_train(quick(10))
        .fit(
            Pretrained::classifier(model.clone()),
            &task,
            &mut ctx(device, seed),
        )
        .unwrap();
    (task, model, base)
}

#[test]
fn each_method_beats_source_only_on_rotated_blobs() {
    let _s = serial();
    let device = dev();
    // Three seeds, each claim on every one of them: over seeds 0-7 source-only scored
    // 78-90 %, Deep CORAL and MMD at least 98.3 %, self-training 3.5 to 13.7 points above
    // source-only; MMD's proxy A-distance fell from 1.69-1.87 to at most 0.17 on every seed.
    // Deep CORAL matches second moments only: on 6 of those 8 seeds a linear domain
    // classifier still told the domains apart (PAD 1.36-1.73 after), so no fall is asserted.
    for seed in 0..3 {
        let (task, model, base) = blobs_and_baseline_seeded(&device, seed);
        let (_, c) = DeepCoral::new()
            .with_train(quick(10))
            .with_weight(10.0)
            .fit(
                Pretrained::classifier(model.clone()),
                &task,
                &mut ctx(&device, seed),
            )
            .unwrap();
        let (_, m) = Mmd::new()
            .with_train(quick(10))
            .fit(
                Pretrained::classifier(model.clone()),
                &task,
                &mut ctx(&device, seed),
            )
            .unwrap();
        let (_, s) = SelfTraining::new()
            .with_train(quick(2))
            .with_rounds(5)
            .with_threshold(0.8)
            .with_end_portion(0.9)
            .fit(
                Pretrained::classifier(model.clone()),
                &task,
                &mut ctx(&device, seed),
            )
            .unwrap();
        if seed == 0 {
            // Skipping the proxy A-distance changes nothing but its figures.
            let (_, m0) = Mmd::new()
                .with_train(quick(10))
                .fit(
                    Pretrained::classifier(model.clone()),
                    &task,
                    &mut ctx(&device, seed).with_pad_items(0),
                )
                .unwrap();
            assert_eq!(m0.metrics.accuracy, m.metrics.accuracy);
            assert!(!m0.extra.contains_key("pad_before") && !m0.extra.contains_key("pad_after"));
            assert!(m0.extra.contains_key("source_accuracy"));
        }
        let b = base.metrics.accuracy;
        eprintln!(
            "seed {seed}: source-only {b}, coral {} (pad {:.2} -> {:.2}), mmd {} (pad {:.2} -> {:.2}), self-training {}",
            c.metrics.accuracy,
            c.extra["pad_before"],
            c.extra["pad_after"],
            m.metrics.accuracy,
            m.extra["pad_before"],
            m.extra["pad_after"],
            s.metrics.accuracy
        );
        assert!(b < 0.92, "the shift must hurt: source-only {b}");
        for r in [&c, &m] {
            assert!(
                r.metrics.accuracy > 0.95 && r.metrics.accuracy > b + 0.05,
                "seed {seed}, {}: {} vs source-only {b}",
                r.strategy,
                r.metrics.accuracy
            );
            for k in ["pad_before", "pad_after"] {
                assert!(
                    (0.0..=2.0).contains(&r.extra[k]),
                    "{}: {:?}",
                    r.strategy,
                    r.extra
                );
            }
        }
        assert!(
            m.extra["pad_after"] < m.extra["pad_before"] - 0.5,
            "seed {seed}, mmd: {:?}",
            m.extra
        );
        assert!(
            s.metrics.accuracy > b + 0.02,
            "seed {seed}, self-training {} vs {b}",
            s.metrics.accuracy
        );
        for r in [&base, &c, &m, &s] {
            assert!(
                r.extra["source_accuracy"] > 0.95,
                "{}: {:?}",
                r.strategy,
                r.extra
            );
            assert!(
                r.history
                    .iter()
                    .all(|e| e.extra.contains_key("target_accuracy")
                        || r.strategy == "self-training")
            );
        }
        assert!(c.history[0].extra.contains_key("transfer_loss"));
        let pseudo = s
            .history
            .iter()
            .filter_map(|e| e.extra.get("pseudo_labels"))
            .collect::<Vec<_>>();
        assert_eq!(pseudo.len(), 5, "one count per round");
        assert!(
            pseudo.windows(2).all(|w| w[1] >= w[0]),
            "a growing share: {pseudo:?}"
        );
    }
}

#[test]
fn adabn_undoes_a_per_feature_affine_shift() {
    let _s = serial();
    let device = dev();
    // Target = source scaled and moved per feature: what batch-norm statistics absorb.
    let shift = |set: tl_core::data::LabelledSet| {
        let mut set = set;
        for pair in set.inputs.values.chunks_mut(2) {
            pair[0] = pair[0] * 3.0 + 4.0;
            pair[1] = pair[1] * 0.5 - 2.0;
        }
        set
    };
    let task = TransferTask::new(2)
        .with_source(rotated_blobs(600, 30.0, 1).unwrap())
        .with_target_unlabelled(shift(rotated_blobs(600, 30.0, 2).unwrap()).unlabelled())
        .with_target_test(shift(rotated_blobs(600, 30.0, 3).unwrap()));
    let model = source_model(&task, true, &device);
    let (_, base) = SourceOnly::new()
        .with_train(quick(1))
        .fit(
            Pretrained::classifier(model.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    let (adapted, r) = AdaBn::new()
        .fit(
            Pretrained::classifier(model.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    eprintln!(
        "source-only {}, adabn {}",
        base.metrics.accuracy, r.metrics.accuracy
    );
    assert!(base.metrics.accuracy < 0.85, "{}", base.metrics.accuracy);
    assert!(r.metrics.accuracy > 0.95, "{}", r.metrics.accuracy);
    assert_eq!(r.params.trainable, 0);
    assert!(r.extra["source_accuracy"] > 0.95);
    // The weights are untouched: only statistics moved.
    assert_eq!(head_weights(&model), head_weights(&adapted));
    // Without batch norm (and none put in) there is nothing to re-estimate...
    let plain = source_model(&task, false, &device);
    let err = AdaBn::new()
        .with_insert_after(Some(vec![]))
        .fit(
            Pretrained::classifier(plain.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap_err();
    assert!(err.to_string().contains("batch-norm"), "{err}");
    // An encoder without its head: no weight trains, so a fresh head would score at chance.
    let err = AdaBn::new()
        .fit(
            Pretrained::encoder(model.encoder.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("an encoder without a head"),
        "{err}"
    );
    // ...until identity batch norm goes in: the same predictions on the source, then AdaBN.
    let source = task.source.as_ref().unwrap();
    let with_bn = AdaBn::new()
        .insert_identity_batch_norm(
            plain.encoder.clone(),
            &[0, 2],
            &source.unlabelled(),
            &device,
        )
        .unwrap();
    assert_eq!(with_bn.len(), plain.encoder.len() + 2);
    let a = tl_core::train::encode_all(&plain.encoder, source, &device, EVAL_BATCH_SIZE).unwrap();
    let b = tl_core::train::encode_all(&with_bn, source, &device, EVAL_BATCH_SIZE).unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-3,
        "identity batch norm changed a feature by {worst}"
    );
    // No statistics to take from an empty set; a source with more classes than the model
    // is refused before anything is scored.
    let empty = source.select(&[]).unlabelled();
    let err = AdaBn::new()
        .insert_identity_batch_norm(plain.encoder.clone(), &[0], &empty, &device)
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = AdaBn::new()
        .restandardize(with_bn.clone(), &empty, &device)
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let mut three = source.clone();
    three.labels[0] = 2;
    three.class_names.push("extra".into());
    let wider = TransferTask {
        source: Some(three),
        ..task.clone()
    };
    let model = Classifier::new(with_bn.clone(), plain.head.clone()).unwrap();
    let err = AdaBn::new()
        .fit(
            Pretrained::classifier(model),
            &wider,
            &mut ctx(&device, SEED),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("3 classes but the model predicts 2"),
        "{err}"
    );
    let model = Classifier::new(with_bn, plain.head.clone()).unwrap();
    let (_, r) = AdaBn::new()
        .fit(
            Pretrained::classifier(model),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    assert!(
        r.metrics.accuracy > base.metrics.accuracy + 0.1,
        "{} vs {}",
        r.metrics.accuracy,
        base.metrics.accuracy
    );
    // AdaBN puts the same identity batch norm in itself when told where.
    let (_, inserted) = AdaBn::new()
        .with_insert_after(Some(vec![0, 2]))
        .fit(
            Pretrained::classifier(plain),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    assert_eq!(inserted.metrics.accuracy, r.metrics.accuracy);
}

/// Per-feature mean and biased variance of rows `width` wide.
fn column_stats(values: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (values.len() / width) as f64;
    (0..width)
        .map(|c| {
            let col: Vec<f64> = values
                .iter()
                .skip(c)
                .step_by(width)
                .map(|&v| v as f64)
                .collect();
            let mean = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            (mean as f32, var as f32)
        })
        .unzip()
}

#[test]
fn adabn_statistics_are_exact_over_a_target_ordered_by_class() {
    let _s = serial();
    let device = dev();
    let task = blob_task();
    // The target ordered by class, as a stratified split leaves it: averaging per-batch
    // statistics would miss the variance between the classes.
    let blobs = rotated_blobs(600, 80.0, 2).unwrap();
    let mut order: Vec<usize> = (0..blobs.len()).collect();
    order.sort_by_key(|&i| blobs.labels[i]);
    let target = blobs.select(&order).unlabelled();
    let stats = |enc: &Sequential, j: usize| {
        let tl_core::model::Layer::BatchNorm(bn) = &enc.layers()[j] else {
            panic!("layer {j} is not a batch norm");
        };
        let v = |t: Tensor<1>| t.into_data().iter::<f32>().collect::<Vec<f32>>();
        (v(bn.running_mean.value()), v(bn.running_var.value()))
    };
    let close = |a: &[f32], b: &[f32], what: &str| {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
                "{what}: {a:?} vs {b:?}"
            );
        }
    };
    // Batch norm on the input (layer 0): the target's own statistics, whatever the batch size.
    let model = source_model(&task, true, &device);
    let (mean, var) = column_stats(&target.inputs.values, 2);
    for batch in [4, 256] {
        let enc = AdaBn::new()
            .with_batch_size(batch)
            .restandardize(model.encoder.clone(), &target, &device)
            .unwrap();
        let (m, v) = stats(&enc, 0);
        close(&m, &mean, "mean at the input");
        close(&v, &var, "variance at the input");
    }
    // Batch norm after a layer: the statistics of that layer's outputs on the target.
    let plain = source_model(&task, false, &device);
    let source = task.source.as_ref().unwrap().unlabelled();
    let with_bn = AdaBn::new()
        .insert_identity_batch_norm(plain.encoder.clone(), &[0], &source, &device)
        .unwrap();
    let enc = AdaBn::new()
        .with_batch_size(8)
        .restandardize(with_bn.clone(), &target, &device)
        .unwrap();
    let first = with_bn.clone().drop_last(with_bn.len() - 1).unwrap();
    let out = tl_core::train::encode_inputs(&first, &target.inputs, &device, 64).unwrap();
    let (mean, var) = column_stats(&out, 32);
    let (m, v) = stats(&enc, 1);
    close(&m, &mean, "mean after layer 0");
    close(&v, &var, "variance after layer 0");
}

#[test]
fn methods_refuse_missing_parts_and_bad_fields() {
    let _s = serial();
    let device = dev();
    let task = blob_task();
    let model = source_model(&task, false, &device);
    let no_target = TransferTask::new(2)
        .with_source(rotated_blobs(100, 0.0, 1).unwrap())
        .with_target_test(rotated_blobs(100, 80.0, 3).unwrap());
    let err = DeepCoral::new()
        .fit(
            Pretrained::classifier(model.clone()),
            &no_target,
            &mut ctx(&device, SEED),
        )
        .unwrap_err();
    assert!(err.to_string().contains("deep-coral"), "{err}");
    assert!(err.to_string().contains("unlabelled"), "{err}");
    let cases = [
        (
            "weight",
            DeepCoral::new().with_weight(-1.0).validate().unwrap_err(),
        ),
        (
            "bandwidths",
            Mmd::new().with_bandwidths(vec![]).validate().unwrap_err(),
        ),
        (
            "threshold",
            SelfTraining::new()
                .with_threshold(1.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "rounds",
            SelfTraining::new().with_rounds(0).validate().unwrap_err(),
        ),
        (
            "source_valid_fraction",
            SourceOnly::new()
                .with_source_valid_fraction(1.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "batch_size",
            AdaBn::new().with_batch_size(1).validate().unwrap_err(),
        ),
    ];
    for (field, err) in cases {
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    // A model for other inputs.
    device.seed(0);
    let wrong = Classifier::new(
        SequentialConfig::new(vec![3])
            .linear(4)
            .init(&device)
            .unwrap(),
        head_config(4, &[], 2).init(&device).unwrap(),
    )
    .unwrap();
    let err = Mmd::new()
        .fit(
            Pretrained::classifier(wrong),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap_err();
    assert!(err.to_string().contains("[2]"), "{err}");
}

#[test]
fn pseudo_labels_are_confident_and_class_balanced() {
    let st = SelfTraining::new().with_threshold(0.7);
    // 6 items, 2 classes; class 0 is predicted 4 times (3 confident), class 1 twice.
    let probs = [
        0.9, 0.1, 0.95, 0.05, 0.8, 0.2, 0.6, 0.4, 0.1, 0.9, 0.25, 0.75,
    ];
    // Portion 1/3 of 6 items over 2 classes: 1 per class, the most confident.
    assert_eq!(
        st.pseudo_labels(&probs, 2, 1.0 / 3.0).unwrap(),
        vec![(1, 0), (4, 1)]
    );
    assert!(st.pseudo_labels(&probs, 0, 0.5).is_err());
    assert!(st.pseudo_labels(&probs[..3], 2, 0.5).is_err());
    assert!(st.pseudo_labels(&probs, 2, 0.0).is_err());
    // A larger share: up to 3 per class, never below the threshold (item 3 at 0.6).
    assert_eq!(
        st.pseudo_labels(&probs, 2, 1.0).unwrap(),
        vec![(0, 0), (1, 0), (2, 0), (4, 1), (5, 1)]
    );
}

#[test]
fn self_ensembling_beats_source_only_on_rotated_blobs_and_returns_the_teacher() {
    let _s = serial();
    let device = dev();
    let (task, model, base) = blobs_and_baseline(&device);
    // About 90 steps in all: a teacher averaging over the last ~10 (alpha 0.9) rather than
    // the paper's ~100 (0.99), which would still be mostly the source model at the end.
    let method = SelfEnsembling::new()
        .with_train(quick(10))
        .with_teacher_alpha(0.9)
        .with_confidence_threshold(0.9)
        .with_augment(tl_data::transform::RandomAffine {
            affine_std: 0.0,
            translate: 0.0,
            noise_std: 0.3,
        });
    let (adapted, r) = method
        .fit(
            Pretrained::classifier(model.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    let b = base.metrics.accuracy;
    eprintln!("source-only {b}, self-ensembling {}", r.metrics.accuracy);
    assert!(
        r.metrics.accuracy > b + 0.05,
        "self-ensembling {} vs source-only {b}",
        r.metrics.accuracy
    );
    assert!(r.extra["source_accuracy"] > 0.95, "{:?}", r.extra);
    assert_eq!(
        r.params.trainable, r.params.total,
        "the returned teacher trains"
    );
    let last = &r.history.last().unwrap().extra;
    for key in [
        "target_accuracy",
        "student_target_accuracy",
        "consistency_loss",
        "class_balance_loss",
        "confident_share",
    ] {
        assert!(last.contains_key(key), "{key}: {last:?}");
    }
    assert!(last["confident_share"] > 0.5, "{last:?}");
    // The returned model is the teacher the last epoch recorded, and it still trains: its
    // parameters track gradients again.
    let returned = tl_core::train::evaluate(
        &adapted,
        task.target_test.as_ref().unwrap(),
        &device,
        EVAL_BATCH_SIZE,
    )
    .unwrap();
    assert!((returned.accuracy - last["target_accuracy"]).abs() < 1e-9);
    let (_, again) = SourceOnly::new()
        .with_train(quick(1))
        .fit(
            Pretrained::classifier(adapted),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap();
    assert!(again.params.trainable > 0);
    // Refusals by field.
    for (field, err) in [
        (
            "teacher_alpha",
            SelfEnsembling::new().with_teacher_alpha(1.0).validate(),
        ),
        (
            "confidence_threshold",
            SelfEnsembling::new()
                .with_confidence_threshold(-0.1)
                .validate(),
        ),
        (
            "early_stopping",
            SelfEnsembling::new()
                .with_train(
                    quick(1).with_early_stopping(Some(tl_core::train::EarlyStopping {
                        patience: 2,
                        min_delta: 0.0,
                    })),
                )
                .validate(),
        ),
        (
            "augment",
            SelfEnsembling::new()
                .with_augment(tl_data::transform::RandomAffine {
                    affine_std: f32::NAN,
                    translate: 2.0,
                    noise_std: 0.1,
                })
                .validate(),
        ),
    ] {
        let err = err.unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn self_ensembling_target_terms_count_confident_items_and_want_balance() {
    use tl_transductive::self_ensembling::target_terms;
    let device = dev();
    let probs = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 2]), &device);
    // The student agrees with a confident teacher: no consistency loss.
    let (c, _, share) = target_terms(
        probs(vec![0.99, 0.01, 0.01, 0.99]),
        probs(vec![0.99, 0.01, 0.01, 0.99]),
        0.9,
        2,
    );
    assert!(value(c).abs() < 1e-9);
    assert_eq!(share, 1.0);
    // It disagrees on the second item only: (0.5^2 + 0.5^2) / 2 averaged over two items, but
    // only when the teacher is confident about that item.
    let student = probs(vec![0.99, 0.01, 0.51, 0.49]);
    let (c, _, share) = target_terms(student.clone(), probs(vec![0.99, 0.01, 0.01, 0.99]), 0.9, 2);
    assert!((value(c) - 0.125).abs() < 1e-4, "{share}");
    let (c, _, share) = target_terms(student, probs(vec![0.99, 0.01, 0.4, 0.6]), 0.9, 2);
    assert!(value(c).abs() < 1e-9);
    assert_eq!(share, 0.5);
    // Class balance: a student that predicts one class everywhere pays more than a balanced
    // one.
    let confident = probs(vec![0.99, 0.01, 0.01, 0.99]);
    let balanced = value(target_terms(confident.clone(), confident.clone(), 0.9, 2).1);
    let one_class = value(target_terms(probs(vec![0.99, 0.01, 0.99, 0.01]), confident, 0.9, 2).1);
    assert!(one_class > balanced + 1.0, "{one_class} vs {balanced}");
}
