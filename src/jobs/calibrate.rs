//! `dcgan-inpaint calibrate`: how well the generator alone fits the known pixels of pictures
//! it knows (`Completion::fit`, the mean absolute difference in [0, 1] units), measured on a
//! folder of them (for the shipped faces: the held-out people) with the holes of `MASKS`,
//! at the page's iterations. Its 99th percentile, written into the weights' metadata
//! (`fit_p99`), is what `complete` and `serve` compare a new picture's fit with: past it, the
//! picture looks unlike what the model knows, and the user is told.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::engine::gpu::Gpu;
use crate::error::Result;
use crate::inpaint::{self, Item, MaskKind, Settings, mask};
use crate::io::{data, weights as format};
use crate::model::weights;

pub struct CalibrateConfig {
    pub weights: PathBuf,
    pub data: PathBuf,
    /// Only files whose name matches one of these globs (the held-out people).
    pub include: Vec<String>,
    /// At most this many images (0: all).
    pub limit: usize,
    pub iters: usize,
    pub seed: u64,
    /// Store the result in the weights file's metadata.
    pub write: bool,
}

/// The holes the fits are measured with: holes a person paints, from a small one (94% of
/// the picture known, as a blemish leaves) to half of it. With fewer pixels known (a sparse
/// mask) the fit says little and is not judged (`MIN_KNOWN`).
pub const MASKS: [(&str, MaskKind); 4] =
    [
        ("small center", MaskKind::Center { scale: 0.375 }),
        ("center", MaskKind::Center { scale: mask::CENTER_SCALE }),
        ("half", MaskKind::Half),
        ("pattern", MaskKind::Pattern),
    ];

/// The share of known pixels below which no fit is taken (`inpaint::FIT_MIN_KNOWN`).
pub const MIN_KNOWN: f32 = inpaint::FIT_MIN_KNOWN;

pub struct Calibration {
    /// One fit per image and mask, sorted.
    pub fits: Vec<f32>,
    pub p50: f32,
    pub p99: f32,
    pub images: usize,
    /// Per mask: (name, median, 99th percentile).
    pub per_mask: Vec<(&'static str, f32, f32)>,
}

/// The nearest-rank percentile `q` (0..1) of sorted values.
pub fn percentile(sorted: &[f32], q: f64) -> f32 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f32::NAN)
}

/// Measure; with `cfg.write`, store `fit_p99` (and how it was measured) in the weights file.
pub fn run(gpu: &Gpu, cfg: &CalibrateConfig, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Result<Calibration> {
    if cfg.write {
        crate::io::output::check(&cfg.weights, "safetensors", "the calibration", &[])?;
    }
    let (g, d) = weights::load_gan(gpu, &cfg.weights)?;
    // Measured as `complete` runs: from the encoder's start when the weights hold one.
    let e = weights::load_encoder(gpu, &cfg.weights)?;
    let (c, s) = (g.arch.channels, g.arch.image_size);
    let listing = data::select(&cfg.data, &cfg.include, cfg.limit)?;
    listing.skipped.iter().for_each(|w| progress(&format!("warning: {w}")));
    let paths = listing.files;
    let images: Vec<Vec<f32>> = paths.iter().map(|p| data::load_image(p, c, s)).collect::<Result<_>>()?;
    let settings = Settings { method: inpaint::Method::Dcgan, iters: cfg.iters, ilo_layers: 0, restarts: 1, frames_every: 0, seed: cfg.seed, ..Settings::default() };
    let (mut fits, mut per_mask) = (Vec::new(), Vec::new());
    for (name, kind) in MASKS {
        progress(&format!("{name}: {} images, {} iterations", images.len(), cfg.iters));
        let items: Vec<Item> = images
            .iter()
            .enumerate()
            .map(|(i, image)| Ok(Item { name: i.to_string(), image: image.clone(), mask: mask::make(&kind, s, cfg.seed, i as u64)? }))
            .collect::<Result<_>>()?;
        let done = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, None, &settings, &kind, stop, |_| {})?;
        let mut these: Vec<f32> = done.iter().filter_map(|r| r.fit).collect();
        these.sort_by(f32::total_cmp);
        per_mask.push((name, percentile(&these, 0.5), percentile(&these, 0.99)));
        fits.extend(these);
    }
    fits.sort_by(f32::total_cmp);
    let calibration = Calibration { p50: percentile(&fits, 0.5), p99: percentile(&fits, 0.99), images: paths.len(), fits, per_mask };
    if cfg.write {
        let how = serde_json::json!({
            "data": cfg.data.display().to_string(), "include": cfg.include, "images": calibration.images,
            "masks": MASKS.map(|(name, _)| name), "iters": cfg.iters, "p50": calibration.p50, "p99": calibration.p99,
            "per_mask": calibration.per_mask.iter().map(|(m, p50, p99)| serde_json::json!({ "mask": m, "p50": p50, "p99": p99 })).collect::<Vec<_>>(),
            "min_known": MIN_KNOWN,
        });
        format::set_metadata(&cfg.weights, &[(weights::FIT_P99, calibration.p99.to_string()), ("fit_calibration", how.to_string())])?;
    }
    Ok(calibration)
}
