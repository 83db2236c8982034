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
    let dev = dev();
    let task = task();
    dev.seed(0);
    let encoder = SequentialConfig::new(vec![1, 8, 8])
        .linear(128)
        .relu()
        .init(&dev)
        .unwrap();
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
}

#[test]
fn pairs_are_refused_when_they_do_not_match() {
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
}
