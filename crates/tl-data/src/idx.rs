//! The IDX format of MNIST and Fashion-MNIST (`*-idx3-ubyte[.gz]`, `*-idx1-ubyte[.gz]`).
//!
//! Layout: two zero bytes, a type byte (`0x08` = unsigned byte), the number of dimensions,
//! then each dimension as a big-endian u32, then the data.

use crate::error::{DataError, Result};
use crate::io::{find_file, read_bytes};
use std::path::Path;
use tl_core::data::{Inputs, LabelledSet};

/// A parsed IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Parses an IDX file of unsigned bytes.
pub fn parse_idx(bytes: &[u8], source_name: &str) -> Result<IdxArray> {
    let fail = |reason: String| DataError::Parse {
        source_name: source_name.to_string(),
        line: None,
        reason,
    };
    if bytes.len() < 4 {
        return Err(fail(format!(
            "{} bytes: too short for an IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(fail(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(fail(format!(
            "element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
            bytes[2]
        )));
    }
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(fail("zero dimensions".into()));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(fail(format!(
            "truncated header: {rank} dimensions need {header} bytes"
        )));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| fail(format!("dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(fail(format!(
            "dimensions {dims:?} need {expected} data bytes, the file has {}{}",
            body.len(),
            if body.len() < expected {
                " (truncated)"
            } else {
                ""
            }
        )));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Reads an image file and a label file as one labelled set (pixels scaled to [0, 1],
/// item shape `[1, rows, cols]`, classes `"0"`..`"9"` unless more labels appear).
pub fn load_idx(images: &Path, labels: &Path, domain: &str) -> Result<LabelledSet> {
    let images_name = images.display().to_string();
    let labels_name = labels.display().to_string();
    let img = parse_idx(&read_bytes(images)?, &images_name)?;
    let lab = parse_idx(&read_bytes(labels)?, &labels_name)?;
    if img.dims.len() != 3 {
        return Err(DataError::Parse {
            source_name: images_name,
            line: None,
            reason: format!(
                "images need 3 dimensions (count, rows, cols), found {:?}",
                img.dims
            ),
        });
    }
    if lab.dims.len() != 1 {
        return Err(DataError::Parse {
            source_name: labels_name,
            line: None,
            reason: format!("labels need 1 dimension, found {:?}", lab.dims),
        });
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::Parse {
            source_name: labels_name,
            line: None,
            reason: format!(
                "{} labels for {} images in {images_name}",
                lab.dims[0], img.dims[0]
            ),
        });
    }
    let classes = lab
        .data
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0)
        .max(10);
    let values = img.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    Ok(LabelledSet::new(
        Inputs::new(vec![1, img.dims[1], img.dims[2]], values)?,
        lab.data.iter().map(|&l| usize::from(l)).collect(),
        (0..classes).map(|c| c.to_string()).collect(),
        domain,
    )?)
}

/// MNIST (or Fashion-MNIST) from a folder holding the four official files, gzipped or not:
/// returns (train, test).
pub fn mnist(dir: &Path) -> Result<(LabelledSet, LabelledSet)> {
    let file = |stem: &str| find_file(dir, &[&format!("{stem}.gz"), stem]);
    let train = load_idx(
        &file("train-images-idx3-ubyte")?,
        &file("train-labels-idx1-ubyte")?,
        "mnist",
    )?;
    let test = load_idx(
        &file("t10k-images-idx3-ubyte")?,
        &file("t10k-labels-idx1-ubyte")?,
        "mnist",
    )?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_and_refuses_with_reasons() {
        let a = parse_idx(&idx(&[2, 2], &[1, 2, 3, 4]), "t").unwrap();
        assert_eq!(a.dims, vec![2, 2]);
        assert_eq!(a.data, vec![1, 2, 3, 4]);
        let err = parse_idx(&idx(&[2, 2], &[1, 2, 3]), "t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("need 4 data bytes, the file has 3 (truncated)"),
            "{err}"
        );
        let err = parse_idx(b"\x1f\x8b\x08\x00rest", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("wrong magic number 1f8b0800"), "{err}");
        let err = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "t").unwrap_err();
        assert!(err.to_string().contains("0x0d is not supported"));
        assert!(
            parse_idx(&[], "t")
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        assert!(
            parse_idx(&[0, 0, 8, 3, 0], "t")
                .unwrap_err()
                .to_string()
                .contains("truncated header")
        );
    }

    #[test]
    fn image_label_count_mismatch_is_refused() {
        let dir = std::env::temp_dir().join(format!("tl-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let images = dir.join("img");
        let labels = dir.join("lab");
        std::fs::write(&images, idx(&[2, 2, 2], &[0; 8])).unwrap();
        std::fs::write(&labels, idx(&[3], &[0, 1, 2])).unwrap();
        let err = load_idx(&images, &labels, "t").unwrap_err().to_string();
        assert!(err.contains("3 labels for 2 images"), "{err}");
        std::fs::write(&labels, idx(&[2], &[0, 1])).unwrap();
        let set = load_idx(&images, &labels, "t").unwrap();
        assert_eq!(set.inputs.item_shape, vec![1, 2, 2]);
        std::fs::write(&images, []).unwrap();
        assert!(
            load_idx(&images, &labels, "t")
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
