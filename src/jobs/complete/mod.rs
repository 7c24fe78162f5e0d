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
use crate::inpaint::{Item, MaskKind, Method, Metrics, Optimised, Settings, blend, evaluate, mask, optimise};
use crate::io::{data, npy, picture, weights};

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
}

/// The defaults of `complete` (chosen from the quality table in the README).
impl Default for CompleteConfig {
    fn default() -> Self {
        CompleteConfig {
            inputs: Vec::new(),
            weights: PathBuf::from("weights/olivetti-64.safetensors"),
            mask: MaskKind::Center { scale: 0.25 },
            mask_dir: None,
            settings: Settings::default(),
            out: PathBuf::from("runs/complete"),
            save_z: false,
            z_init: None,
            eval: false,
            overwrite: false,
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
/// anything under `skip` (the output folder, so results are never read back as inputs).
pub fn list_inputs(inputs: &[PathBuf], skip: Option<&Path>) -> Result<Vec<Input>> {
    let skip = skip.and_then(|s| std::fs::canonicalize(s).ok());
    let outside = |p: &Path| skip.as_ref().is_none_or(|s| std::fs::canonicalize(p).map_or(true, |p| !p.starts_with(s)));
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let found = data::list_images(input, &[])?;
            if found.is_empty() {
                return Err(Error::new(format!("the folder {} holds no images ({})", input.display(), data::IMAGE_EXTENSIONS.join("/"))));
            }
            files.extend(found.into_iter().filter(|p| outside(p)).map(|path| Input { path, explicit: false }));
        } else if input.is_file() {
            files.push(Input { path: input.clone(), explicit: true });
        } else {
            return Err(Error::new(format!("input {} does not exist", input.display())));
        }
    }
    if files.is_empty() {
        return Err(Error::new(format!(
            "no input images in {}: name image files or folders holding them (the output folder is skipped)",
            inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(files)
}

/// Load the inputs and make their masks. An unreadable file found in a folder is skipped
/// with a warning; one named on the command line is an error.
pub fn load_items(cfg: &CompleteConfig, channels: usize, size: usize, warn: &mut dyn FnMut(String)) -> Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    for (index, input) in list_inputs(&cfg.inputs, Some(&cfg.out))?.into_iter().enumerate() {
        let path = input.path;
        let decoded = match data::decode(&path, size) {
            Ok(img) => img,
            Err(e) if !input.explicit => {
                warn(format!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        if data::extreme_aspect(decoded.width(), decoded.height()) {
            warn(format!(
                "{} is {}x{}: the centre square the model sees drops more than half of it",
                path.display(),
                decoded.width(),
                decoded.height()
            ));
        }
        let image = data::convert(&decoded, channels, size);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mask_file = match (&cfg.mask_dir, &cfg.mask) {
            (Some(dir), _) => {
                let file = dir.join(format!("{stem}.png"));
                if !file.exists() {
                    return Err(Error::new(format!("no mask for {}: expected {}", path.display(), file.display())));
                }
                Some(file)
            }
            (None, MaskKind::File(file)) => Some(file.clone()),
            (None, _) => None,
        };
        let (mask, what) = match &mask_file {
            Some(file) => {
                let (mask, warnings) = mask::from_png(file, size)?;
                warnings.into_iter().for_each(&mut *warn);
                (mask, format!("{} (the mask of {})", file.display(), path.display()))
            }
            None => (mask::make(&cfg.mask, size, cfg.settings.seed, index as u64)?, path.display().to_string()),
        };
        mask::check(&mask, &cfg.mask_kind(), &what)?;
        // Unique output folder names even when two inputs share a stem.
        let mut name = stem.clone();
        let mut k = 2;
        while items.iter().any(|it| it.name == name) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        items.push(Item { name, image, mask });
    }
    if items.is_empty() {
        return Err(Error::new("none of the input images could be read (see the warnings above)"));
    }
    Ok(items)
}

/// What the caller is told as the work goes on.
pub enum Event {
    Start { images: usize, total_iterations: usize },
    Iteration { mean_loss: f32 },
    /// Something accepted that the user may not expect (a resized mask, a skipped file).
    Warning(String),
}

pub struct Outcome {
    pub names: Vec<String>,
    pub metrics: Option<Vec<Metrics>>,
    pub summary: PathBuf,
}

/// Run the completion job; writes everything under `cfg.out`.
/// `stop` (a signal) ends the optimisation at the next iteration with an error; nothing is
/// written then.
pub fn complete(gpu: &Gpu, cfg: &CompleteConfig, stop: &AtomicBool, mut report: impl FnMut(Event)) -> Result<Outcome> {
    let (g, d) = weights::load_gan(gpu, &cfg.weights)?;
    let arch = g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let settings = &cfg.settings;
    settings.validate(s, g.image_stage())?;
    cfg.mask.validate()?;
    let _lock = crate::io::output::FolderLock::take(&cfg.out, cfg.overwrite)?;
    let mut warnings = Vec::new();
    let items = load_items(cfg, c, s, &mut |w| warnings.push(w))?;
    warnings.into_iter().for_each(|w| report(Event::Warning(w)));
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
            Some(data)
        }
        None => None,
    };

    let mask_kind = cfg.mask_kind();
    let results = match settings.method {
        Method::Dcgan => {
            let per_batch = (settings.batch / settings.restarts).max(1);
            report(Event::Start { images: items.len(), total_iterations: items.len().div_ceil(per_batch) * (settings.iterations() + 1) });
            optimise(gpu, &g, &d, &items, z_init.as_deref(), settings, &mask_kind, stop, |step| report(Event::Iteration { mean_loss: step.mean_loss() }))?
        }
        // No model: the fill stands where G(z) would, and the blend keeps it as it is.
        Method::Classical(fill) => {
            report(Event::Start { images: items.len(), total_iterations: 0 });
            items
                .iter()
                .map(|item| {
                    let generated = fill.fill(item, c, s, &mask_kind)?;
                    Ok(Optimised { generated, z: Vec::new(), losses: Vec::new(), frames: Vec::new(), restart: 0 })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };

    let mut grid_rows = Vec::new();
    let mut all_metrics = Vec::new();
    for (item, r) in items.iter().zip(&results) {
        let completed = match settings.method {
            Method::Dcgan => blend::compose(item, &r.generated, c, s, &mask_kind, settings.blend)?,
            Method::Classical(_) => r.generated.clone(),
        };
        let masked = blend::masked_view(item, c, s, mask_kind == MaskKind::LowRes);
        let views = output::Views { masked: &masked, completed: &completed };
        grid_rows.extend(output::write_item(&cfg.out.join(&item.name), item, r, &views, cfg.save_z, c, s)?);
        if cfg.eval {
            all_metrics.push(evaluate(item, &completed, c, s));
        }
    }
    let summary = cfg.out.join("summary.png");
    picture::save_png(&picture::grid(&grid_rows, items.len() * 4, c, s, 4), &summary)?;
    let metrics = if cfg.eval {
        output::write_metrics_json(&cfg.out.join("metrics.json"), &items, &all_metrics)?;
        Some(all_metrics)
    } else {
        None
    };
    Ok(Outcome { names: items.iter().map(|i| i.name.clone()).collect(), metrics, summary })
}
