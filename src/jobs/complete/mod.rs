//! `dcgan-inpaint complete`: semantic inpainting by gradient descent on the latent z
//! (Yeh et al.; Amos' dcgan-completion). For each image and each of R random starts, z is
//! optimised under the inpainting objective (`model::inpaint`) with Adam, clipped to
//! [-1, 1] after every step; the best start's G(z) is blended into the known pixels.
//!
//!   mod.rs       the job: its settings, inputs and masks, the run, what the caller hears
//!   optimise.rs  the z optimisation in batches of rows, best restart per image
//!   blend.rs     overlay / Poisson blend, lowres correction, the masked view
//!   output.rs    the files written; metrics.rs PSNR/SSIM; quality.rs the quality table

pub mod blend;
pub mod fill;
pub mod mask;
pub mod metrics;
pub mod optimise;
pub mod output;
pub mod quality;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::error::{Error, Result};
use crate::io::{data, npy, picture, weights};
use crate::model::inpaint::{Objective, Prior};
pub use blend::{Blend, Classical};

/// How the hole is filled: the DCGAN (optimise z, then blend), or a classical fill that
/// uses no model (for comparison on one's own images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Dcgan,
    Classical(Classical),
}
pub use mask::MaskKind;
pub use metrics::{Metrics, evaluate, mean_metrics};
pub use optimise::{Optimised, optimise};

#[derive(Debug, Clone)]
pub struct CompleteConfig {
    pub inputs: Vec<PathBuf>,
    pub weights: PathBuf,
    pub mask: MaskKind,
    /// Per-image masks `DIR/<input stem>.png`, instead of `mask`.
    pub mask_dir: Option<PathBuf>,
    pub weighted_window: usize,
    pub prior: Prior,
    pub lam: f32,
    pub adam: AdamConfig,
    pub iters: usize,
    pub restarts: usize,
    pub blend: Blend,
    pub method: Method,
    /// Intermediate-layer optimisation after z: free G's stages 1..=ilo_layers in turn,
    /// `ilo_iters` iterations each, every activation within `ilo_radius` x its mean |value|
    /// of where it started (0 layers: the paper's method, z only).
    pub ilo_layers: usize,
    pub ilo_iters: usize,
    pub ilo_radius: f32,
    /// Rows (images x restarts) optimised together on the GPU.
    pub batch: usize,
    pub out: PathBuf,
    pub frames_every: usize,
    pub save_z: bool,
    pub z_init: Option<PathBuf>,
    pub seed: u64,
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
            weighted_window: 7,
            prior: Prior::Paper,
            lam: 0.003,
            adam: AdamConfig { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            iters: 1000,
            restarts: 1,
            blend: Blend::Poisson,
            method: Method::Dcgan,
            ilo_layers: 2,
            ilo_iters: 100,
            ilo_radius: 1.0,
            batch: 64,
            out: PathBuf::from("runs/complete"),
            frames_every: 50,
            save_z: false,
            z_init: None,
            seed: 0,
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

    /// Updates per image: z, then each freed layer.
    pub fn iterations(&self) -> usize {
        self.iters + self.ilo_layers * self.ilo_iters
    }

    /// Refuse settings that cannot give a meaningful result, for a model of `size`.
    pub fn validate(&self, size: usize) -> Result<()> {
        self.adam.validate()?;
        if !self.lam.is_finite() || self.lam < 0.0 {
            return Err(Error::new(format!("--lam must be a finite number >= 0, got {}", self.lam)));
        }
        if self.restarts == 0 || self.batch == 0 {
            return Err(Error::new("--restarts and --batch must be at least 1"));
        }
        if !(self.ilo_radius.is_finite() && self.ilo_radius > 0.0) {
            return Err(Error::new(format!("--ilo-radius must be a finite number > 0, got {}", self.ilo_radius)));
        }
        if self.weighted_window > size {
            return Err(Error::new(format!("--weighted-window {} is larger than the {size}x{size} image; use at most {size} (7 in the paper)", self.weighted_window)));
        }
        self.mask.validate()
    }

    pub fn objective(&self) -> Objective {
        Objective { prior: self.prior, lam: self.lam, lowres: self.mask_kind() == MaskKind::LowRes, stage: 0 }
    }
}

/// One input image with its mask.
pub struct Item {
    pub name: String,
    pub path: PathBuf,
    /// [c, s, s] in [-1, 1]
    pub image: Vec<f32>,
    /// [s, s], 1 = known
    pub mask: Vec<f32>,
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
            None => (mask::make(&cfg.mask, size, cfg.seed, index as u64)?, path.display().to_string()),
        };
        mask::check(&mask, &cfg.mask_kind(), &what)?;
        // Unique output folder names even when two inputs share a stem.
        let mut name = stem.clone();
        let mut k = 2;
        while items.iter().any(|it| it.name == name) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        items.push(Item { name, path, image, mask });
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
    cfg.validate(s)?;
    if cfg.ilo_layers >= g.image_stage() {
        return Err(Error::new(format!(
            "--ilo-layers {} frees the image itself; this generator has stages 1..={} to free",
            cfg.ilo_layers,
            g.image_stage() - 1
        )));
    }
    let _lock = crate::io::output::FolderLock::take(&cfg.out, cfg.overwrite)?;
    let mut warnings = Vec::new();
    let items = load_items(cfg, c, s, &mut |w| warnings.push(w))?;
    warnings.into_iter().for_each(|w| report(Event::Warning(w)));
    let z_init = match &cfg.z_init {
        Some(path) => {
            let (shape, data) = npy::read_f32(path)?;
            let want = [items.len() * cfg.restarts, zd];
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
    let results = match cfg.method {
        Method::Dcgan => {
            let per_batch = (cfg.batch / cfg.restarts).max(1);
            report(Event::Start { images: items.len(), total_iterations: items.len().div_ceil(per_batch) * (cfg.iterations() + 1) });
            optimise(gpu, &g, &d, &items, z_init.as_deref(), cfg, stop, |mean_loss| report(Event::Iteration { mean_loss }))?
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
        let completed = match cfg.method {
            Method::Dcgan => blend::compose(item, &r.generated, c, s, &mask_kind, cfg.blend)?,
            Method::Classical(_) => r.generated.clone(),
        };
        let masked = blend::masked_view(item, c, s, mask_kind == MaskKind::LowRes);
        let views = output::Views { masked: &masked, completed: &completed };
        grid_rows.extend(output::write_item(&cfg.out.join(&item.name), item, r, &views, cfg, c, s)?);
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
