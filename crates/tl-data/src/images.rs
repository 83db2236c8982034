//! Image files: Omniglot (zips of PNGs, and the 20 one-shot runs) and a user's own
//! image folders (one subfolder per class, PNG or JPEG).

use crate::error::{DataError, Result};
use crate::transform::{Chw, resize_bilinear};
use image::ImageEncoder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use tl_core::data::{Inputs, LabelledSet};

/// The largest image side [`decode_image`] accepts.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Decodes a PNG/JPEG whose header must claim at most [`MAX_IMAGE_SIDE`] per side and 256 MiB
/// (refused before allocating: a header may claim any size).
fn decode_limited(bytes: &[u8], source_name: &str) -> Result<image::DynamicImage> {
    let unreadable = |e: &dyn std::fmt::Display| DataError::Parse {
        source_name: source_name.to_string(),
        line: None,
        reason: format!("not a readable image: {e}"),
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(256 << 20);
    reader.limits(limits);
    reader.decode().map_err(|e| unreadable(&e))
}

/// Decodes a PNG/JPEG to `channels` (1 = grey, 3 = RGB) in [0, 1], resized to `size` if given.
pub fn decode_image(
    bytes: &[u8],
    source_name: &str,
    channels: usize,
    size: Option<(usize, usize)>,
) -> Result<(Vec<f32>, Chw)> {
    let img = decode_limited(bytes, source_name)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let values: Vec<f32> = match channels {
        1 => img
            .to_luma8()
            .into_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect(),
        3 => {
            let raw = img.to_rgb8().into_raw();
            let plane = w * h;
            let mut chw = vec![0.0; 3 * plane];
            for (i, px) in raw.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    chw[c * plane + i] = f32::from(px[c]) / 255.0;
                }
            }
            chw
        }
        other => {
            return Err(DataError::Request(format!(
                "{other} channels: use 1 (grey) or 3 (RGB)"
            )));
        }
    };
    let shape = Chw::new(channels, h, w);
    Ok(match size {
        Some((nh, nw)) if (nh, nw) != (h, w) => (
            resize_bilinear(&values, shape, nh, nw),
            Chw::new(channels, nh, nw),
        ),
        _ => (values, shape),
    })
}

/// Decodes a PNG/JPEG with transparency composited over white (`a * rgb + (1 - a)`), as
/// `[3, size, size]` values in [0, 1] (resized bilinearly when needed): drawings such as
/// emoji, whose transparent pixels carry arbitrary colours.
pub fn decode_rgba_on_white(bytes: &[u8], source_name: &str, size: usize) -> Result<Vec<f32>> {
    crate::transform::check_side(size, "image size")?;
    let img = decode_limited(bytes, source_name)?.to_rgba8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = w * h;
    let mut chw = vec![0.0; 3 * plane];
    for (i, px) in img.into_raw().chunks_exact(4).enumerate() {
        let a = f32::from(px[3]) / 255.0;
        for c in 0..3 {
            chw[c * plane + i] = a * f32::from(px[c]) / 255.0 + (1.0 - a);
        }
    }
    Ok(if (h, w) == (size, size) {
        chw
    } else {
        resize_bilinear(&chw, Chw::new(3, h, w), size, size)
    })
}

type Archive<'a> = zip::ZipArchive<std::io::Cursor<&'a [u8]>>;

fn open_zip<'a>(bytes: &'a [u8], name: &str) -> Result<Archive<'a>> {
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| DataError::Parse {
        source_name: name.to_string(),
        line: None,
        reason: format!("not a zip archive: {e}"),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The largest zip entry read (a zip's declared sizes are not trusted: a zip bomb or a
/// corrupt header must not allocate gigabytes).
pub const MAX_ZIP_ENTRY_BYTES: u64 = 64 << 20;

/// Reads entry `index` when `wanted(name)` says so; `None` for skipped entries.
fn read_entry(
    archive: &mut Archive<'_>,
    index: usize,
    zip_name: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<(String, Vec<u8>)>> {
    let entry = archive.by_index(index).map_err(|e| DataError::Parse {
        source_name: zip_name.to_string(),
        line: None,
        reason: format!("entry {index}: {e}"),
    })?;
    let name = entry.name().to_string();
    if !wanted(&name) {
        return Ok(None);
    }
    let corrupt = |reason: String| DataError::Parse {
        source_name: format!("{zip_name}:{name}"),
        line: None,
        reason,
    };
    let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
    entry
        .take(MAX_ZIP_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(format!("corrupt entry: {e}")))?;
    if bytes.len() as u64 > MAX_ZIP_ENTRY_BYTES {
        return Err(corrupt(format!(
            "entry larger than {MAX_ZIP_ENTRY_BYTES} bytes"
        )));
    }
    Ok(Some((name, bytes)))
}

/// Omniglot inverted so that ink is 1 and paper 0 (the PNGs draw black strokes on white).
fn ink(values: Vec<f32>) -> Vec<f32> {
    values.into_iter().map(|v| 1.0 - v).collect()
}

/// An Omniglot background zip (`images_background*.zip`: `ROOT/Alphabet/characterNN/*.png`):
/// one class per character, named `Alphabet/characterNN`, items `[1, size, size]`, ink = 1.
/// `size` 105 keeps the original resolution.
pub fn omniglot(zip_path: &Path, size: usize) -> Result<LabelledSet> {
    let domain = zip_path.file_stem().map_or("omniglot".into(), |s| {
        format!("omniglot/{}", s.to_string_lossy())
    });
    omniglot_from_bytes(
        &read_file(zip_path)?,
        &zip_path.display().to_string(),
        &domain,
        size,
    )
}

/// [`omniglot`] on a zip already in memory; `zip_name` names it in errors.
pub fn omniglot_from_bytes(
    bytes: &[u8],
    zip_name: &str,
    domain: &str,
    size: usize,
) -> Result<LabelledSet> {
    crate::transform::check_side(size, "omniglot image size")?;
    let zip_name = zip_name.to_string();
    let mut archive = open_zip(bytes, &zip_name)?;
    let mut by_class: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    for i in 0..archive.len() {
        let is_image = |n: &str| n.split('/').count() == 4 && n.ends_with(".png");
        let Some((name, bytes)) = read_entry(&mut archive, i, &zip_name, is_image)? else {
            continue;
        };
        let parts: Vec<&str> = name.split('/').collect();
        let (values, _) =
            decode_image(&bytes, &format!("{zip_name}:{name}"), 1, Some((size, size)))?;
        by_class
            .entry(format!("{}/{}", parts[1], parts[2]))
            .or_default()
            .push(ink(values));
    }
    if by_class.is_empty() {
        return Err(DataError::Parse {
            source_name: zip_name,
            line: None,
            reason: "no ROOT/Alphabet/character/*.png entries: not an Omniglot background zip"
                .into(),
        });
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let class_names: Vec<String> = by_class.keys().cloned().collect();
    for (label, images) in by_class.into_values().enumerate() {
        for img in images {
            values.extend(img);
            labels.push(label);
        }
    }
    Ok(LabelledSet::new(
        Inputs::new(vec![1, size, size], values)?,
        labels,
        class_names,
        domain,
    )?)
}

/// One of the 20 official one-shot runs: 20 training images (one per class) and 20 test
/// images to classify among them.
#[derive(Debug, Clone)]
pub struct OneShotRun {
    /// Run name (`run01`).
    pub name: String,
    /// One image per class; class `i` is `training/classNN.png` in file order.
    pub train: LabelledSet,
    /// The test images, labelled by `class_labels.txt`.
    pub test: LabelledSet,
}

/// The one-shot runs of `all_runs.zip` (`runNN/class_labels.txt`, `runNN/training/*.png`,
/// `runNN/test/*.png`), images resized to `size`.
pub fn omniglot_runs(zip_path: &Path, size: usize) -> Result<Vec<OneShotRun>> {
    omniglot_runs_from_bytes(&read_file(zip_path)?, &zip_path.display().to_string(), size)
}

/// [`omniglot_runs`] on a zip already in memory; `zip_name` names it in errors.
pub fn omniglot_runs_from_bytes(
    bytes: &[u8],
    zip_name: &str,
    size: usize,
) -> Result<Vec<OneShotRun>> {
    crate::transform::check_side(size, "omniglot image size")?;
    let zip_name = zip_name.to_string();
    let mut archive = open_zip(bytes, &zip_name)?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..archive.len() {
        let wanted = |n: &str| n.ends_with(".png") || n.ends_with("class_labels.txt");
        if let Some((name, bytes)) = read_entry(&mut archive, i, &zip_name, wanted)? {
            files.insert(name, bytes);
        }
    }
    let runs: Vec<String> = files
        .keys()
        .filter_map(|n| n.strip_suffix("/class_labels.txt").map(str::to_string))
        .collect();
    if runs.is_empty() {
        return Err(DataError::Parse {
            source_name: zip_name,
            line: None,
            reason: "no runNN/class_labels.txt: not the Omniglot one-shot runs".into(),
        });
    }
    let mut out = Vec::new();
    for run in runs {
        let labels_name = format!("{run}/class_labels.txt");
        let text = String::from_utf8_lossy(&files[&labels_name]).into_owned();
        let pairs: Vec<(usize, &str, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let mut it = l.split_whitespace();
                match (it.next(), it.next()) {
                    (Some(test), Some(train)) => Ok((i + 1, test, train)),
                    _ => Err(DataError::Parse {
                        source_name: format!("{zip_name}:{labels_name}"),
                        line: Some(i + 1),
                        reason: format!("`{l}` is not `test/itemNN.png training/classNN.png`"),
                    }),
                }
            })
            .collect::<Result<_>>()?;
        let mut classes: Vec<&str> = pairs.iter().map(|(_, _, c)| *c).collect();
        classes.sort_unstable();
        classes.dedup();
        let load = |entry: &str, line: usize| -> Result<Vec<f32>> {
            // class_labels.txt names entries with the run folder in front
            let bytes = files.get(entry).ok_or_else(|| DataError::Parse {
                source_name: format!("{zip_name}:{labels_name}"),
                line: Some(line),
                reason: format!("{entry} is not in the zip"),
            })?;
            Ok(ink(decode_image(bytes, entry, 1, Some((size, size)))?.0))
        };
        let mut train_values = Vec::new();
        for c in &classes {
            let line = pairs.iter().find(|p| p.2 == *c).map_or(0, |p| p.0);
            train_values.extend(load(c, line)?);
        }
        let mut test_values = Vec::new();
        let mut test_labels = Vec::new();
        for (line, test, class) in &pairs {
            test_values.extend(load(test, *line)?);
            test_labels.push(classes.binary_search(class).unwrap_or(0));
        }
        let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
        let domain = format!("omniglot/{run}");
        out.push(OneShotRun {
            name: run.clone(),
            train: LabelledSet::new(
                Inputs::new(vec![1, size, size], train_values)?,
                (0..classes.len()).collect(),
                names.clone(),
                domain.clone(),
            )?,
            test: LabelledSet::new(
                Inputs::new(vec![1, size, size], test_values)?,
                test_labels,
                names,
                domain,
            )?,
        });
    }
    Ok(out)
}

/// A folder with one subfolder per class holding PNG/JPEG images (a user's own data):
/// classes in name order, images resized to `size` (or all must share the first's size).
pub fn image_folder(
    dir: &Path,
    channels: usize,
    size: Option<(usize, usize)>,
) -> Result<LabelledSet> {
    if let Some((h, w)) = size {
        crate::transform::check_side(h, "image height")?;
        crate::transform::check_side(w, "image width")?;
    }
    let io = |path: &Path, source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut classes: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        // Hidden folders (`.ipynb_checkpoints`, `.git`) are not classes.
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::Parse {
            source_name: dir.display().to_string(),
            line: None,
            reason: "no class subfolders".into(),
        });
    }
    let (mut values, mut labels, mut shape) = (Vec::new(), Vec::new(), None::<Chw>);
    for (label, class_dir) in classes.iter().enumerate() {
        let mut files: Vec<_> = std::fs::read_dir(class_dir)
            .map_err(|e| io(class_dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| {
                    let x = x.to_string_lossy().to_ascii_lowercase();
                    x == "png" || x == "jpg" || x == "jpeg"
                })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            // A class of no images would be a class the model is never shown.
            return Err(DataError::Parse {
                source_name: class_dir.display().to_string(),
                line: None,
                reason: "a class folder with no .png or .jpg image".into(),
            });
        }
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| io(&file, e))?;
            let name = file.display().to_string();
            let (item, s) = decode_image(&bytes, &name, channels, size)?;
            match shape {
                None => shape = Some(s),
                Some(first) if first != s => {
                    return Err(DataError::Parse {
                        source_name: name,
                        line: None,
                        reason: format!(
                            "{}x{} differs from the first image's {}x{}: pass a size to resize",
                            s.h, s.w, first.h, first.w
                        ),
                    });
                }
                _ => {}
            }
            values.extend(item);
            labels.push(label);
        }
    }
    let shape = shape.ok_or_else(|| DataError::Parse {
        source_name: dir.display().to_string(),
        line: None,
        reason: "no PNG or JPEG images in the class subfolders".into(),
    })?;
    let class_names = classes
        .iter()
        .map(|c| {
            c.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    Ok(LabelledSet::new(
        Inputs::new(shape.to_vec(), values)?,
        labels,
        class_names,
        dir.display().to_string(),
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_grids_refuse_what_they_cannot_draw() {
        let item = vec![0.5f32; 16];
        let png = super::grid_png(&[&item, &item, &item], &[1, 4, 4], 2, true).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        // 2 columns and 2 rows of 4 px with 2 px of gap around each.
        assert_eq!((img.width(), img.height()), (14, 14));
        let err = super::grid_png(&[&item], &[2, 2, 4], 1, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 or 3 channels, items have 2"), "{err}");
        let err = super::grid_png(&[], &[1, 4, 4], 1, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs items and columns"), "{err}");
        let short = vec![0.0f32; 15];
        let err = super::grid_png(&[&item, &short], &[1, 4, 4], 2, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("item 1 has 15 values, not the 16"), "{err}");
    }

    use super::*;
    use std::io::Write;

    fn png(w: u32, h: u32, grey: u8) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(w, h, image::Luma([grey]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tl-img-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in entries {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn omniglot_zip_classes_and_ink() {
        let dir = temp("omni");
        let z = dir.join("images_background_t.zip");
        write_zip(
            &z,
            &[
                ("root/A/character01/1.png", png(4, 4, 255)),
                ("root/A/character01/2.png", png(4, 4, 0)),
                ("root/B/character01/1.png", png(4, 4, 255)),
            ],
        );
        let set = omniglot(&z, 2).unwrap();
        assert_eq!(set.class_names, vec!["A/character01", "B/character01"]);
        assert_eq!(set.labels, vec![0, 0, 1]);
        assert_eq!(set.inputs.item(0), &[0.0; 4], "white paper is 0");
        assert_eq!(set.inputs.item(1), &[1.0; 4], "black ink is 1");
        write_zip(&z, &[("readme.txt", b"x".to_vec())]);
        let err = omniglot(&z, 2).unwrap_err().to_string();
        assert!(err.contains("not an Omniglot background zip"), "{err}");
        std::fs::write(&z, b"not a zip").unwrap();
        assert!(
            omniglot(&z, 2)
                .unwrap_err()
                .to_string()
                .contains("not a zip archive")
        );
        write_zip(&z, &[("root/A/c/1.png", b"garbage".to_vec())]);
        assert!(
            omniglot(&z, 2)
                .unwrap_err()
                .to_string()
                .contains("not a readable image")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_shot_runs_follow_class_labels() {
        let dir = temp("runs");
        let z = dir.join("runs.zip");
        write_zip(
            &z,
            &[
                (
                    "run01/class_labels.txt",
                    b"run01/test/item01.png run01/training/class02.png\nrun01/test/item02.png run01/training/class01.png\n".to_vec(),
                ),
                ("run01/training/class01.png", png(3, 3, 0)),
                ("run01/training/class02.png", png(3, 3, 255)),
                ("run01/test/item01.png", png(3, 3, 255)),
                ("run01/test/item02.png", png(3, 3, 0)),
            ],
        );
        let runs = omniglot_runs(&z, 3).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].train.labels, vec![0, 1]);
        assert_eq!(runs[0].test.labels, vec![1, 0]);
        write_zip(
            &z,
            &[(
                "run01/class_labels.txt",
                b"run01/test/x.png run01/training/y.png\n".to_vec(),
            )],
        );
        let err = omniglot_runs(&z, 3).unwrap_err().to_string();
        assert!(
            err.contains("line 1: run01/training/y.png is not in the zip"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn image_folders_need_one_size_or_a_resize() {
        let dir = temp("folder");
        std::fs::create_dir_all(dir.join("cat")).unwrap();
        std::fs::create_dir_all(dir.join("dog")).unwrap();
        std::fs::write(dir.join("cat/a.png"), png(4, 4, 10)).unwrap();
        std::fs::write(dir.join("dog/b.png"), png(4, 4, 20)).unwrap();
        let set = image_folder(&dir, 3, None).unwrap();
        assert_eq!(set.inputs.item_shape, vec![3, 4, 4]);
        assert_eq!(set.class_names, vec!["cat", "dog"]);
        std::fs::write(dir.join("dog/c.png"), png(5, 4, 20)).unwrap();
        let err = image_folder(&dir, 1, None).unwrap_err().to_string();
        assert!(err.contains("differs from the first image"), "{err}");
        assert_eq!(image_folder(&dir, 1, Some((8, 8))).unwrap().len(), 3);
        assert!(image_folder(&dir.join("cat"), 1, None).is_err());
        // A hidden folder is no class; a class folder without images is refused by name.
        std::fs::create_dir_all(dir.join(".ipynb_checkpoints")).unwrap();
        assert_eq!(
            image_folder(&dir, 1, Some((8, 8))).unwrap().class_names,
            vec!["cat", "dog"]
        );
        std::fs::create_dir_all(dir.join("emu")).unwrap();
        std::fs::write(dir.join("emu/notes.txt"), b"webp only").unwrap();
        let err = image_folder(&dir, 1, Some((8, 8))).unwrap_err().to_string();
        assert!(
            err.contains("emu") && err.contains("no .png or .jpg image"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod regression {
    /// Found by the `omniglot_zip` fuzz target: a 1 KB zip whose header declares a 3.4 GB
    /// entry made the reader pre-allocate it. It must now be refused cheaply, by name: the
    /// 1 KB holds no 3.4 GB of pixels.
    #[test]
    fn a_zip_declaring_a_huge_entry_does_not_allocate_it() {
        let bytes = include_bytes!("../tests/fixtures/zip-declares-3gb-entry.bin");
        for read in [
            super::omniglot_from_bytes(bytes, "fixture", "fixture", 8).map(|_| ()),
            super::omniglot_runs_from_bytes(bytes, "fixture", 8).map(|_| ()),
        ] {
            let Err(e) = read else {
                panic!("a truncated zip was read")
            };
            assert!(e.to_string().contains("fixture"), "{e}");
        }
    }
}

/// Encodes items of shape `[channels, height, width]` (values in [0, 1], clamped; 1 or 3
/// channels) as one PNG: a grid of `columns` items per row, 2 px of mid-grey between them.
/// `ink` draws 1 as black on white (Omniglot's look) instead of white on black.
pub fn grid_png(
    items: &[&[f32]],
    item_shape: &[usize],
    columns: usize,
    ink: bool,
) -> Result<Vec<u8>> {
    let s = Chw::of(item_shape)?;
    if s.c != 1 && s.c != 3 {
        return Err(DataError::Request(format!(
            "a PNG grid needs 1 or 3 channels, items have {}",
            s.c
        )));
    }
    if items.is_empty() || columns == 0 {
        return Err(DataError::Request(
            "a PNG grid needs items and columns".into(),
        ));
    }
    if let Some((i, item)) = items.iter().enumerate().find(|(_, v)| v.len() != s.size()) {
        return Err(DataError::Request(format!(
            "item {i} has {} values, not the {} of {item_shape:?}",
            item.len(),
            s.size()
        )));
    }
    let gap = 2;
    let rows = items.len().div_ceil(columns);
    let width = columns * (s.w + gap) + gap;
    let height = rows * (s.h + gap) + gap;
    let mut pixels = vec![128u8; width * height * 3];
    for (i, item) in items.iter().enumerate() {
        let (x0, y0) = (
            gap + (i % columns) * (s.w + gap),
            gap + (i / columns) * (s.h + gap),
        );
        for y in 0..s.h {
            for x in 0..s.w {
                for c in 0..3 {
                    let v = item[(c % s.c) * s.h * s.w + y * s.w + x];
                    let v = if v.is_finite() {
                        v.clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let v = if ink { 1.0 - v } else { v };
                    pixels[((y0 + y) * width + x0 + x) * 3 + c] = (v * 255.0).round() as u8;
                }
            }
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &pixels,
            width as u32,
            height as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| DataError::Request(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Writes [`grid_png`] to `path` atomically (a whole file or none).
pub fn write_grid_png(
    path: &Path,
    items: &[&[f32]],
    item_shape: &[usize],
    columns: usize,
    ink: bool,
) -> Result<()> {
    let bytes = grid_png(items, item_shape, columns, ink)?;
    Ok(tl_core::checkpoint::write_atomic(path, &bytes)?)
}
