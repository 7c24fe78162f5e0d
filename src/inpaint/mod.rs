//! The completion pipeline that `complete`, `quality` and `serve` share: masks, the z
//! optimisation in batches of rows, the blends and classical fills, and the metrics.
//! It sits between `model` (the objective) and the jobs, which only add their inputs and
//! outputs (files for `complete`, HTTP for `serve`).
//!
//!   mod.rs       the method's settings, an item (image + mask), the method
//!   mask.rs      preset masks, mask PNGs, the weighted mask
//!   optimise.rs  z (and ILO) optimisation in batches of rows, best restart per item
//!   blend.rs     overlay / Poisson / biharmonic / hybrid blends, classical fills
//!   fill.rs      the CG solver behind the smooth fills and blends
//!   metrics.rs   PSNR / SSIM over the whole image and over the hole

pub mod blend;
pub mod fill;
pub mod mask;
pub mod metrics;
pub mod optimise;

use crate::engine::ops::adam::AdamConfig;
use crate::error::{Error, Result};
use crate::model::inpaint::{Objective, Prior};
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

/// The defaults (chosen from the quality table in the README).
impl Default for Settings {
    fn default() -> Self {
        Settings {
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
        }
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
