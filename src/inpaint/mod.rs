//! The completion pipeline that `complete`, `quality` and `serve` share: masks, the z
//! optimisation in batches of rows, the blends and classical fills, and the metrics.
//! It sits between `model` (the objective) and the jobs, which only add their inputs and
//! outputs (files for `complete`, HTTP for `serve`).
//!
//!   mod.rs       the method's settings and their defaults and limits, an item (image +
//!                mask), and the one completion flow every job runs (`complete`)
//!   auto.rs      the default method: per image, the candidate that best fills known
//!                pixels hidden like the hole (self-validation)
//!   mask.rs      preset masks, mask PNGs, the weighted mask
//!   optimise.rs  z (and ILO) optimisation in batches of rows, best restart per item
//!   blend.rs     overlay / Poisson / biharmonic / hybrid blends, classical fills
//!   fill.rs      the CG solver behind the smooth fills and blends
//!   metrics.rs   PSNR / SSIM over the whole image and over the hole
//!   photo.rs     a photo at its own resolution: the region the model sees, the result
//!                written back into the hole's pixels alone

pub mod auto;
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
use crate::model::encoder::Encoder;
use crate::model::{Discriminator, Generator};
pub use blend::{Blend, Classical};
pub use mask::MaskKind;
pub use metrics::{Metrics, evaluate, mean_metrics};
pub use optimise::{Optimised, Step, optimise};

/// How the hole is filled: chosen per image by self-validation (`auto`), the DCGAN
/// (optimise z, then blend), or a classical fill that uses no model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Auto,
    Dcgan,
    Classical(Classical),
}

/// Where each image's z starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// The encoder's z for the image's known pixels (when the weights hold an encoder; a
    /// random start otherwise), restarts jittered around it.
    #[default]
    Encoder,
    /// Uniform in [-1, 1], as in the paper.
    Random,
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
    /// `ilo_iters` iterations each, each row's activation within an L1 distance of
    /// `ilo_radius` x its own L1 norm of where it started, and non-negative (0 layers: the
    /// paper's method, z only).
    pub ilo_layers: usize,
    pub ilo_iters: usize,
    pub ilo_radius: f32,
    /// Rows (images x restarts) optimised together on the GPU.
    pub batch: usize,
    pub start: Start,
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
    // From the encoder's start, 25 updates of z then 15 of each freed layer beat 1000 (+100)
    // from a random start (the start curve and the ILO runs in docs/quality-auto.md); more
    // only fit the known pixels closer at the hole's expense.
    iters: 25,
    restarts: 1,
    blend: Blend::Poisson,
    method: Method::Auto,
    ilo_layers: 2,
    ilo_iters: 15,
    ilo_radius: 0.1,
    batch: 64,
    start: Start::Encoder,
    frames_every: 50,
    seed: 0,
};

/// A faster preview (`complete --quick`): 10 updates of z and 5 of each freed layer.
pub const QUICK: Settings = Settings { iters: 10, ilo_iters: 5, ..DEFAULTS };

/// Updates of z from a random start that the defaults' results need (weights without an
/// encoder, `--start random`): the paper's 1000.
pub const RANDOM_START_ITERS: usize = 1000;

/// The most iterations of one phase (z, or one freed layer) accepted: about hours of work on
/// a CPU adapter; more is a typo.
pub const MAX_ITERS: usize = 1_000_000;
/// The largest weight of the prior accepted: at 10 it already outweighs the contextual loss
/// a thousandfold (the default is 0.003).
pub const MAX_LAM: f32 = 10.0;
/// The largest ILO radius accepted, as a share of the activation's L1 norm (0.1 is the
/// default; a hundredfold norm is no ball at all).
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
    /// With `Method::Auto`: the candidate chosen and how each did on the hidden pixels.
    pub choice: Option<auto::Choice>,
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

/// G(z) of each completion's final z, in batches of at most `batch` rows (what the
/// optimisation ran, so what the adapter was checked to hold).
fn generate_from_z(gpu: &Gpu, g: &Generator, zs: &[Vec<f32>], batch: usize) -> Result<Vec<Vec<f32>>> {
    let zd = g.arch.z_dim;
    let mut out = Vec::new();
    for chunk in zs.chunks(batch.max(1)) {
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
            // The blend is part of what auto chose; a classical fill has none.
            Method::Auto | Method::Classical(_) => Ok(self.completed.clone()),
        }
    }
}

/// The completion flow `complete`, `quality` and `serve` all run: a classical fill, or the
/// z (and ILO) optimisation of every item with masks of `kind` in batches of rows, then the
/// blend of each result. `tick` hears every iteration; `stop` ends the work at the next one
/// with an error. `z_init`: starting latents [items x restarts, z_dim] (default: each item's
/// own seeded draw, so a result never depends on its batch).
#[allow(clippy::too_many_arguments)]
pub fn complete(gpu: &Gpu, g: &Generator, d: &Discriminator, e: Option<&Encoder>, items: &[Item], z_init: Option<&[f32]>, settings: &Settings, kind: &MaskKind, stop: &AtomicBool, tick: impl FnMut(&Step)) -> Result<Vec<Completion>> {
    let (c, s) = (g.arch.channels, g.arch.image_size);
    settings.validate(s, g.image_stage())?;
    match settings.method {
        Method::Classical(how) => items.iter().map(|item| {
            let generated = how.fill(item, c, s, kind)?;
            Ok(Completion { completed: generated.clone(), generated, z: Vec::new(), losses: Vec::new(), frames: Vec::new(), restart: 0, fit: None, choice: None })
        }).collect(),
        Method::Auto => complete_auto(gpu, g, d, e, items, z_init, settings, kind, stop, tick),
        Method::Dcgan => {
            let optimised = optimise(gpu, g, d, e, items, z_init, settings, kind, stop, tick)?;
            let from_z = if *kind == MaskKind::LowRes { vec![Vec::new(); items.len()] } else { generate_from_z(gpu, g, &optimised.iter().map(|r| r.z.clone()).collect::<Vec<_>>(), settings.batch)? };
            items
                .iter()
                .zip(optimised)
                .zip(from_z)
                .map(|((item, r), from_z)| {
                    let completed = blend::compose(item, &r.generated, c, s, kind, settings.blend)?;
                    Ok(finished(item, r, &from_z, completed, None, c, s))
                })
                .collect()
        }
    }
}

/// A completion from the optimisation's result `r` for `item`, its final image and G(z) of
/// its final z (`from_z`, empty for lowres).
fn finished(item: &Item, r: Optimised, from_z: &[f32], completed: Vec<f32>, choice: Option<auto::Choice>, c: usize, s: usize) -> Completion {
    let mut frames: Vec<Vec<f32>> = r.frames.iter().map(|f| blend::overlay(item, f, c, s)).collect();
    frames.push(completed.clone());
    let fit = if from_z.is_empty() { None } else { fit(item, from_z, s * s) };
    Completion { generated: r.generated, completed, z: r.z, losses: r.losses, frames, restart: r.restart, fit, choice }
}

/// Rows the DCGAN optimises for an image with `mask` (1 = known) of `kind`, restarts aside:
/// auto adds a validation copy, right after it, of an image with a wide hole.
pub fn rows_per_image(mask: &[f32], settings: &Settings, kind: &MaskKind, s: usize) -> usize {
    match settings.method {
        Method::Classical(_) => 0,
        Method::Dcgan => 1,
        Method::Auto => 1 + matches!(auto::plan(mask, s, kind), auto::Plan::Validate(_)) as usize,
    }
}

/// `Method::Auto` (see `auto`): each image and its validation copy optimised from the same
/// start in the same batch, then per image the candidate that fills the copy's hidden pixels
/// best fills the image.
#[allow(clippy::too_many_arguments)]
fn complete_auto(gpu: &Gpu, g: &Generator, d: &Discriminator, e: Option<&Encoder>, items: &[Item], z_init: Option<&[f32]>, settings: &Settings, kind: &MaskKind, stop: &AtomicBool, tick: impl FnMut(&Step)) -> Result<Vec<Completion>> {
    let (c, s, zd, r) = (g.arch.channels, g.arch.image_size, g.arch.z_dim, settings.restarts);
    let mut rows = Vec::new();
    let mut starts = Vec::new();
    let mut plans = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let start = match z_init {
            Some(all) => all[i * r * zd..(i + 1) * r * zd].to_vec(),
            None => optimise::starting_z(settings.seed, i, r, zd),
        };
        rows.push(item.clone());
        starts.extend_from_slice(&start);
        let plan = auto::plan(&item.mask, s, kind);
        if let auto::Plan::Validate(mask) = &plan {
            // From the same start, and encoded from its own known pixels.
            rows.push(Item { name: format!("{} (validation)", item.name), image: item.image.clone(), mask: mask.clone() });
            starts.extend_from_slice(&start);
        }
        plans.push(plan);
    }
    let dcgan = Settings { method: Method::Dcgan, ..settings.clone() };
    let optimised = optimise(gpu, g, d, e, &rows, Some(&starts), &dcgan, kind, stop, tick)?;
    let from_z = if *kind == MaskKind::LowRes { vec![Vec::new(); rows.len()] } else { generate_from_z(gpu, g, &optimised.iter().map(|o| o.z.clone()).collect::<Vec<_>>(), settings.batch)? };
    let mut results = optimised.into_iter().zip(from_z).zip(&rows);
    let mut out = Vec::new();
    for (item, plan) in items.iter().zip(plans) {
        let ((mut real, real_from_z), _) = results.next().expect("a result per row");
        let choice = match plan {
            auto::Plan::Validate(_) => {
                let ((copy, copy_from_z), copy_item) = results.next().expect("a validation row");
                auto::choose(item, copy_item, &auto::Parts::new(copy_item, &copy.generated, &copy_from_z, c, s, kind)?, settings.ilo_layers > 0, c, s)
            }
            auto::Plan::Fixed(recipe) => auto::Choice { recipe, validation: Vec::new() },
        };
        let completed = match (choice.recipe.source, choice.validation.is_empty() && !choice.recipe.by_distance) {
            // A fixed recipe is a blend of G (lowres and projections need compose's cases).
            (auto::Source::Dcgan { .. }, true) => {
                let blend = if choice.recipe.dcgan_weight >= 1.0 { Blend::Poisson } else { Blend::Hybrid { weight: choice.recipe.dcgan_weight } };
                blend::compose(item, &real.generated, c, s, kind, blend)?
            }
            _ => {
                let parts = auto::Parts::new(item, &real.generated, &real_from_z, c, s, kind)?;
                // What fills the hole before the blend: the chosen fill, or G with or without ILO.
                let completed = parts.apply(item, &choice.recipe, c, s);
                real.generated = parts.source(&choice.recipe, &real.generated, &real_from_z);
                completed
            }
        };
        out.push(finished(item, real, &real_from_z, completed, Some(choice), c, s));
    }
    Ok(out)
}

/// What filled an image's hole, for reports: a short key (`metrics.json`, the API) and, with
/// auto, the chosen candidate's description.
pub fn method_report(method: Method, blend: Blend, r: &Completion) -> (String, Option<String>) {
    match (method, &r.choice) {
        (Method::Auto, Some(choice)) => (choice.recipe.key(), Some(choice.recipe.name())),
        (Method::Auto, None) => ("auto".into(), None),
        (Method::Dcgan, _) => (format!("dcgan-{}", blend.name().split_whitespace().next().unwrap_or("poisson").to_lowercase()), None),
        (Method::Classical(Classical::Harmonic), _) => ("harmonic".into(), None),
        (Method::Classical(Classical::Biharmonic), _) => ("biharmonic".into(), None),
        (Method::Classical(Classical::MeanFill), _) => ("mean".into(), None),
    }
}
