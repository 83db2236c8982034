//! Opt-in checks of the real pretrained MNIST CNN: run when `TL_DATA_DIR` and
//! `TL_MODEL_DIR` are set (`.ci/run` sets both).

use tl_core::prelude::*;
use tl_data::transform::{frame_set, resize_set, resize_set_nearest};
use tl_data::{idx, libsvm};
use tl_models::arch::mnist_cnn_pretrained;

#[test]
fn real_data_mnist_cnn_scores_as_published() {
    let (Some(data), Some(models)) = (tl_core::paths::data_dir(), tl_core::paths::model_dir())
    else {
        eprintln!("TL_DATA_DIR / TL_MODEL_DIR not set: skipped");
        return;
    };
    let dev = device("flex").unwrap();
    let (model, report) =
        mnist_cnn_pretrained(&models.join("mnist-cnn/handwriting_model.pth"), &dev).unwrap();
    assert_eq!(report.applied.len(), 10, "{report:?}");
    assert!(
        report.unused.is_empty() && report.fresh.is_empty(),
        "{report:?}"
    );

    let (_, mnist_test) = idx::mnist(&data.join("mnist")).unwrap();
    let acc = evaluate(&model, &mnist_test, &dev, 500).unwrap().accuracy;
    eprintln!("MNIST test: {:.2} %", 100.0 * acc);
    assert!(acc >= 0.990, "MNIST test accuracy {acc}");

    let (_, usps_test) = libsvm::usps(&data.join("usps")).unwrap();
    let nearest = evaluate(
        &model,
        &resize_set_nearest(&usps_test, 28, 28).unwrap(),
        &dev,
        500,
    )
    .unwrap();
    let bilinear = evaluate(&model, &resize_set(&usps_test, 28, 28).unwrap(), &dev, 500).unwrap();
    let framed = evaluate(&model, &frame_set(&usps_test, 20, 28).unwrap(), &dev, 500).unwrap();
    eprintln!(
        "USPS test: nearest 16->28 {:.2} %, bilinear 16->28 {:.2} %, bilinear 16->20 + 4 px pad {:.2} %",
        100.0 * nearest.accuracy,
        100.0 * bilinear.accuracy,
        100.0 * framed.accuracy
    );
    // ../shared/models/README.md and ../shared/data/README.md: 82.16 %, 83.8 %, 92.6 %
    assert!(
        (nearest.accuracy - 0.8216).abs() < 0.005,
        "nearest {}",
        nearest.accuracy
    );
    assert!(
        (bilinear.accuracy - 0.838).abs() < 0.01,
        "bilinear {}",
        bilinear.accuracy
    );
    assert!(
        (framed.accuracy - 0.926).abs() < 0.01,
        "framed {}",
        framed.accuracy
    );
}
