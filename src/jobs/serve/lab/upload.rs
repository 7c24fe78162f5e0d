//! A set of images uploaded for the Lab to train on: files, each an image or a zip of
//! images. Each image is decoded with the checks of every upload (`data::decode_bytes`:
//! header first, size limits) and kept as a small thumbnail; a zip is read entry by entry
//! with every entry's and the total's size bounded, so a zip bomb ends early.

use std::io::Read;
use std::path::Path;

use axum::http::StatusCode;

use super::{Lab, MAX_UPLOAD_IMAGES};
use crate::io::data::{self, DecodeFailure};

/// Bytes one zip entry, and all entries together, may inflate to.
const MAX_ENTRY_BYTES: u64 = 64 << 20;
const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Entries a zip may list.
const MAX_ZIP_ENTRIES: usize = 4 * MAX_UPLOAD_IMAGES;
/// The fewest images a set may hold: one batch of the largest preset.
pub const MIN_IMAGES: usize = 32;

pub type Refusal = (StatusCode, String);

struct Collect {
    images: Vec<image::RgbaImage>,
    skipped: Vec<String>,
    inflated: u64,
}

impl Collect {
    /// One file that claims (by its name) or turns out to be an image.
    fn image(&mut self, name: &str, bytes: &[u8]) -> Result<(), Refusal> {
        if self.images.len() >= MAX_UPLOAD_IMAGES {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("more than {MAX_UPLOAD_IMAGES} images: upload a smaller set")));
        }
        match data::decode_bytes(bytes, name) {
            Ok(decoded) => {
                self.images.push(Lab::thumbnail(&decoded.image));
                Ok(())
            }
            Err((kind, e)) => {
                let status = match kind {
                    DecodeFailure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    DecodeFailure::NotAnImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Err((status, format!("{e}; the set was not taken (remove or fix that file)")))
            }
        }
    }

    fn zip(&mut self, name: &str, bytes: &[u8]) -> Result<(), Refusal> {
        let bad = |e: &dyn std::fmt::Display| (StatusCode::UNPROCESSABLE_ENTITY, format!("{name} is not a zip that can be read: {e}"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
        if archive.len() > MAX_ZIP_ENTRIES {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("{name} lists {} entries; at most {MAX_ZIP_ENTRIES} are read", archive.len())));
        }
        for k in 0..archive.len() {
            let mut entry = archive.by_index(k).map_err(|e| bad(&e))?;
            let inner = entry.name().map_err(|e| bad(&e))?.into_owned();
            let entry_name = format!("{name}/{inner}");
            let base = Path::new(&inner).file_name().and_then(|f| f.to_str()).unwrap_or("");
            if entry.is_dir() || inner.starts_with("__MACOSX/") || base.starts_with('.') {
                continue;
            }
            if !data::is_image(Path::new(&inner)) {
                self.skipped.push(entry_name);
                continue;
            }
            let mut bytes = Vec::new();
            let room = MAX_ENTRY_BYTES.min(MAX_TOTAL_BYTES - self.inflated);
            (&mut entry).take(room + 1).read_to_end(&mut bytes).map_err(|e| bad(&e))?;
            if bytes.len() as u64 > room {
                return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("{entry_name} inflates past {} MiB (or the set past {} MiB): not taken", MAX_ENTRY_BYTES >> 20, MAX_TOTAL_BYTES >> 20)));
            }
            self.inflated += bytes.len() as u64;
            self.image(&entry_name, &bytes)?;
        }
        Ok(())
    }
}

/// The images of an upload as thumbnails, and the names of the files passed over (not an
/// image by name: a README, a folder's metadata). Refused (4xx with a message) when a file
/// named as an image does not decode, when a limit is passed, or when too few images remain.
pub fn images(files: Vec<(String, Vec<u8>)>) -> Result<(Vec<image::RgbaImage>, Vec<String>), Refusal> {
    let mut c = Collect { images: Vec::new(), skipped: Vec::new(), inflated: 0 };
    for (name, bytes) in &files {
        let path = Path::new(name);
        let is_zip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) || bytes.starts_with(b"PK\x03\x04");
        if is_zip {
            c.zip(name, bytes)?;
        } else if data::is_image(path) || path.extension().is_none() {
            c.image(name, bytes)?;
        } else {
            c.skipped.push(name.clone());
        }
    }
    let what = || if c.skipped.is_empty() { String::new() } else { format!(" (passed over, not images by name: {})", shorten(&c.skipped)) };
    if c.images.is_empty() {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("not a set of images: no PNG, JPEG, BMP, GIF or WebP file in {} file(s){}", files.len(), what())));
    }
    if c.images.len() < MIN_IMAGES {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, format!("{} image(s): a set needs at least {MIN_IMAGES} (one batch of the largest preset){}", c.images.len(), what())));
    }
    Ok((c.images, c.skipped))
}

fn shorten(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(v: u8) -> Vec<u8> {
        crate::io::picture::png_bytes(&image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v])))
    }

    fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, bytes) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, bytes).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_zip_of_images_is_a_set_and_its_other_files_are_named() {
        let mut entries: Vec<(String, Vec<u8>)> = (0..MIN_IMAGES).map(|i| (format!("faces/{i}.png"), png(i as u8))).collect();
        entries.push(("faces/README.txt".into(), b"hello".to_vec()));
        entries.push(("__MACOSX/faces/._0.png".into(), b"junk".to_vec()));
        let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let (images, skipped) = images(vec![("set.zip".into(), zip_of(&refs))]).unwrap();
        assert_eq!(images.len(), MIN_IMAGES);
        assert_eq!(skipped, ["set.zip/faces/README.txt"]);
    }

    #[test]
    fn what_is_not_a_set_of_images_is_refused_with_a_message() {
        let (status, message) = images(vec![("notes.txt".into(), b"not an image".to_vec())]).unwrap_err();
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(message.contains("not a set of images") && message.contains("notes.txt"), "{message}");
        let (status, message) = images(vec![("a.png".into(), b"not an image".to_vec())]).unwrap_err();
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(message.contains("a.png"), "{message}");
        let (status, _) = images(vec![("broken.zip".into(), b"PK\x03\x04 and nothing".to_vec())]).unwrap_err();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, message) = images(vec![("one.png".into(), png(1))]).unwrap_err();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains("at least"), "{message}");
    }
}
