//! `--method auto` (the default): choose the fill per image by self-validation on the image
//! itself. For a wide hole, known pixels shaped like it are hidden (a band around it), the
//! DCGAN completes that validation copy in the same batch as the image, every candidate
//! fills it, and the candidate with the least error on the hidden pixels (whose true values
//! are known) fills the real hole. Where a smooth fill is exact (a ramp) it wins; where the
//! hole needs structure only the model has (eyes, a mouth) the DCGAN wins. Thin and
//! scattered holes take a fixed mix (`THIN_HOLE`), measured better than choosing there.
//!
//! Candidates: the harmonic and biharmonic fills; G's output with ILO and from z alone
//! (the same run: G(z) is read before the freed layers move), each Poisson-blended and
//! mixed with the biharmonic fill at the `HYBRID_WEIGHTS`.

use super::blend::{Blend, Classical, compose, overlay};
use super::{Item, MaskKind};
use crate::error::Result;

/// The DCGAN weights of the hybrid candidates (1: the Poisson-blended DCGAN alone).
pub const HYBRID_WEIGHTS: [f32; 4] = [1.0, 0.75, 0.5, 0.25];

/// Hidden pixels: at most this share of the known ones.
const SHAPED_SHARE: f32 = 0.5;
/// A hole whose pixels lie further than this (mean, in pixels) from a known one is wide.
const WIDE_HOLE: f32 = 2.0;
/// Fewer hidden pixels than this say too little to choose by.
const MIN_HIDDEN: usize = 8;


/// What fills the hole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    Harmonic,
    Biharmonic,
    /// G after intermediate-layer optimisation (`ilo`), or from the final z alone.
    Dcgan { ilo: bool },
}

/// One candidate: a source and, for the DCGAN, its mix with the biharmonic fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    pub source: Source,
    /// The DCGAN's weight in the mix (1: Poisson-blended G alone); unused for classical fills.
    pub dcgan_weight: f32,
    /// The weight per pixel from its distance to the nearest known pixel instead
    /// (`distance_weight`, `dcgan_weight` its largest).
    pub by_distance: bool,
}

/// The DCGAN's weight at a hole pixel `d` pixels from the nearest known one, for thin holes:
/// 0.1 next to known pixels (where the biharmonic fill is nearly right), rising by 0.3 a
/// pixel up to `most` 2 px away. Chosen on 40 training faces (people s01..s04): the best
/// single weight was 0.1 on scratches (hole pixels 1 px from known ones), 0.2 on random 0.8
/// and 0.4 on the grid (docs/quality-auto.md).
pub fn distance_weight(d: f32, most: f32) -> f32 {
    (0.1 + 0.3 * (d - 1.0)).clamp(0.1, most)
}

impl Recipe {
    pub fn name(&self) -> String {
        match self.source {
            Source::Harmonic => Classical::Harmonic.name().to_string(),
            Source::Biharmonic => Classical::Biharmonic.name().to_string(),
            Source::Dcgan { ilo } => {
                let what = if ilo { "DCGAN z + ILO" } else { "DCGAN z" };
                if self.by_distance {
                    format!("{what}, mixed with the biharmonic fill by distance to the known pixels (0.1 to {} x DCGAN)", self.dcgan_weight)
                } else if self.dcgan_weight >= 1.0 {
                    format!("{what}, Poisson")
                } else {
                    format!("{what}, {} x DCGAN + {} x biharmonic fill", self.dcgan_weight, 1.0 - self.dcgan_weight)
                }
            }
        }
    }

    /// A short machine-readable name (metrics.json, the API): `biharmonic`, `dcgan-ilo-0.5`.
    pub fn key(&self) -> String {
        match self.source {
            Source::Harmonic => "harmonic".into(),
            Source::Biharmonic => "biharmonic".into(),
            Source::Dcgan { ilo } if self.by_distance => format!("dcgan{}-by-distance", if ilo { "-ilo" } else { "" }),
            Source::Dcgan { ilo } => format!("dcgan{}-{}", if ilo { "-ilo" } else { "" }, self.dcgan_weight),
        }
    }

    pub fn uses_model(&self) -> bool {
        matches!(self.source, Source::Dcgan { .. })
    }
}

/// Every candidate, classical first; the DCGAN from z alone only when ILO runs (otherwise it
/// is the same image).
pub fn candidates(ilo: bool) -> Vec<Recipe> {
    let mut out = vec![
        Recipe { source: Source::Harmonic, dcgan_weight: 0.0, by_distance: false },
        Recipe { source: Source::Biharmonic, dcgan_weight: 0.0, by_distance: false },
    ];
    for with_ilo in if ilo { vec![true, false] } else { vec![false] } {
        out.extend(HYBRID_WEIGHTS.iter().map(|&w| Recipe { source: Source::Dcgan { ilo: with_ilo }, dcgan_weight: w, by_distance: false }));
    }
    out
}

/// The pieces every candidate is made of, computed once per image.
pub struct Parts {
    harmonic: Vec<f32>,
    biharmonic: Vec<f32>,
    /// Poisson-blended G with ILO and from z alone (the same image without ILO).
    poisson_ilo: Vec<f32>,
    poisson_z: Vec<f32>,
}

impl Parts {
    /// `generated`: G's final output; `from_z`: G(z) of the final z (the same when no
    /// layer was freed).
    pub fn new(item: &Item, generated: &[f32], from_z: &[f32], c: usize, s: usize, kind: &MaskKind) -> Result<Parts> {
        let poisson_ilo = compose(item, generated, c, s, kind, Blend::Poisson)?;
        let poisson_z = if from_z == generated { poisson_ilo.clone() } else { compose(item, from_z, c, s, kind, Blend::Poisson)? };
        Ok(Parts {
            harmonic: Classical::Harmonic.fill(item, c, s, kind)?,
            biharmonic: Classical::Biharmonic.fill(item, c, s, kind)?,
            poisson_ilo,
            poisson_z,
        })
    }

    /// What fills the hole before any blend: the classical fill, or G's output (`generated`
    /// with ILO, `from_z` without).
    pub fn source(&self, recipe: &Recipe, generated: &[f32], from_z: &[f32]) -> Vec<f32> {
        match recipe.source {
            Source::Harmonic => self.harmonic.clone(),
            Source::Biharmonic => self.biharmonic.clone(),
            Source::Dcgan { ilo: true } => generated.to_vec(),
            Source::Dcgan { ilo: false } => from_z.to_vec(),
        }
    }

    /// The completed image of `recipe` (the hybrid as `Blend::Hybrid` makes it).
    pub fn apply(&self, item: &Item, recipe: &Recipe, c: usize, s: usize) -> Vec<f32> {
        match recipe.source {
            Source::Harmonic => self.harmonic.clone(),
            Source::Biharmonic => self.biharmonic.clone(),
            Source::Dcgan { ilo } => {
                let dcgan = if ilo { &self.poisson_ilo } else { &self.poisson_z };
                let plane = s * s;
                let weights: Vec<f32> = if recipe.by_distance {
                    super::mask::distance_to_known(&item.mask, s).iter().map(|&d| distance_weight(d, recipe.dcgan_weight)).collect()
                } else {
                    vec![recipe.dcgan_weight; plane]
                };
                let mixed: Vec<f32> = dcgan.iter().zip(&self.biharmonic).enumerate().map(|(i, (a, b))| weights[i % plane] * a + (1.0 - weights[i % plane]) * b).collect();
                overlay(item, &mixed, c, s)
            }
        }
    }
}

/// What auto does with one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Complete this validation copy of the mask too, and choose by its hidden pixels.
    Validate(Vec<f32>),
    /// No choice to make: run this recipe.
    Fixed(Recipe),
}

/// Thin and scattered holes (scratches, random pixels, a grid): the DCGAN (with ILO) mixed
/// with the biharmonic fill by each pixel's distance to the known ones (`distance_weight`,
/// at most `HYBRID_WEIGHT`). Every hole pixel there lies a pixel or two from known ones,
/// where the fill is already close; a validation copy cannot keep such a hole's density
/// (hiding more known pixels makes it sparser), and measured worse.
pub const THIN_HOLE: Recipe = Recipe { source: Source::Dcgan { ilo: true }, dcgan_weight: super::blend::HYBRID_WEIGHT, by_distance: true };

/// The lowres mask (no known pixels, only block means): the DCGAN mixed with the bilinear
/// upsampling of the means at `HYBRID_WEIGHT` (docs/quality-olivetti-64.md).
pub const LOWRES: Recipe = Recipe { source: Source::Dcgan { ilo: true }, dcgan_weight: super::blend::HYBRID_WEIGHT, by_distance: false };

/// A projection (nothing missing): G's output, as `--method dcgan` gives it.
pub const PROJECTION: Recipe = Recipe { source: Source::Dcgan { ilo: true }, dcgan_weight: 1.0, by_distance: false };

/// The plan for an image with `mask` (1 = known) of `kind`.
pub fn plan(mask: &[f32], s: usize, kind: &MaskKind) -> Plan {
    match kind {
        MaskKind::Full => Plan::Fixed(PROJECTION),
        MaskKind::LowRes => Plan::Fixed(LOWRES),
        _ => validation_mask(mask, s).map_or(Plan::Fixed(THIN_HOLE), Plan::Validate),
    }
}

/// The validation copy of a wide hole's mask (a box, a half, blobs, broad strokes): the
/// band of known pixels around the hole hidden too, as wide as the hole's mean distance to
/// a known pixel (narrower where that would hide more than `SHAPED_SHARE` of the known
/// pixels). The copy is the same hole, larger, and the hidden pixels hold what surrounds the
/// hole (a face's centre, not its border: shifted copies of the hole, tried first, landed
/// on the border and chose badly). None for a thin or scattered hole (mean distance at most
/// `WIDE_HOLE`), or when too few pixels can be hidden.
pub fn validation_mask(mask: &[f32], s: usize) -> Option<Vec<f32>> {
    let known: Vec<bool> = mask.iter().map(|&m| m > 0.5).collect();
    let known_count = known.iter().filter(|&&k| k).count();
    let to_known = super::mask::distance_to_known(mask, s);
    let hole_distances: Vec<f32> = (0..s * s).filter(|&i| !known[i]).map(|i| to_known[i]).collect();
    let mean_distance = hole_distances.iter().sum::<f32>() / hole_distances.len().max(1) as f32;
    if hole_distances.is_empty() || known_count == 0 || mean_distance <= WIDE_HOLE {
        return None;
    }
    let inverted: Vec<f32> = known.iter().map(|&k| if k { 0.0 } else { 1.0 }).collect();
    let to_hole = super::mask::distance_to_known(&inverted, s);
    let ring = |width: f32| -> Vec<usize> { (0..s * s).filter(|&i| known[i] && to_hole[i] <= width).collect() };
    let limit = SHAPED_SHARE * known_count as f32;
    let mut width = mean_distance.ceil();
    while width > 1.0 && ring(width).len() as f32 > limit {
        width -= 1.0;
    }
    let ring = ring(width);
    if ring.len() < MIN_HIDDEN || ring.len() as f32 > limit {
        return None;
    }
    let mut out = mask.to_vec();
    ring.iter().for_each(|&i| out[i] = 0.0);
    Some(out)
}

/// Mean squared error over the pixels `validation` hides (known in `item`), all channels.
pub fn hidden_error(item: &Item, validation: &[f32], completed: &[f32], c: usize, s: usize) -> f64 {
    let plane = s * s;
    let hidden: Vec<usize> = (0..plane).filter(|&i| item.mask[i] > 0.5 && validation[i] <= 0.5).collect();
    let sum: f64 = (0..c).flat_map(|ch| hidden.iter().map(move |&i| ch * plane + i)).map(|i| ((completed[i] - item.image[i]) as f64).powi(2)).sum();
    sum / (hidden.len() * c).max(1) as f64
}

/// The outcome of the self-validation for one image.
#[derive(Debug, Clone)]
pub struct Choice {
    pub recipe: Recipe,
    /// Every candidate with its PSNR (dB, on the [0, 1] scale) on the hidden pixels; empty
    /// for a fixed plan.
    pub validation: Vec<(Recipe, f64)>,
}

/// Pick the candidate with the least error on the hidden pixels of `validation_item`
/// (`parts` made from its completion); ties go to the earlier candidate (classical first).
pub fn choose(item: &Item, validation_item: &Item, parts: &Parts, ilo: bool, c: usize, s: usize) -> Choice {
    let scored: Vec<(Recipe, f64)> = candidates(ilo)
        .into_iter()
        .map(|r| {
            let mse = hidden_error(item, &validation_item.mask, &parts.apply(validation_item, &r, c, s), c, s);
            // Values span [-1, 1]: on the [0, 1] scale the error is a quarter.
            (r, 10.0 * (1.0 / (mse / 4.0).max(1e-12)).log10())
        })
        .collect();
    let best = scored.iter().fold(None::<&(Recipe, f64)>, |best, x| if best.is_none_or(|b| x.1 > b.1) { Some(x) } else { best });
    Choice { recipe: best.map_or(THIN_HOLE, |b| b.0), validation: scored }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inpaint::mask;

    #[test]
    fn wide_holes_are_validated_on_a_band_around_them_and_thin_ones_are_not() {
        let s = 64;
        for (name, kind) in [("center", MaskKind::Center { scale: 0.25 }), ("half", MaskKind::Half), ("pattern", MaskKind::Pattern)] {
            let m = mask::make(&kind, s, 3, 1).unwrap();
            let Plan::Validate(v) = plan(&m, s, &kind) else { panic!("{name}: a wide hole is validated") };
            let known = m.iter().filter(|&&x| x > 0.5).count();
            let hidden: Vec<usize> = (0..s * s).filter(|&i| m[i] > 0.5 && v[i] <= 0.5).collect();
            assert!((0..s * s).all(|i| m[i] > 0.5 || v[i] <= 0.5), "{name}: the hole must stay hidden");
            assert!(hidden.len() >= MIN_HIDDEN && hidden.len() <= known / 2, "{name}: {} of {known} known pixels hidden", hidden.len());
            // Every hidden pixel touches the hole or another hidden pixel: a band, not specks.
            let missing = |i: usize| v[i] <= 0.5;
            for &i in &hidden {
                let (y, x) = (i / s, i % s);
                let near = [(y > 0).then(|| i - s), (y + 1 < s).then(|| i + s), (x > 0).then(|| i - 1), (x + 1 < s).then(|| i + 1)];
                assert!(near.iter().flatten().any(|&j| missing(j)), "{name}: hidden pixel {y},{x} is isolated");
            }
        }
        for kind in [MaskKind::Scratches, MaskKind::Random { missing: 0.8 }, MaskKind::Grid] {
            let m = mask::make(&kind, s, 3, 1).unwrap();
            assert_eq!(plan(&m, s, &kind), Plan::Fixed(THIN_HOLE), "{kind:?}");
        }
        assert_eq!(plan(&mask::make(&MaskKind::LowRes, s, 3, 1).unwrap(), s, &MaskKind::LowRes), Plan::Fixed(LOWRES));
        // The thin holes' weight: low next to known pixels, rising with the distance.
        assert_eq!((distance_weight(1.0, 0.4), distance_weight(2.0, 0.4), distance_weight(5.0, 0.4)), (0.1, 0.4, 0.4));
        assert!((distance_weight(2f32.sqrt(), 0.4) - 0.224).abs() < 1e-3);
        assert_eq!(plan(&vec![1.0; s * s], s, &MaskKind::Full), Plan::Fixed(PROJECTION));
    }
}
