//! What `complete` writes per image (the model-size masked / generated / completed / summary
//! PNGs, progress.gif, loss.csv, z.npy, and `result.<ext>` at the photo's own resolution) and
//! for the run (summary.png; metrics.json: each image's fit, and PSNR / SSIM with --eval),
//! every file atomically; and the list of them, recorded in the output folder before the first is
//! written (`io::output::FolderLock`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::inpaint::{Completion, Item, Metrics, Settings, mean_metrics};
use crate::io::output::{RunFiles, write_atomic};
use crate::io::{npy, picture};

pub const SUMMARY: &str = "summary.png";
pub const METRICS: &str = "metrics.json";
const ITEM_FILES: [&str; 7] = ["masked.png", "generated.png", "completed.png", "summary.png", "progress.gif", "loss.csv", ITEM_RECORD];
/// The run's account of its inputs: its shard, and which it completed, skipped or failed.
pub const RUN: &str = "run.json";
const Z_FILE: &str = "z.npy";

/// Every file a run over these image folders (and the encodings of their full-resolution
/// results) may write, relative to its folder.
pub fn planned_files(names: &[&str], encodings: &[picture::Encoding], save_z: bool) -> RunFiles {
    let mut dir_files: Vec<String> = ITEM_FILES.iter().map(|f| f.to_string()).collect();
    let mut extensions: Vec<&str> = encodings.iter().map(|e| e.extension()).collect();
    extensions.sort();
    extensions.dedup();
    dir_files.extend(extensions.iter().map(|e| format!("result.{e}")));
    if save_z {
        dir_files.push(Z_FILE.to_string());
    }
    RunFiles { files: vec![SUMMARY.to_string(), METRICS.to_string(), RUN.to_string()], dirs: names.iter().map(|n| n.to_string()).collect(), dir_files }
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

/// What one image's completion was, as metrics.json lists it and its folder's `item.json`
/// keeps it (which `report` and `--resume` read back).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageReport {
    pub name: String,
    /// The input it came from, and its path relative to the folder named (what `--shard`
    /// hashes).
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub relative: String,
    /// How well the generator alone fits the known pixels (see `inpaint::Completion::fit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<f32>,
    /// The fit is past the 99th percentile of pictures the model knows (`calibrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlike_what_the_model_knows: Option<bool>,
    /// What filled the hole (`inpaint::method_report`).
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_name: Option<String>,
    /// With auto: each candidate's PSNR (dB) on the known pixels hidden like the hole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_psnr: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// The file in each image's folder that says what its completion was.
pub const ITEM_RECORD: &str = "item.json";

impl ImageReport {
    pub fn new(name: &str, input: &Path, relative: &str, r: &Completion, settings: &Settings, fit_p99: Option<f32>, metrics: Option<Metrics>) -> ImageReport {
        let (method, method_name) = crate::inpaint::method_report(settings.method, settings.blend, r);
        ImageReport {
            name: name.to_string(),
            input: input.display().to_string(),
            relative: relative.to_string(),
            fit: r.fit,
            unlike_what_the_model_knows: r.fit.zip(fit_p99).map(|(f, p)| f > p),
            method,
            method_name,
            validation_psnr: r.choice.as_ref().filter(|c| !c.validation.is_empty()).map(|c| c.validation.iter().map(|(r, p)| (r.key(), (p * 100.0).round() / 100.0)).collect()),
            metrics,
        }
    }

    pub fn read(dir: &Path) -> Result<ImageReport> {
        let path = dir.join(ITEM_RECORD);
        let text = crate::io::output::read_text(&path, "image record", 1 << 20)?;
        serde_json::from_str(&text).map_err(|e| Error::new(format!("{} is not an image record: {e}", path.display())))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::new(format!("cannot encode {}: {e}", dir.display())))?;
        write_atomic(&dir.join(ITEM_RECORD), json.as_bytes())
    }
}

/// metrics.json: per image its fit (and whether it is past `fit_p99`), and with `--eval` its
/// PSNR / SSIM and their means. Streamed from each image folder's record (`dirs`, names
/// under `out`), so a run of any size holds one record at a time.
pub fn write_metrics_json<'a>(out: &Path, dirs: impl Iterator<Item = &'a str>, fit_p99: Option<f32>) -> Result<()> {
    use std::io::Write;
    let path = out.join(METRICS);
    let failed = |e: &dyn std::fmt::Display| Error::new(format!("cannot write {}: {e}", path.display()));
    let mut f = crate::io::output::AtomicFile::create(&path)?;
    write!(f, "{{\n  \"fit_p99\": {},\n  \"images\": [", serde_json::to_string(&fit_p99).map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
    let mut measured = Vec::new();
    let mut first = true;
    for dir in dirs {
        let Ok(record) = ImageReport::read(&out.join(dir)) else { continue };
        measured.extend(record.metrics);
        let json = serde_json::to_string_pretty(&record).map_err(|e| failed(&e))?;
        write!(f, "{}\n    {}", if first { "" } else { "," }, json.replace('\n', "\n    ")).map_err(|e| failed(&e))?;
        first = false;
    }
    write!(f, "\n  ]").map_err(|e| failed(&e))?;
    if !measured.is_empty() {
        write!(f, ",\n  \"mean\": {}", serde_json::to_string(&mean_metrics(&measured)).map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
    }
    writeln!(f, "\n}}").map_err(|e| failed(&e))?;
    f.commit()
}

/// run.json: `account` (its shard, failures) with `lists` of relative paths (inputs,
/// completed, resumed) written one name at a time.
pub fn write_run_json(out: &Path, account: &super::RunAccount, lists: &[(&str, Vec<&str>)]) -> Result<()> {
    use std::io::Write;
    let path = out.join(RUN);
    let failed = |e: &dyn std::fmt::Display| Error::new(format!("cannot write {}: {e}", path.display()));
    let head = serde_json::to_string_pretty(account).map_err(|e| failed(&e))?;
    let head = head.trim_end().strip_suffix('}').unwrap_or(&head).trim_end();
    let mut f = crate::io::output::AtomicFile::create(&path)?;
    write!(f, "{head}").map_err(|e| failed(&e))?;
    for (key, names) in lists {
        write!(f, ",\n  \"{key}\": [").map_err(|e| failed(&e))?;
        for (k, name) in names.iter().enumerate() {
            write!(f, "{}\n    {}", if k == 0 { "" } else { "," }, serde_json::to_string(name).map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
        }
        write!(f, "{}]", if names.is_empty() { "" } else { "\n  " }).map_err(|e| failed(&e))?;
    }
    writeln!(f, "\n}}").map_err(|e| failed(&e))?;
    f.commit()
}
