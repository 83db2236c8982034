//! Command-line helpers the real-data examples share.
#![allow(dead_code)] // each example uses what it needs

/// The value after flag `name`, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Flag `name` parsed, or `default` when absent; an unparsable value is an error.
pub fn num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Box<dyn std::error::Error>>
where
    T::Err: std::error::Error + 'static,
{
    Ok(arg(name).map_or(Ok(default), |s| s.parse())?)
}
