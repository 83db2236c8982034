//! Opt-in tests on the real data sets: run when `TL_DATA_DIR` is set (`.ci/run` sets it).

use std::path::PathBuf;
use tl_data::{idx, images, libsvm, split, text};

fn data_dir() -> Option<PathBuf> {
    let dir = tl_core::paths::data_dir();
    if dir.is_none() {
        eprintln!("TL_DATA_DIR is not set: skipped");
    }
    dir
}

#[test]
fn real_data_mnist_counts() {
    let Some(root) = data_dir() else { return };
    let (train, test) = idx::mnist(&root.join("mnist")).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.inputs.item_shape, vec![1, 28, 28]);
    assert_eq!(
        train.class_counts(),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
}

#[test]
fn real_data_usps_counts() {
    let Some(root) = data_dir() else { return };
    let (train, test) = libsvm::usps(&root.join("usps")).unwrap();
    assert_eq!((train.len(), test.len()), (7291, 2007));
    assert_eq!(
        train.class_counts(),
        vec![1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    );
    let (lo, hi) = train
        .inputs
        .values
        .iter()
        .fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
}

#[test]
fn real_data_omniglot_counts() {
    let Some(root) = data_dir() else { return };
    let dir = root.join("omniglot");
    let small1 = images::omniglot(&dir.join("images_background_small1.zip"), 28).unwrap();
    assert_eq!((small1.len(), small1.num_classes()), (2720, 136));
    let small2 = images::omniglot(&dir.join("images_background_small2.zip"), 28).unwrap();
    assert_eq!((small2.len(), small2.num_classes()), (3120, 156));
    let mean_ink = small1.inputs.values.iter().sum::<f32>() / small1.inputs.values.len() as f32;
    assert!(
        mean_ink < 0.3,
        "ink is 1 on a 0 background: mean {mean_ink}"
    );
    let runs = images::omniglot_runs(&dir.join("all_runs.zip"), 28).unwrap();
    assert_eq!(runs.len(), 20);
    for run in &runs {
        assert_eq!(run.train.len(), 20);
        assert_eq!(run.test.len(), 20);
    }
    // episodes can be drawn from the small sets
    let mut sampler = split::EpisodeSampler::new(&small2, 5, 5, 5, 0).unwrap();
    assert_eq!(sampler.sample(&small2).unwrap().support.len(), 25);
}

#[test]
fn real_data_amazon_counts() {
    let Some(root) = data_dir() else { return };
    for domain in text::AMAZON_DOMAINS {
        let set = text::amazon_domain(&root.join("amazon-reviews"), domain).unwrap();
        assert_eq!(set.class_counts(), vec![1000, 1000], "{domain}");
        assert!(set.texts.iter().all(|t| !t.is_empty()), "{domain}");
        let ratings = set.ratings.as_ref().unwrap();
        // positive reviews are 4-5 stars, negative 1-2
        assert!(ratings[..1000].iter().all(|r| *r <= 2.0), "{domain}");
        assert!(ratings[1000..].iter().all(|r| *r >= 4.0), "{domain}");
    }
}

#[test]
fn real_data_emoji_pairs() {
    let Some(root) = data_dir() else { return };
    let set = tl_data::emoji::emoji(&root.join("emoji"), 32).unwrap();
    assert_eq!(set.symbols.len(), 1911);
    assert_eq!((set.google.len(), set.twitter.len()), (1911, 1911));
    assert_eq!(set.google.item_shape, vec![3, 32, 32]);
    let cats = set.by_category(1).unwrap();
    assert_eq!(cats.num_classes(), 10);
    assert!(set.google.values.iter().all(|v| (0.0..=1.0).contains(v)));
    let grinning = set
        .symbols
        .iter()
        .position(|s| s.text_name() == "grinning face")
        .unwrap();
    // Transparent corners are white after compositing.
    for vendor in set.vendors() {
        let face = vendor.item(grinning);
        assert!(face[0] > 0.99 && face[1024] > 0.99 && face[2048] > 0.99);
    }
    // The two vendors draw the same symbol differently, and the same symbol closer than
    // another one on average is not guaranteed, so only check they differ.
    assert_ne!(set.google.item(grinning), set.twitter.item(grinning));
    // A missing folder is named.
    let err = tl_data::emoji::emoji(&root.join("no-such-emoji"), 32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-emoji"), "{err}");
}
