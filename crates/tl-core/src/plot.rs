//! Pictures that say more than a table: 2-D projections of features (PCA) drawn as scatter
//! plots into a PNG, one panel per view, written atomically.

use crate::checkpoint::write_atomic;
use crate::error::{CoreError, Result};
use image::{ImageFormat, Rgb, RgbImage};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use std::io::Cursor;
use std::path::Path;

/// The first two principal components of `rows` (`n * dim` values): each row's coordinates
/// on the two eigenvectors of the covariance with the largest eigenvalues (an exact symmetric
/// eigen-decomposition, nalgebra's `SymmetricEigen`). Each eigenvector's sign is fixed so that
/// its component of largest magnitude (the first, on a tie) is positive, so the picture does
/// not flip between runs. With `dim == 1` the second coordinate is 0.
pub fn pca_2d(rows: &[f32], dim: usize) -> Result<Vec<[f32; 2]>> {
    if dim == 0 || rows.is_empty() || !rows.len().is_multiple_of(dim) {
        return Err(CoreError::data(
            "pca",
            format!("{} values are not rows of width {dim}", rows.len()),
        ));
    }
    let n = rows.len() / dim;
    let x = DMatrix::from_row_iterator(n, dim, rows.iter().map(|v| *v as f64));
    let mean = x.row_mean();
    let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
    let covariance = centred.tr_mul(&centred) / n as f64;
    let eigen = SymmetricEigen::new(covariance);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let component = |k: usize| -> DVector<f64> {
        let Some(&i) = order.get(k) else {
            return DVector::zeros(dim);
        };
        let v = eigen.eigenvectors.column(i).into_owned();
        let largest = v.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        // The first component within rounding of the largest magnitude decides the sign.
        let lead = v
            .iter()
            .find(|c| c.abs() >= largest * (1.0 - 1e-9))
            .copied()
            .unwrap_or(0.0);
        if lead < 0.0 { -v } else { v }
    };
    let projected = centred * DMatrix::from_columns(&[component(0), component(1)]);
    Ok((0..n)
        .map(|i| [projected[(i, 0)] as f32, projected[(i, 1)] as f32])
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
    fn pca_recovers_a_known_covariance_with_fixed_signs() {
        // Six points +-s_i v_i (plus an offset) have the covariance V diag(4, 1, 0.25) V^T
        // when s_i^2 = 3 lambda_i; V is the plane rotated by 30 degrees, and z.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let axes = [
            ([c, s, 0.0], 4.0f64),
            ([-s, c, 0.0], 1.0),
            ([0.0, 0.0, 1.0], 0.25),
        ];
        let offset = [5.0, -3.0, 2.0];
        let mut rows = Vec::new();
        let mut expected = Vec::new();
        for (k, (v, lambda)) in axes.iter().enumerate() {
            let a = (3.0 * lambda).sqrt();
            for sign in [1.0, -1.0] {
                rows.extend((0..3).map(|j| (offset[j] + sign * a * v[j]) as f32));
                // The first axis has its largest component (cos 30) positive, the second its
                // largest (cos 30, on y) positive: both as given, so +v projects to +a.
                expected.push(match k {
                    0 => [sign * a, 0.0],
                    1 => [0.0, sign * a],
                    _ => [0.0, 0.0],
                });
            }
        }
        let p = pca_2d(&rows, 3).unwrap();
        for (got, want) in p.iter().zip(&expected) {
            for d in 0..2 {
                assert!(
                    (got[d] as f64 - want[d]).abs() < 1e-5,
                    "{got:?} vs {want:?}"
                );
            }
        }
        // The same cloud mirrored: the signs are fixed by the data's axes, not the input order.
        let mirrored: Vec<f32> = rows.chunks(3).rev().flatten().copied().collect();
        let q = pca_2d(&mirrored, 3).unwrap();
        for (got, want) in q.iter().rev().zip(&p) {
            assert!((got[0] - want[0]).abs() + (got[1] - want[1]).abs() < 1e-5);
        }
        // One dimension: the second coordinate is 0.
        let line = pca_2d(&[1.0, 2.0, 4.0], 1).unwrap();
        assert!(line.iter().all(|q| q[1] == 0.0), "{line:?}");
        assert!(
            line[2][0] > 0.0 && (line[0][0] + 4.0 / 3.0).abs() < 1e-6,
            "{line:?}"
        );
    }

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
