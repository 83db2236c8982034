//! `tl`: transfer learning from the command line.
//!
//! - `tl compare`: the main job, every family's rows on the embedded digits;
//! - `tl run RECIPE.toml`: a comparison on a user's own data, stated in a recipe;
//! - `tl predict MODEL INPUT`: a model `tl run` saved, applied to new texts or images;
//! - `tl report RUN`: the evaluation report of a run, as one HTML page and Markdown;
//! - `tl strategies`: every registered strategy, its family, what it needs, its settings;
//! - `tl models list|show`: the model catalogue.
//!
//! Errors are one line on standard error (`error: ...`) and exit status 1; `--help` on
//! every subcommand documents every flag.

use clap::{Parser, Subcommand};

#[path = "../../../examples/common/mod.rs"]
mod common;
mod compare;
mod data;
mod dsprites;
mod experiment;
mod models;
mod package;
mod plots;
mod predict;
mod progress;
mod recipe;
mod report;
mod run;
mod strategies;

/// Transfer learning on Burn: compare strategies, run recipes on your own data, pick a
/// pretrained model.
#[derive(Parser, Debug)]
#[command(name = "tl", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: strategies of every family compared on the embedded digits.
    Compare(compare::Args),
    /// Runs a recipe: data, pretrained model, strategies, seeds; writes a run folder.
    Run(run::Args),
    /// Applies a saved model (RUN/models/ROW/seed-N) to new texts or images.
    Predict(predict::Args),
    /// The evaluation report of a run: per-class errors, confusion matrix, calibration,
    /// robustness, learning curves, confident mistakes (HTML and Markdown).
    Report(report::Args),
    /// Lists the registered strategies (family, what each needs, default settings).
    Strategies(strategies::Args),
    /// The model catalogue: what each pretrained model was trained on, and where it is.
    Models(models::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Compare(args) => compare::run(args),
        Command::Run(args) => run::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Report(args) => report::run(args),
        Command::Strategies(args) => strategies::run(args),
        Command::Models(args) => models::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
