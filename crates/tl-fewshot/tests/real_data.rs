//! Opt-in checks on Omniglot: run when `TL_DATA_DIR` is set (`.ci/run` sets it). A short
//! version of `examples/fewshot.rs`; the full runs and their figures are in the crate's
//! README.

use tl_core::model::SequentialConfig;
use tl_core::prelude::*;
use tl_data::images::{omniglot, omniglot_runs};
use tl_data::transform::orientation_labels;
use tl_fewshot::{EpisodeShape, ProtoNet, embed_set, evaluate_episodes, identity_encoder};

fn data() -> Option<std::path::PathBuf> {
    let dir = tl_core::paths::data_dir();
    if dir.is_none() {
        eprintln!("TL_DATA_DIR not set: skipped");
    }
    dir
}

/// 200 training episodes on small1 (with turns) lift 5-way 1-shot on small2's unseen
/// alphabets far above a random Conv-4, and the official runs load as 20 x (20 + 20).
#[test]
fn real_data_protonet_learns_unseen_omniglot_alphabets() {
    let _seeded = tl_core::device::seed_lock();
    let Some(data) = data() else { return };
    let dir = data.join("omniglot");
    let dev = device("flex").unwrap();
    let small1 = omniglot(&dir.join("images_background_small1.zip"), 28).unwrap();
    let small2 = omniglot(&dir.join("images_background_small2.zip"), 28).unwrap();
    assert_eq!((small1.num_classes(), small1.len()), (136, 2720));
    assert_eq!((small2.num_classes(), small2.len()), (156, 3120));
    let runs = omniglot_runs(&dir.join("all_runs.zip"), 28).unwrap();
    assert_eq!(runs.len(), 20);
    assert!(
        runs.iter()
            .all(|r| r.train.len() == 20 && r.test.len() == 20)
    );
    let base = orientation_labels(&small1, false).unwrap();

    let mut config = SequentialConfig::new(vec![1, 28, 28]);
    for _ in 0..4 {
        config = config.conv(32, 3, 1).batch_norm().relu().max_pool(2);
    }
    dev.seed(0);
    let random = config.init(&dev).unwrap();
    let protonet = ProtoNet::new()
        .with_episodes(EpisodeShape::new(20, 1, 5))
        .with_episodes_per_epoch(100)
        .with_train(TrainConfig::new().with_epochs(2).with_lr(1e-3));
    let mut ctx = RunContext::new(&dev).with_seed(0);
    let (trained, _) = protonet
        .meta_train(random.clone(), &base, &mut ctx)
        .unwrap();
    let score = |e: &tl_core::model::Sequential| {
        let features = embed_set(e, &small2, &dev).unwrap();
        let id = identity_encoder(features.inputs.item_shape[0], &dev).unwrap();
        evaluate_episodes(&features, EpisodeShape::new(5, 1, 15), 200, 0, |ep| {
            tl_fewshot::protonet_accuracy(&id, ep, &dev)
        })
        .unwrap()
    };
    let (before, after) = (score(&random), score(&trained));
    eprintln!(
        "omniglot small2, 5-way 1-shot: random Conv-4 {before}, 200 episodes of ProtoNet {after}"
    );
    assert!(
        after.mean > 0.75 && after.mean > before.mean + 0.15,
        "{before} -> {after}"
    );
}
