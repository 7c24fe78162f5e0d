//! Results at the photo's own resolution (`complete`'s `result.<ext>`): only the hole's
//! pixels change, in the photo's format and pixel type; colour stays with a grey model; hole
//! pixels outside the region the model sees are filled classically; regions are checked.
//! The tiny fixture model keeps each case short.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::scratch;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/tiny.safetensors")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// A 512 x 384 colour photo (smooth colours and a texture, so a hole is visible).
fn photo() -> image::RgbImage {
    image::RgbImage::from_fn(512, 384, |x, y| image::Rgb([(x / 2) as u8, (y * 2 / 3) as u8, (((x * 7 + y * 13) % 50) + 100) as u8]))
}

/// A painted hole: a thick stroke across the middle and a blob near the right edge (outside
/// the centre square the model sees).
fn hole(x: u32, y: u32) -> bool {
    let stroke = (150..330).contains(&x) && (y as i64 - 190 - (x as i64 - 240) / 4).abs() < 9;
    let blob = (480..500).contains(&x) && (40..60).contains(&y);
    stroke || blob
}

fn keep_mask(dir: &Path) -> PathBuf {
    let path = dir.join("mask.png");
    image::GrayImage::from_fn(512, 384, |x, y| image::Luma([if hole(x, y) { 0 } else { 255 }])).save(&path).unwrap();
    path
}

fn complete(input: &Path, mask: &Path, out: &Path, extra: &[&str]) -> String {
    let weights = tiny();
    let mut args = vec!["complete", s(input), "--weights", s(&weights), "--mask", s(mask), "--iters", "3", "--ilo-layers", "0", "--out", s(out)];
    args.extend_from_slice(extra);
    let (code, text) = run(&args);
    assert_eq!(code, 0, "{text}");
    text
}

#[test]
fn a_png_photo_keeps_every_known_byte_and_its_colour() {
    let dir = scratch("png");
    let input = dir.join("photo.png");
    photo().save(&input).unwrap();
    let text = complete(&input, &keep_mask(&dir), &dir.join("out"), &[]);
    assert!(text.contains("512x384 result") && text.contains("outside the region the model sees filled classically"), "{text}");
    assert!(!text.contains("colour comes from"), "the tiny model is a colour one: {text}");
    check_only_the_hole_changed(&image::open(dir.join("out/photo/result.png")).unwrap());
    // The grey face model on the same colour photo: it fills the luminance, the photo stays
    // in colour, and the run says so.
    let faces = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/olivetti-64.safetensors");
    let (code, text) = run(&["complete", s(&input), "--weights", s(&faces), "--mask", s(&keep_mask(&dir)), "--iters", "2", "--ilo-layers", "0", "--out", s(&dir.join("grey"))]);
    assert!(code == 0 && text.contains("the hole's colour comes from its surroundings"), "a grey model on a colour photo says so: {text}");
    check_only_the_hole_changed(&image::open(dir.join("grey/photo/result.png")).unwrap());
    // A grey picture in a colour file (R = G = B) has no colour to keep: it stays grey.
    let grey_rgb = dir.join("grey-rgb.png");
    image::RgbImage::from_fn(512, 384, |x, y| image::Rgb([(x / 2) as u8; 3].map(|v| v ^ (y as u8 & 16)))).save(&grey_rgb).unwrap();
    let (code, text) = run(&["complete", s(&grey_rgb), "--weights", s(&faces), "--mask", s(&keep_mask(&dir)), "--iters", "2", "--ilo-layers", "0", "--out", s(&dir.join("grey-rgb"))]);
    assert!(code == 0 && !text.contains("colour comes from"), "{text}");
    let result = image::open(dir.join("grey-rgb/grey-rgb/result.png")).unwrap().to_rgb8();
    assert!(result.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]), "a grey picture stays grey");
}

fn check_only_the_hole_changed(result: &image::DynamicImage) {
    assert_eq!((result.width(), result.height()), (512, 384));
    assert!(matches!(result, image::DynamicImage::ImageRgb8(_)), "the photo's pixel type");
    let (before, after) = (photo(), result.to_rgb8());
    let mut changed = 0;
    let mut holes = 0;
    for (x, y, p) in before.enumerate_pixels() {
        let q = after.get_pixel(x, y);
        if hole(x, y) {
            holes += 1;
            changed += (p != q) as usize;
        } else {
            assert_eq!(p, q, "known pixel ({x}, {y}) changed");
        }
    }
    assert!(changed * 10 > holes * 9, "only {changed} of {holes} hole pixels changed");
    // The hole keeps the photo's colours (blue ~100-150 everywhere around it), not grey.
    let (bx, by) = (240, 190);
    let p = after.get_pixel(bx, by).0;
    assert!(p[2] as i32 - p[1] as i32 > 20 || p[2] > 90, "the filled pixel {p:?} lost the photo's colour");
}

#[test]
fn a_jpeg_gives_a_jpeg_of_its_size_and_png_on_request() {
    let dir = scratch("jpeg");
    let input = dir.join("photo.jpg");
    image::DynamicImage::ImageRgb8(photo()).save(&input).unwrap();
    let text = complete(&input, &keep_mask(&dir), &dir.join("out"), &[]);
    assert!(text.contains("quality 95"), "{text}");
    let bytes = std::fs::read(dir.join("out/photo/result.jpg")).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Jpeg);
    let result = image::load_from_memory(&bytes).unwrap();
    assert_eq!((result.width(), result.height()), (512, 384));
    complete(&input, &keep_mask(&dir), &dir.join("out-png"), &["--format", "png"]);
    assert!(dir.join("out-png/photo/result.png").is_file());
}

#[test]
fn sixteen_bit_grey_and_webp_stay_lossless() {
    let dir = scratch("lossless");
    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(512, 384, |x, y| image::Luma([(x * 97 + y * 31) as u16]));
    let input = dir.join("deep.png");
    grey16.save(&input).unwrap();
    complete(&input, &keep_mask(&dir), &dir.join("out"), &[]);
    let result = image::open(dir.join("out/deep/result.png")).unwrap();
    let image::DynamicImage::ImageLuma16(result) = result else { panic!("a 16-bit grey PNG gives a 16-bit grey PNG") };
    for (x, y, p) in grey16.enumerate_pixels() {
        if !hole(x, y) {
            assert_eq!(p, result.get_pixel(x, y), "known 16-bit pixel ({x}, {y})");
        }
    }
    let webp = dir.join("photo.webp");
    image::DynamicImage::ImageRgb8(photo()).save(&webp).unwrap();
    complete(&webp, &keep_mask(&dir), &dir.join("out-webp"), &[]);
    let bytes = std::fs::read(dir.join("out-webp/photo/result.webp")).unwrap();
    let result = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let original = image::open(&webp).unwrap().to_rgb8();
    for (x, y, p) in original.enumerate_pixels() {
        if !hole(x, y) {
            assert_eq!(p, result.get_pixel(x, y), "known WebP pixel ({x}, {y})");
        }
    }
}

#[test]
fn regions_are_chosen_and_checked() {
    let dir = scratch("regions");
    let input = dir.join("photo.png");
    photo().save(&input).unwrap();
    let mask = keep_mask(&dir);
    // The region over the stroke; the blob outside it is filled classically.
    let text = complete(&input, &mask, &dir.join("out"), &["--region", "140,100,200"]);
    assert!(text.contains("filled classically"), "{text}");
    let (code, text) = run(&["complete", s(&input), "--weights", s(&tiny()), "--mask", s(&mask), "--region", "400,300,200", "--out", s(&dir.join("o2"))]);
    assert!(code == 1 && text.contains("leaves") && text.contains("512x384"), "{text}");
    let (code, text) = run(&["complete", s(&input), "--weights", s(&tiny()), "--mask", s(&mask), "--region", "0,0,100", "--out", s(&dir.join("o3"))]);
    assert!(code == 1 && text.contains("holds none of the hole"), "{text}");
    let (code, text) = run(&["complete", s(&input), "--weights", s(&tiny()), "--region", "1,2", "--out", s(&dir.join("o4"))]);
    assert!(code == 1 && text.contains("X,Y,SIZE"), "{text}");
}
