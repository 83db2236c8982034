//! Pictures that say more than a table: 2-D projections of features (PCA) drawn as scatter
//! plots into an SVG (title, axis labels, legend), one panel per view, written atomically.

use crate::checkpoint::write_atomic;
use crate::error::{CoreError, Result};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
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

/// What a scatter picture says beside its points.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterLabels {
    /// The picture's title.
    pub title: String,
    /// What the filled dots are (`"MNIST (source)"`).
    pub filled: String,
    /// What the rings are (`"USPS (target)"`).
    pub rings: String,
    /// Names of the classes, in colour order.
    pub classes: Vec<String>,
}

/// Draws the named panels side by side as an SVG (each `size` x `size` pixels, scaled to its
/// own points), with the picture's title, each panel's name, axis labels (the principal
/// components) and a legend of the classes' colours and of the two markers, and writes it to
/// `path` atomically.
pub fn write_scatter_svg(
    path: &Path,
    labels: &ScatterLabels,
    panels: &[(String, Vec<Point>)],
    size: u32,
) -> Result<()> {
    use plotters::prelude::*;
    if panels.is_empty() || !(100..=2000).contains(&size) || panels.len() > 16 {
        return Err(CoreError::config(
            "plot",
            format!(
                "need 1 to 16 panels of 100 to 2000 px, got {} of {size} px",
                panels.len()
            ),
        ));
    }
    let fail = |e: String| CoreError::config("plot", format!("drawing failed: {e}"));
    let legend_width = 170;
    let width = panels.len() as u32 * size + legend_width;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, size + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let root = root
            .titled(&labels.title, ("sans-serif", 22))
            .map_err(|e| fail(e.to_string()))?;
        let (plots, legend) = root.split_horizontally(panels.len() as u32 * size);
        let areas = plots.split_evenly((1, panels.len()));
        for ((name, points), area) in panels.iter().zip(&areas) {
            let finite: Vec<&Point> = points
                .iter()
                .filter(|p| p.xy.iter().all(|v| v.is_finite()))
                .collect();
            let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
            for p in &finite {
                for d in 0..2 {
                    lo[d] = lo[d].min(p.xy[d]);
                    hi[d] = hi[d].max(p.xy[d]);
                }
            }
            if finite.is_empty() {
                (lo, hi) = ([0.0; 2], [1.0; 2]);
            }
            let pad = |d: usize| ((hi[d] - lo[d]) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(area)
                .caption(name, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(44)
                .build_cartesian_2d(
                    lo[0] - pad(0)..hi[0] + pad(0),
                    lo[1] - pad(1)..hi[1] + pad(1),
                )
                .map_err(|e| fail(e.to_string()))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("PC 1")
                .y_desc("PC 2")
                .x_labels(4)
                .y_labels(4)
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            chart
                .draw_series(finite.iter().map(|p| {
                    let [r, g, b] = PALETTE[p.class % PALETTE.len()];
                    let style = if p.filled {
                        RGBColor(r, g, b).filled()
                    } else {
                        RGBColor(r, g, b).stroke_width(1)
                    };
                    Circle::new((p.xy[0], p.xy[1]), 3, style)
                }))
                .map_err(|e| fail(e.to_string()))?;
        }
        // The legend: the two markers, then one colour per class.
        let text = ("sans-serif", 14).into_font();
        let mut y = 40;
        for (label, filled) in [(&labels.filled, true), (&labels.rings, false)] {
            let style = if filled {
                BLACK.filled()
            } else {
                BLACK.stroke_width(1)
            };
            legend
                .draw(&Circle::new((14, y), 4, style))
                .map_err(|e| fail(e.to_string()))?;
            legend
                .draw(&Text::new(label.clone(), (26, y - 7), text.clone()))
                .map_err(|e| fail(e.to_string()))?;
            y += 22;
        }
        y += 8;
        for (c, name) in labels.classes.iter().enumerate() {
            let [r, g, b] = PALETTE[c % PALETTE.len()];
            legend
                .draw(&Circle::new((14, y), 4, RGBColor(r, g, b).filled()))
                .map_err(|e| fail(e.to_string()))?;
            legend
                .draw(&Text::new(name.clone(), (26, y - 7), text.clone()))
                .map_err(|e| fail(e.to_string()))?;
            y += 20;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    write_atomic(path, svg.as_bytes())
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
    fn pca_finds_the_long_axis_and_the_svg_is_written() {
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
        let path = dir.join("scatter.svg");
        let points: Vec<Point> = p
            .iter()
            .enumerate()
            .map(|(i, xy)| Point {
                xy: *xy,
                class: i % 3,
                filled: i % 2 == 0,
            })
            .collect();
        let labels = ScatterLabels {
            title: "Features".into(),
            filled: "source".into(),
            rings: "target".into(),
            classes: vec!["zero".into(), "one".into(), "two".into()],
        };
        let panels = [
            ("before".to_string(), points.clone()),
            ("after".to_string(), points),
        ];
        write_scatter_svg(&path, &labels, &panels, 300).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // Title, panel names, axis labels and legend are in the picture; one circle a point.
        for text in [
            "Features", "before", "after", "PC 1", "PC 2", "source", "target", "two",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<circle").count() >= 100);
        assert!(pca_2d(&rows[..5], 3).is_err());
        let err = write_scatter_svg(&path, &labels, &panels, u32::MAX).unwrap_err();
        assert!(err.to_string().contains("100 to 2000 px"), "{err}");
        assert!(write_scatter_svg(&path, &labels, &[], 300).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
