//! Behaviour of the cross-modal strategies on data the tests make or embed (no model files):
//! zero-shot is exact where prototypes equal image features, alignment learns the embedded
//! digits from captions of their names, and bad input is refused by name.

use burn::module::Module;
use burn::tensor::Device;
use serde_json::json;
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, Sequential, SequentialConfig};
use tl_core::strategy::{Pretrained, Registry, RunContext};
use tl_core::task::TransferTask;
use tl_core::train::evaluate;
use tl_crossmodal::{
    CaptionBatches, ClassPrompts, Clip, ClipModel, DIGIT_WORDS, Readout, TextSpace, TextVectors,
    digit_templates, recall_at,
};

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn digits() -> LabelledSet {
    let mut set = tl_data::digits().unwrap();
    set.class_names = DIGIT_WORDS.iter().map(|w| w.to_string()).collect();
    set
}

fn encoder(dev: &Device) -> Sequential {
    SequentialConfig::new(vec![1, 8, 8])
        .conv(16, 3, 1)
        .relu()
        .max_pool(2)
        .linear(64)
        .relu()
        .init(dev)
        .unwrap()
}

fn hashed() -> TextSpace {
    TextSpace::Hashed { dim: 128 }
}

#[test]
fn zero_shot_is_exact_when_prototypes_are_the_image_features() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    dev.seed(1);
    let set = digits();
    // One image per class; the class prototypes are these images' own features.
    let first: Vec<usize> = (0..10)
        .map(|c| set.labels.iter().position(|&l| l == c).unwrap())
        .collect();
    let ten = set.select(&first);
    let model = ClipModel::new(encoder(&dev), 32, 24, true, &dev).unwrap();
    let protos = model.embed_images(&ten.inputs, &dev, 64).unwrap();
    let head = model.zero_shot_head(&protos, &dev).unwrap();
    let classifier = Classifier::new(model.encoder.clone(), head).unwrap();
    let m = evaluate(&classifier, &ten, &dev, 64).unwrap();
    assert_eq!(m.accuracy, 1.0, "{:?}", m.confusion);
    // Retrieval in the same space: each image finds itself first.
    let r = recall_at(&protos, &protos, model.dim(), |q, k| q == k, &[1, 5]);
    assert_eq!(r, vec![1.0, 1.0]);
    // A head of the wrong width is refused.
    let err = model
        .zero_shot_head(&protos[..30], &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("whole number of 24-wide rows"), "{err}");
}

#[test]
fn aligning_digits_with_their_names_classifies_unlabelled_images() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let (train, test) = tl_data::split::stratified_split(&digits(), 0.5, 0).unwrap();
    let task = TransferTask::new(10)
        .with_source(train)
        .with_target_test(test);
    let mut registry = Registry::new();
    tl_crossmodal::register(&mut registry).unwrap();
    let settings = json!({
        "text": {"kind": "hashed", "dim": 128},
        "templates": digit_templates(),
        "dim": 32,
        "train": {"epochs": 8, "batch_size": 64, "lr": 0.002},
        "probe": {"train": {"epochs": 30}},
    });
    for (name, floor) in [
        ("clip", 0.85),
        ("clip-text-only", 0.8),
        ("clip-probe", 0.85),
    ] {
        let strategy = registry.create(name, &settings).unwrap();
        dev.seed(5);
        let mut ctx = RunContext::new(&dev).with_seed(3);
        let (_, report) = strategy
            .fit(Pretrained::encoder(encoder(&dev)), &task, &mut ctx)
            .unwrap();
        assert!(
            report.metrics.accuracy > floor,
            "{name}: {}",
            report.metrics.accuracy
        );
        // The loss fell, and the learned scale stayed within CLIP's clamp.
        let h = &report.history;
        assert!(
            h.last().unwrap().train_loss < 0.5 * h[0].train_loss,
            "{name}: {h:?}"
        );
        let scale = report.extra["logit_scale"];
        assert!(scale > 1.0 && scale <= 100.0 + 1e-3, "{scale}");
        assert_eq!(report.extra["prompts"], 60.0);
    }
}

#[test]
fn going_on_aligning_learns_new_pairs_without_starting_over() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let set = digits();
    let (low, high): (Vec<usize>, Vec<usize>) = (0..set.len()).partition(|&i| set.labels[i] < 5);
    let prompts = ClassPrompts::from_templates(&set.class_names, &digit_templates()).unwrap();
    let vectors = hashed().embed(&prompts.strs(), &dev).unwrap();
    let clip = Clip::new().with_text(hashed()).with_dim(32).with_train(
        tl_core::train::TrainConfig::new()
            .with_epochs(8)
            .with_batch_size(64)
            .with_lr(0.002),
    );
    // Top-1 over the ten names on the images of 5-9.
    let later = set.select(&high);
    let top1 = |m: &ClipModel<Sequential>| {
        let protos = m.class_prototypes(&prompts, &vectors, &dev).unwrap();
        let images = m.embed_images(&later.inputs, &dev, 256).unwrap();
        let d = m.dim();
        let right = images
            .chunks(d)
            .zip(&later.labels)
            .filter(|(image, label)| {
                let score = |c: usize| -> f32 {
                    image
                        .iter()
                        .zip(&protos[c * d..(c + 1) * d])
                        .map(|(a, b)| a * b)
                        .sum()
                };
                (0..10).max_by(|&a, &b| score(a).total_cmp(&score(b))) == Some(**label)
            })
            .count();
        right as f64 / later.len() as f64
    };
    dev.seed(5);
    let mut ctx = RunContext::new(&dev).with_seed(3);
    let (first, _) = clip
        .align(
            encoder(&dev),
            &set.select(&low),
            &prompts,
            &vectors,
            &mut ctx,
        )
        .unwrap();
    let before = top1(&first);
    // Going on with every digit's pairs: the new digits are learnt, from where the first
    // alignment stopped (its first epoch's loss well under a fresh start's).
    let (second, h2) = clip
        .align_from(first, &set, &prompts, &vectors, &mut ctx)
        .unwrap();
    let after = top1(&second);
    assert!(before < 0.3 && after > 0.7, "{before} -> {after}");
    // A fresh alignment on the same pairs, same seeds, starts far higher.
    dev.seed(5);
    let (_, fresh) = clip
        .align(encoder(&dev), &set, &prompts, &vectors, &mut ctx)
        .unwrap();
    assert!(
        h2[0].train_loss < 0.7 * fresh[0].train_loss,
        "going on {:?}, fresh {:?}",
        h2[0],
        fresh[0]
    );
    // Text vectors of another width than the aligned model takes.
    let narrow = TextSpace::Hashed { dim: 64 }
        .embed(&prompts.strs(), &dev)
        .unwrap();
    let err = clip
        .align_from(second, &set, &prompts, &narrow, &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("of width 64, the model takes 128"), "{err}");
}

#[test]
fn bad_input_is_refused_by_name() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let set = digits().select(&[0, 1, 2]);
    let names: Vec<String> = DIGIT_WORDS.iter().map(|w| w.to_string()).collect();
    let prompts = ClassPrompts::from_templates(&names, &["a {}".into()]).unwrap();
    // Captions and vectors of different counts.
    let short = TextVectors {
        dim: 4,
        values: vec![0.5; 4 * 9],
        cached: false,
    };
    let err = CaptionBatches::new(&set, &prompts, &short, 8, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("10 prompts but 9 text vectors"), "{err}");
    // An image whose class has no prompt.
    let few = ClassPrompts::from_templates(&names[..1], &["a {}".into()]).unwrap();
    let one = TextVectors {
        dim: 4,
        values: vec![0.5; 4],
        cached: false,
    };
    let err = CaptionBatches::new(&set, &few, &one, 8, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class 1 (`one`) has no prompt"), "{err}");
    // Text vectors of another width than the model's text projection.
    let model = ClipModel::new(encoder(&dev), 8, 16, true, &dev).unwrap();
    let err = model.embed_texts(&one, &dev).unwrap_err().to_string();
    assert!(err.contains("of width 4, the model takes 8"), "{err}");
    // A task with fewer class names than classes, and an empty class name.
    let clip = Clip::new()
        .with_text(hashed())
        .with_readout(Readout::ZeroShot);
    let mut task = TransferTask::new(10)
        .with_source(digits())
        .with_target_test(digits());
    task.num_classes = 12;
    let err = clip.class_names(&task).unwrap_err().to_string();
    assert!(
        err.contains("10 class names for a task of 12 classes"),
        "{err}"
    );
    let mut unnamed = digits();
    unnamed.class_names[3] = " ".into();
    let task = TransferTask::new(10)
        .with_source(unnamed.clone())
        .with_target_test(unnamed);
    let mut ctx = RunContext::new(&dev);
    let err = tl_core::strategy::Strategy::fit(
        &clip,
        Pretrained::encoder(encoder(&dev)),
        &task,
        &mut ctx,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("class 3 has no prompt"), "{err}");
    // Soft targets outside [0, 1], and a temperature of 0.
    for (bad, needle) in [
        (Clip::new().with_soft_targets(1.5), "soft_targets"),
        (Clip::new().with_soft_targets(-0.1), "soft_targets"),
        (
            Clip::new()
                .with_soft_targets(0.5)
                .with_soft_temperature(0.0),
            "soft_temperature",
        ),
    ] {
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // Images of another shape than the encoder takes.
    let wrong = Inputs::new(vec![1, 4, 4], vec![0.0; 32]).unwrap();
    let err = model.embed_images(&wrong, &dev, 8).unwrap_err().to_string();
    assert!(err.contains("[1, 4, 4]") || err.contains("shape"), "{err}");
    let _ = model.valid();
}

#[test]
fn a_sentence_encoder_is_cached_and_places_digit_names_apart() {
    let _seeded = tl_core::device::seed_lock();
    // Opt-in: needs all-MiniLM-L6-v2 under TL_MODEL_DIR.
    let Some(root) = tl_core::paths::model_dir() else {
        eprintln!("skipped: TL_MODEL_DIR is not set");
        return;
    };
    if !root.join("all-MiniLM-L6-v2").is_dir() {
        eprintln!("skipped: no all-MiniLM-L6-v2 under {}", root.display());
        return;
    }
    let dev = dev();
    let space = TextSpace::minilm();
    let texts = [
        "a handwritten digit seven",
        "the number seven",
        "a red apple",
    ];
    let first = space.embed(&texts, &dev).unwrap();
    let again = space.embed(&texts, &dev).unwrap();
    assert!(again.cached, "the second run embedded again");
    assert_eq!(first.values, again.values);
    assert_eq!(first.dim, 384);
    let dot = |a: usize, b: usize| -> f32 {
        first
            .row(a)
            .iter()
            .zip(first.row(b))
            .map(|(x, y)| x * y)
            .sum()
    };
    assert!(
        dot(0, 1) > dot(0, 2) + 0.2,
        "{} vs {}",
        dot(0, 1),
        dot(0, 2)
    );
}

#[test]
fn a_source_of_other_classes_aligns_on_its_own_names_and_the_task_is_read_from_its_names() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let all = digits();
    let keep = |classes: std::ops::Range<usize>| {
        tl_data::split::select_classes(&all, &classes.collect::<Vec<_>>()).unwrap()
    };
    // The source shows zero, one and two; the task is three against four, never shown.
    let (source, test) = (keep(0..3), keep(3..5));
    assert_eq!(source.class_names, ["zero", "one", "two"]);
    assert_eq!(test.class_names, ["three", "four"]);
    let task = TransferTask::new(2)
        .with_source(source)
        .with_target_test(test.clone());
    let train = tl_core::train::TrainConfig::new()
        .with_epochs(2)
        .with_batch_size(32);
    for readout in [Readout::ZeroShot, Readout::TextOnly] {
        dev.seed(2);
        let clip = Clip::new()
            .with_text(hashed())
            .with_readout(readout)
            .with_train(train.clone());
        let (model, report) = tl_core::strategy::Strategy::fit(
            &clip,
            Pretrained::encoder(encoder(&dev)),
            &task,
            &mut RunContext::new(&dev).with_seed(2),
        )
        .unwrap();
        // Read out for the task's two classes, from their prompts only.
        assert_eq!(tl_core::train::ClassifierModel::num_classes(&model), 2);
        let templates = Clip::new().templates.len() as f64;
        assert_eq!(report.extra["prompts"], 2.0 * templates, "{readout:?}");
        assert_eq!(report.metrics.confusion.total(), test.len());
    }
    // A probe on the source's images knows only the source's classes: refused by name.
    let probe = Clip::new()
        .with_text(hashed())
        .with_readout(Readout::Probe)
        .with_train(train);
    let err = tl_core::strategy::Strategy::fit(
        &probe,
        Pretrained::encoder(encoder(&dev)),
        &task,
        &mut RunContext::new(&dev),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("zero, one, two")
            && err.contains("three, four")
            && err.contains("clip-text-only"),
        "{err}"
    );
}
