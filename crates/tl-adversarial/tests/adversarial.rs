//! tl-adversarial's contract: gradient reversal, the discriminator's loss, each method against
//! source-only on a synthetic shift, what ADDA keeps fixed, and refusals.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use tl_adversarial::discriminator::{bce_with_logits, domain_labels};
use tl_adversarial::grl::dann_lambda;
use tl_adversarial::*;
use tl_core::model::{Classifier, Layer, Sequential, SequentialConfig, head_config};
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{EVAL_BATCH_SIZE, TrainConfig, Trainer};
use tl_data::shift::rotated_blobs;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn gradient_reversal_is_the_identity_forward_and_scales_gradients_by_minus_lambda() {
    let ad = dev().autodiff();
    let x_data = vec![0.5f32, -1.0, 2.0, 3.0, 0.25, -0.75];
    let x = Tensor::<2>::from_data(TensorData::new(x_data.clone(), [2, 3]), &ad).require_grad();
    let y = grad_reverse(x.clone(), 0.7);
    assert_eq!(values(y.clone()), x_data, "identity forward");
    // L = sum(y^2 * w): dL/dy = 2 y w, so dL/dx = -0.7 * 2 x w.
    let w = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),
        &ad,
    );
    let grads = (y.powi_scalar(2) * w).sum().backward();
    let g = values(x.grad(&grads).unwrap());
    let ws = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    for ((g, x), w) in g.iter().zip(&x_data).zip(ws) {
        let expected = -0.7 * 2.0 * x * w;
        assert!((g - expected).abs() < 1e-5, "{g} vs {expected}");
    }
    // Numerically: the reversed gradient is -lambda times a finite difference of the plain loss.
    let plain = |x0: f32| (x0 * x0) * 1.0;
    let fd = (plain(0.5 + 1e-3) - plain(0.5 - 1e-3)) / 2e-3;
    assert!(
        (g[0] - (-0.7 * fd)).abs() < 1e-3,
        "{} vs {}",
        g[0],
        -0.7 * fd
    );
    // DANN's schedule: 0 at the start, rising towards 1.
    assert_eq!(dann_lambda(0.0, 10.0), 0.0);
    assert!((dann_lambda(1.0, 10.0) - 0.99991).abs() < 1e-4);
    assert!(dann_lambda(0.1, 10.0) < dann_lambda(0.2, 10.0));
}

#[test]
fn bce_with_logits_is_stable_and_matches_its_definition() {
    let d = dev();
    let z = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 2.0, -3.0, 80.0, -80.0], [5, 1]),
        &d,
    );
    let y = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 1.0], [5, 1]),
        &d,
    );
    let l = values(bce_with_logits(z, y));
    let sig = |z: f32| 1.0 / (1.0 + (-z).exp());
    assert!((l[0] - 2f32.ln()).abs() < 1e-6);
    assert!((l[1] + (1.0 - sig(2.0)).ln()).abs() < 1e-5);
    assert!((l[2] + (1.0 - sig(-3.0)).ln()).abs() < 1e-5);
    assert!(l[3].abs() < 1e-6, "a confident right answer costs nothing");
    assert!(
        (l[4] - 80.0).abs() < 1e-3,
        "a confident wrong answer costs |z|, not inf"
    );
    assert_eq!(
        values(domain_labels(2, 3, &d)),
        vec![1.0, 1.0, 0.0, 0.0, 0.0]
    );
}

fn blob_task() -> TransferTask {
    TransferTask::new(2)
        .with_source(rotated_blobs(600, 0.0, 1).unwrap())
        .with_target_unlabelled(rotated_blobs(600, 80.0, 2).unwrap().unlabelled())
        .with_target_test(rotated_blobs(600, 80.0, 3).unwrap())
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

fn source_model(task: &TransferTask, device: &Device) -> Classifier<Sequential> {
    device.seed(0);
    let enc = SequentialConfig::new(vec![2])
        .linear(32)
        .relu()
        .linear(32)
        .relu()
        .init(device)
        .unwrap();
    let model = Classifier::new(enc, head_config(32, &[], 2).init(device).unwrap()).unwrap();
    Trainer::new(quick(15))
        .fit(model, task.source.as_ref().unwrap(), None, device)
        .unwrap()
        .model
}

fn weights(s: &Sequential) -> Vec<f32> {
    s.layers()
        .iter()
        .filter_map(|l| match l {
            Layer::Linear(l) => Some(values(l.weight.val())),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn each_method_beats_source_only_on_rotated_blobs() {
    let _s = serial();
    let device = dev();
    let task = blob_task();
    let model = source_model(&task, &device);
    let (_, base) = tl_transductive_free_source_only(&model, &task, &device);
    let b = base;
    let small = DiscriminatorConfig::new().with_hidden(vec![32]);
    let fit = |strategy: &dyn Strategy<Sequential>| {
        strategy
            .fit(
                Pretrained::classifier(model.clone()),
                &task,
                &mut ctx(&device, SEED),
            )
            .unwrap()
    };
    let dann_with = |d: Dann| d.with_train(quick(20)).with_discriminator(small.clone());
    let adda_with = |a: Adda| {
        a.with_train(quick(20).with_lr(1e-3))
            .with_discriminator(small.clone())
    };
    let (_, dann) = fit(&dann_with(Dann::new()));
    let (_, cdan) = fit(&dann_with(Dann::cdan_e()));
    let (adapted, adda) = fit(&adda_with(Adda::new()));
    let (distilled, aad) = fit(&adda_with(Adda::aad()));
    eprintln!(
        "source-only {b}, dann {}, cdan+e {}, adda {}, aad {}",
        dann.metrics.accuracy, cdan.metrics.accuracy, adda.metrics.accuracy, aad.metrics.accuracy
    );
    assert!(b < 0.92, "the shift must hurt: {b}");
    // AAD's distillation keeps the target encoder readable by the source head on the source.
    let source = task.source.as_ref().unwrap();
    let on_source = |m: &Classifier<Sequential>| {
        tl_core::train::evaluate(m, source, &device, EVAL_BATCH_SIZE)
            .unwrap()
            .accuracy
    };
    let (kept_adda, kept_aad) = (on_source(&adapted), on_source(&distilled));
    assert!(
        kept_aad >= 0.95 && kept_aad >= kept_adda,
        "source accuracy through the target encoder: aad {kept_aad}, adda {kept_adda}"
    );
    assert_eq!(aad.strategy, "aad");
    assert!(
        aad.history
            .iter()
            .all(|e| e.extra["distill_loss"].is_finite())
    );
    for r in [&dann, &cdan, &adda, &aad] {
        assert!(
            r.metrics.accuracy > b + 0.04,
            "{}: {} vs source-only {b}",
            r.strategy,
            r.metrics.accuracy
        );
        assert!(
            r.extra["source_accuracy"] > 0.9,
            "{}: {:?}",
            r.strategy,
            r.extra
        );
        let d: Vec<f64> = r
            .history
            .iter()
            .map(|e| e.extra["domain_accuracy"])
            .collect();
        assert!(d.iter().all(|a| (0.0..=1.0).contains(a)), "{d:?}");
        assert!(
            r.history
                .iter()
                .all(|e| e.extra.contains_key("target_accuracy"))
        );
    }
    assert_eq!(dann.strategy, "dann");
    assert_eq!(cdan.strategy, "cdan+e");
    // ADDA keeps the source head; only the (new) target encoder moved.
    assert_eq!(weights(&adapted.head), weights(&model.head));
    assert_ne!(weights(&adapted.encoder), weights(&model.encoder));
}

/// Source-only accuracy: the source model, trained as long again on the source alone.
fn tl_transductive_free_source_only(
    model: &Classifier<Sequential>,
    task: &TransferTask,
    device: &Device,
) -> (Classifier<Sequential>, f64) {
    let out = Trainer::new(quick(20))
        .fit(model.clone(), task.source.as_ref().unwrap(), None, device)
        .unwrap();
    let acc = tl_core::train::evaluate(
        &out.model,
        task.target_test.as_ref().unwrap(),
        device,
        EVAL_BATCH_SIZE,
    )
    .unwrap()
    .accuracy;
    (out.model, acc)
}

#[test]
fn the_judge_copy_of_adda_tracks_no_gradient() {
    let _s = serial();
    // ADDA's target-encoder loss runs through `discriminator.clone().no_grad()`: its gradient
    // must reach the features and leave the discriminator's parameters alone.
    let ad = dev().autodiff();
    ad.seed(0);
    let disc = DiscriminatorConfig::new()
        .with_hidden(vec![4])
        .init(3, &ad)
        .unwrap();
    let f = Tensor::<2>::from_data(
        TensorData::new(vec![0.1f32, 0.2, 0.3, -0.4, 0.5, 0.6], [2, 3]),
        &ad,
    )
    .require_grad();
    // Burn initialises parameters lazily, and clones made before that share the
    // initialisation (gradient setting included): use `disc` once first, as ADDA's step does
    // before it clones the judge, so that the judge is a copy and the check below means
    // something.
    let own = bce_with_logits(disc.forward(f.clone()), domain_labels(2, 0, &ad)).mean();
    let own = burn::optim::GradientsParams::from_grads(own.backward(), &disc);
    assert!(!own.is_empty(), "the discriminator itself tracks gradients");
    let judge = disc.clone().no_grad();
    let loss = bce_with_logits(judge.forward(f.clone()), domain_labels(2, 0, &ad)).mean();
    let grads = loss.backward();
    assert!(f.grad(&grads).is_some(), "the features get a gradient");
    let params = burn::optim::GradientsParams::from_grads(grads, &disc);
    assert_eq!(params.len(), 0, "the discriminator gets none");
    // `adda_losses` splits the game the same way: the discriminator's loss trains only the
    // discriminator (the features go in detached), the target encoder's only the features.
    // A fresh discriminator: `disc`'s lazily initialised parameters were made through the
    // judge above, and its clones share their initialisation (with its gradient setting).
    let disc = DiscriminatorConfig::new()
        .with_hidden(vec![4])
        .init(3, &ad)
        .unwrap();
    let (d_loss, _, _, _) = adda_losses(&disc, f.clone(), f.clone());
    let grads = d_loss.backward();
    assert!(
        f.grad(&grads).is_none(),
        "the features get no discriminator gradient"
    );
    let params = burn::optim::GradientsParams::from_grads(grads, &disc);
    assert!(
        !params.is_empty(),
        "the discriminator trains on its own loss"
    );
    let (_, g_loss, _, _) = adda_losses(&disc, f.clone(), f.clone());
    let grads = g_loss.backward();
    assert!(
        f.grad(&grads).is_some(),
        "the target features get a gradient"
    );
    let params = burn::optim::GradientsParams::from_grads(grads, &disc);
    assert_eq!(
        params.len(),
        0,
        "the judge copy passes none to the discriminator"
    );
    let _ = disc.valid();
}

#[test]
fn methods_refuse_missing_parts_and_bad_fields() {
    let _s = serial();
    let device = dev();
    let task = blob_task();
    let model = source_model(&task, &device);
    let no_target = TransferTask::new(2)
        .with_source(rotated_blobs(100, 0.0, 1).unwrap())
        .with_target_test(rotated_blobs(100, 80.0, 3).unwrap());
    for (name, err) in [
        (
            "dann",
            Dann::new()
                .fit(
                    Pretrained::classifier(model.clone()),
                    &no_target,
                    &mut ctx(&device, SEED),
                )
                .unwrap_err(),
        ),
        (
            "adda",
            Adda::new()
                .fit(
                    Pretrained::classifier(model.clone()),
                    &no_target,
                    &mut ctx(&device, SEED),
                )
                .unwrap_err(),
        ),
    ] {
        assert!(err.to_string().contains(name), "{err}");
    }
    // ADDA keeps the source head frozen: an encoder without one would score at chance.
    let err = Adda::new()
        .fit(
            Pretrained::encoder(model.encoder.clone()),
            &task,
            &mut ctx(&device, SEED),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("an encoder without a head"), "{err}");
    let cases = [
        (
            "max_lambda",
            Dann::new().with_max_lambda(-1.0).validate().unwrap_err(),
        ),
        ("gamma", Dann::new().with_gamma(0.0).validate().unwrap_err()),
        (
            "distill_weight",
            Adda::new()
                .with_distill_weight(f64::NAN)
                .validate()
                .unwrap_err(),
        ),
        (
            "temperature",
            Adda::aad().with_temperature(0.0).validate().unwrap_err(),
        ),
        (
            "discriminator.hidden",
            Dann::new()
                .with_discriminator(DiscriminatorConfig::new().with_hidden(vec![0]))
                .validate()
                .unwrap_err(),
        ),
        (
            "discriminator_lr_factor",
            Dann::new()
                .with_discriminator_lr_factor(0.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "early_stopping",
            Adda::new()
                .with_train(TrainConfig::new().with_early_stopping(Some(
                    tl_core::train::EarlyStopping {
                        patience: 1,
                        min_delta: 0.0,
                    },
                )))
                .validate()
                .unwrap_err(),
        ),
    ];
    for (field, err) in cases {
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}
