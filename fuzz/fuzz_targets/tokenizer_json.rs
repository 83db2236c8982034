#![no_main]
//! A model folder's `tokenizer.json`, then a text through what it built.
use libfuzzer_sys::fuzz_target;

static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // tl-text catches the tokenizers crate's panics and names them; libFuzzer's panic hook
    // would abort on them before the catch, so the default hook comes back (a panic that
    // escapes is still a crash: libFuzzer aborts on it after unwinding).
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    if let Ok(tokenizer) = tl_text::TextTokenizer::from_bytes(data, 16) {
        if let Ok(ids) = tokenizer.encode("A great book, a terrible ending!") {
            assert!(ids.len() <= 16);
        }
    }
});
