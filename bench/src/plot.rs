//! The hit-ratio chart: panels of lines over a log2 x axis, drawn with plotters into an RGB
//! buffer and written as PNG.
//!
//! Text is set in Inconsolata (SIL Open Font License, `bench/assets/`), embedded in the binary,
//! so the chart is the same on any machine, with or without system fonts.

use std::fmt::Display;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

pub(crate) type Rgb = [u8; 3];

const GREY: RGBColor = RGBColor(120, 120, 120);
const LIGHT: RGBColor = RGBColor(225, 225, 225);

/// The name the embedded font is registered under.
const FONT: &str = "inconsolata";
static FONT_FILE: &[u8] = include_bytes!("../assets/Inconsolata.otf");

/// One line of a panel.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: Rgb,
    /// A dashed line with hollow markers, drawn below the solid lines (for a reference series).
    pub(crate) dashed: bool,
    /// (x, y) points; x is drawn on a log2 axis.
    pub(crate) points: Vec<(f64, f64)>,
}

/// One chart: a title, axis labels and lines, y in [0, 1].
#[derive(Debug)]
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) x_ticks: Vec<f64>,
    pub(crate) series: Vec<Series>,
}

/// Draw `panels` side by side, each `panel_w` × `panel_h` pixels, into a PNG at `path`.
pub(crate) fn save_png(
    panels: &[Panel],
    (panel_w, panel_h): (u32, u32),
    path: &Path,
) -> Result<(), String> {
    register_font(FONT, FontStyle::Normal, FONT_FILE)
        .map_err(|_| "the embedded font does not parse".to_owned())?;
    let (width, height) = (panel_w * panels.len() as u32, panel_h);
    let mut pixels = vec![255; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let failed = |e: &dyn Display| format!("drawing {}: {e}", path.display());
        for (area, panel) in root
            .split_evenly((1, panels.len().max(1)))
            .iter()
            .zip(panels)
        {
            draw_panel(area, panel).map_err(|e| failed(&e))?;
        }
        root.present().map_err(|e| failed(&e))?;
    }
    write_png(path, (width, height), &pixels)
}

fn rgb([r, g, b]: Rgb) -> RGBColor {
    RGBColor(r, g, b)
}

/// Draw `panel` into `area`.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    // x is drawn as log2(x); the ticks are powers of two, one per unit.
    let (lo, hi) = panel
        .x_ticks
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| {
            (lo.min(x.log2()), hi.max(x.log2()))
        });
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 24))
        .margin_top(8)
        .margin_left(12)
        .margin_right(36)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_labels(panel.x_ticks.len())
        .y_labels(6)
        .x_label_formatter(&|x| format!("{}", x.exp2().round()))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style((FONT, 20))
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .axis_desc_style((FONT, 20))
        .bold_line_style(LIGHT)
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(2))
        .draw()?;

    // Dashed reference series first, so the solid lines stay visible over them.
    let mut order: Vec<&Series> = panel.series.iter().collect();
    order.sort_by_key(|series| !series.dashed);
    for series in order {
        let color = rgb(series.color);
        let points = series.points.iter().map(|&(x, y)| (x.log2(), y));
        let line = color.stroke_width(3);
        if series.dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 7, 7, line))?;
        } else {
            chart.draw_series(LineSeries::new(points.clone(), line))?;
        }
        for (half, style) in marker(series.dashed, color) {
            chart.draw_series(points.clone().map(|p| {
                EmptyElement::at(p) + Rectangle::new([(-half, -half), (half, half)], style)
            }))?;
        }
    }

    // The legend, in the panel's order: entries without points of their own.
    for series in &panel.series {
        let (color, dashed) = (rgb(series.color), series.dashed);
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label(&series.name)
            .legend(move |(x, y)| {
                // A dashed key is two pieces of the line; a solid one, the whole line twice.
                let (first, second) = if dashed { (7, 21) } else { (28, 0) };
                let line = color.stroke_width(3);
                let [(outer, outer_style), (inner, inner_style)] = marker(dashed, color);
                EmptyElement::at((x + 14, y))
                    + PathElement::new([(-14, 0), (first - 14, 0)], line)
                    + PathElement::new([(second - 14, 0), (14, 0)], line)
                    + Rectangle::new([(-outer, -outer), (outer, outer)], outer_style)
                    + Rectangle::new([(-inner, -inner), (inner, inner)], inner_style)
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .margin(10)
        .legend_area_size(36)
        .label_font((FONT, 20))
        .background_style(WHITE)
        .border_style(GREY)
        .draw()?;
    Ok(())
}

/// A square marker as two filled squares (half-size, style), the second drawn over the first:
/// a solid 9-pixel square, or a hollow 13-pixel one with a 2-pixel outline.
fn marker(hollow: bool, color: RGBColor) -> [(i32, ShapeStyle); 2] {
    let (outer, inner) = if hollow { (6, WHITE) } else { (4, color) };
    [(outer, color.filled()), (4, inner.filled())]
}

fn write_png(path: &Path, (width, height): (u32, u32), pixels: &[u8]) -> Result<(), String> {
    let failed = |e: &dyn Display| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = File::create(path).map_err(|e| failed(&e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| failed(&e))?;
    writer.write_image_data(pixels).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    /// The chart decodes as a PNG of the asked size, with the series' colours and the title's
    /// text (dark pixels in the top band) drawn.
    #[test]
    fn draws_panels_with_lines_and_text() {
        let series = |name: &str, color: Rgb, dashed| Series {
            name: name.to_owned(),
            color,
            dashed,
            points: vec![(64.0, 0.2), (512.0, 0.5), (4096.0, 0.9)],
        };
        let panel = |title: &str| Panel {
            title: title.to_owned(),
            x_label: "capacity".to_owned(),
            y_label: "hit ratio".to_owned(),
            x_ticks: vec![64.0, 512.0, 4096.0],
            series: vec![
                series("solid", [214, 39, 40], false),
                series("dashed", [44, 160, 44], true),
            ],
        };
        let path = std::env::temp_dir().join(format!("forze-plot-{}.png", std::process::id()));
        save_png(&[panel("left"), panel("right")], (320, 240), &path).unwrap();

        let decoder = png::Decoder::new(BufReader::new(File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((info.width, info.height), (640, 240));
        assert_eq!(info.color_type, png::ColorType::Rgb);

        let rgb: Vec<Rgb> = pixels.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
        assert!(rgb.contains(&[214, 39, 40]), "the solid series is drawn");
        assert!(rgb.contains(&[44, 160, 44]), "the dashed series is drawn");
        let title_band = &rgb[..640 * 30];
        assert!(
            title_band.iter().any(|p| p.iter().all(|&c| c < 100)),
            "the titles are drawn"
        );
    }
}
