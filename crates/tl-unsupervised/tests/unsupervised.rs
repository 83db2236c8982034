//! tl-unsupervised's contract: NT-Xent, reconstruction objectives, views, k-means, the
//! few-label step, and refusals.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_core::CoreError;
use tl_core::data::{Inputs, LabelledSet, UnlabelledSet};
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::strategy::{RunContext, Strategy};
use tl_core::train::TrainConfig;
use tl_unsupervised::*;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn tensor(rows: &[&[f32]], device: &Device) -> Tensor<2> {
    let d = rows[0].len();
    let values: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), d]), device)
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_data().iter::<f32>().next().unwrap()
}

/// 8x8 images of two kinds: a horizontal or a vertical bar at a random place, with faint
/// noise. Class 0 = horizontal.
fn bars(n: usize, seed: u64) -> LabelledSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        let at = rng.random_range(1..7);
        let len = rng.random_range(4..8usize);
        let start = rng.random_range(0..=8 - len);
        let mut img = vec![0.0f32; 64];
        for k in start..start + len {
            let (y, x) = if class == 0 { (at, k) } else { (k, at) };
            img[y * 8 + x] = 1.0;
        }
        for v in &mut img {
            *v = (*v + rng.random_range(0.0..0.1f32)).min(1.0);
        }
        values.extend(img);
        labels.push(class);
    }
    LabelledSet::new(
        Inputs::new(vec![1, 8, 8], values).unwrap(),
        labels,
        vec!["horizontal".into(), "vertical".into()],
        "bars",
    )
    .unwrap()
}

fn mlp_encoder(device: &Device) -> Sequential {
    SequentialConfig::new(vec![1, 8, 8])
        .linear(32)
        .relu()
        .linear(16)
        .init(device)
        .unwrap()
}

#[test]
fn nt_xent_is_smallest_when_the_views_coincide_and_the_others_differ() {
    let device = dev();
    let (e0, e1, e2) = ([1.0f32, 0.0, 0.0], [0.0f32, 1.0, 0.0], [0.0f32, 0.0, 1.0]);
    let z = tensor(&[&e0, &e1, &e2], &device);
    let t = 0.5;
    let same = scalar(nt_xent(z.clone(), z.clone(), t));
    // Closed form: partner similarity 1/t, the other 4 candidates 0.
    let expected = -((1.0f32 / t).exp() / ((1.0f32 / t).exp() + 4.0)).ln();
    assert!((same - expected).abs() < 1e-4, "{same} vs {expected}");
    // Views that disagree, or negatives that look alike, cost more.
    let swapped = tensor(&[&e1, &e0, &e2], &device);
    let noisy = tensor(
        &[&[1.0, 0.3, 0.0], &[0.0, 1.0, 0.3], &[0.3, 0.0, 1.0]],
        &device,
    );
    let alike = tensor(&[&e0, &e0, &e2], &device);
    for (name, z2) in [("swapped", swapped), ("noisy", noisy)] {
        let l = scalar(nt_xent(z.clone(), z2, t));
        assert!(l > same + 0.05, "{name}: {l} vs {same}");
    }
    let l = scalar(nt_xent(alike.clone(), alike, t));
    assert!(l > same + 0.05, "alike negatives: {l} vs {same}");
    // Scale does not matter (rows are normalised).
    let scaled = scalar(nt_xent(z.clone() * 3.0, z.clone(), t));
    assert!((scaled - same).abs() < 1e-4);
}

#[test]
fn the_autoencoders_reconstruction_error_falls() {
    let _s = serial();
    let device = dev();
    let data = bars(128, 1).unlabelled();
    let train = TrainConfig::new()
        .with_epochs(15)
        .with_batch_size(32)
        .with_lr(3e-3);
    device.seed(0);
    let dae = DenoisingAutoencoder::new()
        .with_train(train.clone())
        .with_decoder_hidden(vec![32]);
    let (encoder, history) = dae
        .pretrain(mlp_encoder(&device), &data, &mut RunContext::new(&device))
        .unwrap();
    let first = history[0].train_loss;
    let last = history.last().unwrap().train_loss;
    assert!(last < first * 0.7, "denoising loss {first} -> {last}");
    assert_eq!(Strategy::<Sequential>::name(&dae), "denoising-ae");
    assert_eq!(history.len(), 15);
    assert_eq!(
        tl_core::model::count_params(&encoder).total,
        tl_core::model::count_params(&mlp_encoder(&device)).total,
        "the decoder is dropped"
    );
    assert_eq!(encoder.feature_dim(), 16, "the decoder is dropped");

    device.seed(0);
    let mae = MaskedAutoencoder::new()
        .with_train(train)
        .with_patch(2)
        .with_decoder_hidden(vec![32]);
    let (_, history) = mae
        .pretrain(mlp_encoder(&device), &data, &mut RunContext::new(&device))
        .unwrap();
    let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
    assert!(last < first * 0.8, "masked loss {first} -> {last}");
}

#[test]
fn masks_hide_whole_patches_at_the_asked_ratio() {
    let mae = MaskedAutoencoder::new().with_patch(2).with_mask_ratio(0.25);
    let masks = mae.masks(3, [2, 4, 6], 9).unwrap();
    assert!(mae.masks(3, [2, 0, 6], 9).is_err());
    assert!(mae.clone().with_patch(0).masks(3, [2, 4, 6], 9).is_err());
    assert_eq!(masks.len(), 3 * 48);
    for item in masks.chunks(48) {
        // 6 patches of 2x2 per channel; a quarter of them (round(1.5) = 2) hidden.
        let hidden: f32 = item.iter().sum();
        assert_eq!(hidden, 2.0 * 2.0 * 4.0, "2 patches x 4 pixels x 2 channels");
        assert_eq!(&item[..24], &item[24..], "both channels share the mask");
        for py in 0..2 {
            for px in 0..3 {
                let p = item[py * 12 + px * 2];
                for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                    assert_eq!(item[(py * 2 + dy) * 6 + px * 2 + dx], p, "whole patches");
                }
            }
        }
    }
    assert_eq!(masks, mae.masks(3, [2, 4, 6], 9).unwrap());
    assert_ne!(masks, mae.masks(3, [2, 4, 6], 10).unwrap());
}

#[test]
fn views_are_seeded_in_range_and_the_identity_view_is_the_image() {
    let set = bars(4, 2);
    let aug = ViewAugment::new();
    let a = aug.views(&set.inputs, &[0, 1, 2], 5).unwrap();
    assert_eq!(a.len(), 3 * 64);
    assert_eq!(a, aug.views(&set.inputs, &[0, 1, 2], 5).unwrap());
    assert_ne!(a, aug.views(&set.inputs, &[0, 1, 2], 6).unwrap());
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    let identity = ViewAugment::new()
        .with_min_area(1.0)
        .with_max_aspect(1.0)
        .with_max_degrees(0.0)
        .with_noise_std(0.0);
    let same = identity.views(&set.inputs, &[3], 1).unwrap();
    for (x, y) in same.iter().zip(set.inputs.item(3)) {
        assert!((x - y).abs() < 1e-5);
    }
    let flat = Inputs::new(vec![64], vec![0.0; 64]).unwrap();
    assert!(aug.views(&flat, &[0], 0).is_err(), "vectors are not images");
    assert!(
        aug.views(&set.inputs, &[set.len()], 0).is_err(),
        "no such item"
    );
    assert!(
        aug.clone()
            .with_min_area(2.0)
            .views(&set.inputs, &[0], 0)
            .is_err(),
        "an area share above 1"
    );
}

#[test]
fn augmented_batches_are_seeded_views_of_every_item_with_its_label() {
    use tl_core::train::{BatchSource, StepAt};
    let device = dev();
    let set = bars(10, 3);
    let at = |step: usize| StepAt {
        epoch: 1,
        step,
        global: step,
        total: 3,
    };
    let rows = |b: &tl_core::data::Batch| -> (Vec<f32>, Vec<i64>) {
        (
            b.inputs.clone().into_data().iter::<f32>().collect(),
            b.labels.clone().into_data().iter::<i64>().collect(),
        )
    };
    // The identity view: each batch row is one of the set's items, with that item's label,
    // and an epoch holds every item once.
    let identity_view = || {
        ViewAugment::new()
            .with_min_area(1.0)
            .with_max_aspect(1.0)
            .with_max_degrees(0.0)
            .with_noise_std(0.0)
    };
    let mut plain = AugmentedBatches::new(&set, identity_view(), 4, 7).unwrap();
    assert_eq!(plain.steps_per_epoch(), 3);
    plain.check(Some(&[1, 8, 8]), Some(2)).unwrap();
    assert!(
        plain.check(Some(&[1, 4, 4]), Some(2)).is_err(),
        "another shape"
    );
    plain.start_epoch();
    let mut found = vec![0usize; set.len()];
    for step in 0..3 {
        let (values, labels) = rows(&plain.batch(at(step), &device));
        for (row, label) in values.chunks(64).zip(&labels) {
            let i = (0..set.len())
                .find(|&i| {
                    row.iter()
                        .zip(set.inputs.item(i))
                        .all(|(a, b)| (a - b).abs() < 1e-5)
                })
                .expect("an identity view is an item of the set");
            assert_eq!(*label, set.labels[i] as i64, "item {i} keeps its label");
            found[i] += 1;
        }
    }
    assert_eq!(found, vec![1; set.len()], "every item once per epoch");
    // Random views: the same seed draws the same batches, another step other views, and the
    // views are not the items.
    let views = |seed: u64| {
        let mut b = AugmentedBatches::new(&set, ViewAugment::new(), 4, seed).unwrap();
        b.start_epoch();
        (0..3)
            .map(|s| rows(&b.batch(at(s), &device)))
            .collect::<Vec<_>>()
    };
    let labels = |batches: &[(Vec<f32>, Vec<i64>)]| -> Vec<i64> {
        batches.iter().flat_map(|b| b.1.clone()).collect()
    };
    let mut again = AugmentedBatches::new(&set, identity_view(), 4, 7).unwrap();
    again.start_epoch();
    let plain_labels: Vec<i64> = (0..3)
        .flat_map(|s| rows(&again.batch(at(s), &device)).1)
        .collect();
    let (a, b) = (views(7), views(7));
    assert_eq!(a, b, "seeded");
    assert_eq!(
        labels(&a),
        plain_labels,
        "the views keep their items' labels"
    );
    assert_ne!(a, views(8));
    // The same items drawn at another step are other views.
    let mut b2 = AugmentedBatches::new(&set, ViewAugment::new(), 4, 7).unwrap();
    b2.start_epoch();
    let later = StepAt { global: 5, ..at(0) };
    assert_ne!(
        rows(&b2.batch(later, &device)).0,
        a[0].0,
        "another step, other views"
    );
    // Skipping an epoch (a resumed run) leaves the source where training through it would.
    let second_epoch = |skip: bool| {
        let mut b = AugmentedBatches::new(&set, ViewAugment::new(), 4, 7).unwrap();
        if skip {
            b.skip_epoch(1, 6, &device);
        } else {
            b.start_epoch();
            for s in 0..3 {
                drop(b.batch(at(s), &device));
            }
        }
        b.start_epoch();
        rows(&b.batch(
            StepAt {
                epoch: 2,
                step: 0,
                global: 3,
                total: 6,
            },
            &device,
        ))
    };
    assert_eq!(second_epoch(true), second_epoch(false));
    let a: Vec<Vec<f32>> = a.into_iter().map(|b| b.0).collect();
    assert!(
        a[0].chunks(64).all(|row| (0..set.len()).all(|i| row
            .iter()
            .zip(set.inputs.item(i))
            .any(|(x, y)| (x - y).abs() > 1e-3))),
        "a random view is not the plain image"
    );
    // Bad input refused by name.
    let flat = LabelledSet::new(
        Inputs::new(vec![64], set.inputs.values.clone()).unwrap(),
        set.labels.clone(),
        set.class_names.clone(),
        "flat",
    )
    .unwrap();
    let err = AugmentedBatches::new(&flat, ViewAugment::new(), 4, 0).unwrap_err();
    assert!(err.to_string().contains("[c, h, w]"), "{err}");
    let err = AugmentedBatches::new(&set, ViewAugment::new().with_min_area(2.0), 4, 0).unwrap_err();
    assert!(err.to_string().contains("min_area"), "{err}");
}

#[test]
fn colour_jitter_and_blur_change_colour_and_sharpness_but_not_grey_or_flat_images() {
    // No warp and no noise: only the colour jitter and the blur act.
    let still = ViewAugment::new()
        .with_min_area(1.0)
        .with_max_aspect(1.0)
        .with_max_degrees(0.0)
        .with_noise_std(0.0);
    let (h, w) = (9, 9);
    // A grey image and a saturated red one, 3 channels.
    let grey = vec![0.5f32; 3 * h * w];
    let mut red = vec![0.0f32; 3 * h * w];
    red[..h * w].iter_mut().for_each(|v| *v = 0.8);
    let images = Inputs::new(vec![3, h, w], [grey.clone(), red.clone()].concat()).unwrap();
    let bright = still.clone().with_brightness(0.5);
    let levels: Vec<f32> = (0..8)
        .map(|seed| bright.views(&images, &[0], seed).unwrap()[0])
        .collect();
    assert!(levels.iter().all(|v| (0.25..=0.75).contains(v)));
    assert!(
        levels.iter().any(|v| (v - 0.5).abs() > 0.05),
        "brightness moves a grey level: {levels:?}"
    );
    let saturate = still.clone().with_saturation(0.9).with_contrast(0.9);
    for seed in 0..4 {
        let g = saturate.views(&images, &[0], seed).unwrap();
        assert!(
            g.iter().all(|v| (v - 0.5).abs() < 1e-5),
            "a flat grey image has no contrast nor colour to change"
        );
    }
    let reds: Vec<f32> = (0..8)
        .map(|seed| {
            let v = still
                .clone()
                .with_saturation(0.9)
                .views(&images, &[1], seed)
                .unwrap();
            v[h * w] // the green channel of the first pixel
        })
        .collect();
    assert!(
        reds.iter().any(|&g| g > 0.05),
        "less saturation brings a red pixel's green up: {reds:?}"
    );
    // One bright pixel in the middle: a blur spreads it and keeps its mass.
    let mut dot = vec![0.0f32; h * w];
    dot[4 * w + 4] = 1.0;
    let dots = Inputs::new(vec![1, h, w], dot).unwrap();
    let blur = still.clone().with_blur_sigma(2.0);
    let blurred: Vec<Vec<f32>> = (0..16)
        .map(|seed| blur.views(&dots, &[0], seed).unwrap())
        .collect();
    let spread: Vec<&Vec<f32>> = blurred.iter().filter(|v| v[4 * w + 4] < 0.9).collect();
    assert!(
        !spread.is_empty() && spread.len() < 16,
        "half of the views are blurred"
    );
    for v in spread {
        let mass: f32 = v.iter().sum();
        assert!((mass - 1.0).abs() < 0.02, "mass kept: {mass}");
        assert!(v[4 * w + 5] > 0.0 && v[3 * w + 4] > 0.0);
    }
    for bad in [
        still.clone().with_brightness(1.5),
        still.clone().with_contrast(-0.1),
        still.clone().with_saturation(f32::NAN),
        still.clone().with_blur_sigma(100.0),
    ] {
        let err = bad.views(&images, &[0], 0).unwrap_err().to_string();
        assert!(err.contains("augment."), "{err}");
    }
}

#[test]
fn simclr_learns_to_match_the_views_of_an_image() {
    let _s = serial();
    let device = dev();
    let data = bars(256, 3).unlabelled();
    device.seed(1);
    let simclr = SimClr::new()
        .with_train(
            TrainConfig::new()
                .with_epochs(20)
                .with_batch_size(64)
                .with_lr(3e-3)
                .with_seed(1),
        )
        .with_temperature(0.2)
        .with_projection_hidden(32)
        .with_projection_dim(16);
    let mut ctx = RunContext::new(&device).with_seed(1);
    let (encoder, history) = simclr
        .pretrain(mlp_encoder(&device), &data, &mut ctx)
        .unwrap();
    // Chance for 128 views: each must find its partner among 127, ln(127) = 4.84.
    let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
    assert!(first > 3.0, "first epoch {first}");
    assert!(last < first * 0.75, "NT-Xent {first} -> {last}");
    assert_eq!(Strategy::<Sequential>::name(&simclr), "simclr");
    assert_eq!(encoder.feature_dim(), 16, "the projection head is dropped");
}

#[test]
fn kmeans_recovers_well_separated_blobs_exactly() {
    let mut rng = StdRng::seed_from_u64(4);
    let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let c = (i * 7) % 4;
        rows.push(centres[c][0] + rng.random_range(-1.0..1.0f32));
        rows.push(centres[c][1] + rng.random_range(-1.0..1.0f32));
        labels.push(c);
    }
    let c = KMeans::new(4)
        .with_seed(3)
        .fit(&Inputs::new(vec![2], rows.clone()).unwrap())
        .unwrap();
    assert_eq!(purity(&c.assignments, &labels).unwrap(), 1.0);
    assert!((nmi(&c.assignments, &labels).unwrap() - 1.0).abs() < 1e-12);
    // Each cluster is exactly one blob.
    for k in 0..4 {
        let members: Vec<usize> = (0..200).filter(|&i| c.assignments[i] == k).collect();
        assert!(members.iter().all(|&i| labels[i] == labels[members[0]]));
    }
    // Uniform noise in [-1, 1]^2 leaves 2/3 per point around the true centres.
    assert!(c.inertia < 200.0 * 2.0 / 3.0 * 1.2, "inertia {}", c.inertia);
}

#[test]
fn purity_and_nmi_match_their_definitions() {
    let a = [0, 0, 1, 1, 2, 2, 2, 0];
    let l = [1, 1, 0, 0, 0, 2, 2, 1];
    // scikit-learn's normalized_mutual_info_score(l, a) (arithmetic mean).
    assert!((nmi(&a, &l).unwrap() - 0.779_436_519_108_516_2).abs() < 1e-12);
    assert_eq!(purity(&a, &l).unwrap(), 7.0 / 8.0);
    assert!(purity(&[0, 1], &[0]).is_err());
    assert!(nmi(&[], &[]).is_err());
    assert_eq!(
        nmi(&[0, 0, 0, 0], &[0, 1, 0, 1]).unwrap(),
        0.0,
        "one cluster says nothing"
    );
    assert!(
        nmi(&[0, 1, 0, 1], &[1, 0, 1, 0]).unwrap() > 0.999_999,
        "names do not matter"
    );
}

#[test]
fn few_labels_runs_the_probe_and_fine_tuning_on_k_per_class() {
    let _s = serial();
    let device = dev();
    let pool = bars(60, 5);
    let test = bars(40, 6);
    let few = FewLabels::new()
        .with_shots(vec![1, 5])
        .with_probe(Some(
            tl_inductive::LinearProbe::new()
                .with_train(TrainConfig::new().with_epochs(30).with_lr(1e-2)),
        ))
        .with_fine_tune(Some(
            tl_inductive::FullFineTune::new().with_train(TrainConfig::new().with_epochs(5)),
        ));
    device.seed(0);
    let runs = few
        .run(
            &mlp_encoder(&device),
            &pool,
            &test,
            &mut RunContext::new(&device).with_seed(7),
        )
        .unwrap();
    let got: Vec<(usize, &str)> = runs
        .iter()
        .map(|r| (r.shots, r.report.strategy.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "linear-probe"),
            (1, "full-fine-tune"),
            (5, "linear-probe"),
            (5, "full-fine-tune")
        ]
    );
    for r in &runs {
        assert_eq!(
            r.report.metrics.confusion.total(),
            40,
            "scored on the test set"
        );
        assert_eq!(r.report.seed, 7);
    }
    // The probe trains only the head: 16 * 2 + 2.
    assert_eq!(runs[0].report.params.trainable, 34);
}

#[test]
fn bad_configs_and_inputs_are_refused_by_name() {
    let _s = serial();
    let device = dev();
    let data = bars(8, 1).unlabelled();
    let cases: Vec<(&str, CoreError)> = vec![
        (
            "noise_std",
            DenoisingAutoencoder::new()
                .with_noise_std(0.0)
                .with_drop_prob(0.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "drop_prob",
            DenoisingAutoencoder::new()
                .with_drop_prob(1.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "decoder_hidden",
            DenoisingAutoencoder::new()
                .with_decoder_hidden(vec![0])
                .validate()
                .unwrap_err(),
        ),
        (
            "patch",
            MaskedAutoencoder::new()
                .with_patch(0)
                .validate()
                .unwrap_err(),
        ),
        (
            "mask_ratio",
            MaskedAutoencoder::new()
                .with_mask_ratio(1.0)
                .validate()
                .unwrap_err(),
        ),
        (
            "temperature",
            SimClr::new().with_temperature(0.0).validate().unwrap_err(),
        ),
        (
            "augment.min_area",
            SimClr::new()
                .with_augment(ViewAugment::new().with_min_area(0.0))
                .validate()
                .unwrap_err(),
        ),
        (
            "batch_size",
            SimClr::new()
                .with_train(TrainConfig::new().with_batch_size(1))
                .validate()
                .unwrap_err(),
        ),
        ("k", KMeans::new(0).validate().unwrap_err()),
        // The probe after pretraining is checked before it, not after.
        (
            "probe",
            DenoisingAutoencoder::new()
                .with_probe(tl_inductive::LinearProbe::new().with_head_hidden(vec![0]))
                .validate()
                .unwrap_err(),
        ),
        (
            "probe",
            SimClr::new()
                .with_probe(
                    tl_inductive::LinearProbe::new().with_train(TrainConfig::new().with_lr(2.0)),
                )
                .validate()
                .unwrap_err(),
        ),
        (
            "train.early_stopping",
            MaskedAutoencoder::new()
                .with_train(TrainConfig::new().with_early_stopping(Some(
                    tl_core::train::EarlyStopping {
                        patience: 2,
                        min_delta: 0.0,
                    },
                )))
                .validate()
                .unwrap_err(),
        ),
        (
            "shots",
            FewLabels::new().with_shots(vec![0]).validate().unwrap_err(),
        ),
    ];
    for (field, err) in cases {
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    // An encoder for other items.
    let wrong = SequentialConfig::new(vec![1, 4, 4])
        .linear(4)
        .init(&device)
        .unwrap();
    let err = DenoisingAutoencoder::new()
        .pretrain(wrong, &data, &mut RunContext::new(&device))
        .unwrap_err();
    assert!(err.to_string().contains("[1, 8, 8]"), "{err}");
    // Clamping to [0, 1] is for pixels: other items are refused unless it is off.
    let signed =
        UnlabelledSet::new(Inputs::new(vec![64], vec![-0.5; 128]).unwrap(), "vectors").unwrap();
    let enc = || {
        SequentialConfig::new(vec![64])
            .linear(4)
            .init(&device)
            .unwrap()
    };
    let err = DenoisingAutoencoder::new()
        .pretrain(enc(), &signed, &mut RunContext::new(&device))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vectors") && err.contains("clamp_unit = false"),
        "{err}"
    );
    assert!(
        DenoisingAutoencoder::new()
            .with_clamp_unit(false)
            .with_train(TrainConfig::new().with_epochs(1).with_batch_size(2))
            .pretrain(enc(), &signed, &mut RunContext::new(&device))
            .is_ok()
    );
    // Patches need images.
    let flat = UnlabelledSet::new(Inputs::new(vec![64], vec![0.5; 128]).unwrap(), "flat").unwrap();
    let enc = SequentialConfig::new(vec![64])
        .linear(4)
        .init(&device)
        .unwrap();
    let err = MaskedAutoencoder::new()
        .pretrain(enc, &flat, &mut RunContext::new(&device))
        .unwrap_err();
    assert!(err.to_string().contains("[c, h, w]"), "{err}");
    // More clusters than rows; non-finite rows.
    let two = Inputs::new(vec![1], vec![0.0, 1.0]).unwrap();
    assert!(KMeans::new(3).fit(&two).is_err());
    assert!(
        KMeans::new(1)
            .fit(&Inputs {
                item_shape: vec![1],
                values: vec![0.0, f32::NAN],
            })
            .unwrap_err()
            .to_string()
            .contains("row 1")
    );
}

#[test]
fn without_pretraining_an_objective_is_its_probe_on_the_encoder_as_given() {
    use tl_core::strategy::Pretrained;
    use tl_core::task::{TaskPart, TransferTask};
    let _s = serial();
    let device = dev();
    device.seed(3);
    let encoder = mlp_encoder(&device);
    let probe = tl_inductive::LinearProbe::new()
        .with_train(TrainConfig::new().with_epochs(20).with_lr(1e-2));
    let simclr = SimClr::new().with_probe(probe.clone()).with_pretrain(false);
    // Only the labelled parts: the objective asks for no unlabelled images.
    assert_eq!(
        Strategy::<Sequential>::needs(&simclr),
        &[TaskPart::TargetLabelled, TaskPart::TargetTest]
    );
    assert!(Strategy::<Sequential>::needs(&SimClr::new()).contains(&TaskPart::TargetUnlabelled));
    let task = TransferTask::new(2)
        .with_target_labelled(bars(20, 1))
        .with_target_test(bars(40, 2));
    let (model, report) = simclr
        .fit(
            Pretrained::encoder(encoder.clone()),
            &task,
            &mut RunContext::new(&device).with_seed(4),
        )
        .unwrap();
    assert_eq!(report.strategy, "simclr");
    assert_eq!(report.config["pretrain"], serde_json::json!(false));
    assert!(!report.extra.contains_key("pretrain_seconds"));
    // The encoder is the one given (a frozen probe), and the result is the probe's.
    let x = tensor(&[&[0.5; 64]], &device);
    let before = encoder.forward(x.clone());
    let after = model.encoder.forward(x);
    assert!(
        before.sub(after).abs().max().into_scalar::<f32>() < 1e-6,
        "the encoder did not change"
    );
    let (_, alone) = probe
        .fit(
            Pretrained::encoder(encoder),
            &task,
            &mut RunContext::new(&device).with_seed(4),
        )
        .unwrap();
    assert_eq!(report.metrics.accuracy, alone.metrics.accuracy);
}
