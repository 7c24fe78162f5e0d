//! `dcgan-inpaint quality`: the completion quality table. For each mask of the preset table
//! measured here, the same images are filled by the classical fills (mean, harmonic,
//! biharmonic: what a user would pick instead) and completed by the DCGAN with each
//! weighted-loss window and ILO depth asked for; each optimised z is blended four ways
//! (overlay, Poisson, biharmonic, hybrid), so the blends share their z.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::CompleteConfig;
use crate::inpaint::blend::{Blend, Classical};
use crate::inpaint::mask::{self, MaskKind};
use crate::inpaint::{self, Item, Method, Metrics, Settings, evaluate, mean_metrics};
use crate::model::weights;
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
    /// Only these masks (names as in the table; empty: all).
    pub masks: Vec<String>,
    /// Weighted-loss windows to compare (0: the binary mask).
    pub windows: Vec<usize>,
    /// Intermediate-layer optimisation depths to compare (0: z only).
    pub ilo_layers: Vec<usize>,
    /// The DCGAN weight of the hybrid rows.
    pub hybrid_weight: f32,
}

pub struct Row {
    pub mask: String,
    pub method: String,
    /// A fill that uses no model.
    pub classical: bool,
    pub hole: Metrics,
}

/// The masks of the table: `cfg.masks` (preset names, or the table's labels such as
/// "random 0.8"), or every preset measured there. An unknown name is an error.
fn masks(cfg: &QualityConfig) -> Result<Vec<(&'static str, MaskKind)>> {
    let measured: Vec<&mask::Preset> = mask::PRESETS.iter().filter(|p| p.quality.is_some()).collect();
    let chosen: Vec<&mask::Preset> = if cfg.masks.is_empty() {
        measured.clone()
    } else {
        cfg.masks
            .iter()
            .map(|name| {
                mask::preset(name).filter(|p| p.quality.is_some()).ok_or_else(|| {
                    let names: Vec<&str> = measured.iter().map(|p| p.name).collect();
                    Error::new(format!("--mask {name} is not a mask of the quality table; use one of {}", names.join(", ")))
                })
            })
            .collect::<Result<_>>()?
    };
    Ok(chosen.into_iter().map(|p| (p.quality.unwrap_or(p.name), p.kind(mask::CENTER_SCALE, mask::MISSING))).collect())
}

/// Run the table; `progress` hears a line per run. Every setting is checked (each window
/// and ILO depth against the model) before the first image is completed.
pub fn run(gpu: &Gpu, cfg: &QualityConfig, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Result<Vec<Row>> {
    let (g, d) = weights::load_gan(gpu, &cfg.base.weights)?;
    let (c, s) = (g.arch.channels, g.arch.image_size);
    let masks = masks(cfg)?;
    if cfg.windows.is_empty() || cfg.ilo_layers.is_empty() {
        return Err(Error::new("--window and --ilo-layers need at least one value each"));
    }
    let hybrid = Blend::Hybrid { weight: cfg.hybrid_weight };
    for &window in &cfg.windows {
        for &ilo_layers in &cfg.ilo_layers {
            let run_cfg = Settings { weighted_window: window, ilo_layers, blend: hybrid, ..cfg.base.settings.clone() };
            run_cfg.validate(s, g.image_stage())?;
        }
    }
    let listing = data::select(&cfg.data, &cfg.include, cfg.limit)?;
    listing.skipped.iter().for_each(|w| progress(&format!("warning: {w}")));
    let paths = listing.files;
    let mut rows = Vec::new();
    for (mask_name, kind) in masks {
        let items = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(Item {
                    name: p.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
                    image: data::load_image(p, c, s)?,
                    mask: mask::make(&kind, s, cfg.base.settings.seed, i as u64)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // With lowres there are no known pixels, only block means: the smooth fills are one
        // (bilinear upsampling of the block means), so one row stands for both.
        let lowres = kind == MaskKind::LowRes;
        let fills: &[Classical] = if lowres { &[Classical::MeanFill, Classical::Biharmonic] } else { &[Classical::MeanFill, Classical::Harmonic, Classical::Biharmonic] };
        for &fill in fills {
            let fill_cfg = Settings { method: Method::Classical(fill), ..cfg.base.settings.clone() };
            let results = inpaint::complete(gpu, &g, &d, &items, None, &fill_cfg, &kind, stop, |_| {})?;
            let m: Vec<Metrics> = items.iter().zip(&results).map(|(it, r)| evaluate(it, &r.completed, c, s)).collect();
            let name = match fill {
                Classical::MeanFill if lowres => "block means",
                Classical::Biharmonic if lowres => "bilinear upsampling of the block means",
                other => other.name(),
            };
            rows.push(Row { mask: mask_name.into(), method: format!("{name} (classical)"), classical: true, hole: mean_metrics(&m) });
        }
        for &window in &cfg.windows {
            for &ilo_layers in &cfg.ilo_layers {
                let run_cfg = Settings { weighted_window: window, ilo_layers, frames_every: 0, method: Method::Dcgan, ..cfg.base.settings.clone() };
                let what = if ilo_layers == 0 { "z (paper)".to_string() } else { format!("z + ILO {ilo_layers} layers") };
                progress(&format!("{mask_name}: window {window}, {what}, {} images", items.len()));
                let results = inpaint::complete(gpu, &g, &d, &items, None, &run_cfg, &kind, stop, |_| {})?;
                // The lowres correction replaces the pixel blends, so two rows are enough there.
                let blends: &[Blend] = if lowres { &[Blend::Poisson, hybrid] } else { &[Blend::None, Blend::Poisson, Blend::Biharmonic, hybrid] };
                for &blend in blends {
                    let m: Vec<Metrics> = items
                        .iter()
                        .zip(&results)
                        .map(|(it, r)| r.blended(it, c, s, &kind, Method::Dcgan, blend).map(|x| evaluate(it, &x, c, s)))
                        .collect::<Result<_>>()?;
                    let blend_name = match blend {
                        Blend::Poisson if lowres => "block-mean correction".to_string(),
                        Blend::Hybrid { weight } => {
                            let fill = if lowres { "bilinear upsampling" } else { "biharmonic fill" };
                            format!("{weight} x DCGAN + {:.1} x {fill}", 1.0 - weight)
                        }
                        other => other.name().to_string(),
                    };
                    let mask_loss = if window == 0 { "binary".to_string() } else { format!("weighted ({window})") };
                    let method = format!("DCGAN {what}, {mask_loss} loss, {blend_name}");
                    rows.push(Row { mask: mask_name.into(), method, classical: false, hole: mean_metrics(&m) });
                }
            }
        }
    }
    Ok(rows)
}

/// The table as Markdown: every row, the best classical and DCGAN rows of each mask in bold.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| mask | method | PSNR hole (dB) | SSIM hole |\n| --- | --- | ---: | ---: |\n");
    let best = |mask: &str, classical: bool| {
        rows.iter().filter(|r| r.mask == mask && r.classical == classical).map(|r| r.hole.psnr_hole).fold(f64::NEG_INFINITY, f64::max)
    };
    for r in rows {
        let bold = r.hole.psnr_hole == best(&r.mask, r.classical);
        let (b0, b1) = if bold { ("**", "**") } else { ("", "") };
        out.push_str(&format!("| {} | {b0}{}{b1} | {b0}{:.2}{b1} | {:.4} |\n", r.mask, r.method, r.hole.psnr_hole, r.hole.ssim_hole));
    }
    out
}

/// Per mask: the best classical and the best DCGAN row, and the margin in dB.
pub fn summary(rows: &[Row]) -> String {
    let mut out = String::from("| mask | best classical | PSNR hole | best DCGAN-based | PSNR hole | margin (dB) |\n| --- | --- | ---: | --- | ---: | ---: |\n");
    let mut masks: Vec<&str> = rows.iter().map(|r| r.mask.as_str()).collect();
    masks.dedup();
    for mask in masks {
        let best = |classical: bool| {
            rows.iter().filter(|r| r.mask == mask && r.classical == classical).max_by(|a, b| a.hole.psnr_hole.total_cmp(&b.hole.psnr_hole))
        };
        if let (Some(c), Some(d)) = (best(true), best(false)) {
            out.push_str(&format!(
                "| {mask} | {} | {:.2} | {} | {:.2} | {:+.2} |\n",
                c.method, c.hole.psnr_hole, d.method, d.hole.psnr_hole, d.hole.psnr_hole - c.hole.psnr_hole
            ));
        }
    }
    out
}
