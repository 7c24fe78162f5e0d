//! `dcgan-inpaint complete`: semantic inpainting by gradient descent on the latent z
//! (Yeh et al.; Amos' dcgan-completion). For each image and each of R random starts, z is
//! optimised under the inpainting objective (`model::inpaint`) with Adam, clipped to
//! [-1, 1] after every step; the best start's G(z) is blended into the known pixels.
//!
//! The method itself (masks, optimisation, blends, metrics) is `crate::inpaint`, shared with
//! `serve`; this job adds the files:
//!
//!   mod.rs       the job: its inputs and masks, the run, what the caller hears
//!   output.rs    the files written; quality.rs the quality table

pub mod output;
pub mod quality;

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
            files.extend(found.files.into_iter().filter(|p| outside(p)).map(|path| Input { path, explicit: false }));
        } else if input.is_file() {
            files.push(Input { path: input.clone(), explicit: true });
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

/// The inputs as loaded: the items the model completes, where each came from, and every
/// file they were read from (images and mask files), which the output folder's clean-up
/// must never touch.
pub struct Loaded {
    pub items: Vec<Item>,
    pub sources: Vec<Source>,
    pub files: Vec<PathBuf>,
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

/// Load the inputs and make their items (the region at the model's size, and its mask).
/// An unreadable file found in a folder is skipped with a warning; one named on the command
/// line is an error.
pub fn load_items(cfg: &CompleteConfig, channels: usize, size: usize, warn: &mut dyn FnMut(String)) -> Result<Loaded> {
    if let Some(dir) = &cfg.mask_dir
        && !dir.is_dir()
    {
        let what = if dir.exists() { "is not a folder" } else { "does not exist" };
        return Err(Error::new(format!("--mask-dir {} {what}; name the folder that holds one mask PNG per input, named like it", dir.display())));
    }
    let mut loaded = Loaded { items: Vec::new(), sources: Vec::new(), files: Vec::new() };
    for (index, input) in list_inputs(&cfg.inputs, Some(&cfg.out), warn)?.into_iter().enumerate() {
        let path = input.path;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mask_file = match (&cfg.mask_dir, &cfg.mask) {
            (Some(dir), _) => {
                let file = dir.join(format!("{stem}.png"));
                if !file.exists() {
                    return Err(Error::new(format!("no mask for {} in --mask-dir {}: expected {}", path.display(), dir.display(), file.display())));
                }
                Some(file)
            }
            (None, MaskKind::File(file)) => Some(file.clone()),
            (None, _) => None,
        };
        let source = Source { path: path.clone(), mask_file: mask_file.clone(), index: index as u64 };
        let (photo, _, warnings) = match read_photo(cfg, &source, size) {
            Ok(read) => read,
            Err(e) if !input.explicit && !e.0.contains("region") && !e.0.contains("mask") => {
                warn(format!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        warnings.into_iter().for_each(&mut *warn);
        // Unique output folder names even when two inputs share a stem.
        let mut name = stem.clone();
        let mut k = 2;
        while loaded.items.iter().any(|it| it.name == name) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        let item = photo.model_item(&name, channels, size);
        let what = match &mask_file {
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
        loaded.items.push(item);
        loaded.sources.push(source);
        loaded.files.extend(mask_file);
        loaded.files.push(path);
    }
    if loaded.items.is_empty() {
        return Err(Error::new("none of the input images could be read (see the warnings above)"));
    }
    Ok(loaded)
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
    pub names: Vec<String>,
    pub metrics: Option<Vec<Metrics>>,
    pub summary: PathBuf,
}

/// Run the completion job; writes everything under `cfg.out`. The inputs are read (and
/// the settings checked) before the output folder is touched, so a bad input never costs
/// an earlier result. `stop` (a signal) ends the optimisation at the next iteration with
/// an error; nothing is written then.
pub fn complete(gpu: &Gpu, cfg: &CompleteConfig, stop: &AtomicBool, mut report: impl FnMut(Event)) -> Result<Outcome> {
    let (g, d) = weights::load_gan(gpu, &cfg.weights)?;
    let e = weights::load_encoder(gpu, &cfg.weights)?;
    let arch = g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let settings = &cfg.settings;
    settings.validate(s, g.image_stage())?;
    cfg.mask.validate()?;
    let mut warnings = Vec::new();
    let Loaded { items, sources, files: mut inputs } = load_items(cfg, c, s, &mut |w| warnings.push(w))?;
    warnings.into_iter().for_each(|w| report(Event::Warning(w)));
    if e.is_none() && settings.start == inpaint::Start::Encoder && !matches!(settings.method, inpaint::Method::Classical(_)) && cfg.z_init.is_none() && settings.iters < inpaint::RANDOM_START_ITERS {
        report(Event::Warning(format!(
            "{} holds no encoder, so z starts at random, and {} iterations are far too few from there: pass --iters {} (or train an encoder with `train-encoder`)",
            cfg.weights.display(),
            settings.iters,
            inpaint::RANDOM_START_ITERS
        )));
    }
    let z_init = match &cfg.z_init {
        Some(path) => {
            let (shape, data) = npy::read_f32(path)?;
            let want = [items.len() * settings.restarts, zd];
            if shape != want {
                return Err(Error::new(format!(
                    "{} has shape {shape:?}; --z-init needs [images x restarts, z_dim] = {want:?}",
                    path.display()
                )));
            }
            if data.iter().any(|v| v.abs() > 1.0) {
                report(Event::Warning(format!("{} holds values outside [-1, 1]; z is clipped to [-1, 1] after the first step", path.display())));
            }
            inputs.push(path.clone());
            Some(data)
        }
        None => None,
    };
    inputs.push(cfg.weights.clone());
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let encodings: Vec<picture::Encoding> = sources
        .iter()
        .map(|src| data::decode_format(&src.path).map(|f| picture::Encoding::like(f, cfg.force_png).0))
        .collect::<Result<_>>()?;
    let planned = output::planned_files(&items, &encodings, cfg.save_z);
    let _lock = crate::io::output::FolderLock::take(&cfg.out, "complete", &planned, cfg.overwrite, &input_refs)?;

    let mask_kind = cfg.mask_kind();
    let rows: usize = items.iter().map(|it| inpaint::rows_per_image(&it.mask, settings, &mask_kind, s)).sum();
    let total_iterations = rows.div_ceil((settings.batch / settings.restarts).max(1)) * (settings.iterations() + 1);
    report(Event::Start { images: items.len(), total_iterations });
    let results = inpaint::complete(gpu, &g, &d, e.as_ref(), &items, z_init.as_deref(), settings, &mask_kind, stop, |step| {
        report(Event::Iteration { mean_loss: step.mean_loss() })
    })?;

    let fit_p99 = weights::fit_p99(&cfg.weights);
    let mut grid_rows = Vec::new();
    let mut all_metrics = Vec::new();
    for ((item, r), source) in items.iter().zip(&results).zip(&sources) {
        let masked = blend::masked_view(item, c, s, mask_kind == MaskKind::LowRes);
        let dir = cfg.out.join(&item.name);
        grid_rows.extend(output::write_item(&dir, item, r, &masked, cfg.save_z, c, s)?);
        // The result at the photo's own resolution, in its format.
        let (photo, format, _) = read_photo(cfg, source, s)?;
        // Seconds at tens of megapixels: say what the wait is.
        if photo.image.width() as u64 * photo.image.height() as u64 >= LARGE_PHOTO_PIXELS {
            report(Event::Said(format!("{}: blending into the {}x{} photo", source.path.display(), photo.image.width(), photo.image.height())));
        }
        let full = photo.complete(&r.completed, c, s)?;
        let (encoding, note) = picture::Encoding::like(format, cfg.force_png);
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
        if cfg.eval {
            all_metrics.push(evaluate(item, &r.completed, c, s));
        }
    }
    let summary = cfg.out.join(output::SUMMARY);
    picture::save_png(&picture::grid(&grid_rows, items.len() * 4, c, s, 4), &summary)?;
    output::write_metrics_json(&cfg.out.join(output::METRICS), &items, &results, settings, fit_p99, cfg.eval.then_some(&all_metrics[..]))?;
    let metrics = cfg.eval.then_some(all_metrics);
    Ok(Outcome { names: items.iter().map(|i| i.name.clone()).collect(), metrics, summary })
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
