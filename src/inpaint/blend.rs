//! From the generated image to the completed one: overlay, Poisson or biharmonic blending of
//! G(z) into the known pixels, the block-mean correction of the lowres mask, the masked view;
//! and the classical fills that use no model (the baselines a user compares with).

use super::fill::{self, Order};
use super::{Item, MaskKind};
use crate::error::Result;
use crate::model::inpaint::LOWRES_BLOCK;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Blend {
    /// G(z) plus a harmonic interpolation of the residual y - G(z) (Pérez et al.).
    #[default]
    Poisson,
    /// G(z) plus a biharmonic interpolation of the residual: smoother between scattered
    /// known pixels.
    Biharmonic,
    /// M y + (1 - M) G(z).
    None,
    /// A mix of two estimates of the hole: `weight` x the Poisson-blended DCGAN completion
    /// + (1 - weight) x the classical biharmonic fill. Their errors are partly independent,
    /// so the mix beats both where the fill is strong (many scattered known pixels).
    Hybrid { weight: f32 },
}

/// The hybrid's DCGAN weight, chosen on training faces (docs/quality-olivetti-64.md).
pub const HYBRID_WEIGHT: f32 = 0.4;

impl Blend {
    pub fn name(self) -> &'static str {
        match self {
            Blend::Poisson => "Poisson",
            Blend::Biharmonic => "biharmonic",
            Blend::None => "overlay",
            Blend::Hybrid { .. } => "hybrid with the biharmonic fill",
        }
    }
}

/// A fill that uses no model: what image editors and OpenCV-style inpainting offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classical {
    /// The per-channel mean of the known pixels.
    MeanFill,
    /// Laplace interpolation: u = y on the known pixels, harmonic inside the hole.
    Harmonic,
    /// Biharmonic interpolation (scikit-image's `inpaint_biharmonic`).
    Biharmonic,
}

impl Classical {
    pub fn name(self) -> &'static str {
        match self {
            Classical::MeanFill => "mean of known pixels",
            Classical::Harmonic => "harmonic fill",
            Classical::Biharmonic => "biharmonic fill",
        }
    }

    /// The filled image. With the lowres mask (no known pixels, only block means) every
    /// fill starts from the block means: the mean fill keeps them as blocks, the others
    /// interpolate them bilinearly and then restore each block's mean.
    pub fn fill(self, item: &Item, c: usize, s: usize, mask: &MaskKind) -> Result<Vec<f32>> {
        let plane = s * s;
        if *mask == MaskKind::LowRes {
            let means = block_means(&item.image, c, s);
            return Ok(match self {
                Classical::MeanFill => blocks_to_pixels(&means, c, s),
                Classical::Harmonic | Classical::Biharmonic => {
                    let smooth = bilinear_from_blocks(&means, c, s);
                    let correction: Vec<f32> = means.iter().zip(block_means(&smooth, c, s)).map(|(a, b)| a - b).collect();
                    smooth.iter().zip(blocks_to_pixels(&correction, c, s)).map(|(v, d)| (v + d).clamp(-1.0, 1.0)).collect()
                }
            });
        }
        let known: Vec<bool> = item.mask.iter().map(|&m| m > 0.5).collect();
        let mut out = Vec::with_capacity(c * plane);
        for ch in 0..c {
            let y = &item.image[ch * plane..(ch + 1) * plane];
            let filled = match self {
                Classical::MeanFill => {
                    let known_values: Vec<f32> = (0..plane).filter(|&i| known[i]).map(|i| y[i]).collect();
                    let mean = known_values.iter().sum::<f32>() / known_values.len().max(1) as f32;
                    (0..plane).map(|i| if known[i] { y[i] } else { mean }).collect()
                }
                Classical::Harmonic => fill::solve(y, &vec![0.0; plane], &known, s, Order::Harmonic)?,
                Classical::Biharmonic => fill::solve(y, &vec![0.0; plane], &known, s, Order::Biharmonic)?,
            };
            out.extend(filled.into_iter().map(|v| v.clamp(-1.0, 1.0)));
        }
        Ok(out)
    }
}

/// M * y + (1 - M) * generated.
pub fn overlay(item: &Item, generated: &[f32], c: usize, s: usize) -> Vec<f32> {
    let plane = s * s;
    (0..c * plane).map(|i| { let m = item.mask[i % plane]; m * item.image[i] + (1.0 - m) * generated[i] }).collect()
}

/// The completed image: blended (Poisson or overlay); `Full` keeps the projection G(z);
/// `LowRes` corrects each block of G(z) to the block mean of y.
pub fn compose(item: &Item, generated: &[f32], c: usize, s: usize, mask: &MaskKind, blend: Blend) -> Result<Vec<f32>> {
    let plane = s * s;
    match mask {
        MaskKind::Full => return Ok(generated.to_vec()),
        MaskKind::LowRes if !matches!(blend, Blend::Hybrid { .. }) => {
            let (means_y, means_g) = (block_means(&item.image, c, s), block_means(generated, c, s));
            let delta: Vec<f32> = means_y.iter().zip(&means_g).map(|(a, b)| a - b).collect();
            let up = blocks_to_pixels(&delta, c, s);
            return Ok(generated.iter().zip(&up).map(|(g, u)| (g + u).clamp(-1.0, 1.0)).collect());
        }
        _ => {}
    }
    let order = match blend {
        Blend::None => return Ok(overlay(item, generated, c, s)),
        Blend::Poisson => Order::Harmonic,
        Blend::Biharmonic => Order::Biharmonic,
        Blend::Hybrid { weight } => {
            let dcgan = compose(item, generated, c, s, mask, Blend::Poisson)?;
            let classical = Classical::Biharmonic.fill(item, c, s, mask)?;
            let mixed: Vec<f32> = dcgan.iter().zip(&classical).map(|(a, b)| weight * a + (1.0 - weight) * b).collect();
            // Known pixels exactly as they were (the mix of two equal values can round).
            return Ok(if *mask == MaskKind::LowRes { mixed } else { overlay(item, &mixed, c, s) });
        }
    };
    let known: Vec<bool> = item.mask.iter().map(|&m| m > 0.5).collect();
    let mut out = Vec::with_capacity(c * plane);
    for ch in 0..c {
        let range = ch * plane..(ch + 1) * plane;
        let blended = fill::solve(&item.image[range.clone()], &generated[range], &known, s, order)?;
        out.extend(blended.into_iter().map(|v| v.clamp(-1.0, 1.0)));
    }
    Ok(out)
}

/// What the input looks like to the model: missing pixels grey, or for lowres the block means.
pub fn masked_view(item: &Item, c: usize, s: usize, lowres: bool) -> Vec<f32> {
    if lowres {
        return blocks_to_pixels(&block_means(&item.image, c, s), c, s);
    }
    let plane = s * s;
    (0..c * plane).map(|i| if item.mask[i % plane] > 0.5 { item.image[i] } else { 0.0 }).collect()
}

/// Means of the LOWRES_BLOCK x LOWRES_BLOCK blocks of a [c, s, s] image: [c, s/b, s/b].
fn block_means(image: &[f32], c: usize, s: usize) -> Vec<f32> {
    let (b, sb) = (LOWRES_BLOCK, s / LOWRES_BLOCK);
    let mut means = vec![0.0f32; c * sb * sb];
    for ch in 0..c {
        for y in 0..sb * b {
            for x in 0..sb * b {
                means[(ch * sb + y / b) * sb + x / b] += image[(ch * s + y) * s + x] / (b * b) as f32;
            }
        }
    }
    means
}

/// Bilinear interpolation of block values placed at the block centres (clamped at the
/// borders): [c, s/b, s/b] -> [c, s, s].
fn bilinear_from_blocks(blocks: &[f32], c: usize, s: usize) -> Vec<f32> {
    let (b, sb) = (LOWRES_BLOCK as f32, s / LOWRES_BLOCK);
    let at = |ch: usize, by: usize, bx: usize| blocks[(ch * sb + by.min(sb - 1)) * sb + bx.min(sb - 1)];
    (0..c * s * s)
        .map(|i| {
            let (ch, y, x) = (i / (s * s), (i / s) % s, i % s);
            // Position in block-centre coordinates.
            let (fy, fx) = (((y as f32 + 0.5) / b - 0.5).max(0.0), ((x as f32 + 0.5) / b - 0.5).max(0.0));
            let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
            let (ty, tx) = (fy - y0 as f32, fx - x0 as f32);
            let top = at(ch, y0, x0) * (1.0 - tx) + at(ch, y0, x0 + 1) * tx;
            let bottom = at(ch, y0 + 1, x0) * (1.0 - tx) + at(ch, y0 + 1, x0 + 1) * tx;
            top * (1.0 - ty) + bottom * ty
        })
        .collect()
}

/// Each block's value on all of its pixels: [c, s/b, s/b] -> [c, s, s].
fn blocks_to_pixels(blocks: &[f32], c: usize, s: usize) -> Vec<f32> {
    let (b, sb) = (LOWRES_BLOCK, s / LOWRES_BLOCK);
    (0..c * s * s)
        .map(|i| {
            let (ch, y, x) = (i / (s * s), (i / s) % s, i % s);
            if y / b < sb && x / b < sb { blocks[(ch * sb + y / b) * sb + x / b] } else { 0.0 }
        })
        .collect()
}
