//! The content/style model on the embedded digits with their quarter-turned copies as a
//! second style: the class in the content code, the rotation in the style code.

use tl_core::model::SequentialConfig;
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
use tl_data::shift::Shift;
use tl_disentangle::{ContentStyleModel, class_pairs, pair_set};

fn dev() -> burn::tensor::Device {
    tl_core::device::device("flex").unwrap()
}

/// A 64-128 MLP encoder for 8x8 digits, seeded.
fn encoder(dev: &burn::tensor::Device, seed: u64) -> tl_core::model::Sequential {
    dev.seed(seed);
    SequentialConfig::new(vec![1, 8, 8])
        .linear(128)
        .relu()
        .init(dev)
        .unwrap()
}

/// Upright digits (labelled source), their quarter-turned other half (10 labels per class,
/// the rest to test).
fn task() -> TransferTask {
    let digits = tl_data::digits().unwrap();
    let (upright, other) = tl_data::split::stratified_split(&digits, 0.5, 0).unwrap();
    let turned = Shift::Rotate { degrees: 90.0 }.apply(&other, 0).unwrap();
    let (labelled, test) = tl_data::split::k_per_class(&turned, 10, 0).unwrap();
    TransferTask::new(10)
        .with_source(upright)
        .with_target_labelled(labelled)
        .with_target_test(test)
}

#[test]
fn content_holds_the_class_and_style_the_rotation() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let task = task();
    let encoder = encoder(&dev, 0);
    let method = ContentStyleModel::new()
        .with_decoder_hidden(vec![128])
        .with_train(TrainConfig::new().with_epochs(15).with_lr(2e-3));
    let mut ctx = RunContext::new(&dev).with_seed(0);
    let (model, report) =
        Strategy::fit(&method, Pretrained::encoder(encoder), &task, &mut ctx).unwrap();
    let e = &report.extra;
    eprintln!(
        "turned-digit accuracy {:.2} %, domain from style {:.3}, from content {:.3}, class from style {:.3}",
        100.0 * report.metrics.accuracy,
        e["domain_from_style"],
        e["domain_from_content"],
        e["class_from_style"]
    );
    assert!(report.metrics.accuracy > 0.7, "{}", report.metrics.accuracy);
    assert!(e["domain_from_style"] > 0.95, "{e:?}");
    assert!(e["class_from_style"] < 0.4, "{e:?}");
    // The classifier reads the content code: backbone, content mean, probe.
    let test = task.target_test.as_ref().unwrap();
    let again = ctx.evaluate(&model, test).unwrap().accuracy;
    assert!((again - report.metrics.accuracy).abs() < 1e-9);
    // The content agreement and the swaps keep the rotation out of the content code (chance
    // 0.5; 0.49-0.63 over seeds 0-7 on one machine, 0.75 for seed 0 on another: the probe is
    // scored on 100 items), while the same model without them reads it at once (1.0 on every
    // seed).
    let encoder = self::encoder(&dev, 0);
    let without = ContentStyleModel::new()
        .with_decoder_hidden(vec![128])
        .with_align(0.0)
        .with_swap(0.0)
        .with_train(TrainConfig::new().with_epochs(15).with_lr(2e-3));
    let mut ctx = RunContext::new(&dev).with_seed(0);
    let (_, plain) =
        Strategy::fit(&without, Pretrained::encoder(encoder), &task, &mut ctx).unwrap();
    let p = &plain.extra;
    eprintln!(
        "without agreement and swaps: domain from content {:.3}",
        p["domain_from_content"]
    );
    assert!(p["domain_from_content"] > 0.95, "{p:?}");
    // 0.9: a margin of three standard errors of a 100-item probe above the 0.75 seen.
    assert!(e["domain_from_content"] < 0.9, "{e:?}");
}

#[test]
fn pairs_are_refused_when_they_do_not_match() {
    let _seeded = tl_core::device::seed_lock();
    let digits = tl_data::digits().unwrap();
    let small = tl_core::data::Inputs::new(vec![4], vec![0.0; 8]).unwrap();
    let err = pair_set(&digits.inputs, &small, "pairs")
        .unwrap_err()
        .to_string();
    assert!(err.contains("two sides"), "{err}");
    // A class with no partner is named.
    let only = tl_data::split::select_classes(&digits, &[0, 1]).unwrap();
    let other = tl_data::split::select_classes(&digits, &[0]).unwrap();
    let err = class_pairs(&only, &other, 1, 0).unwrap_err().to_string();
    assert!(err.contains("class 1"), "{err}");
    let err = ContentStyleModel::new()
        .with_style(0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("style 0"), "{err}");
    let err = ContentStyleModel::new()
        .with_swap(-1.0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("swap"), "{err}");
    let err = ContentStyleModel::new()
        .with_domain(f64::NAN)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("domain"), "{err}");
}

#[test]
fn the_domain_term_puts_the_domain_in_the_style_code() {
    let _seeded = tl_core::device::seed_lock();
    use burn::tensor::{Tensor, TensorData};
    use tl_disentangle::class_pairs_both_ways;
    let dev = dev();
    let digits = tl_data::digits().unwrap();
    let (upright, other) = tl_data::split::stratified_split(&digits, 0.5, 2).unwrap();
    let turned = Shift::Rotate { degrees: 90.0 }.apply(&other, 0).unwrap();
    let (train_up, test_up) = tl_data::split::stratified_split(&upright, 0.5, 2).unwrap();
    let (train_turned, test_turned) = tl_data::split::stratified_split(&turned, 0.5, 2).unwrap();
    let pairs = class_pairs_both_ways(&train_up, &train_turned, 1, 2).unwrap();
    let fit = |domain: f64| {
        let method = ContentStyleModel::new()
            .with_decoder_hidden(vec![128])
            .with_domain(domain)
            .with_train(TrainConfig::new().with_epochs(8).with_lr(2e-3).with_seed(2));
        let mut ctx = RunContext::new(&dev).with_seed(2);
        method
            .fit_pairs(encoder(&dev, 2), &pairs, &mut ctx)
            .unwrap()
    };
    // The head's sign on held-out items' style means: upright (first in every pair) below 0,
    // turned above.
    let head_accuracy = |model: &tl_disentangle::ContentStyle<tl_core::model::Sequential>| {
        let mut right = 0;
        for (set, want_positive) in [(&test_up, false), (&test_turned, true)] {
            let (_, styles) = model.codes_of(&set.inputs, &dev).unwrap();
            let width = styles[0].len();
            let x = Tensor::<2>::from_data(
                TensorData::new(styles.concat(), [styles.len(), width]),
                &dev,
            );
            let logits: Vec<f32> = model.domain_head.forward(x).into_data().iter().collect();
            right += logits
                .iter()
                .filter(|l| (**l > 0.0) == want_positive)
                .count();
        }
        right as f64 / (test_up.len() + test_turned.len()) as f64
    };
    let (model, history) = fit(10.0);
    let nll = |h: &[tl_core::report::EpochRecord], i: usize| h[i].extra["domain_nll"];
    let last = history.len() - 1;
    eprintln!(
        "domain term: nll {:.3} -> {:.3}, head accuracy {:.3}",
        nll(&history, 0),
        nll(&history, last),
        head_accuracy(&model)
    );
    assert!(nll(&history, last) < 0.5 * nll(&history, 0), "{history:?}");
    assert!(head_accuracy(&model) > 0.95);
    // Without it the term is not computed (nor the head trained).
    let (_, history) = fit(0.0);
    assert!(history.iter().all(|r| r.extra["domain_nll"] == 0.0));
}

#[test]
fn a_swapped_style_turns_the_drawing() {
    let _seeded = tl_core::device::seed_lock();
    use tl_disentangle::class_pairs_both_ways;
    let dev = dev();
    let digits = tl_data::digits().unwrap();
    let (upright, other) = tl_data::split::stratified_split(&digits, 0.5, 1).unwrap();
    let turned = Shift::Rotate { degrees: 90.0 }.apply(&other, 0).unwrap();
    let pairs = class_pairs_both_ways(&upright, &turned, 1, 1).unwrap();
    let encoder = encoder(&dev, 1);
    let method = ContentStyleModel::new()
        .with_decoder_hidden(vec![128])
        .with_train(
            TrainConfig::new()
                .with_epochs(15)
                .with_lr(2e-3)
                .with_seed(1),
        );
    let mut ctx = RunContext::new(&dev).with_seed(1);
    let (model, history) = method.fit_pairs(encoder, &pairs, &mut ctx).unwrap();
    assert!(
        history
            .last()
            .unwrap()
            .extra
            .contains_key("style_swap_reconstruction")
    );
    // Upright digits' content with a turned digit's style: drawn closer to the digits turned
    // than to the digits as they are.
    let n = 100;
    let items = upright.select(&(0..n).collect::<Vec<_>>());
    let turned_items = Shift::Rotate { degrees: 90.0 }.apply(&items, 0).unwrap();
    let (content, _) = model.codes_of(&items.inputs, &dev).unwrap();
    let (_, styles) = model.codes_of(&turned.inputs, &dev).unwrap();
    let drawn = model.draw(&content, &styles[..n], &dev).unwrap();
    let mse = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
    let (mut to_turned, mut to_upright) = (0.0, 0.0);
    for (i, d) in drawn.iter().enumerate() {
        to_turned += mse(d, turned_items.inputs.item(i));
        to_upright += mse(d, items.inputs.item(i));
    }
    eprintln!("distance to the turned digits {to_turned:.1}, to the upright ones {to_upright:.1}");
    assert!(to_turned < 0.7 * to_upright, "{to_turned} vs {to_upright}");
    // Codes of the wrong width are refused.
    assert!(model.draw(&content[..1], &[vec![0.0; 5]], &dev).is_err());
    assert!(model.draw(&content[..2], &styles[..1], &dev).is_err());
}

#[test]
fn retrieval_finds_the_same_index() {
    let _seeded = tl_core::device::seed_lock();
    use tl_disentangle::retrieval_top1;
    let gallery: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 0.0]).collect();
    let near: Vec<Vec<f32>> = gallery.iter().map(|g| vec![g[0] + 0.2, 0.1]).collect();
    assert_eq!(retrieval_top1(&near, &gallery).unwrap(), 1.0);
    let shifted: Vec<Vec<f32>> = gallery.iter().map(|g| vec![g[0] + 1.0, 0.0]).collect();
    // Each query sits on the next gallery code; only the last one's nearest is its own.
    assert_eq!(retrieval_top1(&shifted, &gallery).unwrap(), 0.1);
    assert!(retrieval_top1(&near[..3], &gallery).is_err());
    // Codes of another width are refused by name, not compared on their common part.
    let mut wide = gallery.clone();
    wide[4].push(1.0);
    let err = retrieval_top1(&near, &wide).unwrap_err().to_string();
    assert!(err.contains("gallery code 4 has 3 values"), "{err}");
}
