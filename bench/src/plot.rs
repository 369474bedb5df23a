//! A minimal line-chart renderer: RGB pixels, Bresenham lines, a 5×7 bitmap font, PNG output.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub(crate) type Rgb = [u8; 3];

pub(crate) const WHITE: Rgb = [255, 255, 255];
pub(crate) const BLACK: Rgb = [0, 0, 0];
pub(crate) const GREY: Rgb = [120, 120, 120];
pub(crate) const LIGHT: Rgb = [225, 225, 225];

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

/// An RGB image.
#[derive(Debug)]
pub(crate) struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![255; width * height * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let at = (y as usize * self.width + x as usize) * 3;
        self.pixels[at..at + 3].copy_from_slice(&color);
    }

    pub(crate) fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, color);
            }
        }
    }

    /// A line `thickness` pixels wide.
    pub(crate) fn line(&mut self, from: (i64, i64), to: (i64, i64), thickness: i64, color: Rgb) {
        self.dashed_line(from, to, thickness, color, None);
    }

    /// A line, drawn only on the first half of every `dash`-pixel period if `dash` is given.
    pub(crate) fn dashed_line(
        &mut self,
        from: (i64, i64),
        to: (i64, i64),
        thickness: i64,
        color: Rgb,
        dash: Option<i64>,
    ) {
        let (mut x, mut y) = from;
        let (dx, dy) = ((to.0 - x).abs(), -(to.1 - y).abs());
        let (sx, sy) = (if x < to.0 { 1 } else { -1 }, if y < to.1 { 1 } else { -1 });
        let mut err = dx + dy;
        let half = thickness / 2;
        let mut step = 0i64;
        loop {
            if dash.is_none_or(|period| step % period < period / 2) {
                self.fill_rect(x - half, y - half, thickness, thickness, color);
            }
            step += 1;
            if (x, y) == to {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A square marker centred on (x, y): filled, or a 2-pixel outline.
    pub(crate) fn marker(&mut self, (x, y): (i64, i64), hollow: bool, color: Rgb) {
        if hollow {
            self.fill_rect(x - 6, y - 6, 13, 13, color);
            self.fill_rect(x - 4, y - 4, 9, 9, WHITE);
        } else {
            self.fill_rect(x - 4, y - 4, 9, 9, color);
        }
    }

    /// Text with its top-left corner at (x, y), each font pixel `scale` pixels wide.
    pub(crate) fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = glyph(ch);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits.as_bytes()[col] == b'#' {
                        self.fill_rect(
                            x + (i as i64 * 6 + col as i64) * scale,
                            y + row as i64 * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
    }

    pub(crate) fn save_png(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder
            .write_header()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        writer
            .write_image_data(&self.pixels)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        writer
            .finish()
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Width in pixels of `text` at `scale`.
pub(crate) fn text_width(text: &str, scale: i64) -> i64 {
    (text.chars().count() as i64 * 6 - 1).max(0) * scale
}

/// Draw `panel` into the rectangle at (x0, y0) of size (w, h).
pub(crate) fn draw_panel(canvas: &mut Canvas, panel: &Panel, x0: i64, y0: i64, w: i64, h: i64) {
    let (left, right, top, bottom) = (78, 36, 56, 64);
    let (px, py, pw, ph) = (x0 + left, y0 + top, w - left - right, h - top - bottom);
    let (x_min, x_max) = panel
        .x_ticks
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let to_px = |x: f64, y: f64| -> (i64, i64) {
        let fx = (x.log2() - x_min.log2()) / (x_max.log2() - x_min.log2()).max(f64::EPSILON);
        (
            px + (fx * pw as f64).round() as i64,
            py + ph - (y.clamp(0.0, 1.0) * ph as f64).round() as i64,
        )
    };

    // Title and axis labels.
    canvas.text(
        px + (pw - text_width(&panel.title, 2)) / 2,
        y0 + 14,
        &panel.title,
        2,
        BLACK,
    );
    canvas.text(
        px + (pw - text_width(&panel.x_label, 2)) / 2,
        py + ph + 36,
        &panel.x_label,
        2,
        BLACK,
    );
    canvas.text(px, py - 18, &panel.y_label, 2, GREY);

    // Grid, ticks and tick labels.
    for tenth in 0..=5 {
        let y = f64::from(tenth) / 5.0;
        let (_, yy) = to_px(x_min, y);
        canvas.line((px, yy), (px + pw, yy), 1, LIGHT);
        let label = format!("{y:.1}");
        canvas.text(px - 10 - text_width(&label, 2), yy - 7, &label, 2, BLACK);
    }
    for &x in &panel.x_ticks {
        let (xx, _) = to_px(x, 0.0);
        canvas.line((xx, py), (xx, py + ph), 1, LIGHT);
        canvas.line((xx, py + ph), (xx, py + ph + 5), 1, BLACK);
        let label = format!("{x}");
        canvas.text(
            xx - text_width(&label, 2) / 2,
            py + ph + 10,
            &label,
            2,
            BLACK,
        );
    }
    canvas.line((px, py), (px, py + ph), 2, BLACK);
    canvas.line((px, py + ph), (px + pw, py + ph), 2, BLACK);

    // Lines with square markers; dashed reference series first, so solid lines stay visible.
    let mut order: Vec<&Series> = panel.series.iter().collect();
    order.sort_by_key(|series| !series.dashed);
    for series in order {
        let points: Vec<(i64, i64)> = series.points.iter().map(|&(x, y)| to_px(x, y)).collect();
        let dash = series.dashed.then_some(14);
        for pair in points.windows(2) {
            canvas.dashed_line(pair[0], pair[1], 3, series.color, dash);
        }
        for &point in &points {
            canvas.marker(point, series.dashed, series.color);
        }
    }

    // Legend, bottom right inside the plot.
    let longest = panel
        .series
        .iter()
        .map(|s| text_width(&s.name, 2))
        .max()
        .unwrap_or(0);
    let (lw, lh) = (longest + 56, panel.series.len() as i64 * 22 + 12);
    let (lx, ly) = (px + pw - lw - 10, py + ph - lh - 10);
    canvas.fill_rect(lx, ly, lw, lh, WHITE);
    for (a, b) in [
        ((lx, ly), (lx + lw, ly)),
        ((lx, ly + lh), (lx + lw, ly + lh)),
        ((lx, ly), (lx, ly + lh)),
        ((lx + lw, ly), (lx + lw, ly + lh)),
    ] {
        canvas.line(a, b, 1, GREY);
    }
    for (i, series) in panel.series.iter().enumerate() {
        let y = ly + 10 + i as i64 * 22;
        let dash = series.dashed.then_some(10);
        canvas.dashed_line((lx + 8, y + 7), (lx + 36, y + 7), 3, series.color, dash);
        canvas.marker((lx + 22, y + 7), series.dashed, series.color);
        canvas.text(lx + 44, y, &series.name, 2, BLACK);
    }
}

/// The 5×7 glyph of `ch` (lowercase letters, digits and some punctuation; anything else is a
/// box). Uppercase letters are drawn as lowercase.
fn glyph(ch: char) -> [&'static str; 7] {
    match ch.to_ascii_lowercase() {
        ' ' => [
            ".....", ".....", ".....", ".....", ".....", ".....", ".....",
        ],
        '0' => [
            ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.",
        ],
        '1' => [
            "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
        '2' => [
            ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####",
        ],
        '3' => [
            "#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###.",
        ],
        '4' => [
            "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.",
        ],
        '5' => [
            "#####", "#....", "####.", "....#", "....#", "#...#", ".###.",
        ],
        '6' => [
            "..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###.",
        ],
        '7' => [
            "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...",
        ],
        '8' => [
            ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.",
        ],
        '9' => [
            ".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##..",
        ],
        'a' => [
            ".....", ".....", ".###.", "....#", ".####", "#...#", ".####",
        ],
        'b' => [
            "#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####.",
        ],
        'c' => [
            ".....", ".....", ".###.", "#....", "#....", "#...#", ".###.",
        ],
        'd' => [
            "....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####",
        ],
        'e' => [
            ".....", ".....", ".###.", "#...#", "#####", "#....", ".###.",
        ],
        'f' => [
            "..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#...",
        ],
        'g' => [
            ".....", ".####", "#...#", "#...#", ".####", "....#", ".###.",
        ],
        'h' => [
            "#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#",
        ],
        'i' => [
            "..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###.",
        ],
        'j' => [
            "...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##..",
        ],
        'k' => [
            "#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#.",
        ],
        'l' => [
            ".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
        'm' => [
            ".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#",
        ],
        'n' => [
            ".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#",
        ],
        'o' => [
            ".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###.",
        ],
        'p' => [
            ".....", ".....", "####.", "#...#", "####.", "#....", "#....",
        ],
        'q' => [
            ".....", ".....", ".##.#", "#..##", ".####", "....#", "....#",
        ],
        'r' => [
            ".....", ".....", "#.##.", "##..#", "#....", "#....", "#....",
        ],
        's' => [
            ".....", ".....", ".###.", "#....", ".###.", "....#", "####.",
        ],
        't' => [
            ".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##.",
        ],
        'u' => [
            ".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#",
        ],
        'v' => [
            ".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#..",
        ],
        'w' => [
            ".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#.",
        ],
        'x' => [
            ".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#",
        ],
        'y' => [
            ".....", ".....", "#...#", "#...#", ".####", "....#", ".###.",
        ],
        'z' => [
            ".....", ".....", "#####", "...#.", "..#..", ".#...", "#####",
        ],
        '.' => [
            ".....", ".....", ".....", ".....", ".....", ".##..", ".##..",
        ],
        ',' => [
            ".....", ".....", ".....", ".....", ".##..", "..#..", ".#...",
        ],
        '_' => [
            ".....", ".....", ".....", ".....", ".....", ".....", "#####",
        ],
        '-' => [
            ".....", ".....", ".....", "#####", ".....", ".....", ".....",
        ],
        '+' => [
            ".....", "..#..", "..#..", "#####", "..#..", "..#..", ".....",
        ],
        '=' => [
            ".....", ".....", "#####", ".....", "#####", ".....", ".....",
        ],
        ':' => [
            ".....", ".##..", ".##..", ".....", ".##..", ".##..", ".....",
        ],
        '(' => [
            "...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#.",
        ],
        ')' => [
            ".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#...",
        ],
        '/' => [
            ".....", "....#", "...#.", "..#..", ".#...", "#....", ".....",
        ],
        '%' => [
            "##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##",
        ],
        _ => [
            "#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####",
        ],
    }
}
