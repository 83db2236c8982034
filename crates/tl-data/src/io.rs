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
    decompress_at_most(raw, source_name, MAX_DECOMPRESSED_BYTES)
}

fn decompress_at_most(raw: Vec<u8>, source_name: &str, most: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // One byte past the cap tells a file that is too large from one that fits exactly.
    let cap = most + 1;
    let result = if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(cap)
            .read_to_end(&mut out)
    } else if raw.starts_with(b"BZh") {
        bzip2::read::MultiBzDecoder::new(raw.as_slice())
            .take(cap)
            .read_to_end(&mut out)
    } else {
        return Ok(raw);
    };
    let parse = |reason: String| DataError::Parse {
        source_name: source_name.to_string(),
        line: None,
        reason,
    };
    result.map_err(|e| parse(format!("corrupt compressed data: {e}")))?;
    if out.len() as u64 > most {
        return Err(parse(format!(
            "decompresses to more than {most} bytes; refused (a damaged or hostile archive?)"
        )));
    }
    Ok(out)
}

/// The most a compressed data file may expand to (4 GiB; the largest data set read here,
/// MNIST's training images, is 47 MB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// The first of `names` that exists in `dir` (e.g. with and without `.gz`).
pub fn find_file(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Io {
            path: names
                .first()
                .map_or_else(|| dir.to_path_buf(), |n| dir.join(n)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn decompression_is_capped_and_a_missing_file_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[7u8; 1000]).unwrap();
        let raw = gz.finish().unwrap();
        assert_eq!(decompress(raw.clone(), "t").unwrap(), vec![7u8; 1000]);
        assert_eq!(
            decompress_at_most(raw.clone(), "t", 1000).unwrap().len(),
            1000
        );
        let err = decompress_at_most(raw, "t", 999).unwrap_err().to_string();
        assert!(err.contains("more than 999 bytes"), "{err}");
        assert_eq!(decompress(b"plain".to_vec(), "t").unwrap(), b"plain");
        let dir = std::env::temp_dir();
        assert!(find_file(&dir, &[]).is_err());
        assert!(find_file(&dir, &["no-such-file-here.idx"]).is_err());
    }
}
