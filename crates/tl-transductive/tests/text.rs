//! The transductive methods on a text encoder's top layers: a tiny BERT (written by the test),
//! its lower layer's token states cached. Inputs that are token states with a length in front
//! take no input noise: self-ensembling refuses it by name and runs with dropout views.

#[path = "../../tl-text/tests/common/mod.rs"]
mod common;

use burn::module::Module;
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, head_config};
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
use tl_data::transform::RandomAffine;
use tl_text::{BertTop, SentenceEncoder};
use tl_transductive::SelfEnsembling;

#[test]
fn self_ensembling_refuses_input_noise_on_token_states_and_runs_without_it() {
    let _lock = tl_core::device::seed_lock();
    let dir = common::tiny_model("transductive-top", 0.1);
    let d = tl_core::device::device("flex").unwrap();
    let ad = d.clone().autodiff();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let set = |texts: &[&str], name: &str| {
        let inputs = enc.states_inputs(texts, 1, 8, &d, |_, _| {}).unwrap();
        let labels = (0..texts.len()).map(|i| i % 2).collect();
        LabelledSet::new(inputs, labels, vec!["bad".into(), "good".into()], name).unwrap()
    };
    let source = set(
        &[
            "book bad",
            "book good",
            "a bad book",
            "a good book",
            "bad",
            "good",
        ],
        "books",
    );
    let target = set(
        &["film bad", "film good", "a bad film", "a good film"],
        "films",
    );
    let task = TransferTask::new(2)
        .with_source(source)
        .with_target_unlabelled(target.unlabelled())
        .with_target_test(target);
    d.seed(1);
    let top = BertTop::from_bert(enc.model(), 1).unwrap().fork(&ad);
    assert!(!top.inputs_take_noise());
    let head = head_config(top.feature_dim(), &[], 2).init(&ad).unwrap();
    let model = Classifier::new(top, head).unwrap();
    let train = TrainConfig::new()
        .with_epochs(1)
        .with_batch_size(4)
        .with_lr(1e-3)
        .with_seed(0);
    let fit = |s: SelfEnsembling| {
        // One source item of each class held out.
        let s = s.with_source_valid_fraction(0.34);
        let mut ctx = RunContext::new(&ad).with_seed(0);
        Strategy::<BertTop>::fit(&s, Pretrained::classifier(model.clone()), &task, &mut ctx)
    };
    // The default augmentation's noise would move the length column and the states.
    let Err(err) = fit(SelfEnsembling::new().with_train(train.clone())) else {
        panic!("noise on token states is refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("augment.noise_std") && err.contains("token ids"),
        "{err}"
    );
    let quiet = RandomAffine {
        noise_std: 0.0,
        ..RandomAffine::default()
    };
    let query = |m: &Classifier<BertTop>| -> Vec<f32> {
        m.encoder.layers[0]
            .mha
            .query
            .weight
            .val()
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let start = query(&model);
    let (adapted, report) =
        fit(SelfEnsembling::new().with_train(train).with_augment(quiet)).unwrap();
    assert_eq!(report.strategy, "self-ensembling");
    assert_eq!(report.history.len(), 1);
    assert!(report.history[0].train_loss.is_finite());
    assert!((0.0..=1.0).contains(&report.metrics.accuracy));
    // The dropout views train the top layer: the returned teacher moved from the start.
    let moved = query(&adapted);
    assert_eq!(moved.len(), start.len());
    assert_ne!(moved, start, "the top layer trains");
}
