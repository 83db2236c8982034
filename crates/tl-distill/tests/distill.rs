//! Behaviour of the distillation losses and methods on tiny made-up data.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::json;
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, LayerConfig, Sequential, SequentialConfig, head_config};
use tl_core::strategy::{Pretrained, Registry, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{CrossEntropy, TrainConfig, Trainer, evaluate, scalar};
use tl_distill::loss::{
    attention_map, kd_loss, rkd_angle_loss, rkd_distance_loss, soft_target_loss,
};
use tl_distill::{
    AttentionTransfer, FitNets, Hint, KdSettings, KnowledgeDistillation, LayerPair, RelationalKd,
    TransferFrom,
};

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn t2(values: Vec<f32>, shape: [usize; 2], dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), dev)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn kd_with_alpha_one_is_plain_cross_entropy() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let s = t2(vec![1.0, -0.5, 2.0, 0.3, 0.1, -1.0], [2, 3], &dev);
    let t = t2(vec![3.0, 0.0, 1.0, -2.0, 4.0, 0.5], [2, 3], &dev);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &dev);
    let rows = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &dev);
    let ce = CrossEntropy::new(&dev);
    let kd = kd_loss(&ce, s.clone(), t, Some((rows, labels.clone())), 1.0, 4.0);
    let plain = ce.loss(s, labels);
    assert_eq!(scalar(&kd), scalar(&plain));
}

#[test]
fn the_soft_term_at_temperature_one_is_the_kl_of_the_softmaxes() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let s = [[1.0f64, -0.5, 2.0], [0.3, 0.1, -1.0]];
    let t = [[3.0f64, 0.0, 1.0], [-2.0, 4.0, 0.5]];
    let softmax = |r: &[f64; 3]| {
        let z: f64 = r.iter().map(|v| v.exp()).sum();
        r.map(|v| v.exp() / z)
    };
    let mut kl = 0.0;
    for (sr, tr) in s.iter().zip(&t) {
        let (ps, pt) = (softmax(sr), softmax(tr));
        kl += (0..3).map(|c| pt[c] * (pt[c] / ps[c]).ln()).sum::<f64>();
    }
    kl /= 2.0;
    let flat = |m: [[f64; 3]; 2]| m.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>();
    let got = scalar(&soft_target_loss(
        t2(flat(s), [2, 3], &dev),
        t2(flat(t), [2, 3], &dev),
        1.0,
    ));
    assert!(close(got, kl, 1e-5), "{got} vs {kl}");
    // At T the same KL of the softened distributions, times T^2.
    let temp = 3.0;
    let mut klt = 0.0;
    for (sr, tr) in s.iter().zip(&t) {
        let (ps, pt) = (
            softmax(&sr.map(|v| v / temp)),
            softmax(&tr.map(|v| v / temp)),
        );
        klt += (0..3).map(|c| pt[c] * (pt[c] / ps[c]).ln()).sum::<f64>();
    }
    klt *= temp * temp / 2.0;
    let got = scalar(&soft_target_loss(
        t2(flat(s), [2, 3], &dev),
        t2(flat(t), [2, 3], &dev),
        temp,
    ));
    assert!(close(got, klt, 1e-5), "{got} vs {klt}");
    // A student that agrees with the teacher has nothing to learn.
    let same = scalar(&soft_target_loss(
        t2(flat(t), [2, 3], &dev),
        t2(flat(t), [2, 3], &dev),
        2.0,
    ));
    assert!(same.abs() < 1e-6, "{same}");
}

#[test]
fn attention_maps_are_unit_norm_and_relational_losses_ignore_scale_and_rotation() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let x = Tensor::<4>::random(
        [2, 3, 4, 4],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let map = attention_map(x.clone());
    assert_eq!(map.dims(), [2, 16]);
    let norms: Vec<f32> = map
        .powf_scalar(2.0)
        .sum_dim(1)
        .into_data()
        .iter::<f32>()
        .collect();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    // Doubling the activations changes nothing after normalisation.
    let diff: f32 = (attention_map(x.clone() * 2.0) - attention_map(x))
        .abs()
        .max()
        .into_scalar();
    assert!(diff < 1e-5, "{diff}");

    // Relational KD compares structure: a student whose embeddings are the teacher's scaled
    // by 3 and rotated (another basis, another width) has zero loss; a shuffled one does not.
    let t = Tensor::<2>::random([6, 2], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let rot = t2(vec![0.0, 3.0, 0.0, -3.0, 0.0, 0.0], [2, 3], &dev);
    let s = t.clone().matmul(rot);
    assert!(scalar(&rkd_distance_loss(s.clone(), t.clone())) < 1e-6);
    assert!(scalar(&rkd_angle_loss(s, t.clone())) < 1e-6);
    let other = Tensor::<2>::random([6, 2], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    assert!(scalar(&rkd_distance_loss(other.clone(), t.clone())) > 1e-3);
    assert!(scalar(&rkd_angle_loss(other, t)) > 1e-3);
}

const CLASSES: usize = 4;

/// `n` points per class around four centres in 6 dimensions (separable, some noise).
fn blobs(n: usize, seed: u64) -> LabelledSet {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for c in 0..CLASSES {
        for _ in 0..n {
            for d in 0..6 {
                let centre = if d == c || d == (c + 1) % 6 { 2.0 } else { 0.0 };
                values.push(centre + noise());
            }
            labels.push(c);
        }
    }
    LabelledSet::new(
        Inputs::new(vec![6], values).unwrap(),
        labels,
        (0..CLASSES).map(|c| c.to_string()).collect(),
        "blobs",
    )
    .unwrap()
}

fn teacher(train: &LabelledSet, dev: &Device) -> Classifier<Sequential> {
    dev.seed(1);
    let model = Classifier::new(
        SequentialConfig::new(vec![6])
            .linear(64)
            .relu()
            .linear(64)
            .relu()
            .init(dev)
            .unwrap(),
        head_config(64, &[], CLASSES).init(dev).unwrap(),
    )
    .unwrap();
    let config = TrainConfig::new()
        .with_epochs(20)
        .with_batch_size(16)
        .with_lr(5e-3);
    Trainer::new(config)
        .fit(model, train, None, dev)
        .unwrap()
        .model
}

fn task() -> TransferTask {
    let train = blobs(30, 1);
    TransferTask::new(CLASSES)
        .with_target_labelled(train.select(&[0, 30, 60, 90]))
        .with_target_unlabelled(blobs(40, 2).unlabelled())
        .with_target_test(blobs(25, 3))
}

fn quick(transfer: TransferFrom) -> KdSettings {
    KdSettings::new()
        .with_student(vec![LayerConfig::Linear { out: 8 }, LayerConfig::Relu])
        .with_transfer(transfer)
        .with_train(
            TrainConfig::new()
                .with_epochs(30)
                .with_batch_size(16)
                .with_lr(1e-2),
        )
}

#[test]
fn a_student_distilled_without_labels_reaches_its_teacher_and_leaves_it_untouched() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let task = task();
    let teacher = teacher(&blobs(30, 1), &dev);
    let test = task.target_test.as_ref().unwrap();
    let teacher_acc = evaluate(&teacher, test, &dev, 256).unwrap().accuracy;
    assert!(teacher_acc > 0.95, "teacher {teacher_acc}");
    let before: Vec<Vec<f32>> = tl_core::model::flat_params(&teacher)
        .into_iter()
        .map(|p| p.into_data().iter::<f32>().collect())
        .collect();

    let kd = KnowledgeDistillation::new().with_kd(quick(TransferFrom::Unlabelled));
    let mut ctx = RunContext::new(&dev).with_seed(3);
    let (student, report) = kd
        .fit(Pretrained::classifier(teacher.clone()), &task, &mut ctx)
        .unwrap();
    let acc = report.metrics.accuracy;
    assert!(
        acc >= teacher_acc - 0.03,
        "student {acc}, teacher {teacher_acc}"
    );
    assert_eq!(report.extra["labelled_transfer_items"], 0.0);
    assert!(report.extra["compression"] > 10.0, "{:?}", report.extra);
    assert!(report.history.last().unwrap().extra["teacher_agreement"] > 0.9);
    assert_eq!(student.num_classes(), CLASSES);

    let after: Vec<Vec<f32>> = tl_core::model::flat_params(&teacher)
        .into_iter()
        .map(|p| p.into_data().iter::<f32>().collect())
        .collect();
    assert_eq!(before, after, "the teacher's weights changed");
}

#[test]
fn a_student_learns_from_the_source_domain_and_the_unlabelled_target() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let teacher = teacher(&blobs(30, 1), &dev);
    // The source's labelled items (and, for the second, the target's without labels); the
    // task's own labelled target set is left out so only the source can give labels.
    let task = TransferTask::new(CLASSES)
        .with_source(blobs(30, 4))
        .with_target_unlabelled(blobs(40, 2).unlabelled())
        .with_target_test(blobs(25, 3));
    let teacher_acc = evaluate(&teacher, task.target_test.as_ref().unwrap(), &dev, 256)
        .unwrap()
        .accuracy;
    for (transfer, labelled, total) in [
        (TransferFrom::Source, 30 * CLASSES, 30 * CLASSES),
        (
            TransferFrom::SourceAndUnlabelled,
            30 * CLASSES,
            70 * CLASSES,
        ),
    ] {
        let kd = KnowledgeDistillation::new().with_kd(quick(transfer));
        assert!(Strategy::<Sequential>::needs(&kd).contains(&TaskPart::SourceLabelled));
        let mut ctx = RunContext::new(&dev).with_seed(3);
        let (_, report) = kd
            .fit(Pretrained::classifier(teacher.clone()), &task, &mut ctx)
            .unwrap();
        assert_eq!(report.extra["labelled_transfer_items"], labelled as f64);
        assert_eq!(report.extra["transfer_items"], total as f64);
        let acc = report.metrics.accuracy;
        assert!(
            acc >= teacher_acc - 0.05,
            "{transfer:?}: {acc}, teacher {teacher_acc}"
        );
    }
    // A source of other classes than the task's is refused by name.
    let b = blobs(10, 4);
    let keep: Vec<usize> = (0..b.len()).filter(|&i| b.labels[i] < 2).collect();
    let mut two = b.select(&keep);
    two.class_names.truncate(2);
    let other = TransferTask::new(CLASSES)
        .with_source(two)
        .with_target_test(blobs(25, 3));
    let err = KnowledgeDistillation::new()
        .with_kd(quick(TransferFrom::Source))
        .fit(
            Pretrained::classifier(teacher.clone()),
            &other,
            &mut RunContext::new(&dev).with_seed(3),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the source has 2 classes and the task 4"),
        "{err}"
    );
}

#[test]
fn every_method_trains_a_student_on_labels_and_soft_targets() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let task = task();
    let teacher = teacher(&blobs(30, 1), &dev);
    let methods: Vec<Box<dyn Strategy>> = vec![
        Box::new(FitNets::new().with_kd(quick(TransferFrom::Both))),
        Box::new(
            FitNets::new()
                .with_kd(quick(TransferFrom::Both))
                .with_hint_epochs(5)
                .with_hint_weight(0.0),
        ),
        Box::new(RelationalKd::new().with_kd(quick(TransferFrom::Both))),
    ];
    for m in methods {
        let mut ctx = RunContext::new(&dev).with_seed(3);
        let (_, report) = m
            .fit(Pretrained::classifier(teacher.clone()), &task, &mut ctx)
            .unwrap();
        assert!(
            report.metrics.accuracy > 0.9,
            "{}: {}",
            m.name(),
            report.metrics.accuracy
        );
        assert_eq!(report.extra["labelled_transfer_items"], 4.0);
    }
}

fn refusal(
    strategy: &dyn Strategy,
    task: &TransferTask,
    teacher: &Classifier<Sequential>,
) -> String {
    let dev = dev();
    let steps = std::cell::Cell::new(0);
    let mut ctx = RunContext::new(&dev).with_progress(|_| steps.set(steps.get() + 1));
    let err = strategy
        .fit(Pretrained::classifier(teacher.clone()), task, &mut ctx)
        .expect_err("refused")
        .to_string();
    drop(ctx);
    assert_eq!(steps.get(), 0, "trained before refusing: {err}");
    err
}

#[test]
fn bad_settings_and_mismatched_models_are_refused_before_training_naming_the_field() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let task = task();
    let teacher = teacher(&blobs(30, 1), &dev);
    let kd = |s: KdSettings| KnowledgeDistillation::new().with_kd(s);

    let err = refusal(
        &kd(quick(TransferFrom::Labelled).with_temperature(0.0)),
        &task,
        &teacher,
    );
    assert!(err.contains("temperature") && err.contains("> 0"), "{err}");
    let err = refusal(
        &kd(quick(TransferFrom::Labelled).with_alpha(1.5)),
        &task,
        &teacher,
    );
    assert!(err.contains("alpha") && err.contains("[0, 1]"), "{err}");
    let err = refusal(
        &kd(quick(TransferFrom::Labelled).with_alpha(-0.1)),
        &task,
        &teacher,
    );
    assert!(err.contains("alpha"), "{err}");

    // The teacher predicts 4 classes; a task of 5 would give the student 5.
    let mut five = task.clone();
    five.num_classes = 5;
    let err = refusal(&kd(quick(TransferFrom::Labelled)), &five, &teacher);
    assert!(
        err.contains("teacher predicts 4 classes") && err.contains("5"),
        "{err}"
    );

    let hint = FitNets::new()
        .with_kd(quick(TransferFrom::Labelled))
        .with_hints(vec![Hint::layers(1, 9)]);
    let err = refusal(&hint, &task, &teacher);
    assert!(
        err.contains("hints.teacher_layer") && err.contains("no layer 9"),
        "{err}"
    );
    let hint = FitNets::new()
        .with_kd(quick(TransferFrom::Labelled))
        .with_hints(vec![Hint::layers(7, 1)]);
    let err = refusal(&hint, &task, &teacher);
    assert!(
        err.contains("hints.student_layer") && err.contains("no layer 7"),
        "{err}"
    );

    // A hints-only first stage as long as the whole run leaves the head untrained, whatever
    // the hint weight after it.
    let epochs = quick(TransferFrom::Labelled).train.epochs;
    for weight in [0.0, 1.0] {
        let hint = FitNets::new()
            .with_kd(quick(TransferFrom::Labelled))
            .with_hint_epochs(epochs)
            .with_hint_weight(weight);
        let err = refusal(&hint, &task, &teacher);
        assert!(
            err.contains("hint_epochs") && err.contains("head never trains"),
            "{err}"
        );
    }

    // Attention maps need image activations: flat nets are refused, naming the layers.
    let at = AttentionTransfer::new()
        .with_kd(quick(TransferFrom::Labelled))
        .with_layers(vec![LayerPair {
            student: 0,
            teacher: 0,
        }]);
    let err = refusal(&at, &task, &teacher);
    assert!(
        err.contains("layers") && err.contains("image activations"),
        "{err}"
    );

    // A teacher without its head is not a teacher.
    let dev2 = dev.clone();
    let strategy = kd(quick(TransferFrom::Labelled));
    let mut ctx = RunContext::new(&dev2);
    let err = strategy
        .fit(
            Pretrained::encoder(teacher.encoder.clone()),
            &task,
            &mut ctx,
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("teacher needs its head"), "{err}");
}

#[test]
fn the_registry_makes_each_method_with_nested_settings() {
    let _seeded = tl_core::device::seed_lock();
    let mut registry = Registry::new();
    tl_distill::register(&mut registry).unwrap();
    assert_eq!(
        registry.names(),
        [
            "knowledge-distillation",
            "fitnets",
            "attention-transfer",
            "relational-kd"
        ]
    );
    let s = registry
        .create(
            "knowledge-distillation",
            &json!({"kd": {"temperature": 8.0, "transfer": "unlabelled"}}),
        )
        .unwrap();
    assert_eq!(s.config().unwrap()["kd"]["temperature"], json!(8.0));
    assert_eq!(s.needs().len(), 2);
    assert!(
        s.needs()
            .contains(&tl_core::task::TaskPart::TargetUnlabelled)
    );
}
