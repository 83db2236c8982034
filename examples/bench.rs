//! Benchmark (not a test): the toolkit's backends side by side with PyTorch, in one run, on
//! one table. Ratios are the result (time on the backend / time in PyTorch; below 1 is
//! faster), not the absolute times, which move with the machine.
//!
//! ```text
//! cargo run --release --example bench                           # flex against PyTorch (CPU)
//! source scripts/setup-libtorch.sh
//! cargo run --release --features tch --example bench -- --devices flex,tch
//! cargo run --release --features wgpu,tch --example bench -- --devices wgpu,tch-cuda --torch-device cuda
//! ```
//!
//! Rows: one training step of the MNIST CNN (Adam, cross-entropy) at batch 128 and 1024, its
//! inference at the same batches, and with all-MiniLM-L6-v2 under `TL_MODEL_DIR`: a
//! sentence-embedding batch (32 sentences of 128 tokens, mean pooling, normalised) and a full
//! fine-tuning step (the same batch, a linear head, AdamW, dropout on); and with MNIST and
//! USPS under `TL_DATA_DIR` and the MNIST CNN under `TL_MODEL_DIR`: DANN on MNIST -> USPS
//! (MNIST framing, as `examples/domain_adaptation.rs` runs it: 5,400 source images, batch 64
//! of each domain, Adam 2e-4, the discriminator 10x, 3 epochs), its first epoch's time and
//! the time until the USPS test accuracy, scored after every epoch, first reaches 96 %
//! (`examples/dann_reference.py` is the same in PyTorch; `--dann-seeds`, mean over seeds).
//! Each figure is the
//! median of `--repeats` runs after two of warm-up, every result read back to the host
//! before the clock stops. The PyTorch column runs `examples/bench.py` with the same models,
//! shapes, optimisers and threads (`--python`, default the `python3` on `PATH`; it needs
//! `torch`, and `transformers` for the MiniLM rows). `--json PATH` writes every figure.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use clap::Parser;
use std::collections::BTreeMap;
use std::time::Instant;
use tl::prelude::*;
use tl::tl_models::arch::mnist_cnn;
use tl::tl_text::encoder::padded_batch;
use tl::tl_text::{LoadOptions, SentenceEncoder};

#[derive(Parser)]
struct Args {
    /// Backends to time, by device name (those compiled in; see `tl_core::device`).
    #[arg(long, value_delimiter = ',', default_value = "flex")]
    devices: Vec<String>,
    /// PyTorch's device for the reference column: `cpu` or `cuda`; `none` to skip it.
    #[arg(long, default_value = "cpu")]
    torch_device: String,
    /// The Python that runs `examples/bench.py`.
    #[arg(long, default_value = "python3")]
    python: String,
    /// CPU threads for PyTorch (Burn's CPU backends use every core of the machine).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed runs per figure (the median is reported).
    #[arg(long, default_value_t = 7)]
    repeats: usize,
    /// Rows to run (default: all): cnn-train-128, cnn-train-1024, cnn-infer-128,
    /// cnn-infer-1024, minilm-embed, minilm-finetune, minilm-top3 (the top three layers
    /// trained on the cached states of the lower three: tl-text's BertTop).
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Seeds of the DANN rows (each a whole fit).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    dann_seeds: u64,
    /// Writes every figure as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const ROWS: [(&str, &str); 9] = [
    ("cnn-train-128", "MNIST CNN training step, batch 128"),
    ("cnn-train-1024", "MNIST CNN training step, batch 1024"),
    ("cnn-infer-128", "MNIST CNN inference, batch 128"),
    ("cnn-infer-1024", "MNIST CNN inference, batch 1024"),
    ("minilm-embed", "MiniLM embedding, 32 x 128 tokens"),
    (
        "minilm-finetune",
        "MiniLM fine-tuning step, 32 x 128 tokens",
    ),
    (
        "minilm-top3",
        "MiniLM top 3 layers from cached states, step, 32 x 128",
    ),
    ("dann-epoch", "DANN on MNIST -> USPS, one epoch"),
    (
        "dann-to-96",
        "DANN on MNIST -> USPS, time to 96 % on USPS test",
    ),
];

fn median_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Waits for `data` to be on the host. On wgpu, `into_data` can hand back storage that is
/// filled lazily, on first access: a result dropped unread let a timed call return in 1 ms
/// with its work still queued, and the next call pay for both (lavapipe: 0.5-3 ms calls
/// between 500-1,060 ms ones); reading the bytes is what waits.
fn on_host(data: TensorData) {
    std::hint::black_box(data.as_bytes().iter().fold(0u8, |a, b| a ^ b));
}

fn cnn_batch(batch: usize, dev: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let x = Tensor::<2>::random([batch, 784], Distribution::Uniform(0.0, 1.0), dev);
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    (x, Tensor::from_data(TensorData::new(labels, [batch]), dev))
}

/// Median ms of one training step of `model` (on the autodiff device): cross-entropy on
/// `x`, `y` and one step of `optim` at `lr`.
fn train_step_ms<M: ClassifierModel>(
    model: M,
    mut optim: ModuleOptimizer,
    lr: f64,
    (x, y): (Tensor<2>, Tensor<1, Int>),
    repeats: usize,
) -> f64 {
    let loss_fn = CrossEntropyLossConfig::new().init(&x.device());
    let mut model = Some(model);
    median_ms(repeats, || {
        let m = model.take().expect("put back below");
        let loss = loss_fn.forward(m.logits(x.clone()), y.clone());
        // As tl-core's trainer does: the loss is read (its NaN check) before the backward
        // consumes it. The update is awaited by the next step's forward (the median is over
        // whole steps).
        let _ = tl::tl_core::train::scalar(&loss);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let m = optim.step(lr, m, grads);
        model = Some(m);
    })
}

fn cnn_train(
    dev: &Device,
    batch: usize,
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let ad = dev.clone().autodiff();
    dev.seed(0);
    let model = mnist_cnn(dev)?.fork(&ad).train();
    let batch = cnn_batch(batch, &ad);
    Ok(train_step_ms(
        model,
        AdamConfig::new().init(),
        1e-3,
        batch,
        repeats,
    ))
}

fn cnn_infer(
    dev: &Device,
    batch: usize,
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    dev.seed(0);
    let model = mnist_cnn(dev)?;
    let (x, _) = cnn_batch(batch, dev);
    Ok(median_ms(repeats, || {
        on_host(model.forward(x.clone()).argmax(1).into_data());
    }))
}

/// 32 rows of 128 token ids, the same on both sides (bench.py draws them the same way).
fn token_rows(vocab: usize) -> Vec<Vec<u32>> {
    (0..32)
        .map(|i| {
            (0..128)
                .map(|j| match j {
                    0 => 101,
                    127 => 102,
                    _ => (1000 + (i * 7919 + j * 31) % (vocab - 1000)) as u32,
                })
                .collect()
        })
        .collect()
}

fn minilm_embed(
    enc: &SentenceEncoder,
    dev: &Device,
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let rows = token_rows(enc.tokenizer().vocab_size());
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let model = enc.model().valid();
    Ok(median_ms(repeats, || {
        let (ids, pad) = padded_batch(&refs, enc.tokenizer().pad_id(), dev);
        on_host(model.embed(ids, pad).into_data());
    }))
}

/// Labels 0, 1, 0, 1... for the 32 rows of [`token_rows`].
fn two_class_labels(device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = (0..32).map(|i| i % 2).collect();
    Tensor::from_data(TensorData::new(labels, [32]), device)
}

fn minilm_finetune(
    enc: &SentenceEncoder,
    dev: &Device,
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let ad = dev.clone().autodiff();
    let rows = token_rows(enc.tokenizer().vocab_size());
    let inputs = tl::tl_text::encoder::ids_to_inputs(&rows, 128, enc.tokenizer().pad_id())?;
    let x = inputs.tensor(&(0..32).collect::<Vec<_>>(), &ad);
    let y = two_class_labels(&ad);
    dev.seed(0);
    let model = enc.classifier(2, &ad)?.train();
    let optim = AdamWConfig::new().init();
    Ok(train_step_ms(model, optim, 2e-5, (x, y), repeats))
}

/// A step of the top three layers and a head on the token states of the lower three,
/// computed once (what `examples/text_adaptation.rs` trains).
fn minilm_top3(
    enc: &SentenceEncoder,
    dev: &Device,
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let ad = dev.clone().autodiff();
    let rows = token_rows(enc.tokenizer().vocab_size());
    let states = enc.states_of_ids(&rows, 3, 32, dev, |_, _| {})?;
    let inputs = tl::tl_core::data::Inputs::new(
        vec![tl::tl_text::states_item_len(enc.max_len(), enc.dim())],
        states,
    )?;
    let x = inputs.tensor(&(0..32).collect::<Vec<_>>(), &ad);
    let y = two_class_labels(&ad);
    dev.seed(0);
    let top = tl::tl_text::BertTop::from_bert(enc.model(), 3)?.fork(&ad);
    let head = tl::tl_core::model::head_config(enc.dim(), &[], 2).init(&ad)?;
    let model = tl::tl_core::model::Classifier::new(top, head)?.train();
    Ok(train_step_ms(
        model,
        AdamWConfig::new().init(),
        2e-5,
        (x, y),
        repeats,
    ))
}

/// DANN on MNIST -> USPS for `seeds` seeds: (mean ms of the first epoch, mean ms until the
/// USPS test accuracy first reaches 96 %, NaN when a seed never does).
fn dann(
    dev: &Device,
    data: &std::path::Path,
    weights: &std::path::Path,
    seeds: u64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    use tl::tl_data::transform::frame_set;
    let (mnist_train, _) = tl::tl_data::idx::mnist(&data.join("mnist"))?;
    let (usps_train, usps_test) = tl::tl_data::libsvm::usps(&data.join("usps"))?;
    let usps_train = frame_set(&usps_train, 20, 28)?;
    let usps_test = frame_set(&usps_test, 20, 28)?;
    let (mut first, mut reach) = (Vec::new(), Vec::new());
    for seed in 0..seeds {
        let (source, _) = tl::tl_data::split::k_per_class(&mnist_train, 600, seed)?;
        let task = TransferTask::new(10)
            .with_source(source)
            .with_target_unlabelled(usps_train.unlabelled())
            .with_target_test(usps_test.clone());
        let model = tl::tl_models::arch::mnist_cnn_pretrained(weights, dev)?.0;
        let settings = serde_json::json!({
            "train": TrainConfig::new().with_epochs(3).with_batch_size(64).with_lr(2e-4),
            "discriminator_lr_factor": 10.0,
        });
        let strategy = tl::registry()?.create("dann", &settings)?;
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let (_, report) = strategy.fit(Pretrained::classifier(model), &task, &mut ctx)?;
        let mut clock = 0.0;
        let mut reached = f64::NAN;
        for (i, epoch) in report.history.iter().enumerate() {
            clock += epoch.seconds * 1000.0;
            if i == 0 {
                first.push(epoch.seconds * 1000.0);
            }
            let accuracy = epoch.extra.get("target_accuracy").copied();
            if reached.is_nan() && accuracy.is_some_and(|a| a >= 0.96) {
                reached = clock;
            }
        }
        eprintln!(
            "        DANN seed {seed}: USPS test {:.2} %, 96 % reached at {:.1} s",
            100.0 * report.metrics.accuracy,
            reached / 1000.0
        );
        reach.push(reached);
    }
    Ok((mean(&first), mean(&reach)))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The PyTorch side's script: beside this file where it was built, else `examples/NAME` under
/// the working folder (a binary carried to another machine, as `scripts/gpu-bench.sh` does).
fn python_script(name: &str) -> std::path::PathBuf {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    if built.is_file() {
        built
    } else {
        std::path::Path::new("examples").join(name)
    }
}

/// PyTorch's DANN (`examples/dann_reference.py`): (mean ms of the first epoch, mean ms to 96 %).
fn pytorch_dann(
    args: &Args,
    data: &std::path::Path,
    weights: &std::path::Path,
) -> Result<(f64, f64), String> {
    let out = std::process::Command::new(&args.python)
        .arg(python_script("dann_reference.py"))
        .arg(data)
        .arg(weights)
        .args(["--device", &args.torch_device])
        .args(["--seeds", &args.dann_seeds.to_string()])
        .args(["--threads", &args.threads.unwrap_or(2).to_string()])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.python))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err
            .lines()
            .last()
            .unwrap_or("dann_reference.py failed")
            .to_string());
    }
    let (mut first, mut reach) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        eprintln!("        PyTorch {line}");
        let ms = |s: &str| s.parse::<f64>().map_or(f64::NAN, |s| s * 1000.0);
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["epoch", _, "1", secs, _] => first.push(ms(secs)),
            ["reached", _, secs] => reach.push(ms(secs)),
            _ => {}
        }
    }
    Ok((mean(&first), mean(&reach)))
}

/// PyTorch's figures (`row name -> ms`), or why there are none.
fn pytorch(
    args: &Args,
    rows: &[&str],
    minilm: Option<&std::path::Path>,
    dann_inputs: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<BTreeMap<String, f64>, String> {
    let mut figures: BTreeMap<String, f64> = BTreeMap::new();
    // The DANN rows are dann_reference.py's; bench.py times the others (started only for them).
    let timed: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|r| !r.starts_with("dann"))
        .collect();
    if !timed.is_empty() {
        let mut cmd = std::process::Command::new(&args.python);
        cmd.arg(python_script("bench.py"))
            .args(["--device", &args.torch_device])
            .args(["--repeats", &args.repeats.to_string()])
            .args(["--rows", &timed.join(",")]);
        if let Some(t) = args.threads {
            cmd.args(["--threads", &t.to_string()]);
        }
        if let Some(folder) = minilm {
            cmd.arg("--minilm").arg(folder);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", args.python))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(err.lines().last().unwrap_or("bench.py failed").to_string());
        }
        figures.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some("row"), Some(name), Some(ms)) => {
                            Some((name.to_string(), ms.parse().ok()?))
                        }
                        _ => None,
                    }
                }),
        );
    }
    if let Some((data, weights)) =
        dann_inputs.filter(|_| rows.iter().any(|r| r.starts_with("dann")))
    {
        let (epoch, reach) = pytorch_dann(args, data, weights)?;
        figures.insert("dann-epoch".into(), epoch);
        figures.insert("dann-to-96".into(), reach);
    }
    Ok(figures)
}

/// Errors as one line (`error: ...`), not as a debug dump.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let minilm = tl::tl_core::paths::model_dir()
        .map(|d| d.join("all-MiniLM-L6-v2"))
        .filter(|d| d.join("model.safetensors").is_file());
    let data = tl::tl_core::paths::data_dir();
    let cnn_weights = tl::tl_core::paths::model_dir()
        .map(|d| d.join("mnist-cnn/handwriting_model.pth"))
        .filter(|p| p.is_file());
    let dann_inputs = match (&data, &cnn_weights) {
        (Some(d), Some(w)) if d.join("mnist").is_dir() && d.join("usps").is_dir() => {
            Some((d.as_path(), w.as_path()))
        }
        _ => None,
    };
    if let Some(unknown) = args
        .rows
        .iter()
        .find(|r| !ROWS.iter().any(|(name, _)| name == r))
    {
        let known: Vec<&str> = ROWS.iter().map(|(name, _)| *name).collect();
        return Err(format!("unknown row {unknown:?} in --rows: {}", known.join(", ")).into());
    }
    let rows: Vec<&str> = ROWS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| args.rows.is_empty() || args.rows.iter().any(|r| r == name))
        .filter(|name| minilm.is_some() || !name.starts_with("minilm"))
        .filter(|name| dann_inputs.is_some() || !name.starts_with("dann"))
        .collect();
    if dann_inputs.is_none() {
        eprintln!(
            "DANN rows skipped: they need MNIST and USPS under TL_DATA_DIR and mnist-cnn under \
             TL_MODEL_DIR"
        );
    }
    if minilm.is_none() {
        eprintln!(
            "MiniLM rows skipped: no all-MiniLM-L6-v2 under TL_MODEL_DIR (scripts/fetch-minilm.sh)"
        );
    }
    // Each device once, with MiniLM loaded on it when a MiniLM row runs.
    let mut devices = Vec::new();
    for name in &args.devices {
        let dev = device(name)?;
        let enc = match &minilm {
            Some(folder) if rows.iter().any(|r| r.starts_with("minilm")) => {
                Some(SentenceEncoder::load_with(
                    folder,
                    LoadOptions {
                        max_len: Some(128),
                        ..Default::default()
                    },
                    &dev,
                )?)
            }
            _ => None,
        };
        devices.push((name.clone(), dev, enc));
    }
    // Row by row, every backend then PyTorch: a ratio compares figures taken within a minute
    // or two of each other. (On a shared 2-core VM the same binary's CNN step drifted between
    // 88 and 150 ms over minutes; timing all of one side's rows before the other's put that
    // drift into the ratios.)
    let mut figures: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut dann_ms: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut torch: Result<(), String> = if args.torch_device == "none" {
        Err("--torch-device none".to_string())
    } else {
        Ok(())
    };
    for row in &rows {
        for (name, dev, enc) in &devices {
            if row.starts_with("dann") && !dann_ms.contains_key(name) {
                let (d, w) = dann_inputs.expect("rows filtered above");
                dann_ms.insert(name.clone(), dann(dev, d, w, args.dann_seeds)?);
            }
            let ms = match *row {
                "cnn-train-128" => cnn_train(dev, 128, args.repeats)?,
                "cnn-train-1024" => cnn_train(dev, 1024, args.repeats)?,
                "cnn-infer-128" => cnn_infer(dev, 128, args.repeats)?,
                "cnn-infer-1024" => cnn_infer(dev, 1024, args.repeats)?,
                "minilm-embed" => {
                    minilm_embed(enc.as_ref().expect("loaded above"), dev, args.repeats)?
                }
                "minilm-finetune" => {
                    // fine-tuning loads the encoder on the autodiff device
                    let ad_enc = SentenceEncoder::load_with(
                        minilm.as_deref().expect("rows filtered above"),
                        LoadOptions {
                            max_len: Some(128),
                            ..Default::default()
                        },
                        &dev.clone().autodiff(),
                    )?;
                    minilm_finetune(&ad_enc, dev, args.repeats)?
                }
                "minilm-top3" => {
                    minilm_top3(enc.as_ref().expect("loaded above"), dev, args.repeats)?
                }
                "dann-epoch" => dann_ms[name].0,
                "dann-to-96" => dann_ms[name].1,
                other => return Err(format!("unknown row {other}").into()),
            };
            eprintln!("{name:>10} {row:<16} {ms:9.2} ms");
            figures
                .entry(row.to_string())
                .or_default()
                .insert(name.clone(), ms);
        }
        let done = figures.get(*row).is_some_and(|f| f.contains_key("pytorch"));
        if torch.is_ok() && !done {
            // the DANN reference gives both DANN rows at once
            match pytorch(&args, &[*row], minilm.as_deref(), dann_inputs) {
                Ok(t) => {
                    for (r, ms) in t {
                        eprintln!("{:>10} {r:<16} {ms:9.2} ms", "PyTorch");
                        figures.entry(r).or_default().insert("pytorch".into(), ms);
                    }
                }
                Err(why) => {
                    eprintln!("PyTorch column skipped: {why}");
                    torch = Err(why);
                }
            }
        }
    }

    let mut header = String::from("| work |");
    let mut rule = String::from("|---|");
    for d in &args.devices {
        header += &format!(" {d} (ms) |");
        rule += "---:|";
    }
    if torch.is_ok() {
        header += &format!(" PyTorch {} (ms) |", args.torch_device);
        rule += "---:|";
        for d in &args.devices {
            header += &format!(" {d} / PyTorch |");
            rule += "---:|";
        }
    }
    println!("{header}\n{rule}");
    for (row, label) in ROWS.iter().filter(|(r, _)| rows.contains(r)) {
        let f = &figures[*row];
        let mut line = format!("| {label} |");
        let shown = |ms: f64| {
            if ms.is_nan() {
                "not reached".to_string()
            } else {
                format!("{ms:.2}")
            }
        };
        for d in &args.devices {
            line += &format!(" {} |", shown(f[d]));
        }
        if let Some(p) = f.get("pytorch") {
            line += &format!(" {} |", shown(*p));
            for d in &args.devices {
                line += &format!(" {:.2}x |", f[d] / p);
            }
        } else if torch.is_ok() {
            line += " - |";
            for _ in &args.devices {
                line += " - |";
            }
        }
        println!("{line}");
    }
    if let Some(path) = &args.json {
        let value = serde_json::json!({
            "machine": format!("{} CPU threads", std::thread::available_parallelism().map_or(0, |n| n.get())),
            "torch_device": args.torch_device,
            "ms": figures,
        });
        tl::tl_core::checkpoint::write_json(path, &value)?;
    }
    Ok(())
}
