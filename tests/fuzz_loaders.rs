//! Random and mutated bytes into every loader of user files (safetensors weights, .npy
//! latents, images, mask PNGs): each case must end in Ok or a clear error, never a panic,
//! and no single allocation may exceed a stated bound. A bounded, seeded number of cases
//! runs in `cargo test`; raise FUZZ_CASES for a longer run.
//!
//! The bound: the largest image decoded is `data::MAX_PIXELS` (64 megapixels), whose 16-bit
//! RGBA buffer is `data::MAX_DECODED_BYTES` (512 MiB); nothing else a loader does comes near it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use dcgan_inpaint::io::{data, npy, weights};
use dcgan_inpaint::inpaint::mask;
use dcgan_inpaint::rng::Rng;

/// Records the largest single allocation (this binary holds one test, so it is the loaders').
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MODEL_SIZE: usize = 64;

fn bound() -> usize {
    data::MAX_DECODED_BYTES as usize + (64 << 20)
}

/// A mutation of `seed_bytes`: flipped bytes, a truncation, random u32s written over
/// length and size fields, or pure noise.
fn mutate(rng: &mut Rng, seed_bytes: &[u8]) -> Vec<u8> {
    let mut b = seed_bytes.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => b.truncate(rng.below(b.len() + 1)),
        2 => {
            // Overwrite a 4- or 8-byte field near the start (lengths, widths, heights).
            if b.len() > 40 {
                let i = rng.below(40);
                let v = (rng.uniform() * u32::MAX as f64) as u32;
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                if rng.below(2) == 0 {
                    b[i..i + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
        3 => b = (0..rng.below(4096)).map(|_| rng.below(256) as u8).collect(),
        _ => {
            let i = rng.below(b.len().max(1));
            b.splice(i..i, (0..rng.below(64)).map(|_| rng.below(256) as u8));
        }
    }
    b
}

fn seeds(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let z = dir.join("seed.npy");
    npy::write_f32(&z, &[2, 8], &[0.25; 16]).unwrap();
    let png = dir.join("seed.png");
    image::RgbaImage::from_fn(20, 12, |x, y| image::Rgba([x as u8 * 9, y as u8 * 17, 3, 200])).save(&png).unwrap();
    vec![
        ("safetensors", std::fs::read(fixtures.join("model/tiny.safetensors")).unwrap()),
        ("npy", std::fs::read(&z).unwrap()),
        ("png", std::fs::read(&png).unwrap()),
        ("bmp", std::fs::read(fixtures.join("images/shape2.bmp")).unwrap()),
        ("jpg", std::fs::read(fixtures.join("images/shape1.jpg")).unwrap()),
    ]
}

/// Every loader on `path`; a panic is reported with the case that caused it.
fn load_everything(path: &Path) {
    let _ = weights::read(path);
    let _ = weights::read_metadata(path);
    let _ = npy::read_f32(path);
    let _ = data::load_image(path, 3, MODEL_SIZE);
    let _ = data::load_image(path, 1, MODEL_SIZE);
    let _ = mask::from_png(path, MODEL_SIZE);
}

#[test]
fn loaders_survive_random_and_mutated_bytes() {
    let dir: PathBuf = std::env::temp_dir().join(format!("dcgan-inpaint-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let seeds = seeds(&dir);
    let mut rng = Rng::new(20261202);
    for case in 0..cases {
        let (kind, seed) = &seeds[case % seeds.len()];
        let bytes = mutate(&mut rng, seed);
        let path = dir.join(format!("case.{kind}"));
        std::fs::write(&path, &bytes).unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        if let Err(e) = std::panic::catch_unwind(AssertUnwindSafe(|| load_everything(&path))) {
            let kept = dir.join(format!("panic-{case}.{kind}"));
            std::fs::write(&kept, &bytes).unwrap();
            std::panic::resume_unwind(Box::new(format!("case {case} ({kind}, kept as {}): {e:?}", kept.display())));
        }
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(largest <= bound(), "case {case} ({kind}): an allocation of {largest} bytes, over the bound of {}", bound());
    }
    std::fs::remove_dir_all(&dir).ok();
}
