//! What `complete` writes per image (the model-size masked / generated / completed / summary
//! PNGs, progress.gif, loss.csv, z.npy, and `result.<ext>` at the photo's own resolution) and
//! for the run (summary.png; metrics.json: each image's fit, and PSNR / SSIM with --eval),
//! every file atomically; and the list of them, recorded in the output folder before the first is
//! written (`io::output::FolderLock`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::inpaint::{Completion, Item, Metrics, Settings, mean_metrics};
use crate::io::output::write_atomic;
use crate::io::{npy, picture};

pub const SUMMARY: &str = "summary.png";
pub const METRICS: &str = "metrics.json";
const ITEM_FILES: [&str; 6] = ["masked.png", "generated.png", "completed.png", "summary.png", "progress.gif", "loss.csv"];
const Z_FILE: &str = "z.npy";

/// Every file a run with these items (and the encodings of their full-resolution results)
/// may write, relative to its folder.
pub fn planned_files(items: &[Item], encodings: &[picture::Encoding], save_z: bool) -> Vec<String> {
    let mut files = vec![SUMMARY.to_string(), METRICS.to_string()];
    for (item, encoding) in items.iter().zip(encodings) {
        files.extend(ITEM_FILES.iter().map(|f| format!("{}/{f}", item.name)));
        files.push(format!("{}/result.{}", item.name, encoding.extension()));
        if save_z {
            files.push(format!("{}/{Z_FILE}", item.name));
        }
    }
    files
}

/// Everything for one item under `dir`; returns its summary row (masked | generated |
/// completed | original) for the run's grid.
pub fn write_item(dir: &Path, item: &Item, r: &Completion, masked: &[f32], save_z: bool, c: usize, s: usize) -> Result<Vec<f32>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    let save = |img: &[f32], name: &str| picture::save_png(&picture::to_rgb8(img, c, s), &dir.join(name));
    save(masked, "masked.png")?;
    save(&r.generated, "generated.png")?;
    save(&r.completed, "completed.png")?;
    let row: Vec<f32> = [masked, &r.generated, &r.completed, &item.image].iter().flat_map(|v| v.iter().copied()).collect();
    picture::save_png(&picture::grid(&row, 4, c, s, 4), &dir.join("summary.png"))?;
    // One frame is only the result: no animation for a classical fill.
    if r.frames.len() > 1 {
        picture::save_gif(&r.frames, c, s, &dir.join("progress.gif"))?;
    }
    let mut csv = String::from("iteration,contextual,prior,total\n");
    for (t, (cv, pv)) in r.losses.iter().enumerate() {
        csv.push_str(&format!("{t},{cv},{pv},{}\n", cv + pv));
    }
    write_atomic(&dir.join("loss.csv"), csv.as_bytes())?;
    if save_z && !r.z.is_empty() {
        npy::write_f32(&dir.join(Z_FILE), &[1, r.z.len()], &r.z)?;
    }
    Ok(row)
}

#[derive(serde::Serialize)]
struct ImageReport<'a> {
    name: &'a str,
    /// How well the generator alone fits the known pixels (see `inpaint::Completion::fit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    fit: Option<f32>,
    /// The fit is past the 99th percentile of pictures the model knows (`calibrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    unlike_what_the_model_knows: Option<bool>,
    /// What filled the hole (`inpaint::method_report`).
    method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    method_name: Option<String>,
    /// With auto: each candidate's PSNR (dB) on the known pixels hidden like the hole.
    #[serde(skip_serializing_if = "Option::is_none")]
    validation_psnr: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    metrics: Option<Metrics>,
}

#[derive(serde::Serialize)]
struct MetricsFile<'a> {
    /// The threshold the fits are compared with (none: the weights are not calibrated).
    fit_p99: Option<f32>,
    images: Vec<ImageReport<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean: Option<Metrics>,
}

/// metrics.json: per image its fit (and whether it is past `fit_p99`), and with `--eval` its
/// PSNR / SSIM and their means.
pub fn write_metrics_json(path: &Path, items: &[Item], results: &[Completion], settings: &Settings, fit_p99: Option<f32>, m: Option<&[Metrics]>) -> Result<()> {
    let fits: Vec<Option<f32>> = results.iter().map(|r| r.fit).collect();
    let file = MetricsFile {
        fit_p99,
        images: items
            .iter()
            .enumerate()
            .map(|(k, i)| ImageReport {
                name: &i.name,
                fit: fits[k],
                unlike_what_the_model_knows: fits[k].zip(fit_p99).map(|(f, p)| f > p),
                method: crate::inpaint::method_report(settings.method, settings.blend, &results[k]).0,
                method_name: crate::inpaint::method_report(settings.method, settings.blend, &results[k]).1,
                validation_psnr: results[k].choice.as_ref().filter(|c| !c.validation.is_empty()).map(|c| c.validation.iter().map(|(r, p)| (r.key(), (p * 100.0).round() / 100.0)).collect()),
                metrics: m.map(|m| m[k]),
            })
            .collect(),
        mean: m.map(mean_metrics),
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| Error::new(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, json.as_bytes())
}
