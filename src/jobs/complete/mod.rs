//! `dcgan-inpaint complete`: semantic inpainting by gradient descent on the latent z
//! (Yeh et al.; Amos' dcgan-completion). For each image and each of R random starts, z is
//! optimised under the inpainting objective (`model::inpaint`) with Adam, clipped to
//! [-1, 1] after every step; the best start's G(z) is blended into the known pixels.
//!
//! The method itself (masks, optimisation, blends, metrics) is `crate::inpaint`, shared with
//! `serve`; this job adds the files:
//!
//!   mod.rs       the job: its inputs and masks, the run in chunks, what the caller hears
//!   output.rs    the files written; quality.rs the quality table
//!   shard.rs     which inputs one of many processes takes (--shard, Slurm, Kubernetes)
//!   report.rs    `report`: many runs' folders merged into one summary

pub mod output;
pub mod quality;
pub mod report;
pub mod shard;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::engine::gpu::Gpu;
use crate::error::{Error, Result};
use crate::inpaint::photo::{Hole, Photo, Region};
use crate::inpaint::{self, Item, MaskKind, Metrics, Settings, blend, evaluate, mask};
use crate::io::data::Decoded;
use crate::io::{data, npy, picture};
use crate::model::weights;

#[derive(Debug, Clone)]
pub struct CompleteConfig {
    pub inputs: Vec<PathBuf>,
    pub weights: PathBuf,
    pub mask: MaskKind,
    /// Per-image masks `DIR/<input stem>.png`, instead of `mask`.
    pub mask_dir: Option<PathBuf>,
    pub settings: Settings,
    pub out: PathBuf,
    pub save_z: bool,
    pub z_init: Option<PathBuf>,
    pub eval: bool,
    /// Replace the results of an earlier run in `out` (otherwise a non-empty `out` is refused).
    pub overwrite: bool,
    /// The square of each photo the model sees (default: its centre square).
    pub region: Option<Region>,
    /// Write the full-resolution results as PNG, whatever the input's format.
    pub force_png: bool,
    /// Only the inputs of this shard (see `shard.rs`).
    pub shard: Option<shard::Shard>,
    /// Keep the results an earlier run left in `out` and complete only the other inputs.
    pub resume: bool,
}

/// The defaults of `complete` (chosen from the quality table in the README).
impl Default for CompleteConfig {
    fn default() -> Self {
        CompleteConfig {
            inputs: Vec::new(),
            weights: PathBuf::from("weights/olivetti-64.safetensors"),
            mask: MaskKind::Center { scale: mask::CENTER_SCALE },
            mask_dir: None,
            settings: Settings::default(),
            out: PathBuf::from("runs/complete"),
            save_z: false,
            z_init: None,
            eval: false,
            overwrite: false,
            region: None,
            force_png: false,
            shard: None,
            resume: false,
        }
    }
}

impl CompleteConfig {
    /// The mask every image gets: per-image files from `mask_dir` are plain masks.
    pub fn mask_kind(&self) -> MaskKind {
        if self.mask_dir.is_some() { MaskKind::File(PathBuf::new()) } else { self.mask.clone() }
    }
}

/// An input image: named on the command line (`explicit`), or found in a named folder.
pub struct Input {
    pub path: PathBuf,
    pub explicit: bool,
    /// Its path relative to the folder named (`/` between parts), or as named: what
    /// `--shard` hashes, the same on every machine that mounts the data elsewhere.
    pub relative: String,
}

fn relative_name(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Image files named on the command line, folders expanded (recursively, sorted), minus
/// anything under `skip` (the output folder) and folders of earlier results, so results are
/// never read back as inputs. What a folder's listing passed over goes to `warn`.
pub fn list_inputs(inputs: &[PathBuf], skip: Option<&Path>, warn: &mut dyn FnMut(String)) -> Result<Vec<Input>> {
    let skip = skip.and_then(|s| std::fs::canonicalize(s).ok());
    let outside = |p: &Path| skip.as_ref().is_none_or(|s| std::fs::canonicalize(p).map_or(true, |p| !p.starts_with(s)));
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let found = data::list_images(input, &[])?;
            if found.files.is_empty() && found.skipped.is_empty() {
                return Err(Error::new(format!("the folder {} holds no images ({})", input.display(), data::IMAGE_EXTENSIONS.join("/"))));
            }
            found.skipped.into_iter().for_each(&mut *warn);
            files.extend(found.files.into_iter().filter(|p| outside(p)).map(|path| Input { relative: relative_name(&path, input), path, explicit: false }));
        } else if input.is_file() {
            let relative = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned());
            files.push(Input { path: input.clone(), explicit: true, relative });
        } else if input.exists() {
            return Err(Error::new(format!("input {} is not a regular file (a pipe or a device?); name image files or folders", input.display())));
        } else {
            return Err(Error::new(format!("input {} does not exist", input.display())));
        }
    }
    if files.is_empty() {
        return Err(Error::new(format!(
            "no input images in {}: name image files or folders holding them (the output folder and earlier results are skipped)",
            inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(files)
}

/// Where an item's photo and hole come from: read again when its full-resolution result is
/// written (photos are not all held in memory while the batch runs).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub mask_file: Option<PathBuf>,
    /// The item's number, which seeds a random preset.
    pub index: u64,
}

/// The photo of `source` with its hole and region, its format, and what was assumed.
pub fn read_photo(cfg: &CompleteConfig, source: &Source, size: usize) -> Result<(Photo, image::ImageFormat, Vec<String>)> {
    let Decoded { image, format } = data::decode(&source.path)?;
    let mask_image = match &source.mask_file {
        Some(file) => Some(data::decode(file).map_err(|e| Error::new(format!("cannot read mask {}: {e}", file.display())))?.image),
        None => None,
    };
    let hole = match (&mask_image, &source.mask_file) {
        (Some(image), Some(file)) => Hole::Mask { image, white_fills: false, what: format!("mask {}", file.display()) },
        _ => Hole::Preset { kind: &cfg.mask, seed: cfg.settings.seed, index: source.index },
    };
    let (photo, warnings) = Photo::new(image, hole, cfg.region, size, &source.path.display().to_string())?;
    Ok((photo, format, warnings))
}

/// An input the run will complete: where it comes from, its folder's name under `--out`
/// (its file stem, made unique in listing order, so every shard names it alike), and the
/// relative path `--shard` hashes.
pub struct Planned {
    pub source: Source,
    pub name: String,
    pub relative: String,
    pub explicit: bool,
}

/// Every input, named, with its mask file: nothing is decoded yet.
pub fn plan_inputs(cfg: &CompleteConfig, warn: &mut dyn FnMut(String)) -> Result<Vec<Planned>> {
    if let Some(dir) = &cfg.mask_dir
        && !dir.is_dir()
    {
        let what = if dir.exists() { "is not a folder" } else { "does not exist" };
        return Err(Error::new(format!("--mask-dir {} {what}; name the folder that holds one mask PNG per input, named like it", dir.display())));
    }
    let mut taken = std::collections::HashSet::new();
    let inputs = list_inputs(&cfg.inputs, Some(&cfg.out), warn)?;
    let mut planned = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let stem = input.path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mask_file = match (&cfg.mask_dir, &cfg.mask) {
            (Some(dir), _) => Some(dir.join(format!("{stem}.png"))),
            (None, MaskKind::File(file)) => Some(file.clone()),
            (None, _) => None,
        };
        // Unique output folder names even when two inputs share a stem.
        let mut name = stem.clone();
        let mut k = 2;
        while !taken.insert(name.clone()) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        planned.push(Planned { source: Source { path: input.path, mask_file, index: index as u64 }, name, relative: input.relative, explicit: input.explicit });
    }
    Ok(planned)
}

/// Read one input as the model sees it, with every check: its mask file, the region, the
/// hole. Returns the item, and the format its full-resolution result is written in.
fn prepare(cfg: &CompleteConfig, p: &Planned, channels: usize, size: usize, warn: &mut dyn FnMut(String)) -> Result<(Item, picture::Encoding)> {
    let path = &p.source.path;
    if let (Some(dir), Some(file)) = (&cfg.mask_dir, &p.source.mask_file)
        && !file.exists()
    {
        return Err(Error::new(format!("no mask for {} in --mask-dir {}: expected {}", path.display(), dir.display(), file.display())));
    }
    let (photo, format, warnings) = read_photo(cfg, &p.source, size)?;
    warnings.into_iter().for_each(&mut *warn);
    let item = photo.model_item(&p.name, channels, size);
    let what = match &p.source.mask_file {
        Some(file) => format!("{} (the mask of {})", file.display(), path.display()),
        None => path.display().to_string(),
    };
    if photo.holes().0 == 0 && photo.holes().1 > 0 {
        let r = photo.region;
        return Err(Error::new(format!(
            "the region {},{},{} of {} holds none of the hole: move it over what to fill (--region X,Y,SIZE)",
            r.x, r.y, r.size, path.display()
        )));
    }
    mask::check(&item.mask, &cfg.mask_kind(), &what)?;
    Ok((item, picture::Encoding::like(format, cfg.force_png).0))
}

/// Whether an error reading an input found in a folder skips it (the rest go on) rather
/// than ending the run: the file itself is bad, not the settings.
fn skippable(p: &Planned, e: &Error) -> bool {
    !p.explicit && !e.0.contains("region") && !e.0.contains("mask")
}

/// The result file of a completed image in `dir`, written last of its files: a folder
/// without one holds no finished result (a run killed half-way through it).
pub fn finished_result(dir: &Path) -> Option<PathBuf> {
    ["png", "jpg", "jpeg", "webp", "bmp", "gif"].iter().map(|e| dir.join(format!("result.{e}"))).find(|p| p.is_file())
}

/// Photos from this size on get a line before their full-resolution blend.
const LARGE_PHOTO_PIXELS: u64 = 4 << 20;

/// What the caller is told as the work goes on.
pub enum Event {
    Start { images: usize, total_iterations: usize },
    Iteration { mean_loss: f32 },
    /// Something accepted that the user may not expect (a resized mask, a skipped file).
    Warning(String),
    /// What was written, and how (the full-resolution results).
    Said(String),
}

pub struct Outcome {
    /// The images this run completed (not those an earlier run had: `resumed`).
    pub names: Vec<String>,
    pub metrics: Option<Vec<Metrics>>,
    pub summary: PathBuf,
    /// Inputs that could not be completed, with why: the run went on without them.
    pub failed: Vec<(String, String)>,
    /// Inputs an earlier run had completed (`--resume`).
    pub resumed: usize,
}

/// Runs of at most this many inputs keep each checked item for the run (larger ones read
/// each again when its batch comes, so memory stays flat however many there are); and the
/// summary grid's most rows.
const KEEP_ITEMS: usize = 64;
const SUMMARY_ROWS: usize = 64;

/// An input to complete, once checked: its item when the run keeps them, the format of
/// its result, its rows in a batch, and whether it is done.
struct Todo {
    p: Planned,
    /// Boxed: a large run holds none, and 20,000 empty slots stay small.
    item: Option<Box<Item>>,
    encoding: picture::Encoding,
    rows: usize,
    done: bool,
}

/// What `run.json` says of a run: its shard and the fate of each input it owned.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct RunAccount {
    /// "K/N (where from)", or none; and K, N alone.
    pub shard: Option<String>,
    #[serde(default)]
    pub shard_index: Option<u64>,
    #[serde(default)]
    pub shard_count: Option<u64>,
    /// Inputs listed before the shard took its own.
    #[serde(default)]
    pub listed: usize,
    /// The relative path of every input this run owned (its shard's); those completed by
    /// this run, and by an earlier one (`--resume`). Written by `output::write_run_json`
    /// one name at a time, read back by `report`.
    #[serde(default, skip_serializing)]
    pub inputs: Vec<String>,
    #[serde(default, skip_serializing)]
    pub completed: Vec<String>,
    #[serde(default, skip_serializing)]
    pub resumed: Vec<String>,
    /// Those that failed, with why.
    pub failed: Vec<(String, String)>,
}

/// Run the completion job; writes everything under `cfg.out`. Every input is read (and
/// the settings checked) before the output folder is touched, so a bad input never costs
/// an earlier result; then the images are completed a chunk at a time, each one's files
/// written (its result last, atomically) before the next chunk, so a killed run leaves
/// whole results that `--resume` keeps. `stop` (a signal) ends the optimisation at the next
/// iteration with an error.
pub fn complete(gpu: &Gpu, cfg: &CompleteConfig, stop: &AtomicBool, mut report: impl FnMut(Event)) -> Result<Outcome> {
    let (g, d) = weights::load_gan(gpu, &cfg.weights)?;
    let e = weights::load_encoder(gpu, &cfg.weights)?;
    let arch = g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let settings = &cfg.settings;
    settings.validate(s, g.image_stage())?;
    cfg.mask.validate()?;
    if cfg.z_init.is_some() && (cfg.shard.is_some() || cfg.resume) {
        return Err(Error::new("--z-init gives z per input in order; it cannot be split over --shard or --resume: leave one of them out"));
    }
    let mut warnings = Vec::new();
    let mut planned = plan_inputs(cfg, &mut |w| warnings.push(w))?;
    warnings.drain(..).for_each(|w| report(Event::Warning(w)));
    let listed = planned.len();
    if let Some(shard) = &cfg.shard {
        planned.retain(|p| shard.owns(&p.relative));
        report(Event::Said(format!("shard {} of {} ({}): {} of the {listed} inputs", shard.index, shard.count, shard.from, planned.len())));
    }
    let mut account = RunAccount {
        shard: cfg.shard.as_ref().map(|sh| format!("{}/{} ({})", sh.index, sh.count, sh.from)),
        shard_index: cfg.shard.as_ref().map(|sh| sh.index),
        shard_count: cfg.shard.as_ref().map(|sh| sh.count),
        listed,
        ..RunAccount::default()
    };
    // --resume: what an earlier run finished stays, and is not done again.
    let mut resumed: Vec<Planned> = Vec::new();
    if cfg.resume {
        let (done, todo): (Vec<Planned>, Vec<Planned>) = planned.into_iter().partition(|p| finished_result(&cfg.out.join(&p.name)).is_some());
        report(Event::Said(format!("resume: {} of {} inputs already have a result in {}; completing the other {}", done.len(), done.len() + todo.len(), cfg.out.display(), todo.len())));
        resumed = done;
        planned = todo;
    }

    // Every input read and checked first; only a small run keeps its items in memory.
    let keep_items = planned.len() <= KEEP_ITEMS;
    let mask_kind = cfg.mask_kind();
    let mut todo: Vec<Todo> = Vec::with_capacity(planned.len());
    for p in planned {
        let mut said = Vec::new();
        match prepare(cfg, &p, c, s, &mut |w| said.push(w)) {
            Ok((item, encoding)) => {
                said.into_iter().for_each(|w| report(Event::Warning(w)));
                let rows = inpaint::rows_per_image(&item.mask, settings, &mask_kind, s);
                todo.push(Todo { p, item: keep_items.then(|| Box::new(item)), encoding, rows, done: false });
            }
            Err(e) if skippable(&p, &e) => {
                report(Event::Warning(format!("skipped: {e}")));
                account.failed.push((p.relative.clone(), e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    if todo.is_empty() && resumed.is_empty() && cfg.shard.is_none() {
        return Err(Error::new("none of the input images could be read (see the warnings above)"));
    }
    let z_init = match &cfg.z_init {
        Some(path) => {
            let (shape, data) = npy::read_f32(path)?;
            let want = [todo.len() * settings.restarts, zd];
            if shape != want {
                return Err(Error::new(format!(
                    "{} has shape {shape:?}; --z-init needs [images x restarts, z_dim] = {want:?}",
                    path.display()
                )));
            }
            if data.iter().any(|v| v.abs() > 1.0) {
                report(Event::Warning(format!("{} holds values outside [-1, 1]; z is clipped to [-1, 1] after the first step", path.display())));
            }
            Some(data)
        }
        None => None,
    };
    let _lock = {
        let mut inputs: Vec<&Path> = todo.iter().map(|t| t.p.source.path.as_path()).collect();
        inputs.extend(todo.iter().filter_map(|t| t.p.source.mask_file.as_deref()));
        inputs.extend(cfg.z_init.as_deref());
        inputs.push(&cfg.weights);
        let names: Vec<&str> = todo.iter().map(|t| t.p.name.as_str()).collect();
        let encodings: Vec<picture::Encoding> = todo.iter().map(|t| t.encoding).collect();
        let planned_files = output::planned_files(&names, &encodings, cfg.save_z);
        crate::io::output::FolderLock::take(&cfg.out, "complete", &planned_files, cfg.overwrite, cfg.resume, &inputs)?
    };

    // One GPU batch of images at a time, each finished and written before the next: a
    // killed run loses at most the batch it was in.
    let per_batch = (settings.batch / settings.restarts).max(1);
    let total_iterations: usize = todo.chunks(per_batch).map(|chunk| chunk.iter().map(|t| t.rows).sum::<usize>().div_ceil(per_batch) * (settings.iterations() + 1)).sum();
    report(Event::Start { images: todo.len(), total_iterations });
    let fit_p99 = weights::fit_p99(&cfg.weights);
    let mut grid_rows = Vec::new();
    let mut all_metrics = Vec::new();
    let mut names = Vec::new();
    let mut z_offset = 0;
    for chunk in todo.chunks_mut(per_batch) {
        let mut items = Vec::new();
        let mut members = Vec::new();
        for (k, t) in chunk.iter_mut().enumerate() {
            let item = match t.item.take() {
                Some(item) => *item,
                // Read again (the check above kept nothing): a file changed since fails alone.
                None => match prepare(cfg, &t.p, c, s, &mut |_| ()) {
                    Ok((item, _)) => item,
                    Err(e) => {
                        report(Event::Warning(format!("skipped: {e}")));
                        account.failed.push((t.p.relative.clone(), e.to_string()));
                        continue;
                    }
                },
            };
            items.push(item);
            members.push(k);
        }
        // Each image's start is drawn from its place in the listing, not in the batch: a
        // shard or a resumed run completes it as one run over all the inputs does.
        let z_chunk: Vec<f32> = match z_init.as_deref() {
            Some(z) => {
                let n = items.len() * settings.restarts * zd;
                z_offset += n;
                z[z_offset - n..z_offset].to_vec()
            }
            None => members.iter().flat_map(|&k| inpaint::optimise::starting_z(settings.seed, chunk[k].p.source.index as usize, settings.restarts, zd)).collect(),
        };
        let results = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, Some(&z_chunk), settings, &mask_kind, stop, |step| report(Event::Iteration { mean_loss: step.mean_loss() }))?;
        for ((item, r), &k) in items.iter().zip(&results).zip(&members) {
            let row = finish_item(cfg, item, r, &chunk[k].p, (c, s), fit_p99, &mut report)?;
            if grid_rows.len() < SUMMARY_ROWS * 4 * c * s * s {
                grid_rows.extend(row.0);
            }
            if let Some(m) = row.1.metrics {
                all_metrics.push(m);
            }
            names.push(item.name.clone());
            chunk[k].done = true;
        }
    }
    let summary = cfg.out.join(output::SUMMARY);
    let shown = grid_rows.len() / (4 * c * s * s);
    if shown > 0 {
        picture::save_png(&picture::grid(&grid_rows, shown * 4, c, s, 4), &summary)?;
    }
    if names.len() > shown {
        report(Event::Said(format!("{} shows the first {shown} of {} images; `dcgan-inpaint report {}` makes a contact sheet of all", summary.display(), names.len(), cfg.out.display())));
    }
    // metrics.json: this run's images and those an earlier one finished (their records).
    output::write_metrics_json(&cfg.out, resumed.iter().map(|p| p.name.as_str()).chain(names.iter().map(String::as_str)), fit_p99)?;
    // run.json: which inputs this run owned, completed, found completed, and failed.
    let failed: Vec<&str> = account.failed.iter().map(|(i, _)| i.as_str()).collect();
    let lists = [
        ("inputs", resumed.iter().map(|p| p.relative.as_str()).chain(todo.iter().map(|t| t.p.relative.as_str())).chain(failed.iter().copied()).collect::<Vec<_>>()),
        ("completed", todo.iter().filter(|t| t.done).map(|t| t.p.relative.as_str()).collect()),
        ("resumed", resumed.iter().map(|p| p.relative.as_str()).collect()),
    ];
    output::write_run_json(&cfg.out, &account, &lists)?;
    let metrics = cfg.eval.then_some(all_metrics);
    Ok(Outcome { names, metrics, summary, failed: account.failed, resumed: resumed.len() })
}

/// Write one completed image: its model-size files, its result at the photo's own
/// resolution (last, atomically), and what is said of it. Returns its summary row and record.
fn finish_item(cfg: &CompleteConfig, item: &Item, r: &inpaint::Completion, p: &Planned, (c, s): (usize, usize), fit_p99: Option<f32>, report: &mut impl FnMut(Event)) -> Result<(Vec<f32>, output::ImageReport)> {
    let source = &p.source;
    let mask_kind = cfg.mask_kind();
    let masked = blend::masked_view(item, c, s, mask_kind == MaskKind::LowRes);
    let dir = cfg.out.join(&item.name);
    let row = output::write_item(&dir, item, r, &masked, cfg.save_z, c, s)?;
    let (photo, format, _) = read_photo(cfg, source, s)?;
    // Seconds at tens of megapixels: say what the wait is.
    if photo.image.width() as u64 * photo.image.height() as u64 >= LARGE_PHOTO_PIXELS {
        report(Event::Said(format!("{}: blending into the {}x{} photo", source.path.display(), photo.image.width(), photo.image.height())));
    }
    let full = photo.complete(&r.completed, c, s)?;
    let (encoding, note) = picture::Encoding::like(format, cfg.force_png);
    let metrics = cfg.eval.then(|| evaluate(item, &r.completed, c, s));
    let record = output::ImageReport::new(&item.name, &source.path, &p.relative, r, &cfg.settings, fit_p99, metrics);
    record.write(&dir)?;
    let result = dir.join(format!("result.{}", encoding.extension()));
    crate::io::output::write_atomic(&result, &picture::encode(&full.image, encoding)?)?;
    let (w, h) = (full.image.width(), full.image.height());
    let mut said = format!("{}: {w}x{h} result in {} ({} pixels filled from the model", source.path.display(), result.display(), full.from_model);
    if full.classical > 0 {
        said.push_str(&format!(", {} outside the region the model sees filled classically", full.classical));
    }
    said.push(')');
    if full.colour_from_surroundings {
        said.push_str("; the model is grey: it filled the luminance, the hole's colour comes from its surroundings");
    }
    if let Some(note) = note {
        said.push_str(&format!("; {note}"));
    }
    report(Event::Said(said));
    if let (Some(fit), Some(p99)) = (r.fit, fit_p99)
        && fit > p99
    {
        report(Event::Warning(format!(
            "{} looks unlike the pictures this model knows: the generator fits its known pixels to {fit:.3} (mean difference), past the {p99:.3} that 99% of the pictures it was calibrated on stay under; expect a poor fill",
            source.path.display()
        )));
    }
    if let Some(choice) = &r.choice {
        report(Event::Said(auto_said(&source.path, choice)));
    }
    Ok((row, record))
}

/// "face.png: auto chose biharmonic fill (hidden pixels 24.1 dB; the best DCGAN 22.3 dB)".
fn auto_said(path: &Path, choice: &inpaint::auto::Choice) -> String {
    let chosen = choice.recipe.name();
    let score = |want_model: bool| choice.validation.iter().filter(|(r, _)| r.uses_model() == want_model).map(|(_, p)| *p).fold(f64::NEG_INFINITY, f64::max);
    if choice.validation.is_empty() {
        return format!("{}: auto ran {chosen} (nothing could be hidden to choose by)", path.display());
    }
    format!("{}: auto chose {chosen} (on known pixels hidden like the hole: best classical {:.1} dB, best DCGAN {:.1} dB)", path.display(), score(false), score(true))
}
