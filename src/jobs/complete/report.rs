//! `dcgan-inpaint report RUN...`: the folders of many `complete` runs (the shards of one
//! job, or runs resumed after a kill) merged into one summary:
//!   report.md          the metrics table over all images: per image, and the mean
//!   report.json        the same for scripts, with the inputs missing, failed or done twice
//!   contact-NNN.png    the completed images, 400 to a sheet
//! An input is done when its folder holds a finished result (`complete::finished_result`);
//! one a run owned (its `run.json`) without a result anywhere is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::output::{ImageReport, RUN};
use super::{RunAccount, finished_result};
use crate::error::{Error, Result};
use crate::inpaint::{Metrics, mean_metrics};
use crate::io::output::write_atomic;
use crate::io::picture;

/// Images on one contact sheet (20 x 20).
const SHEET: usize = 400;
const SHEET_COLUMNS: usize = 20;

/// One finished image found in a run folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    pub run: String,
    pub name: String,
    pub relative: String,
    pub fit: Option<f32>,
    pub method: String,
    #[serde(flatten)]
    pub metrics: Option<Metrics>,
    /// The largest difference (of 255, any channel) from the same image's result in the
    /// `--against` run, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<u8>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub runs: Vec<String>,
    /// Every input some run owned (its shard's), once.
    pub inputs: usize,
    pub images: Vec<Found>,
    pub mean: Option<Metrics>,
    /// Inputs a run owned that no folder holds a result of.
    pub missing: Vec<String>,
    /// Inputs that failed (and have no result elsewhere), with why.
    pub failed: Vec<(String, String)>,
    /// Inputs with a result in more than one folder.
    pub duplicates: Vec<String>,
    /// Shards of the job (K/N) with no run folder among those named: their inputs are
    /// unaccounted for.
    pub missing_shards: Vec<String>,
    /// With `--against`: images compared, and the largest difference over them (of 255).
    pub compared: usize,
    pub worst_difference: Option<u8>,
    pub sheets: Vec<PathBuf>,
}

fn runs_of(dir: &Path) -> Result<(Option<RunAccount>, Vec<(String, PathBuf)>)> {
    if !dir.is_dir() {
        return Err(Error::new(format!("{} is not a folder: name the --out folders of `complete` runs", dir.display())));
    }
    let account = match std::fs::read_to_string(dir.join(RUN)) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| Error::new(format!("{} is not a run's account: {e}", dir.join(RUN).display())))?),
        Err(_) => None,
    };
    let mut finished = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() && finished_result(&path).is_some() {
            finished.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), path));
        }
    }
    if account.is_none() && finished.is_empty() {
        return Err(Error::new(format!("{} holds no results of `complete` (no {RUN}, no image folder with a result)", dir.display())));
    }
    Ok((account, finished))
}

/// The largest per-channel difference between two result files of one size, or why not.
fn difference(a: &Path, b: &Path) -> Result<u8> {
    let open = |p: &Path| image::open(p).map(|i| i.to_rgb8()).map_err(|e| Error::new(format!("cannot read {}: {e}", p.display())));
    let (a_img, b_img) = (open(a)?, open(b)?);
    if a_img.dimensions() != b_img.dimensions() {
        return Err(Error::new(format!("{} is {:?} and {} {:?}: not the same picture", a.display(), a_img.dimensions(), b.display(), b_img.dimensions())));
    }
    Ok(a_img.as_raw().iter().zip(b_img.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0))
}

/// Merge `runs` into `out` (created; files written atomically, never over an input). With
/// `against` (another run's folder: one process over the same inputs, say), each image's
/// result is compared with that run's.
pub fn report(runs: &[PathBuf], against: Option<&Path>, out: &Path, mut said: impl FnMut(String)) -> Result<Report> {
    if runs.is_empty() {
        return Err(Error::new("name at least one run folder (the --out of `complete`)"));
    }
    let mut r = Report::default();
    let mut owned: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let mut sheet_images: Vec<PathBuf> = Vec::new();
    let mut shards: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for dir in runs {
        let (account, finished) = runs_of(dir)?;
        r.runs.push(dir.display().to_string());
        if let Some(a) = account {
            if let (Some(k), Some(n)) = (a.shard_index, a.shard_count) {
                shards.entry(n).or_default().push(k);
            }
            owned.extend(a.inputs);
            failed.extend(a.failed);
        }
        for (name, path) in finished {
            let record = ImageReport::read(&path).ok();
            let relative = record.as_ref().map(|x| x.relative.clone()).filter(|x| !x.is_empty()).unwrap_or_else(|| name.clone());
            *done.entry(relative.clone()).or_insert(0) += 1;
            let (fit, method, metrics) = record.map(|x| (x.fit, x.method, x.metrics)).unwrap_or((None, String::new(), None));
            let against = match (against.and_then(|a| finished_result(&a.join(&name))), finished_result(&path)) {
                (Some(theirs), Some(ours)) => Some(difference(&ours, &theirs)?),
                _ => None,
            };
            r.images.push(Found { run: dir.display().to_string(), name, relative, fit, method, metrics, against });
            sheet_images.push(path.join("completed.png"));
        }
    }
    r.inputs = owned.len().max(done.len());
    r.missing = owned.iter().filter(|i| !done.contains_key(*i)).cloned().collect();
    r.failed = failed.into_iter().filter(|(i, _)| !done.contains_key(i)).collect();
    r.duplicates = done.iter().filter(|(_, n)| **n > 1).map(|(i, _)| i.clone()).collect();
    let differences: Vec<u8> = r.images.iter().filter_map(|i| i.against).collect();
    (r.compared, r.worst_difference) = (differences.len(), differences.iter().copied().max());
    for (n, seen) in &shards {
        r.missing_shards.extend((0..*n).filter(|k| !seen.contains(k)).map(|k| format!("{k}/{n}")));
    }
    let measured: Vec<Metrics> = r.images.iter().filter_map(|i| i.metrics).collect();
    r.mean = (!measured.is_empty()).then(|| mean_metrics(&measured));

    std::fs::create_dir_all(out).map_err(|e| Error::new(format!("cannot create {}: {e}", out.display())))?;
    for (k, chunk) in sheet_images.chunks(SHEET).enumerate() {
        let path = out.join(format!("contact-{:03}.png", k + 1));
        contact_sheet(chunk, &path)?;
        r.sheets.push(path);
    }
    write_atomic(&out.join("report.md"), markdown(&r).as_bytes())?;
    let json = serde_json::to_string_pretty(&r).map_err(|e| Error::new(format!("cannot encode the report: {e}")))?;
    write_atomic(&out.join("report.json"), json.as_bytes())?;
    said(format!("{} image(s) from {} run(s); {} missing, {} failed, {} done twice", r.images.len(), r.runs.len(), r.missing.len(), r.failed.len(), r.duplicates.len()));
    if let Some(a) = against {
        let worst = r.worst_difference.map_or("-".to_string(), |w| format!("{w}/255"));
        said(format!("against {}: {} image(s) compared, largest difference {worst}", a.display(), r.compared));
    }
    if !r.missing_shards.is_empty() {
        said(format!("no run folder of shard(s) {}: name every shard's --out", r.missing_shards.join(", ")));
    }
    Ok(r)
}

/// Thumbnails of `images` (each a PNG; a missing one is a grey square) in rows of 20.
fn contact_sheet(images: &[PathBuf], path: &Path) -> Result<()> {
    const CELL: u32 = 64;
    let rows = images.len().div_ceil(SHEET_COLUMNS) as u32;
    let cols = images.len().min(SHEET_COLUMNS) as u32;
    let mut sheet = image::RgbImage::from_pixel(cols * (CELL + 2), rows * (CELL + 2), image::Rgb([255, 255, 255]));
    for (k, file) in images.iter().enumerate() {
        let thumb = match image::open(file) {
            Ok(img) => img.resize_exact(CELL, CELL, image::imageops::FilterType::Triangle).to_rgb8(),
            Err(_) => image::RgbImage::from_pixel(CELL, CELL, image::Rgb([128, 128, 128])),
        };
        let (x, y) = ((k % SHEET_COLUMNS) as u32 * (CELL + 2) + 1, (k / SHEET_COLUMNS) as u32 * (CELL + 2) + 1);
        image::imageops::replace(&mut sheet, &thumb, x as i64, y as i64);
    }
    write_atomic(path, &picture::png_bytes(&sheet))
}

fn markdown(r: &Report) -> String {
    let mut md = format!("# Completion report\n\n{} image(s) completed of {} input(s), from {} run folder(s): {}.\n\n", r.images.len(), r.inputs, r.runs.len(), r.runs.join(", "));
    let list = |title: &str, items: Vec<String>| if items.is_empty() { format!("{title}: none.\n\n") } else { format!("{title} ({}):\n\n{}\n\n", items.len(), items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")) };
    md.push_str(&list("Missing (owned by a run, no result anywhere)", r.missing.clone()));
    md.push_str(&list("Failed", r.failed.iter().map(|(i, e)| format!("{i}: {e}")).collect()));
    md.push_str(&list("Done more than once", r.duplicates.clone()));
    md.push_str(&list("Shards without a run folder here", r.missing_shards.clone()));
    if r.compared > 0 {
        md.push_str(&format!("Compared with the `--against` run: {} image(s), largest difference {}/255.\n\n", r.compared, r.worst_difference.unwrap_or(0)));
    }
    md.push_str("| input | run | method | fit | PSNR | SSIM | PSNR hole | SSIM hole |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    let num = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "-".into());
    for i in &r.images {
        let m = i.metrics;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            i.relative,
            i.run,
            i.method,
            num(i.fit.map(f64::from), 3),
            num(m.map(|m| m.psnr as f64), 2),
            num(m.map(|m| m.ssim as f64), 4),
            num(m.map(|m| m.psnr_hole as f64), 2),
            num(m.map(|m| m.ssim_hole as f64), 4)
        ));
    }
    if let Some(m) = r.mean {
        md.push_str(&format!("| **mean** | | | | {:.2} | {:.4} | {:.2} | {:.4} |\n", m.psnr, m.ssim, m.psnr_hole, m.ssim_hole));
    }
    md.push_str("\nPSNR and SSIM are there for runs with `--eval` (against the input itself).\n");
    md
}
