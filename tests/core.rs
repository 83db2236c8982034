//! The shared core's contract: freezing, learning, seeding, divergence, checkpoints, tasks.
//! Runs on `TL_TEST_DEVICE` (flex by default; CI runs it once more on wgpu/lavapipe).

mod common;

use burn::module::Module;
use common::*;
use tl::prelude::*;
use tl::tl_core::checkpoint::WEIGHTS_FILE;
use tl::tl_core::train::{LOOP_FILE, OPTIMIZER_FILE, encode_all, encode_inputs, objective_fn};

fn quick(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(16)
        .with_lr(0.05)
        .with_seed(seed)
}

#[test]
fn the_loop_learns_a_separable_problem() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 40, 6, 0.8, 1);
    let test = blobs(3, 30, 6, 0.8, 2);
    dev.seed(0);
    let model = mlp(6, 16, 3, &dev);
    let mut epochs_seen = 0;
    let out = Trainer::new(quick(8, 0))
        .with_progress(|e| {
            if let ProgressEvent::Epoch(_) = e {
                epochs_seen += 1;
            }
        })
        .fit(model, &train, Some(&test), &dev)
        .unwrap();
    let m = evaluate(&out.model, &test, &dev, 64).unwrap();
    assert!(m.accuracy >= 0.95, "accuracy {}", m.accuracy);
    assert_eq!(out.history.len(), 8);
    assert_eq!(epochs_seen, 8);
    let first = out.history[0].train_loss;
    let last = out.history[7].train_loss;
    assert!(last < first * 0.5, "loss {first} -> {last}");
    let train_acc = out.history[7]
        .train_accuracy
        .expect("cross-entropy reports it");
    assert!(train_acc > 0.9, "training accuracy {train_acc}");
    assert_eq!(m.confusion.total(), test.len());
}

#[test]
fn frozen_parameters_stay_bit_identical_and_counts_follow_surgery() {
    let _serial = serial();
    let dev = test_device();
    let ad = dev.clone().autodiff();
    let model = mlp(6, 16, 3, &ad);
    let all = count_params(&model);
    assert_eq!(all.total, 6 * 16 + 16 + 16 * 3 + 3);
    assert_eq!(all.trainable, all.total);

    let frozen = model.freeze_encoder();
    let counts = count_params(&frozen);
    assert_eq!(counts.trainable, 16 * 3 + 3, "only the head trains");
    let encoder_before = weights(&frozen.encoder);
    let head_before = weights(&frozen.head);
    let out = Trainer::new(quick(3, 0))
        .fit(frozen, &blobs(3, 20, 6, 0.8, 3), None, &dev)
        .unwrap();
    assert_eq!(
        weights(&out.model.encoder),
        encoder_before,
        "frozen encoder moved"
    );
    assert_ne!(
        weights(&out.model.head),
        head_before,
        "the head should train"
    );

    let thawed = out.model.unfreeze();
    assert_eq!(count_params(&thawed).trainable, all.total);

    let wider = thawed
        .replace_head(head_config(16, &[8], 5).init(&ad).unwrap())
        .unwrap();
    let c = count_params(&wider);
    assert_eq!(c.total, 6 * 16 + 16 + 16 * 8 + 8 + 8 * 5 + 5);
    assert_eq!(c.trainable, c.total);
    let err = wider
        .replace_head(head_config(7, &[], 2).init(&ad).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("encoder gives 16 features"),
        "{err}"
    );
}

#[test]
fn layer_surgery_drops_and_adds_layers() {
    let _serial = serial();
    let dev = test_device();
    let cnn = SequentialConfig::new(vec![1, 8, 8])
        .conv(4, 3, 1)
        .relu()
        .max_pool(2)
        .linear(32)
        .relu()
        .linear(10)
        .init(&dev)
        .unwrap();
    assert_eq!(cnn.output_dim(), 10);
    assert_eq!(cnn.param_layer_indices(), vec![0, 3, 5]);
    let body = cnn.drop_last(1).unwrap();
    assert_eq!(body.output_dim(), 32);
    let x = burn::Tensor::<2>::zeros([3, 64], &dev);
    assert_eq!(body.forward(x.clone()).dims(), [3, 32]);
    let grown = body
        .push_layers(&[LayerConfig::Linear { out: 7 }, LayerConfig::Relu], &dev)
        .unwrap();
    assert_eq!(grown.output_dim(), 7);
    assert_eq!(grown.forward(x).dims(), [3, 7]);
    assert!(grown.clone().drop_last(9).is_err());
    let model = Classifier::new(grown, head_config(7, &[], 2).init(&dev).unwrap()).unwrap();
    let ad_model = model.fork(&dev.clone().autodiff()).train();
    let frozen = ad_model.freeze_first_blocks(2).unwrap();
    let trainable = count_params(&frozen).trainable;
    assert_eq!(
        trainable,
        32 * 7 + 7 + 7 * 2 + 2,
        "conv and first linear frozen"
    );
    assert!(frozen.freeze_first_blocks(4).is_err());
}

#[test]
fn same_seed_same_weights_other_seed_differs() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 20, 6, 0.8, 4);
    let run = |seed: u64| {
        dev.seed(seed);
        let model = mlp(6, 16, 3, &dev);
        let out = Trainer::new(quick(2, seed))
            .fit(model, &train, None, &dev)
            .unwrap();
        weights(&out.model)
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same weights");
    assert_ne!(a, run(8), "another seed, other weights");
}

#[test]
fn a_nan_stops_training_and_the_last_checkpoint_still_predicts() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 30, 6, 0.8, 5);
    let dir = temp_dir("nan");
    dev.seed(0);
    let model = mlp(6, 16, 3, &dev);
    let loss = CrossEntropy::new(&dev);
    let steps_per_epoch = train.len().div_ceil(16);
    let mut calls = 0;
    let mut batches = LabelledBatches::new(&train, 16, 0);
    let objective = objective_fn(|m: &Classifier<Sequential>, b: &Batch| {
        calls += 1;
        let l = loss.loss(m.logits(b.inputs.clone()), b.labels.clone());
        // epoch 4, step 2 goes bad
        Ok(Step::new(if calls == 3 * steps_per_epoch + 2 {
            l * f32::NAN
        } else {
            l
        }))
    });
    let err = Trainer::new(quick(6, 0))
        .with_checkpoint_dir(&dir)
        .train(model, &mut batches, objective, None, &dev)
        .unwrap_err();
    match err {
        CoreError::NonFinite { epoch, step, .. } => assert_eq!((epoch, step), (4, 2)),
        other => panic!("expected NonFinite, got {other}"),
    }
    assert!(err_message_mentions_epoch(4, 2));
    let restored = load_checkpoint(mlp(6, 16, 3, &dev), &dir.join("last")).unwrap();
    let m = evaluate(&restored, &train, &dev, 64).unwrap();
    assert!(
        m.accuracy > 0.9,
        "the epoch-3 weights predict: {}",
        m.accuracy
    );
    let history: Vec<EpochRecord> =
        serde_json::from_slice(&std::fs::read(dir.join("last/history.json")).unwrap()).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[0].train_accuracy, None,
        "a custom loss gives no logits"
    );
}

#[test]
fn nan_weights_or_figures_behind_a_finite_loss_are_refused_before_the_epoch_is_saved() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 30, 6, 0.8, 5);
    let steps_per_epoch = train.len().div_ceil(16);
    let loss = CrossEntropy::new(&dev);
    // The loss reads the encoder alone, and epoch 2 starts with NaN in the head: every loss
    // stays finite while the weights are not (what a NaN gradient in an epoch's last step
    // leaves; made this way because backends differ in how NaN gradients reach the weights).
    struct NanHead;
    impl burn::module::ModuleMapper for NanHead {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<burn::Tensor<D>>,
        ) -> burn::module::Param<burn::Tensor<D>> {
            param.map(|t| {
                let tracked = t.is_require_grad();
                (t.detach() * f32::NAN).detach().set_require_grad(tracked)
            })
        }
    }
    struct EncoderOnly;
    impl tl::tl_core::train::Objective<Classifier<Sequential>, Batch> for EncoderOnly {
        fn step(&mut self, m: &Classifier<Sequential>, b: &Batch) -> tl::tl_core::Result<Step> {
            Ok(Step::new(
                m.encoder.forward(b.inputs.clone()).powf_scalar(2.0).mean(),
            ))
        }
        fn start_epoch(
            &mut self,
            epoch: usize,
            mut model: Classifier<Sequential>,
        ) -> Classifier<Sequential> {
            if epoch == 2 {
                model.head = model.head.map(&mut NanHead);
            }
            model
        }
    }
    let dir = temp_dir("nan-weights");
    dev.seed(0);
    let mut batches = LabelledBatches::new(&train, 16, 0);
    let objective = EncoderOnly;
    let err = Trainer::new(quick(4, 0))
        .with_checkpoint_dir(&dir)
        .train(mlp(6, 16, 3, &dev), &mut batches, objective, None, &dev)
        .unwrap_err();
    match &err {
        CoreError::Diverged { epoch: 2, what } => assert!(what.contains("weights"), "{what}"),
        other => panic!("expected Diverged at epoch 2, got {other}"),
    }
    assert!(err.to_string().contains("end of epoch 2"), "{err}");
    let restored = load_checkpoint(mlp(6, 16, 3, &dev), &dir.join("last")).unwrap();
    assert!(
        weights(&restored).iter().all(|w| w.is_finite()),
        "last/ keeps epoch 1's finite weights"
    );
    let history: Vec<EpochRecord> =
        serde_json::from_slice(&std::fs::read(dir.join("last/history.json")).unwrap()).unwrap();
    assert_eq!(history.len(), 1);

    // A NaN figure would be written to JSON as null and could not be read back.
    let dir = temp_dir("nan-stat");
    dev.seed(0);
    let mut calls = 0;
    let mut batches = LabelledBatches::new(&train, 16, 0);
    let objective = objective_fn(|m: &Classifier<Sequential>, b: &Batch| {
        calls += 1;
        let l = loss.loss(m.logits(b.inputs.clone()), b.labels.clone());
        let margin = if calls > 2 * steps_per_epoch {
            f64::NAN
        } else {
            1.0
        };
        Ok(Step::new(l).with_stat("margin", margin))
    });
    let err = Trainer::new(quick(4, 0))
        .with_checkpoint_dir(&dir)
        .train(mlp(6, 16, 3, &dev), &mut batches, objective, None, &dev)
        .unwrap_err();
    match &err {
        CoreError::Diverged { epoch: 3, what } => assert!(what.contains("`margin`"), "{what}"),
        other => panic!("expected Diverged at epoch 3, got {other}"),
    }
    let history: Vec<EpochRecord> =
        serde_json::from_slice(&std::fs::read(dir.join("last/history.json")).unwrap()).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].extra["margin"], 1.0);
}

fn err_message_mentions_epoch(epoch: usize, step: usize) -> bool {
    let text = CoreError::NonFinite {
        epoch,
        step,
        loss: f32::NAN,
    }
    .to_string();
    text.contains(&format!("epoch {epoch}, step {step}")) && text.contains("NaN")
}

#[test]
fn checkpoints_round_trip_and_refuse_other_architectures() {
    let _serial = serial();
    let dev = test_device();
    let dir = temp_dir("ckpt");
    dev.seed(3);
    let model = mlp(6, 16, 3, &dev);
    let report_config = quick(1, 0);
    save_checkpoint(&dir, &model, &report_config, None).unwrap();
    assert!(dir.join("config.json").exists());
    let back = load_checkpoint(mlp(6, 16, 3, &dev), &dir).unwrap();
    let set = blobs(3, 10, 6, 0.8, 6);
    assert_eq!(
        predict(&model, &set, &dev, 8).unwrap(),
        predict(&back, &set, &dev, 8).unwrap()
    );
    assert_eq!(weights(&model), weights(&back));

    let err = load_checkpoint(mlp(6, 12, 3, &dev), &dir).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CoreError::CheckpointMismatch { .. }),
        "{text}"
    );
    assert!(
        text.contains("encoder.layers.0"),
        "names the parameter: {text}"
    );

    let deeper = Classifier::new(
        SequentialConfig::new(vec![6])
            .linear(16)
            .relu()
            .init(&dev)
            .unwrap(),
        head_config(16, &[4], 3).init(&dev).unwrap(),
    )
    .unwrap();
    let err = load_checkpoint(deeper, &dir).unwrap_err().to_string();
    assert!(err.contains("head.layers"), "{err}");

    std::fs::write(dir.join(WEIGHTS_FILE), b"garbage").unwrap();
    let err = load_checkpoint(mlp(6, 16, 3, &dev), &dir).unwrap_err();
    assert!(matches!(err, CoreError::Format { .. }), "{err}");
    let err = load_checkpoint(mlp(6, 16, 3, &dev), &dir.join("nowhere")).unwrap_err();
    assert!(err.to_string().contains("no such weights file"), "{err}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 30, 6, 0.8, 7);
    let valid = blobs(3, 20, 6, 0.8, 8);
    dev.seed(0);
    let config = quick(40, 0).with_early_stopping(Some(EarlyStopping {
        patience: 2,
        min_delta: 0.0,
    }));
    let out = Trainer::new(config)
        .fit(mlp(6, 16, 3, &dev), &train, Some(&valid), &dev)
        .unwrap();
    assert!(
        out.stopped_early,
        "separable data saturates long before 40 epochs"
    );
    let best = out
        .history
        .iter()
        .map(|r| r.valid_accuracy.unwrap())
        .fold(0.0, f64::max);
    assert_eq!(out.history[out.best_epoch - 1].valid_accuracy, Some(best));
    let kept = evaluate(&out.model, &valid, &dev, 64).unwrap().accuracy;
    assert!(
        (kept - best).abs() < 1e-9,
        "restored weights score {kept}, best {best}"
    );
    let err = Trainer::new(quick(2, 0).with_early_stopping(Some(EarlyStopping {
        patience: 1,
        min_delta: 0.0,
    })))
    .fit(mlp(6, 16, 3, &dev), &train, None, &dev)
    .unwrap_err();
    assert!(err.to_string().contains("needs a validation set"), "{err}");
    // A min_delta that nothing can beat (NaN) silently keeps epoch 1; a negative one counts
    // every worse epoch as the best.
    for (patience, min_delta, field) in [
        (2, f64::NAN, "early_stopping.min_delta"),
        (2, -0.1, "early_stopping.min_delta"),
    ] {
        let stop = Some(EarlyStopping {
            patience,
            min_delta,
        });
        let err = Trainer::new(quick(2, 0).with_early_stopping(stop))
            .fit(mlp(6, 16, 3, &dev), &train, Some(&valid), &dev)
            .unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn a_group_learning_rate_factor_of_zero_holds_that_group() {
    let _serial = serial();
    let dev = test_device();
    let model = mlp(6, 16, 3, &dev);
    let encoder = burn::module::ParamGroup::ids_from_module(model.encoder.clone());
    let before = weights(&model.encoder);
    let out = Trainer::new(quick(2, 0).with_schedule(Schedule::Cosine { min_factor: 0.1 }))
        .with_lr_factor(encoder, 0.0)
        .fit(model, &blobs(3, 20, 6, 0.8, 9), None, &dev)
        .unwrap();
    assert_eq!(weights(&out.model.encoder), before);
    assert!(out.history[1].lr < 0.05, "cosine decays the base rate");
}

#[test]
fn bad_configs_and_mismatched_data_are_refused_before_training() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 10, 6, 0.8, 10);
    let cases: Vec<(TrainConfig, &str)> = vec![
        (quick(0, 0), "epochs"),
        (quick(1, 0).with_batch_size(0), "batch_size"),
        (quick(1, 0).with_lr(0.0), "lr"),
        (quick(1, 0).with_lr(f64::NAN), "lr"),
        (
            quick(1, 0).with_optimizer(OptimizerKind::Sgd {
                momentum: 1.5,
                weight_decay: 0.0,
            }),
            "optimizer.momentum",
        ),
        (
            quick(1, 0).with_optimizer(OptimizerKind::AdamW { weight_decay: -1.0 }),
            "optimizer.weight_decay",
        ),
        (
            quick(1, 0).with_schedule(Schedule::Step {
                epochs: 0,
                gamma: 0.5,
            }),
            "schedule",
        ),
        (quick(1, 0).with_grad_clip_norm(Some(0.0)), "grad_clip_norm"),
    ];
    for (config, field) in cases {
        let err = Trainer::new(config)
            .fit(mlp(6, 8, 3, &dev), &train, None, &dev)
            .unwrap_err();
        match err {
            CoreError::InvalidConfig { field: f, .. } => assert_eq!(f, field),
            other => panic!("expected InvalidConfig({field}), got {other}"),
        }
    }
    let err = Trainer::new(quick(1, 0))
        .fit(mlp(5, 8, 3, &dev), &train, None, &dev)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("do not fit a model that takes [5]"),
        "{err}"
    );
    let err = Trainer::new(quick(1, 0))
        .fit(mlp(6, 8, 2, &dev), &train, None, &dev)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("3 classes but the model predicts 2"),
        "{err}"
    );
}

#[test]
fn every_optimiser_and_schedule_trains() {
    let _serial = serial();
    let dev = test_device();
    let train = blobs(3, 30, 6, 0.8, 11);
    let optimisers = [
        OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 1e-4,
        },
        OptimizerKind::Adam { weight_decay: 0.0 },
        OptimizerKind::AdamW { weight_decay: 1e-2 },
    ];
    let schedules = [
        Schedule::Constant,
        Schedule::Step {
            epochs: 2,
            gamma: 0.5,
        },
        Schedule::Cosine { min_factor: 0.0 },
    ];
    for (opt, sched) in optimisers.into_iter().zip(schedules) {
        dev.seed(1);
        let config = quick(6, 1)
            .with_optimizer(opt.clone())
            .with_schedule(sched.clone())
            .with_warmup_steps(4)
            .with_grad_clip_norm(Some(5.0));
        let out = Trainer::new(config)
            .fit(mlp(6, 16, 3, &dev), &train, None, &dev)
            .unwrap();
        let acc = evaluate(&out.model, &train, &dev, 64).unwrap().accuracy;
        assert!(acc >= 0.9, "{opt:?} with {sched:?}: {acc}");
        // The schedule is followed: 6 steps an epoch, the 4 warm-up steps inside the first.
        let lrs: Vec<f64> = out.history.iter().map(|h| h.lr).collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * b.max(1e-3);
        // Cosine starts its decay at the end of the warm-up, inside the first epoch.
        assert!(
            lrs[0] <= 0.05 + 1e-9 && lrs[0] > 0.045,
            "{sched:?}: {lrs:?}"
        );
        match sched {
            Schedule::Constant => assert!(lrs.iter().all(|&l| close(l, 0.05)), "{lrs:?}"),
            Schedule::Step { .. } => {
                assert!(close(lrs[0], 0.05), "{lrs:?}");
                assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
                // Two halvings in the 32 steps after the warm-up, 12 steps apart.
                assert!(close(lrs[5], 0.0125), "{lrs:?}");
            }
            Schedule::Cosine { .. } => {
                assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
                assert!(lrs[5] < 0.05 * 0.05, "{lrs:?}");
            }
        }
    }
    // A warm-up longer than an epoch: the first epoch ends below half the rate, then it holds.
    dev.seed(1);
    let out = Trainer::new(quick(6, 1).with_warmup_steps(20))
        .fit(mlp(6, 16, 3, &dev), &train, None, &dev)
        .unwrap();
    let lrs: Vec<f64> = out.history.iter().map(|h| h.lr).collect();
    assert!(lrs[0] < 0.025 && lrs[0] > 0.0, "{lrs:?}");
    assert!(lrs.windows(2).all(|w| w[1] >= w[0]), "{lrs:?}");
    assert!((lrs[5] - 0.05).abs() < 1e-9, "{lrs:?}");
}

#[test]
fn transfer_task_validation() {
    let _serial = serial();
    let a = blobs(3, 5, 6, 0.5, 12);
    let task = TransferTask::new(3)
        .with_source(a.clone())
        .with_target_labelled(a.clone())
        .with_target_test(a.clone());
    task.validate().unwrap();
    assert_eq!(task.item_shape(), Some(&[6usize][..]));

    let other_shape = blobs(3, 5, 4, 0.5, 13);
    let err = task
        .clone()
        .with_target_test(other_shape)
        .validate()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("[6] but the target test set has [4]"),
        "{err}"
    );

    let err = TransferTask::new(2)
        .with_target_labelled(a.clone())
        .validate()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("label 2, out of range for 2 classes"),
        "{err}"
    );

    // Unlabelled target inputs are checked too (a NaN would reach training).
    let mut nan = a.unlabelled();
    nan.inputs.values[3] = f32::NAN;
    let err = task
        .clone()
        .with_target_unlabelled(nan)
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");

    // Sets read from JSON are validated as the constructors validate them.
    let bad = r#"{"inputs":{"item_shape":[2],"values":[0,0]},"labels":[3],"class_names":["a"],"domain":"d"}"#;
    let err = serde_json::from_str::<LabelledSet>(bad).unwrap_err();
    assert!(err.to_string().contains("label 3 of item 0"), "{err}");
    let ragged = r#"{"item_shape":[2],"values":[0,0,1]}"#;
    assert!(serde_json::from_str::<tl::tl_core::data::Inputs>(ragged).is_err());
    let good = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<LabelledSet>(&good).unwrap(), a);

    let empty = a.select(&[]);
    let err = task
        .clone()
        .with_target_labelled(empty)
        .validate()
        .unwrap_err();
    assert!(
        err.to_string().contains("labelled target set is empty"),
        "{err}"
    );
    assert!(TransferTask::new(3).validate().is_err());
    assert!(
        TransferTask::new(0)
            .with_source(a.clone())
            .validate()
            .is_err()
    );

    let err = task
        .require("self-training", &[TaskPart::TargetUnlabelled])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "strategy `self-training` needs the task's unlabelled target set, which is missing or empty"
    );
    let task = task.with_target_unlabelled(a.unlabelled());
    task.require(
        "self-training",
        &[TaskPart::TargetUnlabelled, TaskPart::SourceLabelled],
    )
    .unwrap();
}

#[test]
fn the_unlabelled_loop_minimises_a_custom_objective_and_stops_on_nan() {
    let _serial = serial();
    let dev = test_device();
    let data = blobs(3, 20, 6, 0.8, 7).unlabelled();
    // Learn to reproduce the input (a linear autoencoder through 6 units).
    dev.seed(0);
    let model = SequentialConfig::new(vec![6]).linear(6).init(&dev).unwrap();
    let mut seeds = Vec::new();
    let batches = || UnlabelledBatches::new(&data, 16, 0);
    let out = Trainer::new(quick(30, 0))
        .train_module(
            model.clone(),
            &mut batches(),
            objective_fn(|m: &Sequential, b: &UnlabelledBatch| {
                seeds.push(b.seed);
                let x = b.inputs();
                Ok(Step::new((m.forward(x.clone()) - x).powi_scalar(2).mean()))
            }),
            &dev,
        )
        .unwrap();
    assert_eq!(out.history.len(), 30);
    let (first, last) = (out.history[0].train_loss, out.history[29].train_loss);
    assert!(last < first * 0.2, "reconstruction loss {first} -> {last}");
    assert!(out.history.iter().all(|r| r.train_accuracy.is_none()));
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 30 * 4, "every batch gets its own seed");

    let mut calls = 0;
    let err = Trainer::new(quick(3, 0))
        .train_module(
            model.clone(),
            &mut batches(),
            objective_fn(|m: &Sequential, b: &UnlabelledBatch| {
                calls += 1;
                let l = m.forward(b.inputs()).mean();
                Ok(Step::new(if calls == 6 { l * f32::NAN } else { l }))
            }),
            &dev,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::NonFinite {
                epoch: 2,
                step: 2,
                ..
            }
        ),
        "{err}"
    );
    let stop = EarlyStopping {
        patience: 1,
        min_delta: 0.0,
    };
    let err = Trainer::new(quick(3, 0).with_early_stopping(Some(stop)))
        .train_module(
            model.clone(),
            &mut batches(),
            objective_fn(|m: &Sequential, b: &UnlabelledBatch| {
                Ok(Step::new(m.forward(b.inputs()).mean()))
            }),
            &dev,
        )
        .unwrap_err();
    assert!(err.to_string().contains("early_stopping"), "{err}");
}

#[test]
fn the_two_domain_loop_pairs_batches_and_records_step_and_monitor_figures() {
    let _serial = serial();
    let dev = test_device();
    let source = blobs(3, 20, 6, 0.8, 8); // 60 items: 4 batches of 16
    let target = blobs(3, 5, 6, 0.8, 9).unlabelled(); // 15 items: cycles
    dev.seed(0);
    let model = mlp(6, 16, 3, &dev);
    let loss = CrossEntropy::new(&dev);
    let (mut progress, mut target_rows) = (Vec::new(), Vec::new());
    /// Records each step's progress and target batch size, and a figure after each epoch.
    struct Watch<'a> {
        loss: CrossEntropy,
        progress: &'a mut Vec<f64>,
        target_rows: &'a mut Vec<usize>,
        monitored: usize,
    }
    impl Objective<Classifier<Sequential>, DomainBatch> for Watch<'_> {
        fn step(
            &mut self,
            m: &Classifier<Sequential>,
            b: &DomainBatch,
        ) -> tl::prelude::Result<Step> {
            self.progress.push(b.progress);
            self.target_rows.push(b.target.dims()[0]);
            let logits = m.logits(b.source.inputs.clone());
            Ok(
                Step::new(self.loss.loss(logits.clone(), b.source.labels.clone()))
                    .with_accuracy(logits, &b.source.labels)
                    .with_stat("steps", 1.0)
                    .with_stat("progress", b.progress),
            )
        }
        fn end_epoch(
            &mut self,
            _: &Classifier<Sequential>,
        ) -> std::collections::BTreeMap<String, f64> {
            self.monitored += 1;
            [("watched".to_string(), 7.0)].into_iter().collect()
        }
    }
    let mut watch = Watch {
        loss,
        progress: &mut progress,
        target_rows: &mut target_rows,
        monitored: 0,
    };
    let out = Trainer::new(quick(3, 0))
        .train(
            model,
            &mut DomainBatches::new(&source, &target, 16, 0),
            &mut watch,
            None,
            &dev,
        )
        .unwrap();
    let monitored = watch.monitored;
    assert_eq!(progress.len(), 12, "4 source batches x 3 epochs");
    assert!(progress.windows(2).all(|w| w[1] > w[0]) && progress[0] == 0.0);
    assert!(*progress.last().unwrap() < 1.0);
    // 15 target items in batches of 16: every step gets all of them.
    assert!(target_rows.iter().all(|&n| n == 15), "{target_rows:?}");
    assert_eq!(monitored, 3);
    for r in &out.history {
        assert_eq!(r.extra["steps"], 1.0, "stats are averaged per epoch");
        assert_eq!(r.extra["watched"], 7.0);
        assert!(r.train_accuracy.is_some(), "logits given, accuracy kept");
    }
    assert!(out.history[2].extra["progress"] > out.history[0].extra["progress"]);
    // A target the model cannot take is refused by name.
    let wrong = UnlabelledSet::new(Inputs::new(vec![5], vec![0.0; 10]).unwrap(), "odd").unwrap();
    let err = Trainer::new(quick(1, 0))
        .train(
            mlp(6, 16, 3, &dev),
            &mut DomainBatches::new(&source, &wrong, 16, 0),
            objective_fn(|m: &Classifier<Sequential>, b: &DomainBatch| {
                Ok(Step::new(m.logits(b.source.inputs.clone()).mean()))
            }),
            None,
            &dev,
        )
        .unwrap_err();
    assert!(err.to_string().contains("odd"), "{err}");
}

#[test]
fn a_moving_average_of_weights_blends_in_visiting_order_and_keeps_the_teacher() {
    let _serial = serial();
    use tl::tl_core::model::{ema_update, independent_copy};
    let dev = test_device();
    dev.seed(1);
    let teacher = mlp(4, 8, 3, &dev);
    let student = independent_copy(&mlp(4, 8, 3, &dev));
    let (t, s) = (weights(&teacher), weights(&student));
    assert_ne!(t, s);
    let ids = |m: &Classifier<Sequential>| {
        let mut ids = Vec::new();
        struct Ids<'a>(&'a mut Vec<burn::module::ParamId>);
        impl burn::module::ModuleVisitor for Ids<'_> {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<burn::Tensor<D>>) {
                self.0.push(p.id);
            }
        }
        m.visit(&mut Ids(&mut ids));
        ids
    };
    let before = ids(&teacher);
    let blended = ema_update(teacher, &student, 0.75).unwrap();
    assert_eq!(ids(&blended), before, "the teacher keeps its parameter ids");
    for ((b, t), s) in weights(&blended).iter().zip(&t).zip(&s) {
        assert!(
            (b - (0.75 * t + 0.25 * s)).abs() < 1e-6,
            "{b} from {t} and {s}"
        );
    }
    // On an autodiff device a trainable module stays trainable after a blend, a frozen one
    // frozen.
    let ad = dev.clone().autodiff();
    let trainable = mlp(4, 8, 3, &ad);
    let total = count_params(&trainable).total;
    let after = ema_update(trainable.clone(), &student.clone().fork(&ad), 0.5).unwrap();
    assert_eq!(count_params(&after).trainable, total);
    let frozen = ema_update(trainable.no_grad(), &student.clone().fork(&ad), 0.5).unwrap();
    assert_eq!(count_params(&frozen).trainable, 0);
    // alpha 0 copies the student's values; alpha 1 keeps the teacher's.
    assert_eq!(
        weights(&ema_update(blended.clone(), &student, 0.0).unwrap()),
        s
    );
    assert_eq!(
        weights(&ema_update(blended.clone(), &student, 1.0).unwrap()),
        weights(&blended)
    );
    // Two architectures, or an alpha outside [0, 1], are refused instead of blended.
    let err = ema_update(blended.clone(), &mlp(4, 9, 3, &dev), 0.5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parameter 0: [4, 8] vs [4, 9]"), "{err}");
    let err = ema_update(blended.clone(), &student, 1.5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("alpha"), "{err}");
}

#[test]
fn inference_helpers_refuse_sets_the_model_cannot_take() {
    let _serial = serial();
    let dev = test_device();
    let model = mlp(6, 16, 3, &dev);
    let fits = blobs(3, 4, 6, 0.8, 1);
    assert_eq!(predict(&model, &fits, &dev, 5).unwrap().len(), fits.len());
    assert_eq!(
        encode_all(&model.encoder, &fits, &dev, 5).unwrap().len(),
        fits.len() * model.encoder.feature_dim()
    );
    // Items of another shape: an error naming both shapes, never a Burn panic.
    let wide = blobs(3, 4, 8, 0.8, 1);
    let err = evaluate(&model, &wide, &dev, 64).unwrap_err().to_string();
    assert!(err.contains("[8]") && err.contains("[6]"), "{err}");
    assert!(predict(&model, &wide, &dev, 64).is_err());
    assert!(encode_all(&model.encoder, &wide, &dev, 64).is_err());
    assert!(encode_inputs(&model.encoder, &wide.inputs, &dev, 64).is_err());
    // Labels the model cannot predict, an empty set, a zero batch.
    let more = blobs(5, 4, 6, 0.8, 1);
    let err = evaluate(&model, &more, &dev, 64).unwrap_err().to_string();
    assert!(err.contains("beyond the model's 3 classes"), "{err}");
    // A test set may name more classes than it uses: only its labels count.
    let mut named = fits.clone();
    named.class_names.push("unused".into());
    assert!(evaluate(&model, &named, &dev, 64).is_ok());
    let err = evaluate(&model, &fits.select(&[]), &dev, 64)
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty"), "{err}");
    let err = evaluate(&model, &fits, &dev, 0).unwrap_err().to_string();
    assert!(err.contains("batch_size"), "{err}");
}

/// The child of `a_checkpoint_survives_being_killed_at_any_point`: saves checkpoints of
/// generation 1, 2, 3... into `TL_CHECKPOINT_CHILD` until it is killed.
#[test]
#[ignore = "run by a_checkpoint_survives_being_killed_at_any_point as a child process"]
fn checkpoint_writer_child() {
    let Some(dir) = std::env::var_os("TL_CHECKPOINT_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let dev = test_device();
    for generation in 1u64.. {
        dev.seed(generation);
        let model = mlp(6, 16, 3, &dev);
        save_checkpoint(
            &dir,
            &model,
            &serde_json::json!({ "generation": generation }),
            None,
        )
        .unwrap();
        // Tells the parent the writer is past its start-up (a device can take seconds).
        if generation == 1
            && let Some(ready) = std::env::var_os("TL_CHECKPOINT_READY")
        {
            std::fs::write(ready, b"").unwrap();
        }
    }
}

#[test]
fn a_checkpoint_survives_being_killed_at_any_point() {
    let _serial = serial();
    let dev = test_device();
    let root = temp_dir("killed");
    let dir = root.join("ckpt");
    let mut generations = Vec::new();
    for trial in 0..20u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "checkpoint_writer_child",
                "--test-threads=1",
            ])
            .env("TL_CHECKPOINT_CHILD", &dir)
            .env("TL_CHECKPOINT_READY", root.join(format!("ready-{trial}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Once it is saving (whatever its start-up took), kill it at a point that moves from
        // trial to trial.
        let ready = root.join(format!("ready-{trial}"));
        let waited = std::time::Instant::now();
        while !ready.exists() && waited.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(7 * trial));
        child.kill().unwrap();
        child.wait().unwrap();
        if !dir.exists() && !root.join(".ckpt.old").exists() {
            continue; // killed before its first checkpoint
        }
        // The checkpoint there is complete, and its weights are those of its config's
        // generation: never a mix of two saves.
        let folder = tl::tl_core::checkpoint::checkpoint_folder(&dir);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("config.json")).unwrap()).unwrap();
        let generation = config["generation"].as_u64().unwrap();
        let loaded = load_checkpoint(mlp(6, 16, 3, &dev), &dir).unwrap();
        dev.seed(generation);
        assert_eq!(
            weights(&loaded),
            weights(&mlp(6, 16, 3, &dev)),
            "trial {trial}: weights and config of different saves"
        );
        generations.push(generation);
    }
    assert!(generations.len() >= 15, "{generations:?}");
    // Leftovers of the killed writers: at most the old folder and the last staging one.
    let left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let left: Vec<&String> = left.iter().filter(|n| !n.starts_with("ready-")).collect();
    assert!(left.len() <= 3, "{left:?}");
    // The next save after a kill succeeds (leftovers of the killed writer do not block it).
    save_checkpoint(&dir, &mlp(6, 16, 3, &dev), &serde_json::json!({}), None).unwrap();
    assert!(load_checkpoint(mlp(6, 16, 3, &dev), &dir).is_ok());
    let _ = std::fs::remove_dir_all(&root);
}

/// The model, data and config of the resume tests: dropout (the device's random stream),
/// Adam (optimiser state), a cosine schedule with warm-up (its position) and early stopping
/// with a patience that never ends the run (the best weights).
fn resume_setup(
    dev: &Device,
) -> (
    Classifier<Sequential>,
    LabelledSet,
    LabelledSet,
    TrainConfig,
) {
    dev.seed(11);
    let encoder = SequentialConfig::new(vec![6])
        .linear(32)
        .relu()
        .dropout(0.3)
        .init(dev)
        .unwrap();
    let head = head_config(32, &[], 3).init(dev).unwrap();
    let model = Classifier::new(encoder, head).unwrap();
    let config = TrainConfig::new()
        .with_epochs(40)
        .with_batch_size(8)
        .with_lr(0.01)
        .with_optimizer(OptimizerKind::Adam { weight_decay: 1e-4 })
        .with_schedule(Schedule::Cosine { min_factor: 0.05 })
        .with_warmup_steps(20)
        .with_early_stopping(Some(EarlyStopping {
            patience: 1000,
            min_delta: 0.0,
        }))
        .with_seed(5);
    (
        model,
        blobs(3, 400, 6, 2.2, 21),
        blobs(3, 30, 6, 2.2, 22),
        config,
    )
}

/// The child of `a_killed_training_run_resumes_to_the_same_weights`: trains (resuming from
/// `TL_RESUME_CHILD` when it holds a checkpoint) and writes the final weights beside it.
#[test]
#[ignore = "run by a_killed_training_run_resumes_to_the_same_weights as a child process"]
fn resumable_training_child() {
    let Some(dir) = std::env::var_os("TL_RESUME_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let dev = test_device();
    let (model, train, valid, config) = resume_setup(&dev);
    let out = Trainer::new(config)
        .with_checkpoint_dir(dir.join("ckpt"))
        .resuming()
        .fit(model, &train, Some(&valid), &dev)
        .unwrap();
    let result = serde_json::json!({
        "weights": weights(&out.model),
        "best_epoch": out.best_epoch,
        "train_loss": out.history.iter().map(|r| r.train_loss).collect::<Vec<_>>(),
        "valid_accuracy": out.history.iter().map(|r| r.valid_accuracy).collect::<Vec<_>>(),
    });
    tl::tl_core::checkpoint::write_json(&dir.join("final.json"), &result).unwrap();
}

#[test]
fn a_killed_training_run_resumes_to_the_same_weights() {
    let _serial = serial();
    let dev = test_device();
    let root = temp_dir("resume");
    let ckpt = root.join("killed").join("ckpt");
    let (mut killed, mut epochs_seen) = (0, Vec::new());
    // The runs happen in child processes: the device's random generator is process-wide, and
    // other tests of this binary draw from it in parallel.
    let child = |dir: &std::path::Path| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "resumable_training_child",
                "--test-threads=1",
            ])
            .env("TL_RESUME_CHILD", dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // The run that is never interrupted.
    assert!(child(&root.join("whole")).wait().unwrap().success());
    // The same run killed 20 times at moving points, each time started again from its
    // checkpoint.
    // Where the killed run stands (None before its first epoch, or while unreadable).
    let epochs_done = || -> Option<u64> {
        let folder = tl::tl_core::checkpoint::checkpoint_folder(&ckpt.join("last"));
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join(LOOP_FILE)).ok()?).ok()?;
        state["epochs_done"].as_u64()
    };
    for trial in 0..20u64 {
        let before = epochs_done().unwrap_or(0);
        let mut process = child(&root.join("killed"));
        // Once it has finished an epoch more than it started from (whatever its device's
        // speed), kill it at a point that moves from trial to trial: mid-step, mid-save,
        // between epochs.
        let waited = std::time::Instant::now();
        while epochs_done().is_none_or(|e| e <= before) && waited.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis((trial * 7) % 23));
        process.kill().unwrap();
        process.wait().unwrap();
        assert!(
            !root.join("killed/final.json").exists(),
            "trial {trial}: finished"
        );
        killed += 1;
        // Whatever the point, the last checkpoint loads and says where the run stands.
        let (fresh, ..) = resume_setup(&dev);
        load_checkpoint(fresh, &ckpt.join("last")).unwrap();
        epochs_seen.push(epochs_done().unwrap());
    }
    assert_eq!(killed, 20);
    eprintln!("epochs done at each kill: {epochs_seen:?}");
    assert!(
        epochs_seen.windows(2).all(|w| w[0] < w[1]),
        "every trial went on from the last checkpoint: {epochs_seen:?}"
    );
    assert!(
        *epochs_seen.last().unwrap() < 40,
        "the kills fell mid-run: {epochs_seen:?}"
    );
    // The last start runs to the end.
    let status = child(&root.join("killed")).wait().unwrap();
    assert!(status.success());
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(root.join(name).join("final.json")).unwrap()).unwrap()
    };
    let (whole, resumed) = (read("whole"), read("killed"));
    assert_eq!(whole["train_loss"].as_array().unwrap().len(), 40);
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    // Both written the same way and read back the same way: equal bit for bit.
    assert_eq!(
        floats(&resumed["weights"]),
        floats(&whole["weights"]),
        "the same final weights"
    );
    assert_eq!(resumed["best_epoch"], whole["best_epoch"]);
    assert_eq!(
        floats(&resumed["train_loss"]),
        floats(&whole["train_loss"]),
        "the same history"
    );
    assert_eq!(resumed["valid_accuracy"], whole["valid_accuracy"]);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn resuming_refuses_another_config_a_stateful_objective_and_no_folder() {
    let _serial = serial();
    let dev = test_device();
    let root = temp_dir("resume-refusals");
    let train = blobs(3, 20, 6, 0.8, 4);
    let fit = |config: TrainConfig| {
        dev.seed(1);
        Trainer::new(config)
            .with_checkpoint_dir(&root)
            .resuming()
            .fit(mlp(6, 16, 3, &dev), &train, None, &dev)
    };
    let first = fit(quick(3, 0)).unwrap();
    // Finished: resuming again trains nothing and gives the same model.
    let again = fit(quick(3, 0)).unwrap();
    assert_eq!(weights(&first.model), weights(&again.model));
    assert_eq!(again.history.len(), 3);
    let err = fit(quick(3, 0).with_lr(0.1)).unwrap_err().to_string();
    assert!(
        err.contains("another training config") && err.contains("lr: 0.05 there, 0.1 here"),
        "{err}"
    );
    let err = fit(quick(3, 0).with_batch_size(8)).unwrap_err().to_string();
    assert!(err.contains("batch_size"), "{err}");
    let loss = CrossEntropy::new(&dev);
    let mut batches = LabelledBatches::new(&train, 16, 0);
    let err = Trainer::new(quick(3, 0))
        .with_checkpoint_dir(&root)
        .resuming()
        .train(
            mlp(6, 16, 3, &dev),
            &mut batches,
            objective_fn(|m: &Classifier<Sequential>, b: &Batch| {
                Ok(Step::new(
                    loss.loss(m.logits(b.inputs.clone()), b.labels.clone()),
                ))
            }),
            None,
            &dev,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("keeps state of its own"), "{err}");
    let err = Trainer::new(quick(3, 0))
        .resuming()
        .fit(mlp(6, 16, 3, &dev), &train, None, &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs a checkpoint folder"), "{err}");
    // A damaged optimiser state is named: a flipped bit (caught by the checksum), and a
    // foreign one with its checksum updated (caught when it is read).
    let opt = root.join("last").join(OPTIMIZER_FILE);
    let mut bytes = std::fs::read(&opt).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&opt, &bytes).unwrap();
    let err = fit(quick(3, 0)).unwrap_err().to_string();
    assert!(
        err.contains(OPTIMIZER_FILE) && err.contains("checksum"),
        "{err}"
    );
    let garbage = b"garbage";
    let fnv = garbage.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    std::fs::write(&opt, garbage).unwrap();
    let state_path = root.join("last").join(LOOP_FILE);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["optimizer_fnv1a64"] = format!("{fnv:016x}").into();
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    let err = fit(quick(3, 0)).unwrap_err().to_string();
    assert!(err.contains(OPTIMIZER_FILE), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The same model, data and seed on flex and on wgpu (lavapipe in CI) agree within a stated
/// tolerance: a CNN (convolution, batch norm, pooling, linear layers) scores the embedded
/// digits alike before training, and after three epochs of SGD with momentum its weights,
/// scores and predictions stay close. Float sums in another order are the only difference;
/// the tolerances leave 10x or more room over what was measured (README, "Reliability").
#[cfg(feature = "wgpu")]
#[test]
fn flex_and_wgpu_agree_within_tolerance() {
    let _serial = serial();
    let flex = device("flex").unwrap();
    let wgpu = device("wgpu-cpu").unwrap();
    let digits = tl::tl_data::digits().unwrap();
    let train = digits.select(&(0..600).collect::<Vec<_>>());
    let test = digits.select(&(1200..1797).collect::<Vec<_>>());
    flex.seed(3);
    let encoder = SequentialConfig::new(vec![1, 8, 8])
        .conv(8, 3, 1)
        .batch_norm()
        .relu()
        .max_pool(2)
        .linear(32)
        .relu()
        .init(&flex)
        .unwrap();
    let head = head_config(32, &[], 10).init(&flex).unwrap();
    let on_flex = Classifier::new(encoder, head).unwrap();
    let on_wgpu = on_flex.clone().fork(&wgpu);
    let scores = |m: &Classifier<Sequential>, dev: &Device| -> Vec<f32> {
        let m = m.clone().fork(dev);
        let x = test
            .inputs
            .tensor(&(0..test.len()).collect::<Vec<_>>(), dev);
        m.logits(x).into_data().iter::<f32>().collect()
    };
    let max_diff = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let before = max_diff(&scores(&on_flex, &flex), &scores(&on_wgpu, &wgpu));
    let config = TrainConfig::new()
        .with_epochs(3)
        .with_batch_size(32)
        .with_lr(0.05)
        .with_optimizer(OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
        })
        .with_seed(1);
    let a = Trainer::new(config.clone())
        .fit(on_flex, &train, None, &flex)
        .unwrap()
        .model;
    let b = Trainer::new(config)
        .fit(on_wgpu, &train, None, &wgpu)
        .unwrap()
        .model;
    let weights_diff = max_diff(&weights(&a), &weights(&b));
    let (sa, sb) = (scores(&a, &flex), scores(&b, &wgpu));
    let scores_diff = max_diff(&sa, &sb);
    let (pa, pb) = (
        predict(&a, &test, &flex, 256).unwrap(),
        predict(&b, &test, &wgpu, 256).unwrap(),
    );
    let agree = pa.iter().zip(&pb).filter(|(x, y)| x == y).count() as f64 / pa.len() as f64;
    let (acc_a, acc_b) = (
        evaluate(&a, &test, &flex, 256).unwrap().accuracy,
        evaluate(&b, &test, &wgpu, 256).unwrap().accuracy,
    );
    eprintln!(
        "flex vs wgpu: scores before training {before:.2e}, weights after {weights_diff:.2e}, \
         scores after {scores_diff:.2e}, predictions agree {agree:.4}, accuracy {acc_a:.4} vs \
         {acc_b:.4}"
    );
    // Measured on lavapipe: 6.0e-8, 1.4e-6, 9.2e-5, all predictions alike, 86.4 % both.
    assert!(before <= 1e-6, "scores before training differ by {before}");
    assert!(weights_diff <= 2e-5, "weights differ by {weights_diff}");
    assert!(scores_diff <= 1e-3, "scores differ by {scores_diff}");
    assert!(agree >= 0.99, "predictions agree on {agree}");
    assert!((acc_a - acc_b).abs() <= 0.01, "{acc_a} vs {acc_b}");
    assert!(acc_a > 0.75, "both learn: {acc_a}");
}

/// Weights saved straight after training hold the batch-norm statistics the trained model
/// predicts with. Burn keeps a running state's last update pending until the state is synced
/// (`valid()` syncs, a record alone did not), so a model saved before it was first used lost
/// the last step's statistics, and a cached or packaged model scored otherwise when loaded.
#[test]
fn weights_saved_after_training_keep_the_last_batch_norm_update() {
    let _serial = serial();
    let dev = test_device();
    let digits = tl::tl_data::digits().unwrap();
    let train = digits.select(&(0..200).collect::<Vec<_>>());
    dev.seed(5);
    let encoder = SequentialConfig::new(vec![1, 8, 8])
        .conv(4, 3, 1)
        .batch_norm()
        .relu()
        .linear(16)
        .init(&dev)
        .unwrap();
    let head = head_config(16, &[], 10).init(&dev).unwrap();
    let model = Classifier::new(encoder, head).unwrap();
    let trained = Trainer::new(quick(1, 2))
        .fit(model, &train, None, &dev)
        .unwrap()
        .model;
    let dir = std::env::temp_dir().join(format!("tl-bn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.bpk");
    // Saved before the model is used: the order a cache or a package writes in.
    tl::tl_core::checkpoint::save_weights(&trained.encoder, &path).unwrap();
    dev.seed(5);
    let fresh = SequentialConfig::new(vec![1, 8, 8])
        .conv(4, 3, 1)
        .batch_norm()
        .relu()
        .linear(16)
        .init(&dev)
        .unwrap();
    let loaded = tl::tl_core::checkpoint::load_weights(fresh, &path).unwrap();
    let a = encode_all(&trained.encoder, &train, &dev, 64).unwrap();
    let b = encode_all(&loaded, &train, &dev, 64).unwrap();
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max < 1e-5, "the loaded encoder differs by {max}");
    std::fs::remove_dir_all(&dir).unwrap();
}
