#![no_main]
//! `tl run` recipes (TOML): checked, or refused in one line naming it.
use libfuzzer_sys::fuzz_target;
#[allow(dead_code)]
#[path = "../../src/bin/tl/recipe.rs"]
mod recipe;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = recipe::parse(text, "fuzz.toml")
    {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
});
