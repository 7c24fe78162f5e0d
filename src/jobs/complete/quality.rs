//! `dcgan-inpaint quality`: the completion quality table. For each mask of the preset table
//! measured here, the same images are filled by the classical fills (mean, harmonic,
//! biharmonic: what a user would pick instead) and completed by the DCGAN with each
//! weighted-loss window and ILO depth asked for; each optimised z is blended four ways
//! (overlay, Poisson, biharmonic, hybrid), so the blends share their z.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::CompleteConfig;
use crate::inpaint::blend::{self, Blend, Classical};
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
    /// Write each mask's images and masks here (`<mask>/<image>.png`, `<mask>/<image>.mask.png`,
    /// white = known) for fills made by other tools (tools/opencv_rows.py).
    pub export: Option<PathBuf>,
    /// Rows filled by other tools: (label, folder of `<mask>/<image>.png`).
    pub imports: Vec<(String, PathBuf)>,
    /// Only the classical rows and the default's (no DCGAN row per window and ILO depth).
    pub default_only: bool,
    /// Instead of the table: hole PSNR of G(z) (overlaid on the known pixels) after each of
    /// these numbers of z updates, from a random start and from the encoder's.
    pub curve: Vec<usize>,
}

/// The label of the default's row.
pub const AUTO_ROW: &str = "auto (the default)";

pub struct Row {
    pub mask: String,
    pub method: String,
    /// A fill that uses no model.
    pub classical: bool,
    pub hole: Metrics,
    /// Per image, in the order of the images.
    pub per_image: Vec<Metrics>,
    /// With auto: how many images each candidate was chosen for.
    pub chosen: Vec<(String, usize)>,
}

/// A mask's folder name in exports and imports: its table label without spaces.
pub fn mask_folder(label: &str) -> String {
    label.replace(' ', "-")
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
    let e = weights::load_encoder(gpu, &cfg.base.weights)?;
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
    // Every imported fill is there before the first mask is measured, not after hours.
    for (_, dir) in &cfg.imports {
        for (mask_name, _) in masks.iter().filter(|(_, kind)| *kind != MaskKind::LowRes) {
            for p in &paths {
                let name = p.file_stem().unwrap_or_default().to_string_lossy();
                let path = dir.join(mask_folder(mask_name)).join(format!("{name}.png"));
                if !path.is_file() {
                    return Err(Error::new(format!("{} is missing: run the tool that fills the exported masks (tools/opencv_rows.py) for every mask, or leave out its --import", path.display())));
                }
            }
        }
    }
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
        if let Some(dir) = &cfg.export {
            export(dir, mask_name, &items, c, s)?;
        }
        // Other tools fill from known pixels; lowres has none.
        for (label, dir) in cfg.imports.iter().filter(|_| kind != MaskKind::LowRes) {
            let m: Vec<Metrics> = items.iter().map(|it| Ok(evaluate(it, &import(dir, mask_name, it, c, s)?, c, s))).collect::<Result<_>>()?;
            rows.push(Row { mask: mask_name.into(), method: format!("{label} (classical)"), classical: true, hole: mean_metrics(&m), per_image: m, chosen: Vec::new() });
        }
        for &fill in fills {
            let fill_cfg = Settings { method: Method::Classical(fill), ..cfg.base.settings.clone() };
            let results = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, None, &fill_cfg, &kind, stop, |_| {})?;
            let m: Vec<Metrics> = items.iter().zip(&results).map(|(it, r)| evaluate(it, &r.completed, c, s)).collect();
            let name = match fill {
                Classical::MeanFill if lowres => "block means",
                Classical::Biharmonic if lowres => "bilinear upsampling of the block means",
                other => other.name(),
            };
            rows.push(Row { mask: mask_name.into(), method: format!("{name} (classical)"), classical: true, hole: mean_metrics(&m), per_image: m, chosen: Vec::new() });
        }
        // The default, as `complete` runs it.
        progress(&format!("{mask_name}: auto (the default), {} images", items.len()));
        let auto_cfg = Settings { method: Method::Auto, frames_every: 0, ..cfg.base.settings.clone() };
        let results = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, None, &auto_cfg, &kind, stop, |_| {})?;
        let m: Vec<Metrics> = items.iter().zip(&results).map(|(it, r)| evaluate(it, &r.completed, c, s)).collect();
        let mut chosen: Vec<(String, usize)> = Vec::new();
        for r in &results {
            let name = r.choice.as_ref().map_or("?".to_string(), |ch| ch.recipe.name());
            match chosen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, k)) => *k += 1,
                None => chosen.push((name, 1)),
            }
        }
        chosen.sort_by(|a, b| b.1.cmp(&a.1));
        rows.push(Row { mask: mask_name.into(), method: AUTO_ROW.into(), classical: false, hole: mean_metrics(&m), per_image: m, chosen });
        for &window in cfg.windows.iter().filter(|_| !cfg.default_only) {
            for &ilo_layers in &cfg.ilo_layers {
                let run_cfg = Settings { weighted_window: window, ilo_layers, frames_every: 0, method: Method::Dcgan, ..cfg.base.settings.clone() };
                let what = if ilo_layers == 0 { "z (paper)".to_string() } else { format!("z + ILO {ilo_layers} layers") };
                progress(&format!("{mask_name}: window {window}, {what}, {} images", items.len()));
                let results = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, None, &run_cfg, &kind, stop, |_| {})?;
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
                    rows.push(Row { mask: mask_name.into(), method, classical: false, hole: mean_metrics(&m), per_image: m, chosen: Vec::new() });
                }
            }
        }
    }
    Ok(rows)
}

/// The table as Markdown: every row, the best classical and DCGAN rows of each mask in bold.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| mask | method | PSNR hole (dB) | SSIM hole | noise hole |\n| --- | --- | ---: | ---: | ---: |\n");
    let best = |mask: &str, classical: bool| {
        rows.iter().filter(|r| r.mask == mask && r.classical == classical).map(|r| r.hole.psnr_hole).fold(f64::NEG_INFINITY, f64::max)
    };
    for r in rows {
        let bold = r.hole.psnr_hole == best(&r.mask, r.classical);
        let (b0, b1) = if bold { ("**", "**") } else { ("", "") };
        out.push_str(&format!("| {} | {b0}{}{b1} | {b0}{:.2}{b1} | {:.4} | {:.2} |\n", r.mask, r.method, r.hole.psnr_hole, r.hole.ssim_hole, r.hole.noise_hole));
    }
    out
}

/// Per mask: the default (auto) against the best classical row (by hole PSNR): both means,
/// the margins, and on how many images auto wins on each measure; then what auto chose.
pub fn summary(rows: &[Row]) -> String {
    let mut out = String::from(
        "| mask | best classical | PSNR hole | SSIM hole | auto: PSNR hole | SSIM hole | noise hole | margin PSNR (dB) | margin SSIM | images won PSNR | images won SSIM | auto chose |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    let mut masks: Vec<&str> = rows.iter().map(|r| r.mask.as_str()).collect();
    masks.dedup();
    for mask in masks {
        let classical = rows.iter().filter(|r| r.mask == mask && r.classical).max_by(|a, b| a.hole.psnr_hole.total_cmp(&b.hole.psnr_hole));
        let auto = rows.iter().find(|r| r.mask == mask && r.method == AUTO_ROW);
        if let (Some(c), Some(a)) = (classical, auto) {
            let n = a.per_image.len().min(c.per_image.len());
            let wins = |f: &dyn Fn(&Metrics) -> f64| (0..n).filter(|&i| f(&a.per_image[i]) > f(&c.per_image[i])).count();
            let chose: Vec<String> = a.chosen.iter().map(|(name, k)| format!("{name} ({k})")).collect();
            out.push_str(&format!(
                "| {mask} | {} | {:.2} | {:.4} | {:.2} | {:.4} | {:.2} | {:+.2} | {:+.4} | {}/{n} | {}/{n} | {} |\n",
                c.method.trim_end_matches(" (classical)"),
                c.hole.psnr_hole,
                c.hole.ssim_hole,
                a.hole.psnr_hole,
                a.hole.ssim_hole,
                a.hole.noise_hole,
                a.hole.psnr_hole - c.hole.psnr_hole,
                a.hole.ssim_hole - c.hole.ssim_hole,
                wins(&|m| m.psnr_hole),
                wins(&|m| m.ssim_hole),
                chose.join(", ")
            ));
        }
    }
    out
}

/// Each image and its mask as PNGs under `dir/<mask>/`, for another tool to fill.
fn export(dir: &std::path::Path, mask_name: &str, items: &[Item], c: usize, s: usize) -> Result<()> {
    use crate::io::picture;
    let folder = dir.join(mask_folder(mask_name));
    std::fs::create_dir_all(&folder).map_err(|e| Error::new(format!("cannot create {}: {e}", folder.display())))?;
    for it in items {
        picture::save_png(&picture::to_rgb8(&it.image, c, s), &folder.join(format!("{}.png", it.name)))?;
        let mask: Vec<f32> = it.mask.iter().map(|m| m * 2.0 - 1.0).collect();
        picture::save_png(&picture::to_rgb8(&mask, 1, s), &folder.join(format!("{}.mask.png", it.name)))?;
    }
    Ok(())
}

/// Another tool's fill of `item` under `mask_name`: `dir/<mask>/<image>.png` (checked to
/// exist before the table starts).
fn import(dir: &std::path::Path, mask_name: &str, item: &Item, c: usize, s: usize) -> Result<Vec<f32>> {
    data::load_image(&dir.join(mask_folder(mask_name)).join(format!("{}.png", item.name)), c, s)
}

/// One point of the start curve: z updates, then mean hole PSNR and SSIM of G(z) overlaid on
/// the known pixels, from a random start and from the encoder's.
pub struct CurvePoint {
    pub iterations: usize,
    pub random: Metrics,
    pub encoder: Metrics,
}

/// The start curve (`--curve`) on the first mask asked for (center by default): one run of
/// the largest number of z updates per start (no ILO, the paper's z optimisation), G(z) kept
/// at every point asked for.
pub fn curve(gpu: &Gpu, cfg: &QualityConfig, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Result<Vec<CurvePoint>> {
    let (g, d) = weights::load_gan(gpu, &cfg.base.weights)?;
    let Some(e) = weights::load_encoder(gpu, &cfg.base.weights)? else {
        return Err(Error::new(format!("{} holds no encoder: train one with `dcgan-inpaint train-encoder`", cfg.base.weights.display())));
    };
    let (c, s) = (g.arch.channels, g.arch.image_size);
    let (mask_name, kind) = if cfg.masks.is_empty() { ("center", MaskKind::Center { scale: mask::CENTER_SCALE }) } else { masks(cfg)?[0].clone() };
    let paths = data::select(&cfg.data, &cfg.include, cfg.limit)?.files;
    let items = paths
        .iter()
        .enumerate()
        .map(|(i, p)| Ok(Item { name: p.file_stem().unwrap_or_default().to_string_lossy().into_owned(), image: data::load_image(p, c, s)?, mask: mask::make(&kind, s, cfg.base.settings.seed, i as u64)? }))
        .collect::<Result<Vec<_>>>()?;
    let mut points: Vec<usize> = cfg.curve.clone();
    points.sort_unstable();
    points.dedup();
    let last = *points.last().ok_or_else(|| Error::new("--curve needs at least one number of iterations"))?;
    // G(z) is read back every gcd of the points (at 0 and after the last, too).
    let gcd = |a: usize, b: usize| {
        let (mut a, mut b) = (a, b);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let every = points.iter().fold(0, |acc, &p| gcd(acc, p)).max(1);
    let mut per_start = Vec::new();
    for start in [inpaint::Start::Random, inpaint::Start::Encoder] {
        progress(&format!("{mask_name}: {start:?} start, {} images, {last} iterations", items.len()));
        let run = Settings { method: Method::Dcgan, start, iters: last, ilo_layers: 0, restarts: 1, frames_every: every, ..cfg.base.settings.clone() };
        let mut kept: Vec<(usize, Vec<f32>)> = Vec::new();
        inpaint::optimise(gpu, &g, &d, Some(&e), &items, None, &run, &kind, stop, |step| {
            if points.contains(&step.t)
                && let Some(images) = step.generated
            {
                kept.push((step.t, images.to_vec()));
            }
        })?;
        per_start.push(kept);
    }
    let plane = c * s * s;
    let mean_at = |kept: &Vec<(usize, Vec<f32>)>, t: usize| {
        let rows: Vec<Metrics> = kept
            .iter()
            .filter(|(at, _)| *at == t)
            .flat_map(|(_, images)| images.chunks(plane).zip(&items).map(|(gz, it)| evaluate(it, &blend::overlay(it, gz, c, s), c, s)).collect::<Vec<_>>())
            .collect();
        mean_metrics(&rows)
    };
    Ok(points.iter().map(|&t| CurvePoint { iterations: t, random: mean_at(&per_start[0], t), encoder: mean_at(&per_start[1], t) }).collect())
}

/// The start curve as Markdown.
pub fn curve_markdown(points: &[CurvePoint]) -> String {
    let mut out = String::from("| z updates | random start: PSNR hole | SSIM hole | encoder start: PSNR hole | SSIM hole |\n| ---: | ---: | ---: | ---: | ---: |\n");
    for p in points {
        out.push_str(&format!("| {} | {:.2} | {:.4} | {:.2} | {:.4} |\n", p.iterations, p.random.psnr_hole, p.random.ssim_hole, p.encoder.psnr_hole, p.encoder.ssim_hole));
    }
    out
}
