//! Pictures that say more than a table: 2-D projections of features (PCA) drawn as scatter
//! plots into a PNG, one panel per view, written atomically.

use crate::checkpoint::write_atomic;
use crate::error::{CoreError, Result};
use image::{ImageFormat, Rgb, RgbImage};
use std::io::Cursor;
use std::path::Path;

/// The first two principal components of `rows` (`n * dim` values): each row's coordinates,
/// found by power iteration on the covariance (deflated for the second), deterministic.
pub fn pca_2d(rows: &[f32], dim: usize) -> Result<Vec<[f32; 2]>> {
    if dim == 0 || rows.is_empty() || !rows.len().is_multiple_of(dim) {
        return Err(CoreError::data(
            "pca",
            format!("{} values are not rows of width {dim}", rows.len()),
        ));
    }
    let n = rows.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for r in rows.chunks(dim) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64 / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = rows
        .chunks(dim)
        .map(|r| r.iter().zip(&mean).map(|(v, m)| *v as f64 - m).collect())
        .collect();
    // Covariance times a vector without forming it: X^T (X v) / n.
    let cov_times = |v: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; dim];
        for r in &centred {
            let p: f64 = r.iter().zip(v).map(|(a, b)| a * b).sum();
            for (o, a) in out.iter_mut().zip(r) {
                *o += p * a / n as f64;
            }
        }
        out
    };
    let normalise = |v: &mut Vec<f64>| {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-30);
        v.iter_mut().for_each(|x| *x /= norm);
    };
    let mut components: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..dim)
            .map(|i| 1.0 + ((i * 7 + k * 3) % 11) as f64 / 11.0)
            .collect();
        normalise(&mut v);
        for _ in 0..200 {
            let mut w = cov_times(&v);
            for c in &components {
                let p: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(a, b)| *a -= p * b);
            }
            normalise(&mut w);
            v = w;
        }
        components.push(v);
    }
    Ok(centred
        .iter()
        .map(|r| {
            let p = |c: &[f64]| r.iter().zip(c).map(|(a, b)| a * b).sum::<f64>() as f32;
            [p(&components[0]), p(&components[1])]
        })
        .collect())
}

/// A point of a scatter panel: where, its class (the colour) and whether it is filled
/// (source) or a ring (target).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Coordinates.
    pub xy: [f32; 2],
    /// Class, coloured from a 10-colour palette (cycled).
    pub class: usize,
    /// Filled dot (true) or ring (false).
    pub filled: bool,
}

/// Ten distinguishable colours (Tableau 10).
const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Draws the panels side by side (each `size` x `size` pixels, scaled to its own points, a
/// grey frame around each) and writes them as a PNG to `path` atomically.
pub fn write_scatter_png(path: &Path, panels: &[Vec<Point>], size: u32) -> Result<()> {
    // A panel of 4096 px is already a 16-megapixel picture; beyond that sizes overflow.
    if panels.is_empty() || !(16..=4096).contains(&size) || panels.len() > 64 {
        return Err(CoreError::config(
            "plot",
            format!(
                "need 1 to 64 panels of 16 to 4096 px, got {} of {size} px",
                panels.len()
            ),
        ));
    }
    let gap = 8;
    let width = panels.len() as u32 * (size + gap) + gap;
    let mut img = RgbImage::from_pixel(width, size + 2 * gap, Rgb([255, 255, 255]));
    for (k, points) in panels.iter().enumerate() {
        let x0 = gap + k as u32 * (size + gap);
        let (y0, s) = (gap, size);
        for i in 0..s {
            for (x, y) in [
                (x0 + i, y0),
                (x0 + i, y0 + s - 1),
                (x0, y0 + i),
                (x0 + s - 1, y0 + i),
            ] {
                img.put_pixel(x, y, Rgb([180, 180, 180]));
            }
        }
        let finite = points.iter().filter(|p| p.xy.iter().all(|v| v.is_finite()));
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in finite.clone() {
            for d in 0..2 {
                lo[d] = lo[d].min(p.xy[d]);
                hi[d] = hi[d].max(p.xy[d]);
            }
        }
        let margin = 6.0;
        let to_px = |v: f32, d: usize| -> f32 {
            let span = (hi[d] - lo[d]).max(1e-9);
            margin + (v - lo[d]) / span * (s as f32 - 2.0 * margin)
        };
        for p in finite {
            let cx = x0 as f32 + to_px(p.xy[0], 0);
            let cy = y0 as f32 + s as f32 - to_px(p.xy[1], 1);
            let colour = Rgb(PALETTE[p.class % PALETTE.len()]);
            for dy in -3i32..=3 {
                for dx in -3i32..=3 {
                    let r2 = dx * dx + dy * dy;
                    let on = if p.filled {
                        r2 <= 5
                    } else {
                        (5..=10).contains(&r2)
                    };
                    let (x, y) = (cx as i32 + dx, cy as i32 + dy);
                    if on && x >= 0 && y >= 0 && (x as u32) < width && (y as u32) < size + 2 * gap {
                        img.put_pixel(x as u32, y as u32, colour);
                    }
                }
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| CoreError::config("plot", format!("PNG encoding failed: {e}")))?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_long_axis_and_the_png_is_written() {
        // Points along (1, 1, 0) with a little spread on (1, -1, 0).
        let mut rows = Vec::new();
        for i in 0..50 {
            let t = i as f32 - 25.0;
            let e = if i % 2 == 0 { 0.5 } else { -0.5 };
            rows.extend([t + e, t - e, 0.0]);
        }
        let p = pca_2d(&rows, 3).unwrap();
        let spread = |d: usize| p.iter().map(|q| q[d] * q[d]).sum::<f32>() / 50.0;
        assert!(
            spread(0) > 100.0 * spread(1),
            "{} vs {}",
            spread(0),
            spread(1)
        );
        assert!(
            (spread(1) - 0.5).abs() < 0.05,
            "second axis variance {}",
            spread(1)
        );
        let dir = std::env::temp_dir().join(format!("tl-plot-{}", std::process::id()));
        let path = dir.join("scatter.png");
        let points: Vec<Point> = p
            .iter()
            .enumerate()
            .map(|(i, xy)| Point {
                xy: *xy,
                class: i % 3,
                filled: i % 2 == 0,
            })
            .collect();
        write_scatter_png(&path, &[points.clone(), points], 64).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (2 * 72 + 8, 80));
        assert!(pca_2d(&rows[..5], 3).is_err());
        let err = write_scatter_png(&path, &[vec![]], u32::MAX).unwrap_err();
        assert!(err.to_string().contains("16 to 4096 px"), "{err}");
        assert!(write_scatter_png(&path, &[], 64).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
