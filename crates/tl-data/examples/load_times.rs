//! Benchmark (not a test): how long the loaders take on the real data sets.
//!
//! ```text
//! TL_DATA_DIR=../shared/data cargo run --release -p tl-data --example load_times [-- --json PATH]
//! ```
//! Prints a table (best and median of 5 runs) and, with `--json`, writes the figures.

use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;
use tl_data::{idx, images, libsvm, text};

/// How long the loaders take on the real data sets (needs TL_DATA_DIR): best and median of 5
/// runs.
#[derive(Parser)]
struct Args {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let Some(root) = tl_core::paths::data_dir() else {
        eprintln!("set TL_DATA_DIR to the data folder (e.g. ../shared/data)");
        std::process::exit(2);
    };
    type Loader = Box<dyn Fn() -> Result<usize, tl_data::DataError>>;
    let r = root.clone();
    let cases: Vec<(&str, Loader)> = vec![
        (
            "MNIST train+test (.gz IDX)",
            Box::new(move || idx::mnist(&r.join("mnist")).map(|(a, b)| a.len() + b.len())),
        ),
        ("USPS train+test (.bz2 LIBSVM)", {
            let r = root.clone();
            Box::new(move || libsvm::usps(&r.join("usps")).map(|(a, b)| a.len() + b.len()))
        }),
        ("Omniglot small1 (zip of PNG, 28 px)", {
            let r = root.clone();
            Box::new(move || {
                images::omniglot(&r.join("omniglot/images_background_small1.zip"), 28)
                    .map(|s| s.len())
            })
        }),
        ("Amazon reviews, 4 domains", {
            let r = root.clone();
            Box::new(move || {
                text::AMAZON_DOMAINS.iter().try_fold(0, |n, d| {
                    text::amazon_domain(&r.join("amazon-reviews"), d).map(|s| n + s.len())
                })
            })
        }),
    ];
    println!("| data set | items | best (ms) | median (ms) | items/s |");
    println!("|---|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (name, load) in cases {
        let mut times = Vec::new();
        let mut items = 0;
        for _ in 0..5 {
            let start = Instant::now();
            match load() {
                Ok(n) => items = n,
                Err(e) => {
                    eprintln!("{name}: {e}");
                    std::process::exit(1);
                }
            }
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let (best, median) = (times[0], times[2]);
        println!(
            "| {name} | {items} | {best:.1} | {median:.1} | {:.0} |",
            items as f64 / (median / 1000.0)
        );
        rows.push(format!(
            "{{\"data_set\": \"{name}\", \"items\": {items}, \"best_ms\": {best:.3}, \"median_ms\": {median:.3}}}"
        ));
    }
    if let Some(path) = args.json {
        let body = format!("[\n  {}\n]\n", rows.join(",\n  "));
        if let Err(e) = tl_core::checkpoint::write_atomic(&path, body.as_bytes()) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
