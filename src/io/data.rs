//! Image folders as training data, and the one conversion every input image goes through:
//! decode (png/jpg/jpeg/bmp/webp, gif's first frame; turned upright by its EXIF orientation)
//! -> alpha composited onto white -> `c` channels -> centre crop to a square -> resize to
//! `s` x `s` -> values in [-1, 1], CHW.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::error::{Error, Result};
use crate::rng::Rng;

pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "gif", "webp"];

pub fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
}

/// Shell-style match of `pattern` (`*`, `?`, `[abc]`, `[a-z]`) against all of `text`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, length including ']')
        let end = p.iter().skip(1).position(|&x| x == ']')? + 1;
        let set = &p[..end];
        let mut i = 0;
        let mut hit = false;
        while i < set.len() {
            if i + 2 < set.len() && set[i + 1] == '-' {
                hit |= set[i] <= c && c <= set[i + 2];
                i += 3;
            } else {
                hit |= set[i] == c;
                i += 1;
            }
        }
        Some((hit, end + 1))
    }
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| go(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => match (t.first(), class(&p[1..], *t.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, len))) => go(&p[1 + len..], &t[1..]),
                (Some(_), Some((false, _))) => false,
                _ => !t.is_empty() && t[0] == '[' && go(&p[1..], &t[1..]),
            },
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// The largest image read: 16384 pixels a side and 64 megapixels (an 8192 x 8192 photo). A
/// photo is answered at its own resolution, so it is not downscaled on the way in; past
/// these a decompression bomb is refused from the header, before any pixel is decoded.
pub const MAX_SIDE: u32 = 16384;
pub const MAX_PIXELS: u64 = 64 << 20;

/// The bytes the largest image may take decoded (16-bit RGBA).
pub const MAX_DECODED_BYTES: u64 = MAX_PIXELS * 8;

/// Why an image could not be decoded: a server answers each with its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeFailure {
    /// Not a format we read (png/jpg/jpeg/bmp/gif/webp).
    NotAnImage,
    /// Larger than `MAX_SIDE` / `MAX_PIXELS`: refused from the header, before decoding.
    TooLarge,
    /// A known format, but broken.
    Corrupt,
}

/// A decoded image, turned upright (EXIF orientation applied), with the format it came in.
pub struct Decoded {
    pub image: image::DynamicImage,
    pub format: image::ImageFormat,
}

/// Decode an image file: the dimensions are read from the header and checked before any
/// pixel is decoded. Only regular files are opened (a pipe would block). The file is
/// streamed, never read whole.
pub fn decode(path: &Path) -> Result<Decoded> {
    match std::fs::metadata(path) {
        Err(e) => return Err(Error::new(format!("cannot read image {}: {e}", path.display()))),
        Ok(m) if !m.is_file() => {
            return Err(Error::new(format!("{} is not a regular file (a folder, a pipe or a device); name an image file", path.display())));
        }
        Ok(_) => {}
    }
    let open = || image::ImageReader::open(path);
    decode_from(open, &path.display().to_string()).map_err(|(_, e)| e)
}

/// The format of an image file, from its first bytes (without decoding it).
pub fn decode_format(path: &Path) -> Result<image::ImageFormat> {
    let reader = image::ImageReader::open(path).and_then(|r| r.with_guessed_format()).map_err(|e| Error::new(format!("cannot read image {}: {e}", path.display())))?;
    reader.format().ok_or_else(|| Error::new(format!("cannot read image {}: not a PNG, JPEG, BMP, GIF or WebP image", path.display())))
}

/// `decode` for an image held in memory (an upload), named `what` in errors.
pub fn decode_bytes(bytes: &[u8], what: &str) -> std::result::Result<Decoded, (DecodeFailure, Error)> {
    decode_from(|| Ok(image::ImageReader::new(std::io::Cursor::new(bytes))), what)
}

fn decode_from<R: std::io::BufRead + std::io::Seek>(open: impl Fn() -> std::io::Result<image::ImageReader<R>>, what: &str) -> std::result::Result<Decoded, (DecodeFailure, Error)> {
    use image::ImageDecoder;
    let fail = |kind, e: &dyn std::fmt::Display| (kind, Error::new(format!("cannot read image {what}: {e}")));
    let reader = || open().and_then(|r| r.with_guessed_format());
    let probe = reader().map_err(|e| fail(DecodeFailure::NotAnImage, &e))?;
    let Some(format) = probe.format() else {
        return Err(fail(DecodeFailure::NotAnImage, &"not a PNG, JPEG, BMP, GIF or WebP image"));
    };
    if !IMAGE_EXTENSIONS.iter().any(|e| image::ImageFormat::from_extension(e) == Some(format)) {
        return Err(fail(DecodeFailure::NotAnImage, &format!("{format:?} images are not read; send a PNG, JPEG, BMP, GIF or WebP")));
    }
    let (w, h) = probe.into_dimensions().map_err(|e| fail(DecodeFailure::Corrupt, &e))?;
    if w > MAX_SIDE || h > MAX_SIDE || w as u64 * h as u64 > MAX_PIXELS {
        return Err((
            DecodeFailure::TooLarge,
            Error::new(format!("image {what} is {w}x{h}; images up to {MAX_SIDE} pixels a side and {} megapixels are read: downscale it first", MAX_PIXELS >> 20)),
        ));
    }
    let mut decoder = reader().and_then(|r| r.into_decoder().map_err(std::io::Error::other)).map_err(|e| fail(DecodeFailure::Corrupt, &e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    decoder.set_limits(limits).map_err(|e| fail(DecodeFailure::TooLarge, &e))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(|e| fail(DecodeFailure::Corrupt, &e))?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, format })
}

/// The centre square of an image, as `convert` crops it (masks are cropped the same way).
pub fn centre_square(img: &image::DynamicImage) -> image::DynamicImage {
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    img.crop_imm((w - side) / 2, (h - side) / 2, side, side)
}

/// Decode one image file and convert it for a model of `channels` x `size` x `size`.
pub fn load_image(path: &Path, channels: usize, size: usize) -> Result<Vec<f32>> {
    Ok(convert(&decode(path)?.image, channels, size))
}

/// Whether cropping `w` x `h` to its centre square drops more than half of the image.
pub fn extreme_aspect(w: u32, h: u32) -> bool {
    w.max(h) > 2 * w.min(h)
}

/// The conversion of the module docs, for an already decoded image. The crop, and a first
/// downscale of images much larger than the model, happen on 8-bit pixels, so memory stays
/// proportional to the file, not four floats a pixel.
pub fn convert(img: &image::DynamicImage, channels: usize, size: usize) -> Vec<f32> {
    let mut square = centre_square(img);
    let side = square.width();
    let near = (4 * size) as u32;
    if side > near {
        square = square.resize_exact(near, near, FilterType::Triangle);
    }
    let square = square.to_rgba32f();
    let side = square.width();
    let resized = if side as usize == size {
        square
    } else {
        image::imageops::resize(&square, size as u32, size as u32, FilterType::Triangle)
    };
    let mut out = vec![0.0; channels * size * size];
    for (i, px) in resized.pixels().enumerate() {
        let [r, g, b, a] = px.0;
        let over_white = |v: f32| v * a + (1.0 - a);
        let rgb = [over_white(r), over_white(g), over_white(b)];
        if channels == 1 {
            // ITU-R 601 luma, as PIL's "L" mode.
            let y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
            out[i] = (y * 2.0 - 1.0).clamp(-1.0, 1.0);
        } else {
            for (c, v) in rgb.iter().enumerate() {
                out[c * size * size + i] = (v * 2.0 - 1.0).clamp(-1.0, 1.0);
            }
        }
    }
    out
}

/// Image files found under a folder, and what was passed over on the way (for warnings).
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<PathBuf>,
    /// One line per thing passed over: a file that is not a regular file (a pipe would
    /// block the read, a device never end), or a folder of earlier results.
    pub skipped: Vec<String>,
}

/// Image files under `dir` (recursively), sorted, minus those matching an `exclude`
/// pattern (tested against the file name and the path relative to `dir`). Each folder is
/// walked once, however many symlinks lead to it, so a symlink loop ends. Only regular
/// files are taken, and folders below `dir` that hold an earlier run's results
/// (`output::is_results_folder`) are passed over, so results are never read back as inputs
/// or trained on.
pub fn list_images(dir: &Path, exclude: &[String]) -> Result<Listing> {
    if !dir.is_dir() {
        return Err(Error::new(format!("data folder {} does not exist or is not a folder", dir.display())));
    }
    let mut listing = Listing::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = stack.pop() {
        let real = std::fs::canonicalize(&d).map_err(|e| Error::new(format!("cannot list {}: {e}", d.display())))?;
        if !seen.insert(real) {
            continue;
        }
        if d != dir && crate::io::output::is_results_folder(&d) {
            listing.skipped.push(format!("{} holds the results of an earlier dcgan-inpaint run; its images are not read", d.display()));
            continue;
        }
        let entries = std::fs::read_dir(&d).map_err(|e| Error::new(format!("cannot list {}: {e}", d.display())))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::new(format!("cannot list {}: {e}", d.display())))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_image(&path) {
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().into_owned();
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                if exclude.iter().any(|p| glob_match(p, &name) || glob_match(p, &rel)) {
                    continue;
                }
                if path.is_file() {
                    listing.files.push(path);
                } else {
                    listing.skipped.push(format!("{} is not a regular file (a pipe, a device or a broken link); skipped", path.display()));
                }
            }
        }
    }
    listing.files.sort();
    listing.skipped.sort();
    Ok(listing)
}

/// The images under `dir` whose file name matches one of `include` (all when empty), the
/// first `limit` of them (all when 0); an error when none is left. What the listing passed
/// over is in `skipped`.
pub fn select(dir: &Path, include: &[String], limit: usize) -> Result<Listing> {
    let mut listing = list_images(dir, &[])?;
    listing.files.retain(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        include.is_empty() || include.iter().any(|pat| glob_match(pat, &name))
    });
    if limit > 0 {
        listing.files.truncate(limit);
    }
    if listing.files.is_empty() {
        return Err(Error::new(format!("no images under {} match --include {}", dir.display(), include.join(" "))));
    }
    Ok(listing)
}

/// Every training image in memory, converted.
pub struct Dataset {
    pub paths: Vec<PathBuf>,
    /// One `channels * size * size` vector per image, in [-1, 1].
    pub images: Vec<Vec<f32>>,
    pub channels: usize,
    pub size: usize,
    /// What the listing passed over (see `Listing::skipped`), for warnings.
    pub skipped: Vec<String>,
}

impl Dataset {
    pub fn load(dir: &Path, exclude: &[String], channels: usize, size: usize) -> Result<Dataset> {
        let Listing { files: paths, skipped } = list_images(dir, exclude)?;
        if paths.is_empty() {
            return Err(Error::new(format!(
                "no images ({}) found under {}{}",
                IMAGE_EXTENSIONS.join("/"),
                dir.display(),
                if exclude.is_empty() { String::new() } else { format!(" after --exclude {}", exclude.join(" ")) }
            )));
        }
        let images = paths
            .iter()
            .map(|p| load_image(p, channels, size).map_err(|e| Error::new(format!("{e}. Remove the file or hold it out with --exclude"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset { paths, images, channels, size, skipped })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// A 64-bit FNV-1a hash of every image as the model sees it, in order: equal for the same
    /// data wherever it lives, different when an image is added, removed or changed.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for v in self.images.iter().flatten() {
            for b in v.to_bits().to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h ^ self.images.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The order of epoch `epoch`: a permutation drawn from (seed, epoch) alone, so that a
    /// resumed run sees the same batches as an uninterrupted one.
    pub fn epoch_order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        let mut rng = Rng::derived(seed, &[0xDA7A, epoch]);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        order
    }

    /// A batch as one flat [B, c, s, s] vector; `flip[i]` mirrors image i horizontally.
    pub fn batch(&self, indices: &[usize], flip: &[bool]) -> Vec<f32> {
        let s = self.size;
        let mut out = Vec::with_capacity(indices.len() * self.channels * s * s);
        for (k, &i) in indices.iter().enumerate() {
            let img = &self.images[i];
            if flip.get(k).copied().unwrap_or(false) {
                for row in img.chunks_exact(s) {
                    out.extend(row.iter().rev());
                }
            } else {
                out.extend_from_slice(img);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("s37_*", "s37_01.png"));
        assert!(!glob_match("s37_*", "s36_01.png"));
        assert!(glob_match("s3[7-9]_*", "s39_10.png"));
        assert!(!glob_match("s3[7-9]_*", "s36_10.png"));
        assert!(glob_match("*.png", "a/b.png"));
        assert!(glob_match("?.gif", "x.gif"));
        assert!(!glob_match("?.gif", "xy.gif"));
        assert!(glob_match("s4[0]*", "s40_1.png"));
    }
}
