//! A photo at its own resolution. The model sees one square `Region` of it, at the model's
//! size; its completion is then brought back to the photo:
//!
//! 1. The completed region (already blended into the known pixels at the model's size) is
//!    upscaled to the region's size on the photo (Lanczos 3).
//! 2. Only the hole's pixels change. Inside the region they follow the upscaled completion,
//!    blended into the photo's own known pixels at full resolution (a Poisson blend: the
//!    upscaled completion plus the harmonic interpolation of the detail it misses at the
//!    hole's border, solved on the hole's pixels alone, `fill::harmonic_sparse`).
//! 3. Hole pixels outside the region are filled classically (harmonic), from everything
//!    around them, the region's new pixels included.
//! 4. A colour photo with a grey model: the model fills the luminance; the colour of the hole
//!    (the chroma channels) is a harmonic fill of the chroma around it.
//!
//! Every known pixel keeps its value exactly (the result is the photo, with the hole's
//! pixels written), in the photo's own pixel type (8 or 16 bits, grey or colour, alpha kept).

use image::DynamicImage;

use super::fill::harmonic_sparse;
use super::{Item, MaskKind, mask};
use crate::error::{Error, Result};

/// A square of the photo, in photo pixels: what the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub size: u32,
}

impl Region {
    /// The largest centred square (what the model saw before regions could be chosen).
    pub fn centre(w: u32, h: u32) -> Region {
        let size = w.min(h);
        Region { x: (w - size) / 2, y: (h - size) / 2, size }
    }

    /// `X,Y,SIZE` (the top-left corner and the side, in photo pixels).
    pub fn parse(text: &str) -> Result<Region> {
        let parts: Vec<Option<u32>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
        match parts[..] {
            [Some(x), Some(y), Some(size)] if size > 0 => Ok(Region { x, y, size }),
            _ => Err(Error::new(format!("--region '{text}' is not X,Y,SIZE (the square's top-left corner and side in pixels, e.g. 100,40,256)"))),
        }
    }

    /// Refuse a region that leaves a `w` x `h` photo.
    pub fn check(&self, w: u32, h: u32, what: &str) -> Result<()> {
        if self.size == 0 || self.x as u64 + self.size as u64 > w as u64 || self.y as u64 + self.size as u64 > h as u64 {
            return Err(Error::new(format!(
                "the region {},{},{} leaves {what} ({w}x{h}): the square must lie inside it (at most {} pixels a side)",
                self.x,
                self.y,
                self.size,
                w.min(h)
            )));
        }
        Ok(())
    }

    fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.size && y < self.y + self.size
    }
}

/// A photo, its hole (at the photo's resolution) and the region the model sees.
pub struct Photo {
    pub image: DynamicImage,
    /// One per photo pixel, row-major: true = to fill.
    pub fill: Vec<bool>,
    pub region: Region,
}

/// Where a photo's hole comes from.
pub enum Hole<'a> {
    /// A mask image (read by `mask::photo_fill`), named `what` in messages.
    Mask { image: &'a DynamicImage, white_fills: bool, what: String },
    /// A preset made at the model's size on the region; `index` seeds a random one.
    Preset { kind: &'a MaskKind, seed: u64, index: u64 },
}

impl Photo {
    /// The photo `image` (named `what`) with its hole from `hole`, the model (of `size`)
    /// seeing `region` (default: the centre square); with what was assumed on the way.
    pub fn new(image: DynamicImage, hole: Hole, region: Option<Region>, size: usize, what: &str) -> Result<(Photo, Vec<String>)> {
        let (w, h) = (image.width(), image.height());
        let mut warnings = Vec::new();
        let region = match region {
            Some(r) => {
                r.check(w, h, what)?;
                r
            }
            None => {
                let r = Region::centre(w, h);
                if crate::io::data::extreme_aspect(w, h) {
                    warnings.push(format!(
                        "{what} is {w}x{h}: the centre {0}x{0} square the model sees drops more than half of it; hole pixels outside it are filled classically (choose the square with a region: --region X,Y,SIZE)",
                        r.size
                    ));
                }
                r
            }
        };
        let fill = match hole {
            Hole::Mask { image: mask, white_fills, what } => {
                let (fill, more) = mask::photo_fill(mask, w, h, region, white_fills, &what)?;
                warnings.extend(more);
                fill
            }
            Hole::Preset { kind, seed, index } => mask::preset_fill(kind, w, h, region, size, seed, index)?,
        };
        Ok((Photo { image, fill, region }, warnings))
    }
}

/// The result at the photo's resolution, and how it was made.
pub struct FullResolution {
    pub image: DynamicImage,
    /// Hole pixels inside the region (filled from the model) and outside it (filled
    /// classically).
    pub from_model: usize,
    pub classical: usize,
    /// A colour photo completed by a grey model: the hole's colour is a classical fill.
    pub colour_from_surroundings: bool,
}

/// A model pixel is known only when every photo pixel it covers is.
fn model_mask(fill: &[bool], w: usize, region: Region, s: usize) -> Vec<f32> {
    let r = region.size as usize;
    // Summed-area table of the hole over the region.
    let mut sum = vec![0u32; (r + 1) * (r + 1)];
    for y in 0..r {
        for x in 0..r {
            let hole = fill[(region.y as usize + y) * w + region.x as usize + x] as u32;
            sum[(y + 1) * (r + 1) + x + 1] = hole + sum[y * (r + 1) + x + 1] + sum[(y + 1) * (r + 1) + x] - sum[y * (r + 1) + x];
        }
    }
    let span = |i: usize| {
        let (a, b) = (i * r / s, ((i + 1) * r / s).max(i * r / s + 1).min(r));
        (a, b)
    };
    let mut mask = vec![1.0; s * s];
    for my in 0..s {
        let (y0, y1) = span(my);
        for mx in 0..s {
            let (x0, x1) = span(mx);
            let holes = sum[y1 * (r + 1) + x1] + sum[y0 * (r + 1) + x0] - sum[y0 * (r + 1) + x1] - sum[y1 * (r + 1) + x0];
            if holes > 0 {
                mask[my * s + mx] = 0.0;
            }
        }
    }
    mask
}

/// BT.601 luma and colour differences, full range: the channels a grey model and a colour
/// photo share (Y) and do not (Cb, Cr).
fn to_ycc([r, g, b]: [f32; 3]) -> [f32; 3] {
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    [y, (b - y) / 1.772, (r - y) / 1.402]
}

fn from_ycc([y, cb, cr]: [f32; 3]) -> [f32; 3] {
    let (r, b) = (y + 1.402 * cr, y + 1.772 * cb);
    [r, (y - 0.299 * r - 0.114 * b) / 0.587, b]
}

impl Photo {
    pub fn width(&self) -> usize {
        self.image.width() as usize
    }

    /// Hole pixels inside the region, and in all.
    pub fn holes(&self) -> (usize, usize) {
        let w = self.width();
        let inside = self.fill.iter().enumerate().filter(|(p, f)| **f && self.region.contains((p % w) as u32, (p / w) as u32)).count();
        (inside, self.fill.iter().filter(|f| **f).count())
    }

    /// The region as the model sees it: `channels` x `size` x `size` in [-1, 1], and the
    /// model's mask (known where every photo pixel it covers is).
    pub fn model_item(&self, name: &str, channels: usize, size: usize) -> Item {
        let r = self.region;
        let crop = self.image.crop_imm(r.x, r.y, r.size, r.size);
        Item { name: name.to_string(), image: crate::io::data::convert(&crop, channels, size), mask: model_mask(&self.fill, self.width(), r, size) }
    }

    /// The photo with its hole filled: from `completed` ([c, s, s] in [-1, 1], the model's
    /// completion of the region) inside the region, classically outside it.
    pub fn complete(&self, completed: &[f32], c: usize, s: usize) -> Result<FullResolution> {
        let w = self.image.width() as usize;
        // A colour file of a grey picture (R = G = B everywhere) is grey: it has no chroma to fill.
        let photo_colour = self.image.color().has_color() && !grey_content(&self.image);
        let colour_from_surroundings = photo_colour && c == 1;
        let Some((bx0, by0, bx1, by1)) = self.hole_box() else {
            return Ok(FullResolution { image: self.image.clone(), from_model: 0, classical: 0, colour_from_surroundings: false });
        };
        let (ww, wh) = (bx1 - bx0, by1 - by0);
        // The work area's planes in [0, 1]: Y, Cb, Cr for a colour photo and a grey model, R, G,
        // B for a colour photo and model, Y for a grey photo.
        let crop = self.image.crop_imm(bx0 as u32, by0 as u32, ww as u32, wh as u32);
        let planes_n = if photo_colour { 3 } else { 1 };
        let mut planes = vec![vec![0.0f32; ww * wh]; planes_n];
        if photo_colour {
            let rgb = crop.to_rgb32f();
            for (i, px) in rgb.pixels().enumerate() {
                let v = if colour_from_surroundings { to_ycc(px.0) } else { px.0 };
                for k in 0..3 {
                    planes[k][i] = v[k];
                }
            }
        } else {
            for (i, px) in crop.to_luma32f().pixels().enumerate() {
                planes[0][i] = px.0[0];
            }
        }
        // The model's completion at the region's size, in the photo's planes, sampled at the
        // work area (clamped to the region's border outside it).
        let guidance = self.upscaled(completed, c, s, photo_colour && !colour_from_surroundings, (bx0, by0, ww, wh));
        let at = |p: usize| (bx0 + p % ww, by0 + p / ww);
        let fill: Vec<bool> = (0..ww * wh).map(|p| { let (x, y) = at(p); self.fill[y * w + x] }).collect();
        let in_region: Vec<bool> = (0..ww * wh).map(|p| { let (x, y) = at(p); self.region.contains(x as u32, y as u32) }).collect();
        let model_hole: Vec<bool> = (0..ww * wh).map(|p| fill[p] && in_region[p]).collect();
        let outside_hole: Vec<bool> = (0..ww * wh).map(|p| fill[p] && !in_region[p]).collect();
        let everything = vec![true; ww * wh];
        // Within the region's hole, the residual y - g is what the upscaled completion misses
        // at the border: harmonic inside, so x = g + residual. Hole pixels outside the region
        // are no constraint then (a free boundary), and filled after, from all around.
        let active: Vec<bool> = (0..ww * wh).map(|p| !outside_hole[p]).collect();
        let budget = 20 * (ww + wh) + 200;
        for (k, plane) in planes.iter_mut().enumerate() {
            match guidance.get(k) {
                Some(g) => {
                    let mut residual: Vec<f32> = plane.iter().zip(g).map(|(y, g)| y - g).collect();
                    harmonic_sparse(&mut residual, &model_hole, &active, ww, wh, budget);
                    for p in 0..ww * wh {
                        if model_hole[p] {
                            plane[p] = (g[p] + residual[p]).clamp(0.0, 1.0);
                        }
                    }
                    harmonic_sparse(plane, &outside_hole, &everything, ww, wh, budget);
                }
                // Chroma (a grey model): the whole hole from its surroundings.
                None => {
                    harmonic_sparse(plane, &fill, &everything, ww, wh, budget);
                }
            }
        }
        let mut image = self.image.clone();
        for p in (0..ww * wh).filter(|&p| fill[p]) {
            let (x, y) = at(p);
            let value = if photo_colour {
                let v = [planes[0][p], planes[1][p], planes[2][p]];
                if colour_from_surroundings { from_ycc(v) } else { v }
            } else {
                [planes[0][p]; 3]
            };
            put(&mut image, x as u32, y as u32, value);
        }
        let from_model = model_hole.iter().filter(|v| **v).count();
        Ok(FullResolution { image, from_model, classical: outside_hole.iter().filter(|v| **v).count(), colour_from_surroundings })
    }

    /// The hole's bounding box with a pixel of border (its Dirichlet boundary), clipped to the
    /// photo: (x0, y0, x1, y1), exclusive ends; None without a hole.
    fn hole_box(&self) -> Option<(usize, usize, usize, usize)> {
        let (w, h) = (self.image.width() as usize, self.image.height() as usize);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for (p, _) in self.fill.iter().enumerate().filter(|(_, f)| **f) {
            let (x, y) = (p % w, p / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
        }
        (x0 != usize::MAX).then(|| (x0.saturating_sub(1), y0.saturating_sub(1), (x1 + 1).min(w), (y1 + 1).min(h)))
    }

    /// `completed` upscaled to the region (Lanczos 3), as planes in [0, 1] over the work area
    /// `(x0, y0, ww, wh)`: R, G, B when `colour`, else the luma alone.
    fn upscaled(&self, completed: &[f32], c: usize, s: usize, colour: bool, (x0, y0, ww, wh): (usize, usize, usize, usize)) -> Vec<Vec<f32>> {
        let unit = |v: f32| ((v + 1.0) / 2.0).clamp(0.0, 1.0);
        let plane = s * s;
        let small = image::Rgb32FImage::from_fn(s as u32, s as u32, |x, y| {
            let i = y as usize * s + x as usize;
            if c == 1 { image::Rgb([unit(completed[i]); 3]) } else { image::Rgb([unit(completed[i]), unit(completed[plane + i]), unit(completed[2 * plane + i])]) }
        });
        let r = self.region;
        let big = image::imageops::resize(&small, r.size, r.size, image::imageops::FilterType::Lanczos3);
        let n = if colour { 3 } else { 1 };
        let mut out = vec![vec![0.0f32; ww * wh]; n];
        for p in 0..ww * wh {
            let (x, y) = ((x0 + p % ww) as i64, (y0 + p / ww) as i64);
            let (rx, ry) = ((x - r.x as i64).clamp(0, r.size as i64 - 1) as u32, (y - r.y as i64).clamp(0, r.size as i64 - 1) as u32);
            let px = big.get_pixel(rx, ry).0.map(|v| v.clamp(0.0, 1.0));
            if colour {
                for k in 0..3 {
                    out[k][p] = px[k];
                }
            } else {
                out[0][p] = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
            }
        }
        out
    }
}

/// Whether every pixel of a colour image is grey (R = G = B).
fn grey_content(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageRgb8(i) => i.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]),
        DynamicImage::ImageRgba8(i) => i.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]),
        DynamicImage::ImageRgb16(i) => i.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]),
        DynamicImage::ImageRgba16(i) => i.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]),
        other => !other.color().has_color(),
    }
}

/// Write an [0, 1] colour (grey photos take its first value) into pixel (x, y) in the
/// image's own pixel type; alpha is left as it was.
fn put(image: &mut DynamicImage, x: u32, y: u32, [r, g, b]: [f32; 3]) {
    let u8_of = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let u16_of = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
    match image {
        DynamicImage::ImageLuma8(i) => i.get_pixel_mut(x, y).0 = [u8_of(r)],
        DynamicImage::ImageLumaA8(i) => i.get_pixel_mut(x, y).0[0] = u8_of(r),
        DynamicImage::ImageRgb8(i) => i.get_pixel_mut(x, y).0 = [u8_of(r), u8_of(g), u8_of(b)],
        DynamicImage::ImageRgba8(i) => {
            let p = &mut i.get_pixel_mut(x, y).0;
            (p[0], p[1], p[2]) = (u8_of(r), u8_of(g), u8_of(b));
        }
        DynamicImage::ImageLuma16(i) => i.get_pixel_mut(x, y).0 = [u16_of(r)],
        DynamicImage::ImageLumaA16(i) => i.get_pixel_mut(x, y).0[0] = u16_of(r),
        DynamicImage::ImageRgb16(i) => i.get_pixel_mut(x, y).0 = [u16_of(r), u16_of(g), u16_of(b)],
        DynamicImage::ImageRgba16(i) => {
            let p = &mut i.get_pixel_mut(x, y).0;
            (p[0], p[1], p[2]) = (u16_of(r), u16_of(g), u16_of(b));
        }
        DynamicImage::ImageRgb32F(i) => i.get_pixel_mut(x, y).0 = [r, g, b],
        DynamicImage::ImageRgba32F(i) => {
            let p = &mut i.get_pixel_mut(x, y).0;
            (p[0], p[1], p[2]) = (r, g, b);
        }
        // DynamicImage is non-exhaustive; the decoders this project enables make none other.
        other => {
            let mut rgba = other.to_rgba8();
            let p = &mut rgba.get_pixel_mut(x, y).0;
            (p[0], p[1], p[2]) = (u8_of(r), u8_of(g), u8_of(b));
            *other = DynamicImage::ImageRgba8(rgba);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_and_are_checked() {
        assert_eq!(Region::parse("10, 20,30").unwrap(), Region { x: 10, y: 20, size: 30 });
        for bad in ["10,20", "a,b,c", "1,2,0", "-1,2,3", ""] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Region::centre(120, 40), Region { x: 40, y: 0, size: 40 });
        assert!(Region { x: 90, y: 0, size: 40 }.check(120, 40, "the photo").is_err());
        assert!(Region { x: 80, y: 0, size: 40 }.check(120, 40, "the photo").is_ok());
    }

    #[test]
    fn colour_differences_round_trip() {
        for rgb in [[0.1, 0.5, 0.9], [1.0, 0.0, 0.3], [0.5, 0.5, 0.5]] {
            let back = from_ycc(to_ycc(rgb));
            for k in 0..3 {
                assert!((back[k] - rgb[k]).abs() < 1e-5, "{rgb:?} -> {back:?}");
            }
        }
    }

    /// Known pixels keep their bytes (8 and 16 bits, alpha too), hole pixels follow the
    /// model inside the region and the surroundings outside it, and a grey model keeps the
    /// photo's colour.
    #[test]
    fn only_the_hole_changes_at_full_resolution() {
        let (w, h) = (40u32, 30u32);
        let photo_rgba = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x * 6) as u8, (y * 8) as u8, 200, 100 + x as u8]));
        let fill: Vec<bool> = (0..(w * h) as usize).map(|p| { let (x, y) = (p as u32 % w, p as u32 / w); (10..20).contains(&x) && (12..18).contains(&y) || (x == 36 && y == 5) }).collect();
        let region = Region { x: 5, y: 2, size: 26 };
        for image in [DynamicImage::ImageRgba8(photo_rgba.clone()), DynamicImage::ImageRgba16(DynamicImage::ImageRgba8(photo_rgba.clone()).to_rgba16())] {
            let photo = Photo { image: image.clone(), fill: fill.clone(), region };
            let item = photo.model_item("x", 1, 8);
            assert!(item.mask.iter().any(|m| *m == 0.0) && item.mask.iter().any(|m| *m == 1.0));
            // A "completion" that is uniform mid grey.
            let done = photo.complete(&vec![0.0; 64], 1, 8).unwrap();
            assert_eq!((done.from_model, done.classical), (60, 1));
            assert!(done.colour_from_surroundings);
            let before = image.to_rgba16();
            let after = done.image.to_rgba16();
            for (p, (a, b)) in before.pixels().zip(after.pixels()).enumerate() {
                if fill[p] {
                    assert_eq!(a.0[3], b.0[3], "alpha kept in the hole");
                } else {
                    assert_eq!(a, b, "known pixel {p} changed");
                }
            }
            // The grey model sets the luminance; the colour is the surroundings' (blue-ish).
            let centre = after.get_pixel(15, 15).0;
            assert!(centre[2] > centre[0], "the hole keeps the photo's colour: {centre:?}");
        }
    }
}
