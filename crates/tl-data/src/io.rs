//! Reading files with gzip and bzip2 handled transparently (by their magic bytes, so a
//! renamed file still reads).

use crate::error::{DataError, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a whole file, decompressing gzip (`1f 8b`) or bzip2 (`BZh`) content.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decompress(raw, &path.display().to_string())
}

/// Decompresses gzip or bzip2 content; anything else is returned as it is.
pub fn decompress(raw: Vec<u8>, source_name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let result = if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out)
    } else if raw.starts_with(b"BZh") {
        bzip2::read::MultiBzDecoder::new(raw.as_slice()).read_to_end(&mut out)
    } else {
        return Ok(raw);
    };
    result.map_err(|e| DataError::Parse {
        source_name: source_name.to_string(),
        line: None,
        reason: format!("corrupt compressed data: {e}"),
    })?;
    Ok(out)
}

/// The first of `names` that exists in `dir` (e.g. with and without `.gz`).
pub fn find_file(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Io {
            path: dir.join(names[0]),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("none of {names:?} in {}", dir.display()),
            ),
        })
}

/// Reads text, replacing invalid UTF-8 (the Amazon reviews are not valid UTF-8 everywhere).
pub fn read_text_lossy(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&read_bytes(path)?).into_owned())
}
