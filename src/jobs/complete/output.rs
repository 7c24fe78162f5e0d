//! What `complete` writes per image (the model-size masked / generated / completed / summary
//! PNGs, progress.gif, loss.csv, z.npy, and `result.<ext>` at the photo's own resolution) and
//! for the run (summary.png, metrics.json), every file atomically; and the list of them, recorded in the output folder before the first is
//! written (`io::output::FolderLock`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::inpaint::{Completion, Item, Metrics, mean_metrics};
use crate::io::output::write_atomic;
use crate::io::{npy, picture};

pub const SUMMARY: &str = "summary.png";
pub const METRICS: &str = "metrics.json";
const ITEM_FILES: [&str; 6] = ["masked.png", "generated.png", "completed.png", "summary.png", "progress.gif", "loss.csv"];
const Z_FILE: &str = "z.npy";

/// Every file a run with these items (and the encodings of their full-resolution results)
/// may write, relative to its folder.
pub fn planned_files(items: &[Item], encodings: &[picture::Encoding], save_z: bool, eval: bool) -> Vec<String> {
    let mut files = vec![SUMMARY.to_string()];
    if eval {
        files.push(METRICS.to_string());
    }
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
struct NamedMetrics<'a> {
    name: &'a str,
    #[serde(flatten)]
    metrics: Metrics,
}

#[derive(serde::Serialize)]
struct MetricsFile<'a> {
    images: Vec<NamedMetrics<'a>>,
    mean: NamedMetrics<'a>,
}

pub fn write_metrics_json(path: &Path, items: &[Item], m: &[Metrics]) -> Result<()> {
    let file = MetricsFile {
        images: items.iter().zip(m).map(|(i, &metrics)| NamedMetrics { name: &i.name, metrics }).collect(),
        mean: NamedMetrics { name: "mean", metrics: mean_metrics(m) },
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| Error::new(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, json.as_bytes())
}
