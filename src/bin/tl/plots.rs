//! The report's pictures as SVG (plotters): every one with a title, axis labels and, where
//! it has more than one series, a legend.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;

type Res<T> = Result<T, Box<dyn Error>>;

fn err(e: impl std::fmt::Display) -> Box<dyn Error> {
    format!("drawing a picture: {e}").into()
}

/// Lines of `(x, y)` points, one per named series.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Res<String> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A confusion matrix: rows the true class, columns the predicted one; cells shaded by the
/// share of their row, with the count written in.
pub fn confusion(title: &str, names: &[String], counts: &[Vec<usize>]) -> Res<String> {
    let k = names.len();
    let size = (160 + 46 * k as u32).clamp(360, 900);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size + 60, size)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())
            .map_err(err)?;
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < k => {
                names[if flip { k - 1 - *i } else { *i }].clone()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .draw()
            .map_err(err)?;
        for (t, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum::<usize>().max(1);
            for (p, &n) in row.iter().enumerate() {
                let share = n as f64 / total as f64;
                let y = k - 1 - t;
                let shade = RGBColor(
                    (255.0 - 200.0 * share) as u8,
                    (255.0 - 150.0 * share) as u8,
                    255,
                );
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                        ],
                        shade.filled(),
                    )))
                    .map_err(err)?;
                let color = if share > 0.6 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        n.to_string(),
                        (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                        ("sans-serif", 14)
                            .into_font()
                            .color(&color)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A reliability diagram: per confidence bin `(low, high, accuracy, count)`, the accuracy
/// as a bar, against the diagonal of perfect calibration.
pub fn reliability(title: &str, bins: &[(f64, f64, f64, usize)]) -> Res<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (520, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("confidence (top class probability)")
            .y_desc("accuracy")
            .draw()
            .map_err(err)?;
        let bar = BLUE.mix(0.55);
        chart
            .draw_series(
                bins.iter()
                    .filter(|b| b.3 > 0)
                    .map(|&(lo, hi, acc, _)| Rectangle::new([(lo, 0.0), (hi, acc)], bar.filled())),
            )
            .map_err(err)?
            .label("accuracy in the bin")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], bar.filled()));
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The training loss per epoch of every report of `seed` that has a history; `None` when
/// none has.
pub fn learning_curves(
    title: &str,
    comparison: &tl::tl_core::report::Comparison,
    seed: u64,
) -> Res<Option<String>> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = comparison
        .reports
        .iter()
        .filter(|r| r.seed == seed && !r.history.is_empty())
        .map(|r| {
            let points = r
                .history
                .iter()
                .map(|e| (e.epoch as f64, e.train_loss))
                .collect();
            (r.strategy.clone(), points)
        })
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    lines(title, "epoch", "training loss (each method's own)", &curves).map(Some)
}

/// One bar per row (its mean), with a line from mean - std to mean + std.
pub fn bars(title: &str, y_label: &str, rows: &[(String, f64, f64)]) -> Res<String> {
    let k = rows.len().max(1);
    let top = rows
        .iter()
        .map(|r| r.1 + r.2)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let mut svg = String::new();
    {
        let width = (160 + 90 * k as u32).clamp(480, 1400);
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d((0..k - 1).into_segmented(), 0.0..top * 1.3)
            .map_err(err)?;
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("row")
            .y_desc(y_label)
            .x_labels(k)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(err)?;
        let fill = BLUE.mix(0.55);
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), r.1),
                    ],
                    fill.filled(),
                );
                bar.set_margin(0, 0, 14, 14);
                bar
            }))
            .map_err(err)?
            .label("mean over seeds")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled()));
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                PathElement::new(
                    vec![
                        (SegmentValue::CenterOf(i), r.1 - r.2),
                        (SegmentValue::CenterOf(i), r.1 + r.2),
                    ],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(err)?
            .label("± one standard deviation")
            .legend(|(x, y)| {
                PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], BLACK.stroke_width(2))
            });
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
