//! From the generated image to the completed one: overlay or Poisson blending of G(z) into
//! the known pixels, the block-mean correction of the lowres mask, and the masked view.

use super::{Item, MaskKind, poisson};
use crate::error::Result;
use crate::model::inpaint::LOWRES_BLOCK;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Blend {
    #[default]
    Poisson,
    None,
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
        MaskKind::LowRes => {
            let (means_y, means_g) = (block_means(&item.image, c, s), block_means(generated, c, s));
            let delta: Vec<f32> = means_y.iter().zip(&means_g).map(|(a, b)| a - b).collect();
            let up = blocks_to_pixels(&delta, c, s);
            return Ok(generated.iter().zip(&up).map(|(g, u)| (g + u).clamp(-1.0, 1.0)).collect());
        }
        _ => {}
    }
    match blend {
        Blend::None => Ok(overlay(item, generated, c, s)),
        Blend::Poisson => {
            let known: Vec<bool> = item.mask.iter().map(|&m| m > 0.5).collect();
            let mut out = Vec::with_capacity(c * plane);
            for ch in 0..c {
                let range = ch * plane..(ch + 1) * plane;
                let blended = poisson::blend(&item.image[range.clone()], &generated[range], &known, s)?;
                out.extend(blended.into_iter().map(|v| v.clamp(-1.0, 1.0)));
            }
            Ok(out)
        }
    }
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
