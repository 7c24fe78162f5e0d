//! `dcgan-inpaint quality`: the completion quality table. For each mask, the same images are
//! completed with binary and weighted contextual losses and both priors; each optimised z is
//! blended both ways (overlay and Poisson), so blend variants share their z. A baseline fills
//! the hole with the mean of the known pixels, to show what the model adds.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::mask::{self, MaskKind};
use super::blend::{Blend, compose};
use super::{CompleteConfig, Item, Metrics, evaluate, mean_metrics, optimise};
use crate::io::weights;
use crate::model::inpaint::Prior;
use crate::io::data;
use crate::error::{Error, Result};
use crate::engine::gpu::Gpu;

pub struct QualityConfig {
    /// Settings shared by every run (iters, restarts, lr, lam, batch, seed, weights).
    pub base: CompleteConfig,
    pub data: PathBuf,
    /// Only files whose name matches one of these globs (e.g. the held-out people).
    pub include: Vec<String>,
    /// At most this many images (0: all).
    pub limit: usize,
}

pub struct Row {
    pub mask: String,
    pub method: String,
    pub hole: Metrics,
}

/// Fill the hole with the per-channel mean of the known pixels.
fn mean_fill(item: &Item, c: usize, s: usize) -> Vec<f32> {
    let plane = s * s;
    let mut out = item.image.clone();
    for ch in 0..c {
        let known: Vec<f32> = (0..plane).filter(|&i| item.mask[i] > 0.5).map(|i| item.image[ch * plane + i]).collect();
        let mean = known.iter().sum::<f32>() / known.len().max(1) as f32;
        for i in (0..plane).filter(|&i| item.mask[i] <= 0.5) {
            out[ch * plane + i] = mean;
        }
    }
    out
}

/// Run the table; `progress` hears a line per run.
pub fn run(gpu: &Gpu, cfg: &QualityConfig, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Result<Vec<Row>> {
    let (g, d) = weights::load_gan(gpu, &cfg.base.weights)?;
    let (c, s) = (g.arch.channels, g.arch.image_size);
    let mut paths: Vec<PathBuf> = data::list_images(&cfg.data, &[])?
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            cfg.include.is_empty() || cfg.include.iter().any(|pat| data::glob_match(pat, &name))
        })
        .collect();
    if cfg.limit > 0 {
        paths.truncate(cfg.limit);
    }
    if paths.is_empty() {
        return Err(Error::new(format!("no images under {} match --include {}", cfg.data.display(), cfg.include.join(" "))));
    }
    let masks = [
        ("center", MaskKind::Center { scale: 0.25 }),
        ("random 0.8", MaskKind::Random { missing: 0.8 }),
        ("half", MaskKind::Half),
        ("pattern", MaskKind::Pattern),
    ];
    let mut rows = Vec::new();
    for (mask_name, kind) in masks {
        let items = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(Item {
                    name: p.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
                    path: p.clone(),
                    image: data::load_image(p, c, s)?,
                    mask: mask::make(&kind, s, cfg.base.seed, i as u64)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let baseline: Vec<Metrics> = items.iter().map(|it| evaluate(it, &mean_fill(it, c, s), c, s)).collect();
        rows.push(Row { mask: mask_name.into(), method: "mean of known pixels (baseline)".into(), hole: mean_metrics(&baseline) });
        for window in [0, 7] {
            for prior in [Prior::Paper, Prior::NonSaturating] {
                let run_cfg = CompleteConfig { mask: kind.clone(), weighted_window: window, prior, frames_every: 0, ..cfg.base.clone() };
                progress(&format!("{mask_name}: window {window}, {prior:?} prior, {} images", items.len()));
                let results = optimise(gpu, &g, &d, &items, None, &run_cfg, stop, |_| {})?;
                for blend in [Blend::None, Blend::Poisson] {
                    let m: Vec<Metrics> = items
                        .iter()
                        .zip(&results)
                        .map(|(it, r)| compose(it, &r.generated, c, s, &run_cfg.mask_kind(), blend).map(|x| evaluate(it, &x, c, s)))
                        .collect::<Result<_>>()?;
                    let method = format!(
                        "{} mask, {} prior, {}",
                        if window == 0 { "binary" } else { "weighted (7)" },
                        if prior == Prior::Paper { "paper" } else { "non-saturating" },
                        if blend == Blend::Poisson { "Poisson" } else { "overlay" }
                    );
                    rows.push(Row { mask: mask_name.into(), method, hole: mean_metrics(&m) });
                }
            }
        }
    }
    Ok(rows)
}

/// The table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| mask | method | PSNR hole (dB) | SSIM hole |\n| --- | --- | ---: | ---: |\n");
    for r in rows {
        out.push_str(&format!("| {} | {} | {:.2} | {:.4} |\n", r.mask, r.method, r.hole.psnr_hole, r.hole.ssim_hole));
    }
    out
}
