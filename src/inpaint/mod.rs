//! The completion pipeline that `complete`, `quality` and `serve` share: masks, the z
//! optimisation in batches of rows, the blends and classical fills, and the metrics.
//! It sits between `model` (the objective) and the jobs, which only add their inputs and
//! outputs (files for `complete`, HTTP for `serve`).
//!
//!   mod.rs       the method's settings and their defaults and limits, an item (image +
//!                mask), and the one completion flow every job runs (`complete`)
//!   mask.rs      preset masks, mask PNGs, the weighted mask
//!   optimise.rs  z (and ILO) optimisation in batches of rows, best restart per item
//!   blend.rs     overlay / Poisson / biharmonic / hybrid blends, classical fills
//!   fill.rs      the CG solver behind the smooth fills and blends
//!   metrics.rs   PSNR / SSIM over the whole image and over the hole
//!   photo.rs     a photo at its own resolution: the region the model sees, the result
//!                written back into the hole's pixels alone

pub mod blend;
pub mod fill;
pub mod mask;
pub mod metrics;
pub mod optimise;
pub mod photo;

use std::sync::atomic::AtomicBool;

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::error::{Error, Result};
use crate::model::inpaint::{Objective, Prior};
use crate::model::{Discriminator, Generator};
pub use blend::{Blend, Classical};
pub use mask::MaskKind;
pub use metrics::{Metrics, evaluate, mean_metrics};
pub use optimise::{Optimised, Step, optimise};

/// How the hole is filled: the DCGAN (optimise z, then blend), or a classical fill that
/// uses no model (for comparison on one's own images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Dcgan,
    Classical(Classical),
}

/// The completion method's settings, whatever the images come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
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
    /// Keep G(z) every this many iterations (0: none).
    pub frames_every: usize,
    pub seed: u64,
}

/// The defaults, chosen from the quality table in the README: the one source that the
/// command line, the API, the page and the quality table read.
pub const DEFAULTS: Settings = Settings {
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
    frames_every: 50,
    seed: 0,
};

/// A fast preview (`complete --quick`; the page's jobs take its iterations): 200 z
/// iterations and 2 restarts.
pub const QUICK: Settings = Settings { iters: 200, restarts: 2, ..DEFAULTS };

/// The most iterations of one phase (z, or one freed layer) accepted: about hours of work on
/// a CPU adapter; more is a typo.
pub const MAX_ITERS: usize = 1_000_000;
/// The largest weight of the prior accepted: at 10 it already outweighs the contextual loss
/// a thousandfold (the default is 0.003).
pub const MAX_LAM: f32 = 10.0;
/// The largest ILO radius accepted, in units of the activation's mean |value|.
pub const MAX_ILO_RADIUS: f32 = 100.0;

impl Default for Settings {
    fn default() -> Self {
        DEFAULTS
    }
}

impl Settings {
    /// Updates per image: z, then each freed layer.
    pub fn iterations(&self) -> usize {
        self.iters + self.ilo_layers * self.ilo_iters
    }

    /// Refuse settings that cannot give a meaningful result, for a generator with
    /// `image_stage` stages and images of `size` x `size`.
    pub fn validate(&self, size: usize, image_stage: usize) -> Result<()> {
        self.adam.validate()?;
        if !(self.lam.is_finite() && (0.0..=MAX_LAM).contains(&self.lam)) {
            return Err(Error::new(format!("--lam must be a number from 0 to {MAX_LAM} (the paper's is 0.003), got {}", self.lam)));
        }
        if self.restarts == 0 || self.batch == 0 {
            return Err(Error::new("--restarts and --batch must be at least 1"));
        }
        if self.iters == 0 || self.iters > MAX_ITERS || self.ilo_iters > MAX_ITERS {
            return Err(Error::new(format!("--iters must be from 1 to {MAX_ITERS} and --ilo-iters at most {MAX_ITERS}, got {} and {}", self.iters, self.ilo_iters)));
        }
        if !(self.ilo_radius.is_finite() && self.ilo_radius > 0.0 && self.ilo_radius <= MAX_ILO_RADIUS) {
            return Err(Error::new(format!("--ilo-radius must be a number in (0, {MAX_ILO_RADIUS}], got {}", self.ilo_radius)));
        }
        if self.weighted_window > size {
            return Err(Error::new(format!("--weighted-window {} is larger than the {size}x{size} image; use at most {size} (7 in the paper)", self.weighted_window)));
        }
        if let Blend::Hybrid { weight } = self.blend
            && !(0.0..=1.0).contains(&weight)
        {
            return Err(Error::new(format!("--hybrid-weight must be between 0 and 1, got {weight}")));
        }
        if self.ilo_layers >= image_stage {
            return Err(Error::new(format!(
                "--ilo-layers {} frees the image itself; this generator has stages 1..={} to free",
                self.ilo_layers,
                image_stage - 1
            )));
        }
        Ok(())
    }

    /// The objective for masks of `kind` (lowres matches block means, not pixels).
    pub fn objective(&self, kind: &MaskKind) -> Objective {
        Objective { prior: self.prior, lam: self.lam, lowres: *kind == MaskKind::LowRes, stage: 0 }
    }
}

/// One image with its mask.
#[derive(Clone)]
pub struct Item {
    pub name: String,
    /// [c, s, s] in [-1, 1]
    pub image: Vec<f32>,
    /// [s, s], 1 = known
    pub mask: Vec<f32>,
}

/// One image completed: the method's output for the hole and the result, with what the
/// optimisation went through (empty for a classical fill).
pub struct Completion {
    /// G(z) of the best restart ([c, s, s]), or the classical fill.
    pub generated: Vec<f32>,
    /// The result: `generated` blended into the known pixels with the settings' blend.
    pub completed: Vec<f32>,
    pub z: Vec<f32>,
    /// (contextual, prior) before each update; the last row is the final state.
    pub losses: Vec<(f32, f32)>,
    /// G(z) overlaid on the known pixels as the optimisation went, then the result: the
    /// frames of the progress animation.
    pub frames: Vec<Vec<f32>>,
    pub restart: usize,
    /// How well the generator alone fits the known pixels (`fit`); None for a classical fill
    /// and with fewer than `FIT_MIN_KNOWN` of the pixels known (a sparse mask, lowres).
    pub fit: Option<f32>,
}

/// The share of known pixels a fit needs (with fewer, as with a sparse mask, it says little).
pub const FIT_MIN_KNOWN: f32 = 0.4;

/// How well G(z) alone (the final z, without freed layers: what the generator can express)
/// fits the known pixels of `item`: their mean absolute difference, in [0, 1] units. Compared
/// with the same number on pictures the model knows (`calibrate`), it says whether a picture
/// is like them.
fn fit(item: &Item, generated_from_z: &[f32], plane: usize) -> Option<f32> {
    let known: Vec<usize> = (0..plane).filter(|&i| item.mask[i] > 0.5).collect();
    // With few pixels known (a sparse mask) a close fit is easy and says little.
    if (known.len() as f32) < FIT_MIN_KNOWN * plane as f32 {
        return None;
    }
    let c = item.image.len() / plane;
    let sum: f32 = (0..c).flat_map(|ch| known.iter().map(move |&i| ch * plane + i)).map(|i| (generated_from_z[i] - item.image[i]).abs()).sum();
    Some(sum / (known.len() * c) as f32 / 2.0)
}

/// G(z) of each completion's final z, in batches the adapter holds.
fn generate_from_z(gpu: &Gpu, g: &Generator, zs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let zd = g.arch.z_dim;
    let mut out = Vec::new();
    for chunk in zs.chunks(64) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let z = crate::engine::tensor::Tensor::from_slice(gpu, &[chunk.len(), zd], &flat);
        let images = g.forward(&mut crate::engine::tape::Tape::new(gpu), &z, false, true).try_to_vec(gpu)?;
        out.extend(images.chunks(images.len() / chunk.len()).map(<[f32]>::to_vec));
    }
    Ok(out)
}

impl Completion {
    /// The result with another blend (the quality table compares them on one optimisation;
    /// jobs batched together may each ask for their own).
    pub fn blended(&self, item: &Item, c: usize, s: usize, kind: &MaskKind, method: Method, blend: Blend) -> Result<Vec<f32>> {
        match method {
            Method::Dcgan => blend::compose(item, &self.generated, c, s, kind, blend),
            Method::Classical(_) => Ok(self.generated.clone()),
        }
    }
}

/// The completion flow `complete`, `quality` and `serve` all run: a classical fill, or the
/// z (and ILO) optimisation of every item with masks of `kind` in batches of rows, then the
/// blend of each result. `tick` hears every iteration; `stop` ends the work at the next one
/// with an error. `z_init`: starting latents [items x restarts, z_dim] (default: each item's
/// own seeded draw, so a result never depends on its batch).
#[allow(clippy::too_many_arguments)]
pub fn complete(gpu: &Gpu, g: &Generator, d: &Discriminator, items: &[Item], z_init: Option<&[f32]>, settings: &Settings, kind: &MaskKind, stop: &AtomicBool, tick: impl FnMut(&Step)) -> Result<Vec<Completion>> {
    let (c, s) = (g.arch.channels, g.arch.image_size);
    settings.validate(s, g.image_stage())?;
    let fill = |item: &Item, generated: Vec<f32>, method| {
        let completion = Completion { completed: Vec::new(), generated, z: Vec::new(), losses: Vec::new(), frames: Vec::new(), restart: 0, fit: None };
        let completed = completion.blended(item, c, s, kind, method, settings.blend)?;
        Ok(Completion { completed, ..completion })
    };
    match settings.method {
        Method::Classical(how) => items.iter().map(|item| fill(item, how.fill(item, c, s, kind)?, settings.method)).collect(),
        Method::Dcgan => {
            let optimised = optimise(gpu, g, d, items, z_init, settings, kind, stop, tick)?;
            let from_z = if *kind == MaskKind::LowRes { vec![Vec::new(); items.len()] } else { generate_from_z(gpu, g, &optimised.iter().map(|r| r.z.clone()).collect::<Vec<_>>())? };
            items
                .iter()
                .zip(optimised)
                .zip(from_z)
                .map(|((item, r), from_z)| {
                    let done = fill(item, r.generated, Method::Dcgan)?;
                    let mut frames: Vec<Vec<f32>> = r.frames.iter().map(|f| blend::overlay(item, f, c, s)).collect();
                    frames.push(done.completed.clone());
                    let fit = if from_z.is_empty() { None } else { fit(item, &from_z, s * s) };
                    Ok(Completion { z: r.z, losses: r.losses, frames, restart: r.restart, fit, ..done })
                })
                .collect()
        }
    }
}
