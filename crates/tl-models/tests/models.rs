//! Weight import, cards and pretraining on small files the tests write themselves.

use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tl_core::prelude::*;
use tl_models::ModelError;
use tl_models::card::{CARD_FILE, Catalogue, ModelCard};
use tl_models::import::{KeyMap, load_pytorch, load_safetensors};
use tl_models::pretrain::{CardInfo, PretrainData, PretrainSpec, load_pretrained, pretrain};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a safetensors file of f32 tensors (the format is an 8-byte header length, a JSON
/// header with dtype, shape and byte offsets, then the raw little-endian data).
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let mut header = BTreeMap::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}

fn linear_model(dev: &Device) -> Classifier<Sequential> {
    let encoder = SequentialConfig::new(vec![3])
        .linear(2)
        .relu()
        .init(dev)
        .unwrap();
    let head = head_config(2, &[], 2).init(dev).unwrap();
    Classifier::new(encoder, head).unwrap()
}

#[test]
fn safetensors_from_pytorch_are_transposed_and_mapped() {
    let _seeded = tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let dir = temp("st");
    let path = dir.join("m.safetensors");
    // PyTorch stores Linear weights as [out, in]
    write_safetensors(
        &path,
        &[
            (
                "body.0.weight",
                vec![2, 3],
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            ),
            ("body.0.bias", vec![2], vec![0.5, -0.5]),
            ("extra.running", vec![1], vec![0.0]),
        ],
    );
    let map = KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")]).with_fresh("head.");
    let (model, report) = load_safetensors(linear_model(&dev), &path, &map).unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(report.unused, vec!["extra.running".to_string()]);
    assert_eq!(report.fresh.len(), 2, "the head's weight and bias");
    // x = [1, 0, 0] -> relu(W x + b) = relu([1 + 0.5, 4 - 0.5]) = [1.5, 3.5]
    let x = Tensor::<2>::from_floats([[1.0, 0.0, 0.0]], &dev);
    let features: Vec<f32> = model.encoder.forward(x).into_data().iter::<f32>().collect();
    assert_eq!(features, vec![1.5, 3.5]);

    // the head is not fresh any more: its absence is an error naming it
    let strict = KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")]);
    let err = load_safetensors(linear_model(&dev), &path, &strict)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing parameters") && err.contains("head.layers.0"),
        "{err}"
    );

    // a map that matches nothing
    let none = KeyMap::new(&[(r"^nothing\.", "encoder.")]);
    let err = load_safetensors(linear_model(&dev), &path, &none).unwrap_err();
    assert!(matches!(err, ModelError::KeyMap(_)), "{err}");
    assert!(
        err.to_string().contains("body.0.weight"),
        "lists the file's keys: {err}"
    );

    // shapes that do not fit
    let wide = Classifier::new(
        SequentialConfig::new(vec![4])
            .linear(2)
            .relu()
            .init(&dev)
            .unwrap(),
        head_config(2, &[], 2).init(&dev).unwrap(),
    )
    .unwrap();
    let err = load_safetensors(wide, &path, &map).unwrap_err();
    assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("encoder.layers.0.weight") && text.contains("[4, 2]"),
        "{text}"
    );

    // an invalid regex
    let bad = KeyMap::new(&[("(", "x")]);
    assert!(matches!(
        load_safetensors(linear_model(&dev), &path, &bad).unwrap_err(),
        ModelError::KeyMap(_)
    ));
}

#[test]
fn files_that_are_not_weights_are_refused() {
    let _seeded = tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let dir = temp("bad");
    let garbage = dir.join("g.pth");
    std::fs::write(&garbage, b"this is not a zip nor a pickle").unwrap();
    let map = KeyMap::new(&[("^x", "y")]);
    let err = load_pytorch(linear_model(&dev), &garbage, &map).unwrap_err();
    assert!(matches!(err, ModelError::Unreadable { .. }), "{err}");
    let empty = dir.join("e.pth");
    std::fs::write(&empty, b"").unwrap();
    assert!(
        load_pytorch(linear_model(&dev), &empty, &map)
            .unwrap_err()
            .to_string()
            .contains("empty file")
    );
    let missing = dir.join("none.safetensors");
    assert!(load_safetensors(linear_model(&dev), &missing, &map).is_err());
    std::fs::write(&garbage, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let err = load_safetensors(linear_model(&dev), &garbage, &map).unwrap_err();
    assert!(matches!(err, ModelError::Unreadable { .. }), "{err}");
}

#[test]
fn pretrain_saves_a_card_the_catalogue_finds() {
    let _seeded = tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let root = temp("pre");
    let digits = tl_data::digits().unwrap();
    let (train, test) = tl_data::split::stratified_split(&digits, 0.8, 0).unwrap();
    let configs = tl_models::arch::mlp_configs(vec![1, 8, 8], &[32], 10);
    let info = CardInfo {
        name: "digits-mlp".into(),
        architecture: "mlp".into(),
        task: "digit classification".into(),
        domain: "8x8 handwritten digits".into(),
        license: "BSD-3".into(),
    };
    let config = TrainConfig::new()
        .with_epochs(15)
        .with_lr(3e-3)
        .with_seed(1);
    let dir = root.join("digits-mlp");
    let data = PretrainData {
        train: &train,
        valid: None,
        test: &test,
    };
    // A test set the model cannot score is refused before any training, and nothing is
    // written.
    let resized = tl_data::transform::resize_set(&test, 4, 4).unwrap();
    let bad = PretrainData {
        test: &resized,
        ..data
    };
    let spec = PretrainSpec {
        configs,
        info,
        train: config,
    };
    let ctx = || RunContext::new(&dev).with_seed(1);
    let err = pretrain(&spec, bad, &dir, &mut ctx()).unwrap_err();
    assert!(err.to_string().contains("[1, 4, 4]"), "{err}");
    assert!(!dir.join(tl_core::checkpoint::WEIGHTS_FILE).exists());
    let (model, card) = pretrain(&spec, data, &dir, &mut ctx()).unwrap();
    assert!(card.metrics["test_accuracy"] > 0.9, "{:?}", card.metrics);
    assert_eq!(card.num_params, 64 * 32 + 32 + 32 * 10 + 10);
    let (back, card2) = load_pretrained(&dir, &dev).unwrap();
    assert_eq!(card, card2);
    assert_eq!(
        predict(&model, &test, &dev, 64).unwrap(),
        predict(&back, &test, &dev, 64).unwrap()
    );

    let catalogue = Catalogue::scan(&root).unwrap();
    assert_eq!(catalogue.entries.len(), 1);
    assert_eq!(
        catalogue.filter("image", "digit", Some(&[1, 8, 8])).len(),
        1
    );
    assert!(
        catalogue
            .filter("image", "digit", Some(&[1, 28, 28]))
            .is_empty()
    );
    assert!(catalogue.filter("text", "", None).is_empty());

    std::fs::write(dir.join(CARD_FILE), b"{\"name\": 3}").unwrap();
    let err = Catalogue::scan(&root).unwrap_err();
    assert!(matches!(err, ModelError::Card { .. }), "{err}");
    assert!(err.to_string().contains("card.json"), "{err}");
    let mut bad = card.clone();
    bad.input.shape = vec![1, 28, 28];
    bad.save(&dir.join(CARD_FILE)).unwrap();
    let err = ModelCard::load(&dir.join(CARD_FILE))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the encoder takes [1, 8, 8]"), "{err}");
}

/// A card with nothing but its name to tell it apart.
fn card(name: &str) -> ModelCard {
    ModelCard {
        name: name.into(),
        architecture: "mlp".into(),
        encoder: None,
        head: None,
        task: "digit classification".into(),
        label_names: (0..10).map(|d| d.to_string()).collect(),
        source_dataset: "digits".into(),
        domain: "8x8 handwritten digits".into(),
        input: tl_models::card::InputSpec {
            modality: "image".into(),
            shape: vec![1, 8, 8],
            value_range: [0.0, 1.0],
            normalisation: "none".into(),
        },
        metrics: BTreeMap::new(),
        num_params: 0,
        license: "MIT".into(),
        provenance: "a test".into(),
        weights: "weights.bpk".into(),
    }
}

#[cfg(unix)]
#[test]
fn catalogue_scan_follows_links_but_not_around_a_cycle() {
    let _seeded = tl_core::device::seed_lock();
    use std::os::unix::fs::symlink;
    let root = temp("cycle");
    for name in ["a", "b"] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        card(name).save(&root.join(name).join(CARD_FILE)).unwrap();
    }
    // A link back to the root (a cycle) and a broken link are skipped; a link to a card
    // folder outside the root is followed.
    symlink(&root, root.join("a").join("to-root")).unwrap();
    symlink(root.join("missing"), root.join("broken")).unwrap();
    let outside = temp("cycle-outside");
    card("c").save(&outside.join(CARD_FILE)).unwrap();
    symlink(&outside, root.join("c")).unwrap();
    let catalogue = Catalogue::scan(&root).unwrap();
    let names: Vec<&str> = catalogue
        .entries
        .iter()
        .map(|(c, _)| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(catalogue.entries[2].1, root.join("c"));
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&outside);
}

#[test]
fn small_resnet_learns_digits_and_exposes_its_stages() {
    let _seeded = tl_core::device::seed_lock();
    use tl_models::resnet::SmallResNetConfig;
    let dev = device("flex").unwrap();
    let digits = tl_data::digits().unwrap();
    let (train, test) = tl_data::split::stratified_split(&digits, 0.7, 0).unwrap();
    dev.seed(0);
    let encoder = SmallResNetConfig::new(vec![1, 8, 8])
        .with_widths(vec![8, 16])
        .with_blocks_per_stage(1)
        .init(&dev)
        .unwrap();
    assert_eq!(encoder.feature_dim(), 16);
    assert_eq!(encoder.blocks().len(), 3, "stem and two stages");
    let model = Classifier::new(encoder, head_config(16, &[], 10).init(&dev).unwrap()).unwrap();
    let out = Trainer::new(TrainConfig::new().with_epochs(8).with_lr(3e-3).with_seed(0))
        .fit(model, &train, None, &dev)
        .unwrap();
    let acc = evaluate(&out.model, &test, &dev, 256).unwrap().accuracy;
    assert!(acc > 0.9, "small ResNet on digits: {acc}");
    let frozen = out.model.freeze_first_blocks(2).unwrap();
    let counts = count_params(&frozen);
    assert!(counts.trainable < counts.total && counts.trainable > 16 * 10);
    assert!(SmallResNetConfig::new(vec![8, 8]).init(&dev).is_err());
    assert!(
        SmallResNetConfig::new(vec![1, 8, 8])
            .with_blocks_per_stage(0)
            .init(&dev)
            .is_err()
    );
}

#[test]
fn hostile_weight_files_are_refused_without_harm() {
    let _seeded = tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let dir = temp("hostile");
    let map = KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")]).with_fresh("head.");
    let raw = |header: serde_json::Value, data: &[u8]| {
        let header = serde_json::to_vec(&header).unwrap();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(data);
        bytes
    };
    let path = dir.join("h.safetensors");
    let refused = |bytes: &[u8], what: &str| {
        std::fs::write(&path, bytes).unwrap();
        let err = load_safetensors(linear_model(&dev), &path, &map).unwrap_err();
        assert!(
            matches!(err, ModelError::Unreadable { .. }),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("h.safetensors"), "{what}: {err}");
    };
    // Two tensors over the same bytes.
    refused(
        &raw(
            serde_json::json!({
                "body.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                "body.0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
            }),
            &[0u8; 24],
        ),
        "overlapping offsets",
    );
    // Offsets past the end of the data.
    refused(
        &raw(
            serde_json::json!({
                "body.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
            }),
            &[0u8; 8],
        ),
        "offsets out of range",
    );
    // A shape whose size disagrees with its offsets.
    refused(
        &raw(
            serde_json::json!({
                "body.0.weight": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 24]},
            }),
            &[0u8; 24],
        ),
        "shape larger than its bytes",
    );
    // A header that claims 10^12 bytes: refused, not allocated.
    let mut huge = 1_000_000_000_000u64.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    refused(&huge, "a header of 10^12 bytes");

    // A pickle that asks to import os.system and call it: refused, and nothing runs.
    let marker = dir.join("pwned");
    let command = format!("touch {}", marker.display());
    let mut pickle = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    pickle.extend_from_slice(&(command.len() as u32).to_le_bytes());
    pickle.extend_from_slice(command.as_bytes());
    pickle.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    let pth = dir.join("h.pth");
    std::fs::write(&pth, &pickle).unwrap();
    let err = load_pytorch(linear_model(&dev), &pth, &map).unwrap_err();
    assert!(matches!(err, ModelError::Unreadable { .. }), "{err}");
    assert!(!marker.exists(), "the pickle ran");

    // The right name with the wrong shape: the error names the tensor and both shapes.
    write_safetensors(
        &path,
        &[
            ("body.0.weight", vec![2, 5], vec![0.0; 10]),
            ("body.0.bias", vec![2], vec![0.0; 2]),
        ],
    );
    let err = load_safetensors(linear_model(&dev), &path, &map)
        .unwrap_err()
        .to_string();
    assert!(err.contains("encoder.layers.0.weight"), "{err}");
    assert!(err.contains("[3, 2]") && err.contains("[5, 2]"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
