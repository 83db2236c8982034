//! The adversarial methods on a text encoder's top layers: a tiny BERT (written by the test),
//! its lower layer's token states cached, the top layer adapted by DANN and AAD through the
//! strategy contract, and the adapted layer put back into a whole model that reads token ids.

#[path = "../../tl-text/tests/common/mod.rs"]
mod common;

use burn::module::Module;
use burn::tensor::Tensor;
use tl_adversarial::{Adda, Dann, DiscriminatorConfig};
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, head_config};
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{TrainConfig, Trainer, evaluate};
use tl_text::{BertTop, SentenceEncoder};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Reviews of one kind of thing: `starts` + a sentiment word (negatives first).
fn reviews(starts: &[&str]) -> (Vec<String>, Vec<usize>) {
    let pos = ["good", "great", "love", "fine"];
    let neg = ["bad", "awful", "hate", "poor"];
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for s in starts {
        for (label, words) in [neg, pos].iter().enumerate() {
            for w in words {
                texts.push(format!("{s} {w}"));
                labels.push(label);
            }
        }
    }
    (texts, labels)
}

#[test]
fn dann_and_aad_adapt_the_top_layer_of_a_bert_from_cached_states() {
    let _seeded = tl_core::device::seed_lock();
    let dir = common::tiny_model("adversarial-top", 0.0);
    let d = tl_core::device::device("flex").unwrap();
    let ad = d.clone().autodiff();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let set = |starts: &[&str], name: &str| {
        let (texts, labels) = reviews(starts);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let inputs = enc.states_inputs(&refs, 1, 8, &d, |_, _| {}).unwrap();
        LabelledSet::new(
            inputs,
            labels,
            vec!["negative".into(), "positive".into()],
            name,
        )
        .unwrap()
    };
    let source = set(
        &["the book was", "a book", "the book was very", "it was"],
        "books",
    );
    let target = set(
        &["the film was", "a film", "the films", "it was very"],
        "films",
    );
    let task = TransferTask::new(2)
        .with_source(source.clone())
        .with_target_unlabelled(target.unlabelled())
        .with_target_test(target);
    d.seed(1);
    let top = BertTop::from_bert(enc.model(), 1).unwrap().fork(&ad);
    let head = head_config(top.feature_dim(), &[], 2).init(&ad).unwrap();
    let train = TrainConfig::new()
        .with_epochs(30)
        .with_batch_size(8)
        .with_lr(0.01)
        .with_seed(0);
    let model = Trainer::new(train)
        .fit(Classifier::new(top, head).unwrap(), &source, None, &ad)
        .unwrap()
        .model;
    assert!(evaluate(&model, &source, &d, 64).unwrap().accuracy >= 0.9);
    let start = values(model.encoder.layers[0].mha.query.weight.val());
    let quick = TrainConfig::new()
        .with_epochs(3)
        .with_batch_size(8)
        .with_lr(1e-3)
        .with_seed(0);
    let small = DiscriminatorConfig::new().with_hidden(vec![8]);
    let runs: [(Box<dyn Strategy<BertTop>>, &str); 2] = [
        (
            Box::new(
                Dann::new()
                    .with_train(quick.clone())
                    .with_discriminator(small.clone()),
            ),
            "dann",
        ),
        (
            Box::new(Adda::aad().with_train(quick).with_discriminator(small)),
            "aad",
        ),
    ];
    for (strategy, name) in runs {
        let mut ctx = RunContext::new(&ad).with_seed(0);
        let (adapted, report) = strategy
            .fit(Pretrained::classifier(model.clone()), &task, &mut ctx)
            .unwrap();
        assert_eq!(report.strategy, name);
        assert!(report.metrics.accuracy.is_finite() && report.extra["source_accuracy"] >= 0.5);
        assert_eq!(report.history.len(), 3);
        let moved = values(adapted.encoder.layers[0].mha.query.weight.val());
        assert_ne!(moved, start, "{name}: the top layer trains");
        if name == "aad" {
            // ADDA's family keeps the source head.
            let flat = |m: &tl_core::model::Sequential| {
                tl_core::model::flat_params(m)
                    .into_iter()
                    .flat_map(values)
                    .collect::<Vec<f32>>()
            };
            assert_eq!(flat(&adapted.head), flat(&model.head));
        }
        // The adapted layer back in the whole model: token ids give the adapted features.
        let whole = adapted.encoder.clone().into_bert(enc.model()).unwrap();
        let texts = ["the film was great", "a film awful"];
        let ids = enc.token_inputs(&texts).unwrap();
        let via_ids = values(whole.valid().encode(ids.tensor(&[0, 1], &d)));
        let states = enc.states_inputs(&texts, 1, 2, &d, |_, _| {}).unwrap();
        let via_states = values(adapted.encoder.valid().encode(states.tensor(&[0, 1], &d)));
        let diff = via_ids
            .iter()
            .zip(&via_states)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "{name}: whole model and top layer differ by {diff}"
        );
    }
}
