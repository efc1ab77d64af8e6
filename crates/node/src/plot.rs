//! `--plot FILE.png`: line and point charts drawn into a pixel buffer and written as PNG, with
//! no dependency: a 5×7 bitmap font for the labels, and PNG's stored (uncompressed) deflate
//! blocks, which every PNG reader accepts.

use std::io::Write;
use std::path::Path;

/// A chart: axes with labels, and series of points.
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) series: Vec<Series>,
}

/// One series.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: [u8; 3],
    pub(crate) points: Vec<(f64, f64)>,
    /// Joined by lines (else drawn as dots).
    pub(crate) line: bool,
}

/// Colours for series, in order.
pub(crate) const PALETTE: [[u8; 3]; 4] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [148, 103, 189],
];

const WIDTH: usize = 900;
const HEIGHT: usize = 560;
const LEFT: usize = 90;
const RIGHT: usize = 30;
const TOP: usize = 50;
const BOTTOM: usize = 70;

impl Chart {
    /// Draws the chart and writes it to `path` as a PNG.
    pub(crate) fn write_png(&self, path: &Path) -> std::io::Result<()> {
        let mut canvas = Canvas::new(WIDTH, HEIGHT);
        let points = self.series.iter().flat_map(|s| s.points.iter().copied());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, 0.0f64, f64::MIN);
        for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y1) = (0.0, 1.0, 1.0);
        }
        let (x0, x1, xstep) = nice_range(x0.min(0.0), x1);
        let (y0, y1, ystep) = nice_range(y0, y1);
        let plot_w = (WIDTH - LEFT - RIGHT) as f64;
        let plot_h = (HEIGHT - TOP - BOTTOM) as f64;
        let px = |x: f64| LEFT as f64 + (x - x0) / (x1 - x0) * plot_w;
        let py = |y: f64| (HEIGHT - BOTTOM) as f64 - (y - y0) / (y1 - y0) * plot_h;
        // Grid, axes, ticks.
        let grid = [225, 225, 225];
        let ink = [40, 40, 40];
        let mut x = x0;
        while x <= x1 + xstep / 2.0 {
            let p = px(x).round() as i64;
            canvas.line(p, TOP as i64, p, (HEIGHT - BOTTOM) as i64, grid, 1);
            let label = tick(x, xstep);
            canvas.text(
                p - text_width(&label) as i64 / 2,
                (HEIGHT - BOTTOM + 8) as i64,
                &label,
                ink,
            );
            x += xstep;
        }
        let mut y = y0;
        while y <= y1 + ystep / 2.0 {
            let p = py(y).round() as i64;
            canvas.line(LEFT as i64, p, (WIDTH - RIGHT) as i64, p, grid, 1);
            let label = tick(y, ystep);
            canvas.text(
                LEFT as i64 - 8 - text_width(&label) as i64,
                p - 7,
                &label,
                ink,
            );
            y += ystep;
        }
        let (l, r, t, b) = (
            LEFT as i64,
            (WIDTH - RIGHT) as i64,
            TOP as i64,
            (HEIGHT - BOTTOM) as i64,
        );
        canvas.line(l, b, r, b, ink, 1);
        canvas.line(l, t, l, b, ink, 1);
        canvas.text(
            (WIDTH / 2) as i64 - text_width(&self.title) as i64 / 2,
            6,
            &self.title,
            ink,
        );
        canvas.text(
            (LEFT + (WIDTH - LEFT - RIGHT) / 2) as i64 - text_width(&self.x_label) as i64 / 2,
            (HEIGHT - 28) as i64,
            &self.x_label,
            ink,
        );
        canvas.text(8, (TOP - 20) as i64, &self.y_label, ink);
        // Series and legend.
        for (i, s) in self.series.iter().enumerate() {
            let pts: Vec<(i64, i64)> = s
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| (px(x).round() as i64, py(y).round() as i64))
                .collect();
            if s.line {
                for w in pts.windows(2) {
                    canvas.line(w[0].0, w[0].1, w[1].0, w[1].1, s.color, 2);
                }
            } else {
                for &(x, y) in &pts {
                    canvas.dot(x, y, s.color);
                }
            }
            let ly = (TOP + 10 + 20 * i) as i64;
            let lx = (WIDTH - RIGHT - 250) as i64;
            canvas.line(lx, ly + 7, lx + 24, ly + 7, s.color, 3);
            canvas.text(lx + 32, ly, &s.name, ink);
        }
        let mut file = std::fs::File::create(path)?;
        file.write_all(&canvas.png())
    }
}

/// A range from `lo` to `hi` widened to round numbers, and a round step giving 4 to 10 ticks.
fn nice_range(lo: f64, hi: f64) -> (f64, f64, f64) {
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    let raw = span / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let lo = (lo / step).floor() * step;
    let hi = ((hi / step).ceil() * step).max(lo + step);
    (lo, hi, step)
}

/// A tick label with as many decimals as the step needs.
fn tick(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{value:.decimals$}")
}

struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let at = (y as usize * self.width + x as usize) * 3;
            self.rgb[at..at + 3].copy_from_slice(&color);
        }
    }

    /// Bresenham, `thickness` pixels wide.
    fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3], thickness: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            for t in 0..thickness {
                let off = t - thickness / 2;
                self.set(x, y + off, color);
                self.set(x + off, y, color);
            }
            if x == x1 && y == y1 {
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

    fn dot(&mut self, x: i64, y: i64, color: [u8; 3]) {
        for dy in -2..=2 {
            for dx in -2..=2 {
                if dx * dx + dy * dy <= 5 {
                    self.set(x + dx, y + dy, color);
                }
            }
        }
    }

    /// Text in the 5×7 font, scaled twice (10×14 per glyph, 12 px advance).
    fn text(&mut self, x: i64, y: i64, text: &str, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c);
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let gx = x + i as i64 * 12 + col * 2;
                        let gy = y + row as i64 * 2;
                        for (ox, oy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(gx + ox, gy + oy, color);
                        }
                    }
                }
            }
        }
    }

    /// The image as PNG: 8-bit RGB, no filter, stored deflate blocks.
    fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.height * (self.width * 3 + 1));
        for row in self.rgb.chunks(self.width * 3) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let mut zlib = vec![0x78, 0x01];
        let mut chunks = raw.chunks(65_535).peekable();
        while let Some(block) = chunks.next() {
            zlib.push(u8::from(chunks.peek().is_none()));
            let len = block.len() as u16;
            zlib.extend_from_slice(&len.to_le_bytes());
            zlib.extend_from_slice(&(!len).to_le_bytes());
            zlib.extend_from_slice(block);
        }
        zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = Vec::new();
        header.extend_from_slice(&(self.width as u32).to_be_bytes());
        header.extend_from_slice(&(self.height as u32).to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &header);
        chunk(&mut out, b"IDAT", &zlib);
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn text_width(text: &str) -> usize {
    text.chars().count() * 12
}

/// The 5×7 glyph of `c` (rows top to bottom, bit 4 leftmost); unknown characters are blank.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_lowercase() {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'a' => [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e],
        'c' => [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e],
        'd' => [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f],
        'e' => [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e],
        'f' => [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'm' => [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e],
        'p' => [0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e],
        't' => [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a],
        'x' => [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'z' => [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '&' => [0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_adler_match_their_reference_values() {
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn ranges_are_round_and_cover_the_data() {
        assert_eq!(nice_range(0.0, 37.0), (0.0, 40.0, 10.0));
        let (lo, hi, step) = nice_range(0.0, 0.83);
        assert!(lo <= 0.0 && hi >= 0.83 && (step - 0.2).abs() < 1e-12);
    }
}
