//! Rank candidate pretrained encoders for a target before fine-tuning, and check the ranking
//! against the accuracy each reaches after fine-tuning (Kendall's tau).
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=../shared/models \
//!   cargo run --release -p tl-models --example rank_models [-- --json PATH]
//! ```
//!
//! Candidates: the real MNIST CNN; the same architecture untrained; LeNet-5 pretrained here on
//! 12,000 MNIST images; a small ResNet pretrained here on the same images after an
//! MNIST-M-style colour shift. Targets: USPS (10 labels per class, MNIST-style framing,
//! scored on the USPS test set) and Omniglot (20 characters of images_background_small2,
//! 5 labels each, the other 15 images of each for test).

use burn::tensor::Device;
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;
use tl_core::prelude::*;
use tl_data::shift::Shift;
use tl_data::split::{k_per_class, select_classes};
use tl_data::transform::{Chw, frame_set, grey_to_rgb, map_images};
use tl_models::arch::{lenet5_configs, mnist_cnn, mnist_cnn_pretrained};
use tl_models::resnet::{SmallResNet, SmallResNetConfig};
use tl_models::transferability::{
    features, h_score, kendall_tau, knn_score, leep, logme, probabilities,
};

enum Candidate {
    Seq(Classifier<Sequential>),
    ResNet(Box<Classifier<SmallResNet>>),
}

struct Scored {
    name: String,
    logme: f64,
    leep: f64,
    h_score: f64,
    knn: f64,
    accuracy: f64,
}

fn to_rgb(set: &LabelledSet) -> LabelledSet {
    let s = Chw::of(&set.inputs.item_shape).unwrap();
    let inputs = map_images(&set.inputs, Chw::new(3, s.h, s.w), |_, x, s| {
        grey_to_rgb(x, s)
    })
    .unwrap();
    LabelledSet {
        inputs,
        ..set.clone()
    }
}

fn score<E: Encoder + 'static>(
    name: &str,
    model: &Classifier<E>,
    few: &LabelledSet,
    test: &LabelledSet,
    dev: &Device,
) -> Result<Scored, Box<dyn std::error::Error>> {
    let f = features(&model.encoder, few, dev)?;
    let d = model.encoder.feature_dim();
    let p = probabilities(model, few, dev)?;
    let z = model.num_classes();
    let head = head_config(d, &[], few.num_classes()).init(dev)?;
    let fresh = Classifier::new(model.encoder.clone(), head)?;
    let config = TrainConfig::new()
        .with_epochs(30)
        .with_batch_size(10)
        .with_lr(1e-3)
        .with_seed(0);
    let out = Trainer::new(config).fit(fresh, few, None, dev)?;
    Ok(Scored {
        name: name.into(),
        logme: logme(&f, d, &few.labels)?,
        leep: leep(&p, z, &few.labels)?,
        h_score: h_score(&f, d, &few.labels)?,
        knn: knn_score(&f, d, &few.labels, 5)?,
        accuracy: evaluate(&out.model, test, dev, 256)?.accuracy,
    })
}

/// Rank candidate pretrained encoders for a target before fine-tuning, and check the ranking
/// against fine-tuned accuracy (needs TL_DATA_DIR and TL_MODEL_DIR).
#[derive(Parser)]
struct Args {
    /// Also write the scores and accuracies as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (Some(data), Some(models)) = (tl_core::paths::data_dir(), tl_core::paths::model_dir())
    else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR");
        std::process::exit(2);
    };
    let dev = device("flex")?;
    let start = Instant::now();
    let (mnist, _) = tl_data::idx::mnist(&data.join("mnist"))?;
    let (source, _) = k_per_class(&mnist, 1200, 0)?;
    let source_rgb = Shift::MnistM.apply(&source, 0)?;

    eprintln!(
        "[{:.0} s] pretraining LeNet-5 on {} MNIST images",
        start.elapsed().as_secs_f64(),
        source.len()
    );
    dev.seed(0);
    let lenet = lenet5_configs(vec![1, 28, 28], 10);
    let lenet = Classifier::new(lenet.0.init(&dev)?, lenet.1.init(&dev)?)?;
    let pre = TrainConfig::new()
        .with_epochs(3)
        .with_batch_size(64)
        .with_lr(2e-3)
        .with_seed(0);
    let lenet = Trainer::new(pre.clone())
        .fit(lenet, &source, None, &dev)?
        .model;
    eprintln!(
        "[{:.0} s] pretraining a small ResNet on MNIST-M-style images",
        start.elapsed().as_secs_f64()
    );
    let resnet = SmallResNetConfig::new(vec![3, 28, 28])
        .with_blocks_per_stage(1)
        .init(&dev)?;
    let resnet = Classifier::new(resnet, head_config(64, &[], 10).init(&dev)?)?;
    let resnet = Trainer::new(pre)
        .fit(resnet, &source_rgb, None, &dev)?
        .model;
    let (cnn, _) = mnist_cnn_pretrained(&models.join("mnist-cnn/handwriting_model.pth"), &dev)?;
    dev.seed(1);
    let untrained = mnist_cnn(&dev)?;
    let candidates = vec![
        ("mnist-cnn (real)", Candidate::Seq(cnn)),
        ("mnist-cnn untrained", Candidate::Seq(untrained)),
        ("lenet5 on MNIST", Candidate::Seq(lenet)),
        ("resnet on MNIST-M", Candidate::ResNet(Box::new(resnet))),
    ];

    let (usps_train, usps_test) = tl_data::libsvm::usps(&data.join("usps"))?;
    let (usps_few, _) = k_per_class(&frame_set(&usps_train, 20, 28)?, 10, 0)?;
    let usps_test = frame_set(&usps_test, 20, 28)?;
    let omni = tl_data::images::omniglot(&data.join("omniglot/images_background_small2.zip"), 28)?;
    let omni = select_classes(&omni, &(0..20).collect::<Vec<_>>())?;
    let (omni_few, omni_test) = k_per_class(&omni, 5, 0)?;
    let targets = [
        ("USPS, 10 labels/class", usps_few, usps_test),
        ("Omniglot 20-way, 5 labels/class", omni_few, omni_test),
    ];

    let mut out_json = Vec::new();
    for (target, few, test) in &targets {
        let mut rows = Vec::new();
        for (name, c) in &candidates {
            eprintln!("[{:.0} s] {target}: {name}", start.elapsed().as_secs_f64());
            rows.push(match c {
                Candidate::Seq(m) => score(name, m, few, test, &dev)?,
                Candidate::ResNet(m) => score(name, m.as_ref(), &to_rgb(few), &to_rgb(test), &dev)?,
            });
        }
        println!("\n{target}\n");
        println!("| candidate | LogME | LEEP | H-score | 5-NN | accuracy after fine-tuning |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} % |",
                r.name,
                r.logme,
                r.leep,
                r.h_score,
                r.knn,
                100.0 * r.accuracy
            );
        }
        let acc: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
        let tau =
            |f: fn(&Scored) -> f64| kendall_tau(&rows.iter().map(f).collect::<Vec<_>>(), &acc);
        let taus = [
            ("LogME", tau(|r| r.logme)),
            ("LEEP", tau(|r| r.leep)),
            ("H-score", tau(|r| r.h_score)),
            ("5-NN", tau(|r| r.knn)),
        ];
        println!(
            "\nKendall's tau with the fine-tuned accuracy: {}",
            taus.iter()
                .map(|(n, t)| format!("{n} {t:+.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out_json.push(serde_json::json!({
            "target": target,
            "rows": rows.iter().map(|r| serde_json::json!({"candidate": r.name, "logme": r.logme, "leep": r.leep, "h_score": r.h_score, "knn5": r.knn, "accuracy": r.accuracy})).collect::<Vec<_>>(),
            "kendall_tau": taus.iter().map(|(n, t)| (n.to_string(), *t)).collect::<std::collections::BTreeMap<_, _>>(),
        }));
    }
    eprintln!("[{:.0} s] done", start.elapsed().as_secs_f64());
    if let Some(path) = args.json {
        tl_core::checkpoint::write_json(&path, &out_json)?;
    }
    Ok(())
}
