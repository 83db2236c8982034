//! Behaviour of the BERT encoder, its loader, tokenizer and embedding cache, on a tiny model
//! folder the tests write themselves (no downloads).

mod common;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use common::*;
use tl_core::data::LabelledSet;
use tl_core::model::Encoder;
use tl_core::train::{TrainConfig, Trainer, evaluate};
use tl_text::encoder::{ids_to_inputs, padded_batch};
use tl_text::tokenize::MAX_BYTES_PER_TOKEN;
use tl_text::{EmbeddingCache, LoadOptions, SentenceEncoder, TextError, TextTokenizer, Truncation};

/// Burn's device generator is process-wide and tests run in parallel: tests that draw random
/// weights hold this lock.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

fn dev() -> burn::tensor::Device {
    tl_core::device::device("flex").unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn loads_a_hugging_face_folder_and_reports_unused_keys() {
    let _guard = serial();
    let dir = tiny_model("load", 0.1);
    let enc = SentenceEncoder::load(&dir, &dev()).unwrap();
    assert_eq!(enc.dim(), HIDDEN);
    assert_eq!(
        enc.max_len(),
        12,
        "max_seq_length of sentence_bert_config.json"
    );
    let report = enc.import_report();
    assert_eq!(report.applied.len(), 5 + 16 * LAYERS);
    assert_eq!(
        report.unused,
        vec!["pooler.dense.bias", "pooler.dense.weight"]
    );
    assert_eq!(
        enc.model().blocks().len(),
        LAYERS + 1,
        "embeddings + one per layer"
    );
    let ids = enc.tokenize(&["The book was great!", "hate"]).unwrap();
    assert_eq!(ids[0], vec![2, 12, 13, 15, 5, 21, 3]);
    assert_eq!(ids[1], vec![2, 11, 3]);
}

#[test]
fn long_texts_are_cut_at_max_len_keeping_sep() {
    let _guard = serial();
    let dir = tiny_model("truncate", 0.1);
    let enc = SentenceEncoder::load_with(
        &dir,
        LoadOptions {
            max_len: Some(6),
            ..Default::default()
        },
        &dev(),
    )
    .unwrap();
    let ids = enc
        .tokenize(&["good good good good good good good good"])
        .unwrap();
    assert_eq!(ids[0], vec![2, 4, 4, 4, 4, 3]);
    let err = SentenceEncoder::load_with(
        &dir,
        LoadOptions {
            max_len: Some(17),
            ..Default::default()
        },
        &dev(),
    );
    assert!(matches!(err, Err(TextError::InvalidInput(m)) if m.contains("16 position")));
}

#[test]
fn head_and_tail_truncation_keeps_both_ends_of_long_texts_only() {
    let _guard = serial();
    let dir = tiny_model("head-tail", 0.0);
    let load = |truncation| {
        SentenceEncoder::load_with(
            &dir,
            LoadOptions {
                max_len: Some(8),
                truncation,
            },
            &dev(),
        )
    };
    let head = load(Truncation::Head).unwrap();
    let both = load(Truncation::HeadTail { tail: 3 }).unwrap();
    let long = "the book was very good . it was bad !";
    // [CLS] the book was | very good . it | was bad ! [SEP]: the middle goes.
    assert_eq!(
        both.tokenize(&[long]).unwrap()[0],
        vec![2, 12, 13, 15, 15, 8, 21, 3]
    );
    assert_eq!(
        head.tokenize(&[long]).unwrap()[0],
        vec![2, 12, 13, 15, 18, 4, 20, 3]
    );
    // Texts that fit are untouched; one id at a time and in a batch agree.
    for text in ["hate", "the book was very good !"] {
        assert_eq!(
            both.tokenize(&[text]).unwrap(),
            head.tokenize(&[text]).unwrap()
        );
    }
    assert_eq!(
        both.tokenizer().encode(long).unwrap(),
        both.tokenize(&[long]).unwrap()[0]
    );
    // A giant text keeps its end too (bytes from both ends before tokenizing).
    let giant = format!("{}bad !", "good ".repeat(1 << 16));
    let ids = both.tokenize(&[giant.as_str()]).unwrap();
    assert_eq!(ids[0], vec![2, 4, 4, 4, 4, 8, 21, 3]);
    // A tail with no room for a head is refused; the cache keeps the two apart.
    let err = load(Truncation::HeadTail { tail: 6 }).unwrap_err();
    assert!(
        matches!(&err, TextError::InvalidInput(m) if m.contains("no head")),
        "{err}"
    );
    let cache_dir = temp_dir("head-tail-cache");
    let mut cache = EmbeddingCache::new(&cache_dir);
    let a = cache.embed(&head, &[long], 4, &dev(), |_, _| {}).unwrap();
    let b = cache.embed(&both, &[long], 4, &dev(), |_, _| {}).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        cache.embed(&both, &[long], 4, &dev(), |_, _| {}).unwrap(),
        b
    );
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn a_giant_text_is_cut_before_tokenizing() {
    let _guard = serial();
    let dir = tiny_model("giant", 0.1);
    let enc = SentenceEncoder::load_with(
        &dir,
        LoadOptions {
            max_len: Some(16),
            ..Default::default()
        },
        &dev(),
    )
    .unwrap();
    // 64 MiB in one text: 2^24 words, which the tokenizer would otherwise normalise, split
    // and give offsets to before truncation dropped all but 14 of them.
    let giant = "good bad ".repeat((64 << 20) / 9);
    let tokenizer = enc.tokenizer();
    assert_eq!(tokenizer.cut(&giant).len(), 16 * MAX_BYTES_PER_TOKEN);
    let ids = enc.tokenize(&[giant.as_str(), "good"]).unwrap();
    let short = "good bad ".repeat(16);
    assert_eq!(ids[0], enc.tokenize(&[short.as_str()]).unwrap()[0]);
    assert_eq!(ids[0].len(), 16);
    assert_eq!(ids[1], vec![2, 4, 3], "short texts are not touched");
    assert_eq!(tokenizer.encode(&giant).unwrap(), ids[0]);
    // Multi-byte text is cut at a character boundary.
    let wide = "é".repeat(16 * MAX_BYTES_PER_TOKEN);
    let cut = tokenizer.cut(&wide);
    assert!(cut.len() <= 16 * MAX_BYTES_PER_TOKEN && cut.chars().all(|c| c == 'é'));
}

#[test]
fn a_tokenizer_json_the_tokenizers_crate_panics_on_is_an_error() {
    // Found by fuzzing (tokenizer_json target): a syntax error inside `decoder` reaches an
    // `expect` in tokenizers 0.22.2. The whole MiniLM-style file is not needed to trigger it.
    for bytes in [
        &br#"{"decoder": {"type" "WordPiece"}}"#[..],
        &br#"{"version": "1.0", "decoder": {"prefix": "p" 1}}"#[..],
    ] {
        let err = TextTokenizer::from_bytes(bytes, 16)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a tokenizer.json"), "{err}");
    }
}

#[test]
fn embeddings_are_unit_length_and_independent_of_batch_padding() {
    let _guard = serial();
    let dir = tiny_model("padding", 0.1);
    let d = dev();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let texts = [
        "good",
        "the film was very very awful and poor !",
        "a fine book",
    ];
    let together = enc.embed(&texts, 3, &d, |_, _| {}).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = enc.embed(&[t], 1, &d, |_, _| {}).unwrap();
        let row = &together[i * HIDDEN..(i + 1) * HIDDEN];
        assert!(
            max_diff(&alone, row) < 1e-5,
            "{t}: padding changed the vector"
        );
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    let mut calls = Vec::new();
    enc.embed(&texts, 2, &d, |done, total| calls.push((done, total)))
        .unwrap();
    assert_eq!(calls, vec![(2, 3), (3, 3)]);
}

#[test]
fn fused_inference_path_equals_burns_transformer_layers() {
    let _guard = serial();
    // Without dropout, the training path (Burn's TransformerEncoder on an autodiff device)
    // and the inference path (fused attention) must give the same vectors.
    let dir = tiny_model("fused", 0.0);
    let d = dev();
    let ad = d.clone().autodiff();
    let plain = SentenceEncoder::load(&dir, &d).unwrap();
    let tracked = SentenceEncoder::load(&dir, &ad).unwrap();
    let texts = ["good book", "the film was awful !", "love it"];
    let ids = plain.tokenize(&texts).unwrap();
    let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let (i1, p1) = padded_batch(&rows, 0, &d);
    let (i2, p2) = padded_batch(&rows, 0, &ad);
    let a = plain.model().embed(i1, p1).into_data();
    let b = tracked.model().embed(i2, p2).into_data();
    let diff = max_diff(a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
    assert!(diff < 1e-5, "fused and layer-by-layer differ by {diff}");
}

#[test]
fn encoder_on_padded_float_ids_equals_embed() {
    let _guard = serial();
    let dir = tiny_model("encoder", 0.1);
    let d = dev();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let texts = ["good book", "it was poor"];
    let inputs = enc.token_inputs(&texts).unwrap();
    assert_eq!(inputs.item_size(), 12);
    let x: Tensor<2> = inputs.tensor(&[0, 1], &d);
    let via_encoder = enc.model().encode(x).into_data();
    let via_embed = enc.embed(&texts, 2, &d, |_, _| {}).unwrap();
    assert!(max_diff(via_encoder.as_slice::<f32>().unwrap(), &via_embed) < 1e-5);
    let too_long = ids_to_inputs(&[vec![2; 13]], 12, 0);
    assert!(too_long.is_err());
    // A pad id inside a text (a literal "[PAD]") stays a token: the row ends at its last
    // non-pad id, as in `embed`.
    let row: &[u32] = &[2, 4, 0, 13, 3];
    let inputs = ids_to_inputs(&[row.to_vec()], 12, 0).unwrap();
    let via_encoder = enc.model().encode(inputs.tensor(&[0], &d)).into_data();
    let (ids, pad) = padded_batch(&[row], 0, &d);
    let direct = enc.model().embed(ids, pad).into_data();
    assert!(
        max_diff(
            via_encoder.as_slice::<f32>().unwrap(),
            direct.as_slice::<f32>().unwrap()
        ) < 1e-5
    );
}

fn sentiment_set(enc: &SentenceEncoder) -> LabelledSet {
    let pos = ["good", "great", "love", "fine"];
    let neg = ["bad", "awful", "hate", "poor"];
    let starts = ["the book was", "it was", "the film was very", "a"];
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for s in starts {
        for (label, words) in [neg, pos].iter().enumerate() {
            for w in words {
                texts.push(format!("{s} {w}"));
                labels.push(label);
            }
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    LabelledSet::new(
        enc.token_inputs(&refs).unwrap(),
        labels,
        vec!["negative".into(), "positive".into()],
        "tiny-reviews",
    )
    .unwrap()
}

#[test]
fn fine_tunes_through_the_shared_trainer_and_freezes_by_layer() {
    let _guard = serial();
    let dir = tiny_model("finetune", 0.0);
    let d = dev();
    let ad = d.clone().autodiff();
    let enc = SentenceEncoder::load(&dir, &ad).unwrap();
    let set = sentiment_set(&enc);
    // The new head's first weights come from the generator: seed it, or they depend on
    // whichever test drew from it last.
    d.seed(4);
    let model = enc
        .classifier(2, &ad)
        .unwrap()
        .freeze_first_blocks(2)
        .unwrap();
    let before_emb = model.encoder.embeddings.word.weight.val().into_data();
    let before_l0 = model.encoder.encoder.layers[0]
        .mha
        .query
        .weight
        .val()
        .into_data();
    let before_l1 = model.encoder.encoder.layers[1]
        .mha
        .query
        .weight
        .val()
        .into_data();
    let config = TrainConfig::new()
        .with_epochs(40)
        .with_batch_size(8)
        .with_lr(0.01)
        .with_seed(3);
    let out = Trainer::new(config).fit(model, &set, None, &ad).unwrap();
    let acc = evaluate(&out.model, &set, &ad, 32).unwrap().accuracy;
    assert!(acc >= 0.9, "training accuracy {acc}");
    let m = &out.model;
    assert_eq!(
        m.encoder.embeddings.word.weight.val().into_data(),
        before_emb
    );
    assert_eq!(
        m.encoder.encoder.layers[0]
            .mha
            .query
            .weight
            .val()
            .into_data(),
        before_l0
    );
    assert_ne!(
        m.encoder.encoder.layers[1]
            .mha
            .query
            .weight
            .val()
            .into_data(),
        before_l1,
        "the unfrozen layer trains"
    );
}

#[test]
fn missing_files_and_unsupported_models_are_named() {
    let _guard = serial();
    let d = dev();
    let dir = tiny_model("errors", 0.1);
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    match SentenceEncoder::load(&dir, &d) {
        Err(TextError::MissingFile { file, .. }) => assert_eq!(file, "tokenizer.json"),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    let nowhere = dir.join("no-such-model");
    assert!(matches!(
        SentenceEncoder::load(&nowhere, &d),
        Err(TextError::MissingFolder(_))
    ));
    let dir = tiny_model("noweights", 0.1);
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = SentenceEncoder::load(&dir, &d).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("pytorch_model.bin"),
        "{err}"
    );

    let dir = tiny_model("dropout", 0.1);
    std::fs::write(dir.join("config.json"), config_json(VOCAB.len(), 1.5)).unwrap();
    let err = SentenceEncoder::load(&dir, &d).unwrap_err().to_string();
    assert!(err.contains("hidden_dropout_prob"), "{err}");

    let dir = tiny_model("unsupported", 0.1);
    let config = config_json(VOCAB.len(), 0.1).replace("\"bert\"", "\"gpt2\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = SentenceEncoder::load(&dir, &d).unwrap_err();
    assert!(
        matches!(&err, TextError::Unsupported { reason, .. } if reason.contains("gpt2")),
        "{err}"
    );

    let dir = tiny_model("act", 0.1);
    let config = config_json(VOCAB.len(), 0.1).replace("\"gelu\"", "\"relu\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    assert!(matches!(
        SentenceEncoder::load(&dir, &d),
        Err(TextError::Unsupported { .. })
    ));

    let dir = tiny_model("badjson", 0.1);
    std::fs::write(dir.join("config.json"), "{ not json").unwrap();
    assert!(matches!(
        SentenceEncoder::load(&dir, &d),
        Err(TextError::Format { .. })
    ));
}

#[test]
fn a_tokenizer_larger_than_the_embedding_is_refused() {
    let _guard = serial();
    let dir = tiny_model("vocab", 0.1);
    let small = VOCAB.len() - 4;
    std::fs::write(dir.join("config.json"), config_json(small, 0.1)).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(&hf_tensors(small), 7),
    )
    .unwrap();
    let err = SentenceEncoder::load(&dir, &dev()).unwrap_err();
    assert!(
        matches!(&err, TextError::TokenizerMismatch(m) if m.contains("22 tokens") && m.contains("18 rows")),
        "{err}"
    );
}

#[test]
fn a_tokenizer_id_past_the_embedding_is_refused_though_the_count_fits() {
    let _guard = serial();
    let dir = tiny_model("vocab-gap", 0.1);
    // As many tokens as rows, but "!" moved from id 21 to id 40: its embedding row would
    // not exist.
    let path = dir.join("tokenizer.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["model"]["vocab"]["!"] = serde_json::json!(40);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = SentenceEncoder::load(&dir, &dev()).unwrap_err();
    assert!(
        matches!(&err, TextError::TokenizerMismatch(m) if m.contains("\"!\"") && m.contains("id 40") && m.contains("22 rows")),
        "{err}"
    );
}

#[test]
fn corrupt_or_mis_shaped_weights_are_errors_naming_the_problem() {
    let _guard = serial();
    let d = dev();
    let dir = tiny_model("corrupt", 0.1);
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        SentenceEncoder::load(&dir, &d),
        Err(TextError::Model(_))
    ));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        SentenceEncoder::load(&dir, &d),
        Err(TextError::Model(_))
    ));

    let mut tensors = hf_tensors(VOCAB.len());
    tensors[3].1 = vec![HIDDEN + 1]; // embeddings.LayerNorm.weight
    std::fs::write(&path, safetensors_bytes(&tensors, 7)).unwrap();
    let err = SentenceEncoder::load(&dir, &d).unwrap_err().to_string();
    assert!(err.contains("embeddings.norm.gamma"), "{err}");

    let tensors: Vec<_> = hf_tensors(VOCAB.len())
        .into_iter()
        .filter(|(k, _)| !k.contains("layer.1.intermediate"))
        .collect();
    std::fs::write(&path, safetensors_bytes(&tensors, 7)).unwrap();
    let err = SentenceEncoder::load(&dir, &d).unwrap_err().to_string();
    assert!(err.contains("encoder.layers.1.pwff.linear_inner"), "{err}");
}

#[test]
fn cache_reuses_vectors_and_recomputes_bad_entries() {
    let _guard = serial();
    let dir = tiny_model("cache", 0.1);
    let d = dev();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let cache_dir = temp_dir("cache-store");
    let mut cache = EmbeddingCache::new(&cache_dir);
    let texts = ["good book", "awful film"];
    let first = cache.embed(&enc, &texts, 8, &d, |_, _| {}).unwrap();
    let again = cache.embed(&enc, &texts, 8, &d, |_, _| {}).unwrap();
    assert_eq!(first, again);
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));

    // A new cache object (another run) finds the file too.
    let mut other = EmbeddingCache::new(&cache_dir);
    other.embed(&enc, &texts, 8, &d, |_, _| {}).unwrap();
    assert_eq!(other.stats().hits, 1);

    // Other texts are another entry.
    cache.embed(&enc, &["love it"], 8, &d, |_, _| {}).unwrap();
    assert_eq!(cache.stats().misses, 2);

    // A damaged entry is recomputed, not trusted.
    let path = cache.entry_path(&enc, &texts).unwrap();
    std::fs::write(&path, b"TLEMB001garbage").unwrap();
    let fixed = cache.embed(&enc, &texts, 8, &d, |_, _| {}).unwrap();
    assert_eq!(fixed, first);
    assert_eq!(cache.stats().misses, 3);

    // Another model (other weights) does not see these entries.
    let dir2 = tiny_model("cache-other", 0.1);
    std::fs::write(
        dir2.join("model.safetensors"),
        safetensors_bytes(&hf_tensors(VOCAB.len()), 8),
    )
    .unwrap();
    let enc2 = SentenceEncoder::load(&dir2, &d).unwrap();
    let v2 = cache.embed(&enc2, &texts, 8, &d, |_, _| {}).unwrap();
    assert_ne!(v2, first);
    assert_eq!(cache.stats().misses, 4);
}

#[test]
fn padded_batch_marks_padding() {
    let _guard = serial();
    let d = dev();
    let (ids, pad) = padded_batch(&[&[2, 5, 3], &[2, 3]], 0, &d);
    assert_eq!(
        ids.into_data().convert::<i64>(),
        TensorData::new(vec![2i64, 5, 3, 2, 3, 0], [2, 3])
    );
    assert_eq!(
        pad.into_data(),
        TensorData::new(vec![false, false, false, false, false, true], [2, 3])
    );
    let config: tl_text::BertConfig = serde_json::from_str(&config_json(VOCAB.len(), 0.1)).unwrap();
    assert!(tl_text::Bert::new(&config, tl_text::Pooling::default(), MAX_POS + 1, &d).is_err());
    // A config built in code gets the loader's checks: heads must divide the width.
    let mut odd = config.clone();
    odd.num_attention_heads = odd.hidden_size + 1;
    let Err(err) = tl_text::Bert::new(&odd, tl_text::Pooling::default(), 8, &d) else {
        panic!("a config whose heads do not divide its width was accepted");
    };
    let err = err.to_string();
    assert!(err.contains("num_attention_heads"), "{err}");
    let bert = tl_text::Bert::new(&config, tl_text::Pooling::default(), 8, &d).unwrap();
    assert_eq!(bert.input_shape(), vec![8]);
    assert_eq!(
        bert.num_params(),
        22 * 8 + 16 * 8 + 2 * 8 + 2 * 8 + 2 * (4 * 72 + 2 * 8 + 8 * 16 + 16 + 16 * 8 + 8 + 2 * 8)
    );
}

#[test]
fn a_config_larger_than_its_weights_is_refused_before_allocating() {
    let _guard = serial();
    let dir = tiny_model("absurd", 0.1);
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // 2^40 hidden units: building it would ask for exabytes.
    config["hidden_size"] = serde_json::json!(1u64 << 40);
    config["num_attention_heads"] = serde_json::json!(1);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let err = SentenceEncoder::load(&dir, &dev()).unwrap_err().to_string();
    assert!(
        err.contains("parameters") && err.contains("do not fit the weights"),
        "{err}"
    );
    // The real sizes load.
    let ok = tiny_model("absurd-ok", 0.1);
    assert!(SentenceEncoder::load(&ok, &dev()).is_ok());
}

#[test]
fn top_layers_on_cached_states_equal_the_whole_encoder() {
    let _guard = serial();
    let dir = tiny_model("top", 0.0);
    let d = dev();
    let ad = d.clone().autodiff();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let texts = ["good book", "the film was awful ! really", "love it", "a"];
    let whole = enc.embed(&texts, 4, &d, |_, _| {}).unwrap();
    let layers = enc.model().encoder.layers.len();
    for below in 0..=layers {
        let states = enc.states_inputs(&texts, below, 3, &d, |_, _| {}).unwrap();
        assert_eq!(
            states.item_shape,
            vec![tl_text::states_item_len(12, enc.dim())]
        );
        // The token count leads each row; states past it are zero.
        assert_eq!(states.values[0], 4.0, "[CLS] good book [SEP]");
        let item = states.item_size();
        assert!(
            states.values[1 + 4 * enc.dim()..item]
                .iter()
                .all(|&v| v == 0.0)
        );
        let top = tl_text::BertTop::from_bert(enc.model(), below).unwrap();
        assert_eq!(top.layers.len(), layers - below);
        assert_eq!(top.blocks().len(), layers - below);
        let x: Tensor<2> = states.tensor(&[0, 1, 2, 3], &d);
        let plain = top.encode(x).into_data();
        let diff = max_diff(plain.as_slice::<f32>().unwrap(), &whole);
        assert!(diff < 1e-5, "below {below}: top layers differ by {diff}");
        // The training path (Burn's layers, dropout 0) gives the same vectors.
        let tracked = tl_text::BertTop::from_bert(enc.model(), below)
            .unwrap()
            .fork(&ad);
        let y = tracked
            .encode(states.tensor(&[0, 1, 2, 3], &ad))
            .into_data();
        let diff = max_diff(y.as_slice::<f32>().unwrap(), &whole);
        assert!(
            diff < 1e-5,
            "below {below}: training path differs by {diff}"
        );
    }
    assert!(tl_text::BertTop::from_bert(enc.model(), layers + 1).is_err());
    assert!(enc.states(&texts, layers + 1, 2, &d, |_, _| {}).is_err());
    // Ids from a caller, not the tokenizer: one past the vocabulary is refused by row.
    let ids = vec![vec![2, 4, 3], vec![2, VOCAB.len() as u32, 3]];
    let err = enc.states_of_ids(&ids, 1, 2, &d, |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains("row 1") && err.to_string().contains("token id 22"),
        "{err}"
    );
}

#[test]
fn training_the_top_on_cached_states_equals_training_the_whole_model_with_frozen_layers() {
    let _guard = serial();
    let dir = tiny_model("top-train", 0.0);
    let d = dev();
    let ad = d.clone().autodiff();
    let enc = SentenceEncoder::load(&dir, &ad).unwrap();
    let set = sentiment_set(&enc);
    let texts: Vec<String> = {
        // The set's texts, rebuilt in its order (sentiment_set builds them this way).
        let pos = ["good", "great", "love", "fine"];
        let neg = ["bad", "awful", "hate", "poor"];
        let mut t = Vec::new();
        for s in ["the book was", "it was", "the film was very", "a"] {
            for words in [neg, pos] {
                for w in words {
                    t.push(format!("{s} {w}"));
                }
            }
        }
        t
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let states = enc.states_inputs(&refs, 1, 8, &d, |_, _| {}).unwrap();
    let cached = LabelledSet::new(
        states,
        set.labels.clone(),
        set.class_names.clone(),
        "tiny-reviews",
    )
    .unwrap();
    d.seed(5);
    let whole = enc.classifier(2, &ad).unwrap();
    let top = tl_text::BertTop::from_bert(&whole.encoder, 1).unwrap();
    let top_model = tl_core::model::Classifier::new(top, whole.head.clone()).unwrap();
    let whole = whole.freeze_first_blocks(2).unwrap();
    let config = TrainConfig::new()
        .with_epochs(40)
        .with_batch_size(8)
        .with_lr(0.01)
        .with_seed(3);
    let a = Trainer::new(config.clone())
        .fit(whole, &set, None, &ad)
        .unwrap()
        .model;
    let b = Trainer::new(config)
        .fit(top_model, &cached, None, &ad)
        .unwrap()
        .model;
    let acc = evaluate(&b, &cached, &ad, 32).unwrap().accuracy;
    let acc_whole = evaluate(&a, &set, &ad, 32).unwrap().accuracy;
    assert!(acc >= 0.9, "training accuracy from cached states {acc}");
    assert_eq!(acc, acc_whole);
    // The same steps: the trained top layer, put back, is the whole model's trained layer.
    let rebuilt = b.encoder.into_bert(&a.encoder).unwrap();
    let wa = a.encoder.encoder.layers[1].pwff.linear_inner.weight.val();
    let wb = rebuilt.encoder.layers[1].pwff.linear_inner.weight.val();
    let diff = max_diff(
        wa.into_data().as_slice::<f32>().unwrap(),
        wb.into_data().as_slice::<f32>().unwrap(),
    );
    assert!(diff < 1e-4, "trained layers differ by {diff}");
    // Layers that do not fit the model are refused by name.
    let mut extra = tl_text::BertTop::from_bert(&a.encoder, 1).unwrap();
    extra.layers.push(extra.layers[0].clone());
    let err = extra.into_bert(&a.encoder).err().unwrap().to_string();
    assert!(err.contains("do not fit a model of 2 layers"), "{err}");
}

#[test]
fn the_cache_keeps_states_apart_from_embeddings_and_by_layer() {
    let _guard = serial();
    let dir = tiny_model("states-cache", 0.0);
    let d = dev();
    let enc = SentenceEncoder::load(&dir, &d).unwrap();
    let cache_dir = temp_dir("states-cache-entries");
    let mut cache = EmbeddingCache::new(&cache_dir);
    let texts = ["good book", "bad film"];
    let a = cache.states(&enc, &texts, 1, 2, &d, |_, _| {}).unwrap();
    let b = cache.states(&enc, &texts, 1, 2, &d, |_, _| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
    let c = cache.states(&enc, &texts, 2, 2, &d, |_, _| {}).unwrap();
    assert_ne!(a, c, "another layer is another entry");
    assert_eq!(c, enc.states(&texts, 2, 2, &d, |_, _| {}).unwrap());
    let e = cache.embed(&enc, &texts, 2, &d, |_, _| {}).unwrap();
    assert_eq!(e.len(), 2 * enc.dim());
    assert_eq!(cache.stats().misses, 3);
    let files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.iter().filter(|f| f.ends_with(".states")).count(), 2);
    // A damaged entry is recomputed.
    for f in files.iter().filter(|f| f.ends_with(".states")) {
        std::fs::write(cache_dir.join(f), b"TLEMB002 broken").unwrap();
    }
    let again = cache.states(&enc, &texts, 1, 2, &d, |_, _| {}).unwrap();
    assert_eq!(again, a);
    assert_eq!(cache.stats().misses, 4);
}
