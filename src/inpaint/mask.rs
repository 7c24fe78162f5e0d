//! Masks for completion: 1 = known pixel, 0 = missing, one `size x size` plane per image
//! (shared by its channels).

use std::path::Path;

use super::photo::Region;
use crate::error::{Error, Result};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum MaskKind {
    /// A centred square hole of side (1 - 2 * scale) * size: scale 0.25 -> 32x32 in 64x64.
    Center { scale: f32 },
    Left,
    Right,
    Top,
    Bottom,
    /// One of left/right/top/bottom per image, drawn from the seed.
    Half,
    /// Exactly round(missing * size^2) pixels missing, chosen at random.
    Random { missing: f32 },
    /// Only every 4th pixel in both directions known.
    Grid,
    /// Random blobs covering at least a quarter of the image (Context-Encoder style).
    Pattern,
    /// Thin scratches: long straight lines 1-2 px wide (at 64x64) across the picture, as on
    /// an old print, until about a tenth of it is missing (`scratches`).
    Scratches,
    /// Free-form brush strokes, as a person paints them (the free-form masks of Yu et al.,
    /// DeepFill v2): 1-3 strokes of 3-6 bends, a brush 3-10 px wide (at 64x64), a tenth to
    /// 40% of the picture (`strokes`).
    Strokes,
    /// Only the means of 8x8 blocks known: super-resolution (see `LOWRES_BLOCK`).
    LowRes,
    /// Nothing missing: projection onto the generator's range.
    Full,
    /// A PNG (white = known, black = missing), resized to the model size.
    File(std::path::PathBuf),
}

pub use crate::model::inpaint::LOWRES_BLOCK;

/// A preset mask: its name (`--mask NAME`, the API's `preset`), what it does, where it is
/// offered, and its row in the quality table. The one table the CLI, the API, the page and
/// the quality table read.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    /// Offered on the page and by the API (`full` fills nothing: a projection, CLI only).
    pub hole: bool,
    /// The label of its rows in the quality table (None: not measured there).
    pub quality: Option<&'static str>,
    make: fn(f32, f32) -> MaskKind,
}

/// The default of `--center-scale`: a 32x32 hole in 64x64, the paper's.
pub const CENTER_SCALE: f32 = 0.25;
/// The default of `--missing` for the random mask.
pub const MISSING: f32 = 0.8;

pub const PRESETS: [Preset; 13] = [
    Preset { name: "center", about: "a centred square hole (--center-scale 0.25: 32x32 in 64x64)", hole: true, quality: Some("center"), make: |scale, _| MaskKind::Center { scale } },
    Preset { name: "left", about: "the left half missing", hole: true, quality: None, make: |_, _| MaskKind::Left },
    Preset { name: "right", about: "the right half missing", hole: true, quality: None, make: |_, _| MaskKind::Right },
    Preset { name: "top", about: "the top half missing", hole: true, quality: None, make: |_, _| MaskKind::Top },
    Preset { name: "bottom", about: "the bottom half missing", hole: true, quality: None, make: |_, _| MaskKind::Bottom },
    Preset { name: "half", about: "one half missing, a side drawn per image", hole: true, quality: Some("half"), make: |_, _| MaskKind::Half },
    Preset { name: "random", about: "scattered pixels missing (--missing 0.8: 80%)", hole: true, quality: Some("random 0.8"), make: |_, missing| MaskKind::Random { missing } },
    Preset { name: "grid", about: "only every 4th pixel in both directions known", hole: true, quality: Some("grid"), make: |_, _| MaskKind::Grid },
    Preset { name: "pattern", about: "random blobs over a quarter to a half of the image", hole: true, quality: Some("pattern"), make: |_, _| MaskKind::Pattern },
    Preset { name: "scratches", about: "thin scratches: lines 1-2 px wide (at 64x64), about a tenth of the picture", hole: true, quality: Some("scratches"), make: |_, _| MaskKind::Scratches },
    Preset { name: "strokes", about: "free-form brush strokes, 3-10 px wide (at 64x64), a tenth to 40% of the picture", hole: true, quality: Some("strokes"), make: |_, _| MaskKind::Strokes },
    Preset { name: "lowres", about: "only 8x8 block means known (super-resolution)", hole: true, quality: Some("lowres"), make: |_, _| MaskKind::LowRes },
    Preset { name: "full", about: "nothing missing: project the image onto the generator", hole: false, quality: None, make: |_, _| MaskKind::Full },
];

/// The presets' names, for help and error texts.
pub fn preset_names(holes_only: bool) -> String {
    PRESETS.iter().filter(|p| p.hole || !holes_only).map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The preset called `name` (or labelled so in the quality table, e.g. "random 0.8").
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name || p.quality == Some(name))
}

impl Preset {
    pub fn kind(&self, center_scale: f32, missing: f32) -> MaskKind {
        (self.make)(center_scale, missing)
    }
}

impl MaskKind {
    /// A preset's name, or a PNG file (white = known, black = missing).
    pub fn parse(name: &str, center_scale: f32, missing: f32) -> Result<MaskKind> {
        if let Some(p) = PRESETS.iter().find(|p| p.name == name) {
            return Ok(p.kind(center_scale, missing));
        }
        if name.to_lowercase().ends_with(".png") {
            return Ok(MaskKind::File(name.into()));
        }
        Err(Error::new(format!("unknown mask '{name}': use {}, or a .png file (white = known, black = missing)", preset_names(false))))
    }

    /// Refuse parameters that make no mask: a centre border outside (0, 0.5), a missing
    /// fraction outside (0, 1).
    pub fn validate(&self) -> Result<()> {
        match *self {
            MaskKind::Center { scale } if !(scale > 0.0 && scale < 0.5) => {
                Err(Error::new(format!("--center-scale must be between 0 and 0.5 (0.25: a 32x32 hole in 64x64), got {scale}")))
            }
            MaskKind::Random { missing } if !(missing > 0.0 && missing < 1.0) => {
                Err(Error::new(format!("--missing must be between 0 and 1 (0.8: 80% of the pixels missing), got {missing}")))
            }
            _ => Ok(()),
        }
    }
}

/// The mask for image number `index` (random kinds draw from (seed, index)).
pub fn make(kind: &MaskKind, size: usize, seed: u64, index: u64) -> Result<Vec<f32>> {
    let mut rng = Rng::derived(seed, &[0x3A5C, index]);
    let mut m = vec![1.0f32; size * size];
    let mut clear = |pred: &dyn Fn(usize, usize) -> bool| {
        for y in 0..size {
            for x in 0..size {
                if pred(y, x) {
                    m[y * size + x] = 0.0;
                }
            }
        }
    };
    let half = size / 2;
    match kind {
        MaskKind::Center { scale } => {
            if !(0.0..0.5).contains(scale) {
                return Err(Error::new(format!("--center-scale must be in [0, 0.5), got {scale}")));
            }
            let lo = (size as f32 * scale) as usize;
            let hi = (size as f32 * (1.0 - scale)) as usize;
            clear(&|y, x| (lo..hi).contains(&y) && (lo..hi).contains(&x));
        }
        MaskKind::Left => clear(&|_, x| x < half),
        MaskKind::Right => clear(&|_, x| x >= half),
        MaskKind::Top => clear(&|y, _| y < half),
        MaskKind::Bottom => clear(&|y, _| y >= half),
        MaskKind::Half => {
            let side = [MaskKind::Left, MaskKind::Right, MaskKind::Top, MaskKind::Bottom][rng.below(4)].clone();
            return make(&side, size, seed, index);
        }
        MaskKind::Random { missing } => {
            if !(0.0..=1.0).contains(missing) {
                return Err(Error::new(format!("--missing must be a fraction in [0, 1], got {missing}")));
            }
            let count = (missing * (size * size) as f32).round() as usize;
            let mut order: Vec<usize> = (0..size * size).collect();
            for i in 0..count {
                let j = i + rng.below(order.len() - i);
                order.swap(i, j);
                m[order[i]] = 0.0;
            }
        }
        MaskKind::Grid => clear(&|y, x| y % 4 != 0 || x % 4 != 0),
        MaskKind::Pattern => {
            // Overlapping random ellipses until at least 25% (and at most ~50%) is missing.
            let target = size * size / 4;
            while m.iter().filter(|v| **v == 0.0).count() < target {
                let (cy, cx) = (rng.range(0.0, size as f32), rng.range(0.0, size as f32));
                let (ry, rx) = (rng.range(0.05, 0.2) * size as f32, rng.range(0.05, 0.2) * size as f32);
                for y in 0..size {
                    for x in 0..size {
                        let (dy, dx) = ((y as f32 - cy) / ry, (x as f32 - cx) / rx);
                        if dy * dy + dx * dx <= 1.0 {
                            m[y * size + x] = 0.0;
                        }
                    }
                }
            }
        }
        MaskKind::Scratches => {
            // Lines from a point on one side of the picture to one on another, until 10%
            // is missing; widths 1 or 2 at 64x64, scaled with the size.
            let unit = size as f32 / 64.0;
            let edge = |rng: &mut Rng| -> (f32, f32) {
                let t = rng.range(0.0, size as f32);
                match rng.below(4) {
                    0 => (t, 0.0),
                    1 => (t, size as f32),
                    2 => (0.0, t),
                    _ => (size as f32, t),
                }
            };
            while missing_share(&m) < 0.1 {
                let (a, b) = (edge(&mut rng), edge(&mut rng));
                let width = (1 + rng.below(2)) as f32 * unit;
                stroke(&mut m, size, &[a, b], width);
            }
        }
        MaskKind::Strokes => {
            // Free-form strokes (DeepFill v2's generator, at 64x64): each a polyline of 3-6
            // segments 6-16 px long turning by up to 90 degrees, painted with one brush of 3-10
            // px; 1-3 strokes and more until a tenth is missing, at most about 40%.
            let unit = size as f32 / 64.0;
            let strokes = 1 + rng.below(3);
            let mut k = 0;
            while k < strokes || missing_share(&m) < 0.1 {
                let mut at = (rng.range(0.15, 0.85) * size as f32, rng.range(0.15, 0.85) * size as f32);
                let mut angle = rng.range(0.0, std::f32::consts::TAU);
                let brush = rng.range(3.0, 10.0) * unit;
                let mut points = vec![at];
                for _ in 0..3 + rng.below(4) {
                    angle += rng.range(-std::f32::consts::FRAC_PI_2, std::f32::consts::FRAC_PI_2);
                    let len = rng.range(6.0, 16.0) * unit;
                    at = ((at.0 + len * angle.cos()).clamp(0.0, size as f32 - 1.0), (at.1 + len * angle.sin()).clamp(0.0, size as f32 - 1.0));
                    points.push(at);
                }
                let before = m.clone();
                stroke(&mut m, size, &points, brush);
                if missing_share(&m) > 0.4 && k > 0 {
                    m = before; // past 40%: keep the strokes so far
                    break;
                }
                k += 1;
            }
        }
        MaskKind::LowRes => {
            if size % LOWRES_BLOCK != 0 {
                return Err(Error::new(format!("the lowres mask needs an image size divisible by {LOWRES_BLOCK}")));
            }
            m.fill(0.0); // every pixel is unknown; only block means are
        }
        MaskKind::Full => {}
        MaskKind::File(path) => return Ok(from_png(path, size)?.0),
    }
    Ok(m)
}

/// The share of a mask's pixels that are missing.
fn missing_share(m: &[f32]) -> f32 {
    m.iter().filter(|v| **v == 0.0).count() as f32 / m.len() as f32
}

/// Clear every pixel whose centre lies within `width / 2` of the polyline through `points`
/// (x, y in pixels): a brush of that width dragged along it.
fn stroke(m: &mut [f32], size: usize, points: &[(f32, f32)], width: f32) {
    let r = width / 2.0;
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        let (lo_x, hi_x) = ((x0.min(x1) - r).floor().max(0.0) as usize, ((x0.max(x1) + r).ceil() as usize).min(size));
        let (lo_y, hi_y) = ((y0.min(y1) - r).floor().max(0.0) as usize, ((y0.max(y1) + r).ceil() as usize).min(size));
        for y in lo_y..hi_y {
            for x in lo_x..hi_x {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0);
                let (ex, ey) = (px - x0 - t * dx, py - y0 - t * dy);
                if ex * ex + ey * ey <= r * r {
                    m[y * size + x] = 0.0;
                }
            }
        }
    }
}

/// Per pixel, the Euclidean distance (in pixels) to the nearest known pixel: 0 on known
/// pixels, 1 next to them. Exact (Felzenszwalb and Huttenlocher's two-pass transform);
/// `f32::INFINITY` everywhere when nothing is known.
pub fn distance_to_known(mask: &[f32], size: usize) -> Vec<f32> {
    const FAR: f32 = 1e20;
    // The squared distance along one line, from squared distances f.
    fn line(f: &[f32]) -> Vec<f32> {
        let n = f.len();
        let (mut v, mut z) = (vec![0usize; n], vec![0.0f32; n + 1]);
        let mut k = 0;
        z[0] = f32::NEG_INFINITY;
        z[1] = f32::INFINITY;
        let cross = |q: usize, p: usize| ((f[q] + (q * q) as f32) - (f[p] + (p * p) as f32)) / (2.0 * (q as f32 - p as f32));
        for q in 1..n {
            let mut s = cross(q, v[k]);
            while s <= z[k] {
                k -= 1;
                s = cross(q, v[k]);
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f32::INFINITY;
        }
        let mut out = vec![0.0; n];
        k = 0;
        for (q, o) in out.iter_mut().enumerate() {
            while z[k + 1] < q as f32 {
                k += 1;
            }
            let d = q as f32 - v[k] as f32;
            *o = d * d + f[v[k]];
        }
        out
    }
    if mask.iter().all(|&m| m < 0.5) {
        return vec![f32::INFINITY; mask.len()];
    }
    let mut d: Vec<f32> = mask.iter().map(|&m| if m > 0.5 { 0.0 } else { FAR }).collect();
    for x in 0..size {
        let column: Vec<f32> = (0..size).map(|y| d[y * size + x]).collect();
        for (y, v) in line(&column).into_iter().enumerate() {
            d[y * size + x] = v;
        }
    }
    for row in d.chunks_mut(size) {
        let done = line(row);
        row.copy_from_slice(&done);
    }
    d.iter().map(|v| v.sqrt()).collect()
}

/// The grey level (of 255) from which a mask pixel is known: 50% grey and brighter.
pub const KNOWN_FROM: u8 = 128;

/// A mask image: white (> 50% grey) = known, black = missing; centre-cropped like the
/// images and resized (nearest) to `size`. A mask drawn in the alpha channel alone (opaque =
/// known, transparent = missing, all colours alike) is read from the alpha. Returns the mask
/// and warnings about what was assumed: a resize, grey values thresholded.
pub fn from_png(path: &Path, size: usize) -> Result<(Vec<f32>, Vec<String>)> {
    let img = crate::io::data::decode(path).map_err(|e| Error::new(format!("cannot read mask {}: {e}", path.display())))?.image;
    Ok(from_image(&img, size, &format!("mask {}", path.display())))
}

/// The plane a mask image is read from: its alpha when only the alpha varies (opaque =
/// known), else its luma; with warnings about those assumptions and grey values.
fn mask_plane(img: &image::DynamicImage, what: &str) -> (image::GrayImage, Vec<String>) {
    let mut warnings = Vec::new();
    let rgba = img.to_rgba8();
    let luma = img.to_luma8();
    let alpha_varies = rgba.pixels().any(|p| p.0[3] != rgba.get_pixel(0, 0).0[3]);
    let luma_flat = luma.pixels().all(|p| p.0[0] == luma.get_pixel(0, 0).0[0]);
    let plane: image::GrayImage = if alpha_varies && luma_flat {
        warnings.push(format!("{what}: its colour is uniform, so its alpha channel is read (opaque = known)"));
        image::ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| image::Luma([rgba.get_pixel(x, y).0[3]]))
    } else {
        luma
    };
    let grey = plane.pixels().filter(|p| (32..224).contains(&p.0[0])).count();
    if grey > 0 {
        warnings.push(format!("{what}: {grey} grey pixels thresholded at 50% (white = known, black = missing)"));
    }
    (plane, warnings)
}

/// `from_png` for a decoded image, named `what` in the warnings.
pub fn from_image(img: &image::DynamicImage, size: usize, what: &str) -> (Vec<f32>, Vec<String>) {
    let (plane, mut warnings) = mask_plane(img, what);
    if plane.width() as usize != size || plane.height() as usize != size {
        warnings.push(format!("{what} is {}x{}; centre-cropped and resized (nearest) to the model's {size}x{size}", plane.width(), plane.height()));
    }
    let square = crate::io::data::centre_square(&image::DynamicImage::ImageLuma8(plane)).to_luma8();
    let gray = image::imageops::resize(&square, size as u32, size as u32, image::imageops::FilterType::Nearest);
    (gray.pixels().map(|p| if p.0[0] >= KNOWN_FROM { 1.0 } else { 0.0 }).collect(), warnings)
}

/// The hole (true = fill) of a `w` x `h` photo from a mask image (white = known), at the
/// photo's resolution. A mask of the photo's size is read as it is; one of its shape but
/// another size is resized (nearest) to it; a square one of another shape describes the
/// model's `region` and is resized onto it. Anything else is an error naming both sizes.
///
/// `white_fills`: the other convention (IOPaint's and LaMa's): white = fill, black = keep.
pub fn photo_fill(img: &image::DynamicImage, w: u32, h: u32, region: Region, white_fills: bool, what: &str) -> Result<(Vec<bool>, Vec<String>)> {
    let (plane, mut warnings) = mask_plane(img, what);
    let (mw, mh) = (plane.width(), plane.height());
    let hole = |p: &image::Luma<u8>| (p.0[0] < KNOWN_FROM) != white_fills;
    if (mw, mh) == (w, h) {
        return Ok((plane.pixels().map(hole).collect(), warnings));
    }
    if mw as u64 * h as u64 == mh as u64 * w as u64 {
        warnings.push(format!("{what} is {mw}x{mh}; resized (nearest) to the image's {w}x{h}"));
        let big = image::imageops::resize(&plane, w, h, image::imageops::FilterType::Nearest);
        return Ok((big.pixels().map(hole).collect(), warnings));
    }
    if mw == mh {
        warnings.push(format!("{what} is {mw}x{mh}, square, the image {w}x{h}: it is read as the mask of the region the model sees ({},{},{}), resized (nearest) onto it", region.x, region.y, region.size));
        let onto = image::imageops::resize(&plane, region.size, region.size, image::imageops::FilterType::Nearest);
        let mut fill = vec![false; w as usize * h as usize];
        for (x, y, p) in onto.enumerate_pixels() {
            fill[(region.y + y) as usize * w as usize + (region.x + x) as usize] = hole(p);
        }
        return Ok((fill, warnings));
    }
    Err(Error::new(format!("{what} is {mw}x{mh} but the image is {w}x{h}: give a mask of the image's size (or its shape), or a square one for the region the model sees")))
}

/// The hole of a `w` x `h` photo from a preset made at the model's size `s` on `region`
/// (nearest): the region's pixels follow the model mask, the rest are known.
pub fn preset_fill(kind: &MaskKind, w: u32, h: u32, region: Region, s: usize, seed: u64, index: u64) -> Result<Vec<bool>> {
    let m = make(kind, s, seed, index)?;
    let r = region.size as usize;
    let mut fill = vec![false; w as usize * h as usize];
    for y in 0..r {
        for x in 0..r {
            let (my, mx) = (y * s / r, x * s / r);
            fill[(region.y as usize + y) * w as usize + region.x as usize + x] = m[my * s + mx] < 0.5;
        }
    }
    Ok(fill)
}

/// Refuse masks that leave nothing to match, or (unless projection is meant) nothing to fill.
pub fn check(mask: &[f32], kind: &MaskKind, what: &str) -> Result<()> {
    let known = mask.iter().filter(|v| **v > 0.5).count();
    if known == 0 && *kind != MaskKind::LowRes {
        return Err(Error::new(format!(
            "the mask for {what} leaves no known pixel, so there is nothing to match: known pixels are white (a grey of {KNOWN_FROM} or more out of 255), missing ones black"
        )));
    }
    if known == mask.len() && *kind != MaskKind::Full {
        return Err(Error::new(format!(
            "the mask for {what} leaves no pixel missing, so there is nothing to complete; use --mask full to project onto the generator on purpose"
        )));
    }
    Ok(())
}

/// The paper's weighted mask: W_i = M_i * (missing pixels in the `window` x `window`
/// neighbourhood of i) / window^2, which puts the weight on known pixels near the hole.
/// `window` 0 gives the binary mask itself.
pub fn weighted(mask: &[f32], size: usize, window: usize) -> Vec<f32> {
    if window == 0 {
        return mask.to_vec();
    }
    let r = (window / 2) as isize;
    let mut w = vec![0.0; size * size];
    for y in 0..size as isize {
        for x in 0..size as isize {
            let i = (y * size as isize + x) as usize;
            if mask[i] == 0.0 {
                continue;
            }
            let mut missing = 0;
            for dy in -r..=r {
                for dx in -r..=r {
                    let (yy, xx) = (y + dy, x + dx);
                    if yy >= 0 && xx >= 0 && yy < size as isize && xx < size as isize && mask[(yy * size as isize + xx) as usize] == 0.0 {
                        missing += 1;
                    }
                }
            }
            w[i] = mask[i] * missing as f32 / (window * window) as f32;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(m: &[f32]) -> usize {
        m.iter().filter(|v| **v == 0.0).count()
    }

    #[test]
    fn every_mask_has_its_documented_geometry() {
        let s = 64;
        let center = make(&MaskKind::Center { scale: 0.25 }, s, 0, 0).unwrap();
        assert_eq!(missing(&center), 32 * 32);
        assert_eq!(center[16 * s + 16], 0.0);
        assert_eq!(center[15 * s + 16], 1.0);
        assert_eq!(center[47 * s + 47], 0.0);
        assert_eq!(center[48 * s + 47], 1.0);
        for (kind, hole) in [(MaskKind::Left, (0, 0)), (MaskKind::Right, (0, 63)), (MaskKind::Top, (0, 5)), (MaskKind::Bottom, (63, 5))] {
            let m = make(&kind, s, 0, 0).unwrap();
            assert_eq!(missing(&m), s * s / 2, "{kind:?}");
            assert_eq!(m[hole.0 * s + hole.1], 0.0, "{kind:?}");
        }
        for i in 0..8 {
            assert_eq!(missing(&make(&MaskKind::Half, s, 1, i).unwrap()), s * s / 2);
        }
        let random = make(&MaskKind::Random { missing: 0.8 }, s, 2, 0).unwrap();
        assert_eq!(missing(&random), (0.8f32 * 4096.0).round() as usize);
        assert_ne!(random, make(&MaskKind::Random { missing: 0.8 }, s, 2, 1).unwrap(), "each image gets its own draw");
        let grid = make(&MaskKind::Grid, s, 0, 0).unwrap();
        assert_eq!(s * s - missing(&grid), 16 * 16);
        assert_eq!(grid[4 * s + 8], 1.0);
        assert_eq!(grid[4 * s + 9], 0.0);
        let pattern = make(&MaskKind::Pattern, s, 3, 0).unwrap();
        assert!(missing(&pattern) >= s * s / 4 && missing(&pattern) < s * s, "{}", missing(&pattern));
        assert_eq!(pattern, make(&MaskKind::Pattern, s, 3, 0).unwrap(), "seeded");
        for i in 0..20 {
            let scratches = make(&MaskKind::Scratches, s, 4, i).unwrap();
            let share = missing(&scratches) as f32 / (s * s) as f32;
            assert!((0.1..0.2).contains(&share), "scratches: {share}");
            // Thin: every missing pixel has a known one within 2 px.
            // Thin: every missing pixel within 3 px of a known one (crossings are wider), most
            // within 1.5.
            let d = distance_to_known(&scratches, s);
            let far: Vec<f32> = d.iter().copied().filter(|&v| v > 1.5).collect();
            assert!(d.iter().all(|&v| v <= 3.0) && far.len() * 10 < missing(&scratches), "scratches are 1-2 px wide: {far:?}");
            let strokes = make(&MaskKind::Strokes, s, 4, i).unwrap();
            let share = missing(&strokes) as f32 / (s * s) as f32;
            assert!((0.1..0.45).contains(&share), "strokes: {share}");
            let widest = distance_to_known(&strokes, s).into_iter().fold(0.0, f32::max);
            assert!((1.0..=10.0).contains(&widest), "strokes stay narrow where they cross (the centre hole: 16): {widest}");
        }
        assert_eq!(make(&MaskKind::Strokes, s, 4, 0).unwrap(), make(&MaskKind::Strokes, s, 4, 0).unwrap(), "seeded");
        assert_ne!(make(&MaskKind::Strokes, s, 4, 0).unwrap(), make(&MaskKind::Strokes, s, 4, 1).unwrap());
        assert_eq!(missing(&make(&MaskKind::LowRes, s, 0, 0).unwrap()), s * s);
        assert_eq!(missing(&make(&MaskKind::Full, s, 0, 0).unwrap()), 0);
    }

    #[test]
    fn distances_to_known_pixels_are_exact() {
        let s = 9;
        let mut m = vec![0.0; s * s];
        m[4 * s + 4] = 1.0;
        m[0] = 1.0;
        let d = distance_to_known(&m, s);
        for y in 0..s {
            for x in 0..s {
                let brute = [(4.0f32, 4.0f32), (0.0, 0.0)].iter().map(|(ky, kx)| ((y as f32 - ky).powi(2) + (x as f32 - kx).powi(2)).sqrt()).fold(f32::INFINITY, f32::min);
                assert!((d[y * s + x] - brute).abs() < 1e-4, "({y}, {x}): {} vs {brute}", d[y * s + x]);
            }
        }
        assert!(distance_to_known(&vec![0.0; 4], 2).iter().all(|v| v.is_infinite()));
    }

    #[test]
    fn masks_without_known_or_missing_pixels_are_refused() {
        let all_missing = vec![0.0; 16];
        let err = check(&all_missing, &MaskKind::File("m.png".into()), "a.png").unwrap_err().to_string();
        assert!(err.contains("no known pixel"), "{err}");
        let nothing_missing = vec![1.0; 16];
        let err = check(&nothing_missing, &MaskKind::File("m.png".into()), "a.png").unwrap_err().to_string();
        assert!(err.contains("--mask full"), "{err}");
        assert!(check(&nothing_missing, &MaskKind::Full, "a.png").is_ok());
        assert!(check(&all_missing, &MaskKind::LowRes, "a.png").is_ok());
    }

    #[test]
    fn weighted_mask_concentrates_on_the_hole_border() {
        let s = 16;
        let m = make(&MaskKind::Center { scale: 0.25 }, s, 0, 0).unwrap();
        let w = weighted(&m, s, 7);
        assert_eq!(w[8 * s + 8], 0.0, "missing pixels weigh nothing");
        assert_eq!(w[0], 0.0, "far from the hole: no missing neighbours");
        assert!(w[8 * s + 3] > 0.0, "next to the hole");
        assert!(w[8 * s + 3] > w[8 * s + 1]);
        assert_eq!(weighted(&m, s, 0), m);
    }
}
