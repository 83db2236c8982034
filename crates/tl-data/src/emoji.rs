//! The emoji set (`../shared/data/emoji`): the same symbols drawn by two vendors (Google's
//! Noto and Twitter's Twemoji), each symbol with a human-written name, short names, a category
//! and a subcategory. Pairs that share content (the symbol) and differ in style (the vendor),
//! and image-text pairs.
//!
//! Layout: `emoji.json` (one entry per symbol: `name`, `short_names`, `category`,
//! `subcategory`, `image`, `has_img_google`, `has_img_twitter`), `google-64.zip` and
//! `twitter-64.zip` (`VENDOR/64/IMAGE`, 64x64 RGBA PNG).

use crate::error::{DataError, Result};
use crate::images::{MAX_ZIP_ENTRY_BYTES, decode_rgba_on_white};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use tl_core::data::{Inputs, LabelledSet};

/// The two vendors, in the order of [`EmojiSet::vendors`].
pub const EMOJI_VENDORS: [&str; 2] = ["google", "twitter"];

/// One symbol's metadata.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Emoji {
    /// Human-written name, upper case in the source (`GRINNING FACE`); may be absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Short names (`grinning`).
    #[serde(default)]
    pub short_names: Vec<String>,
    /// One of 10 categories (`Smileys & Emotion`).
    pub category: String,
    /// One of 99 subcategories (`face-smiling`).
    pub subcategory: String,
    /// The PNG's file name in each vendor's zip.
    pub image: String,
    /// Whether Google draws it.
    #[serde(default)]
    pub has_img_google: bool,
    /// Whether Twitter draws it.
    #[serde(default)]
    pub has_img_twitter: bool,
}

impl Emoji {
    /// The name in lower case (`grinning face`), or the first short name with `_` as spaces.
    pub fn text_name(&self) -> String {
        match &self.name {
            Some(n) if !n.trim().is_empty() => n.to_lowercase(),
            _ => self
                .short_names
                .first()
                .map_or_else(|| self.image.clone(), |s| s.replace('_', " ")),
        }
    }
}

/// Symbols drawn by both vendors, with both drawings as `[3, size, size]` items in [0, 1]
/// (RGB over a white background), item `i` of each set the same symbol.
#[derive(Debug, Clone)]
pub struct EmojiSet {
    /// Metadata, one per symbol, in `emoji.json`'s order.
    pub symbols: Vec<Emoji>,
    /// Google's drawings.
    pub google: Inputs,
    /// Twitter's drawings.
    pub twitter: Inputs,
}

impl EmojiSet {
    /// The two vendors' drawings, Google's first.
    pub fn vendors(&self) -> [&Inputs; 2] {
        [&self.google, &self.twitter]
    }

    /// One vendor's drawings labelled by symbol (class `i` = symbol `i`, named by its name).
    pub fn by_symbol(&self, vendor: usize) -> Result<LabelledSet> {
        let inputs = self.vendor(vendor)?.clone();
        let names = self.symbols.iter().map(Emoji::text_name).collect();
        Ok(LabelledSet::new(
            inputs,
            (0..self.symbols.len()).collect(),
            names,
            format!("emoji/{}", EMOJI_VENDORS[vendor]),
        )?)
    }

    /// One vendor's drawings labelled by category (classes in name order).
    pub fn by_category(&self, vendor: usize) -> Result<LabelledSet> {
        let inputs = self.vendor(vendor)?.clone();
        let names: Vec<String> = self
            .symbols
            .iter()
            .map(|s| s.category.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let labels = self
            .symbols
            .iter()
            .map(|s| names.iter().position(|n| *n == s.category).unwrap_or(0))
            .collect();
        Ok(LabelledSet::new(
            inputs,
            labels,
            names,
            format!("emoji/{}", EMOJI_VENDORS[vendor]),
        )?)
    }

    fn vendor(&self, vendor: usize) -> Result<&Inputs> {
        self.vendors().get(vendor).copied().ok_or_else(|| {
            DataError::Request(format!("vendor {vendor}: 0 (google) or 1 (twitter)"))
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the emoji folder `dir`, drawings resized to `size` x `size` (64 keeps them); keeps
/// the symbols both vendors draw. A missing file, a corrupt zip or PNG, or a symbol whose
/// drawing is listed but absent is an error naming it.
pub fn emoji(dir: &Path, size: usize) -> Result<EmojiSet> {
    crate::transform::check_side(size, "emoji image size")?;
    let meta_path = dir.join("emoji.json");
    let all: Vec<Emoji> =
        serde_json::from_slice(&read(&meta_path)?).map_err(|e| DataError::Parse {
            source_name: meta_path.display().to_string(),
            line: Some(e.line()),
            reason: format!("not the emoji metadata: {e}"),
        })?;
    let symbols: Vec<Emoji> = all
        .into_iter()
        .filter(|s| s.has_img_google && s.has_img_twitter)
        .collect();
    if symbols.is_empty() {
        return Err(DataError::Parse {
            source_name: meta_path.display().to_string(),
            line: None,
            reason: "no symbol drawn by both Google and Twitter".into(),
        });
    }
    let mut sets = Vec::with_capacity(2);
    for vendor in EMOJI_VENDORS {
        let zip_path = dir.join(format!("{vendor}-64.zip"));
        let zip_name = zip_path.display().to_string();
        let bytes = read(&zip_path)?;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).map_err(|e| {
            DataError::Parse {
                source_name: zip_name.clone(),
                line: None,
                reason: format!("not a zip archive: {e}"),
            }
        })?;
        let mut pngs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|e| DataError::Parse {
                source_name: zip_name.clone(),
                line: None,
                reason: format!("entry {i}: {e}"),
            })?;
            let Some(file) = entry.name().rsplit('/').next().map(str::to_string) else {
                continue;
            };
            if !file.ends_with(".png") {
                continue;
            }
            let mut png = Vec::new();
            entry
                .take(MAX_ZIP_ENTRY_BYTES + 1)
                .read_to_end(&mut png)
                .map_err(|e| DataError::Parse {
                    source_name: format!("{zip_name}:{file}"),
                    line: None,
                    reason: format!("corrupt entry: {e}"),
                })?;
            if png.len() as u64 > MAX_ZIP_ENTRY_BYTES {
                return Err(DataError::Parse {
                    source_name: format!("{zip_name}:{file}"),
                    line: None,
                    reason: format!("entry larger than {MAX_ZIP_ENTRY_BYTES} bytes"),
                });
            }
            pngs.insert(file, png);
        }
        let mut values = Vec::with_capacity(symbols.len() * 3 * size * size);
        for s in &symbols {
            let source = format!("{zip_name}:{}", s.image);
            let png = pngs.get(&s.image).ok_or_else(|| DataError::Parse {
                source_name: zip_name.clone(),
                line: None,
                reason: format!(
                    "{} ({}) is listed but not in the zip",
                    s.image,
                    s.text_name()
                ),
            })?;
            values.extend(decode_rgba_on_white(png, &source, size)?);
        }
        sets.push(Inputs::new(vec![3, size, size], values)?);
    }
    let twitter = sets
        .pop()
        .unwrap_or_else(|| unreachable!("two vendors read"));
    let google = sets
        .pop()
        .unwrap_or_else(|| unreachable!("two vendors read"));
    Ok(EmojiSet {
        symbols,
        google,
        twitter,
    })
}
