//! `tl strategies`: the registry, printed.

use std::error::Error;

/// `tl strategies`: every registered strategy.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only this family (inductive, transductive, unsupervised, adversarial, distillation,
    /// few-shot, disentanglement, cross-modal).
    #[arg(long)]
    family: Option<String>,
    /// Print one strategy's default settings (the keys a recipe's `settings` may set).
    #[arg(long)]
    show: Option<String>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `tl strategies`.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let registry = tl::registry()?;
    if let Some(name) = &args.show {
        let entry = registry.entry(name)?;
        println!(
            "{} ({}): {}\nneeds: {}\ndefault settings:\n{}",
            entry.name(),
            entry.family(),
            entry.summary(),
            needs(entry.needs()),
            serde_json::to_string_pretty(entry.default_config())?
        );
        return Ok(());
    }
    let families: Vec<String> = registry
        .entries()
        .iter()
        .map(|e| e.family().to_string())
        .collect();
    if let Some(f) = &args.family
        && !families.contains(f)
    {
        let mut known = families.clone();
        known.dedup();
        return Err(format!("no family `{f}` (known: {})", known.join(", ")).into());
    }
    let entries: Vec<_> = registry
        .entries()
        .iter()
        .filter(|e| {
            args.family
                .as_ref()
                .is_none_or(|f| e.family().to_string() == *f)
        })
        .collect();
    if args.json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name(),
                    "family": e.family().to_string(),
                    "summary": e.summary(),
                    "needs": e.needs().iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "default_settings": e.default_config(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("| strategy | family | needs | what |\n|---|---|---|---|");
    for e in &entries {
        println!(
            "| {} | {} | {} | {} |",
            e.name(),
            e.family(),
            needs(e.needs()),
            e.summary()
        );
    }
    println!(
        "\n{} strategies; `tl strategies --show NAME` prints one's settings",
        entries.len()
    );
    Ok(())
}

fn needs(parts: &[tl::tl_core::task::TaskPart]) -> String {
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
