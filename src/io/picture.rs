//! Pictures for people: image grids from model tensors, and line plots of losses.

use std::path::Path;

use image::ImageEncoder;

use crate::error::{Error, Result};

/// One image as `channels` planes of `size` x `size` values in [-1, 1].
pub fn to_rgb8(chw: &[f32], channels: usize, size: usize) -> image::RgbImage {
    let plane = size * size;
    let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = y as usize * size + x as usize;
        if channels == 1 {
            let g = byte(chw[i]);
            image::Rgb([g, g, g])
        } else {
            image::Rgb([byte(chw[i]), byte(chw[plane + i]), byte(chw[2 * plane + i])])
        }
    })
}

/// Tiles of [n, c, s, s] images, `columns` wide, with a 2-pixel white gutter.
pub fn grid(images: &[f32], n: usize, channels: usize, size: usize, columns: usize) -> image::RgbImage {
    let columns = columns.clamp(1, n.max(1));
    let rows = n.div_ceil(columns).max(1);
    let gap = 2;
    let mut out = image::RgbImage::from_pixel(
        (columns * (size + gap) + gap) as u32,
        (rows * (size + gap) + gap) as u32,
        image::Rgb([255, 255, 255]),
    );
    let per = channels * size * size;
    for k in 0..n {
        let tile = to_rgb8(&images[k * per..(k + 1) * per], channels, size);
        let (x, y) = ((k % columns) * (size + gap) + gap, (k / columns) * (size + gap) + gap);
        image::imageops::replace(&mut out, &tile, x as i64, y as i64);
    }
    out
}

/// An animated GIF of [c, s, s] frames, scaled up to about 192 pixels, looping; the last
/// frame (the result) stays longest.
pub fn encode_gif(frames: &[Vec<f32>], c: usize, s: usize, out: impl std::io::Write) -> std::result::Result<(), image::ImageError> {
    let scale = (192 / s).max(1) as u32;
    let mut encoder = image::codecs::gif::GifEncoder::new(out);
    encoder.set_repeat(image::codecs::gif::Repeat::Infinite)?;
    for (k, f) in frames.iter().enumerate() {
        let rgb = to_rgb8(f, c, s);
        let big = image::imageops::resize(&rgb, s as u32 * scale, s as u32 * scale, image::imageops::FilterType::Nearest);
        let rgba = image::DynamicImage::ImageRgb8(big).to_rgba8();
        let delay = if k + 1 == frames.len() { 1500 } else { 120 };
        encoder.encode_frame(image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(delay, 1)))?;
    }
    Ok(())
}

/// A PNG file's bytes (for answers over HTTP).
pub fn png_bytes(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding into memory fails only on an out-of-range size, which an RgbImage cannot have.
    img.write_to(&mut out, image::ImageFormat::Png).expect("PNG encoding into memory");
    out.into_inner()
}

/// Save a PNG atomically, so a crash or a full disk never leaves half a picture.
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let mut file = crate::io::output::AtomicFile::create(path)?;
    image::codecs::png::PngEncoder::new(&mut file)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    file.commit()
}

/// The quality of JPEG results (a JPEG in gives a JPEG out).
pub const JPEG_QUALITY: u8 = 95;

/// How a full-resolution result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Png,
    Jpeg,
    Bmp,
    WebpLossless,
}

impl Encoding {
    /// The input's own format (lossless stays lossless, so known pixels keep their bytes; a
    /// JPEG stays a JPEG), or PNG when asked (`force_png`). A GIF's palette cannot hold the
    /// new colours without changing known pixels: it becomes a PNG, said in the note.
    pub fn like(input: image::ImageFormat, force_png: bool) -> (Encoding, Option<String>) {
        match input {
            _ if force_png => (Encoding::Png, None),
            image::ImageFormat::Jpeg => (Encoding::Jpeg, Some(format!("a JPEG in gives a JPEG out, at quality {JPEG_QUALITY} (--format png for a lossless result)"))),
            image::ImageFormat::Bmp => (Encoding::Bmp, None),
            image::ImageFormat::WebP => (Encoding::WebpLossless, None),
            image::ImageFormat::Gif => (Encoding::Png, Some("a GIF's 256-colour palette cannot hold the filled colours: the result is a PNG".into())),
            _ => (Encoding::Png, None),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Png => "png",
            Encoding::Jpeg => "jpg",
            Encoding::Bmp => "bmp",
            Encoding::WebpLossless => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Encoding::Png => "image/png",
            Encoding::Jpeg => "image/jpeg",
            Encoding::Bmp => "image/bmp",
            Encoding::WebpLossless => "image/webp",
        }
    }
}

/// An image's file bytes: PNG keeps the pixel type (8 or 16 bits, grey or colour, alpha);
/// JPEG is 8-bit grey or colour without alpha; BMP and WebP are 8-bit.
pub fn encode(img: &image::DynamicImage, encoding: Encoding) -> Result<Vec<u8>> {
    use image::DynamicImage as D;
    let mut out = std::io::Cursor::new(Vec::new());
    let failed = |e: image::ImageError| Error::new(format!("cannot encode the result as {}: {e}", encoding.extension()));
    match encoding {
        Encoding::Png => img.write_to(&mut out, image::ImageFormat::Png).map_err(failed)?,
        Encoding::Jpeg => {
            let flat = if img.color().has_color() { D::ImageRgb8(img.to_rgb8()) } else { D::ImageLuma8(img.to_luma8()) };
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(&flat).map_err(failed)?
        }
        Encoding::Bmp | Encoding::WebpLossless => {
            let eight = match (img.color().has_color(), img.color().has_alpha()) {
                (_, true) => D::ImageRgba8(img.to_rgba8()),
                (true, false) => D::ImageRgb8(img.to_rgb8()),
                (false, false) if encoding == Encoding::Bmp => D::ImageLuma8(img.to_luma8()),
                (false, false) => D::ImageRgb8(img.to_rgb8()),
            };
            let format = if encoding == Encoding::Bmp { image::ImageFormat::Bmp } else { image::ImageFormat::WebP };
            eight.write_to(&mut out, format).map_err(failed)?
        }
    }
    Ok(out.into_inner())
}

/// Save an animated GIF of [c, s, s] frames atomically (see `encode_gif`).
pub fn save_gif(frames: &[Vec<f32>], c: usize, s: usize, path: &Path) -> Result<()> {
    let mut file = crate::io::output::AtomicFile::create(path)?;
    encode_gif(frames, c, s, &mut file).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    file.commit()
}

/// 3x5 pixel digits (and '.', '-', 'e') for axis labels; each row is 3 bits.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [0, 7, 7, 4, 7],
        _ => return None,
    })
}

pub(crate) fn text(img: &mut image::RgbImage, x: i64, y: i64, s: &str, color: image::Rgb<u8>, scale: i64) {
    for (k, c) in s.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (k as i64 * 4 + col) * scale + dx;
                            let py = y + r as i64 * scale + dy;
                            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                                img.put_pixel(px as u32, py as u32, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn line(img: &mut image::RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: image::Rgb<u8>) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// A plot of several series over a shared x axis: each series drawn faintly as recorded and
/// boldly as a moving average. Axis labels: x from first to last, y from min to max.
pub fn plot(series: &[(&[f64], image::Rgb<u8>)], xs: &[f64]) -> image::RgbImage {
    let (w, h, left, right, top, bottom) = (900i64, 420i64, 50i64, 20i64, 20i64, 30i64);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    let finite = series.iter().flat_map(|(s, _)| s.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-6)) } else { (0.0, 1.0) };
    let (x_lo, x_hi) = (xs.first().copied().unwrap_or(0.0), xs.last().copied().unwrap_or(1.0).max(xs.first().copied().unwrap_or(0.0) + 1.0));
    let px = |x: f64| left as f64 + (x - x_lo) / (x_hi - x_lo) * (w - left - right) as f64;
    let py = |y: f64| (h - bottom) as f64 - (y - lo) / (hi - lo) * (h - top - bottom) as f64;
    let grey = image::Rgb([200, 200, 200]);
    for k in 0..=4 {
        let y = lo + (hi - lo) * k as f64 / 4.0;
        line(&mut img, (px(x_lo), py(y)), (px(x_hi), py(y)), grey);
        text(&mut img, 2, py(y) as i64 - 5, &format!("{y:.2}"), image::Rgb([0, 0, 0]), 2);
    }
    line(&mut img, (px(x_lo), py(lo)), (px(x_lo), py(hi)), image::Rgb([0, 0, 0]));
    text(&mut img, left, h - bottom + 8, &format!("{x_lo:.0}"), image::Rgb([0, 0, 0]), 2);
    let last = format!("{x_hi:.0}");
    text(&mut img, w - right - last.len() as i64 * 8, h - bottom + 8, &last, image::Rgb([0, 0, 0]), 2);
    for (values, color) in series {
        let faint = image::Rgb(color.0.map(|c| 255 - (255 - c) / 4));
        let window = (values.len() / 50).max(1);
        let mut smooth = Vec::with_capacity(values.len());
        let mut sum = 0.0;
        for (i, v) in values.iter().enumerate() {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            smooth.push(sum / (i + 1).min(window) as f64);
        }
        for (data, c) in [(*values, faint), (&smooth[..], *color)] {
            for i in 1..data.len().min(xs.len()) {
                if data[i - 1].is_finite() && data[i].is_finite() {
                    line(&mut img, (px(xs[i - 1]), py(data[i - 1])), (px(xs[i]), py(data[i])), c);
                }
            }
        }
    }
    img
}

/// The columns of a training log, as `train` writes it.
pub const LOG_HEADER: &str = "step,epoch,d_loss,g_loss,images_per_s";
/// The largest log read: a million steps of training take about 50 MB.
const MAX_LOG_BYTES: u64 = 256 << 20;

/// Draw `OUT/loss.png` from `OUT/log.csv`: d_loss red, g_loss blue.
pub fn plot_log(log: &Path, png: &Path) -> Result<()> {
    crate::io::output::check(png, "png", "the loss plot", &[log])?;
    let text = crate::io::output::read_text(log, "training log", MAX_LOG_BYTES)?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("").trim();
    if header != LOG_HEADER {
        return Err(Error::new(format!(
            "{} is not a training log: its first line is '{}', a log (OUT/log.csv of `train`) starts with '{LOG_HEADER}'",
            log.display(),
            header.chars().take(80).collect::<String>()
        )));
    }
    let (mut xs, mut d, mut g) = (Vec::new(), Vec::new(), Vec::new());
    for (k, line) in lines.enumerate() {
        let f: Vec<f64> = line.split(',').filter_map(|v| v.trim().parse().ok()).collect();
        if f.len() != 5 {
            return Err(Error::new(format!("{} line {}: '{}' is not 5 numbers ({LOG_HEADER}); the log is damaged", log.display(), k + 2, line.chars().take(80).collect::<String>())));
        }
        xs.push(f[0]);
        d.push(f[2]);
        g.push(f[3]);
    }
    if xs.is_empty() {
        return Err(Error::new(format!("{} has its header but no steps yet: nothing to plot", log.display())));
    }
    let img = plot(&[(&d, image::Rgb([200, 30, 30])), (&g, image::Rgb([30, 60, 200]))], &xs);
    save_png(&img, png)
}

