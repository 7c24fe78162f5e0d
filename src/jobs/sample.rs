//! `dcgan-inpaint sample` (images from a trained generator) and `export` (inference
//! weights out of a training checkpoint).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::engine::gpu::Gpu;
use crate::model::Generator;
use crate::io::{npy, output};
use crate::io::picture;
use crate::rng::Rng;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::model::gan::uniform_z;
use crate::model::weights as model_weights;

/// Images generated together.
const SAMPLE_BATCH: usize = 64;

/// Where the latents come from.
pub enum Latents<'a> {
    Seed { n: usize, seed: u64 },
    File(&'a Path),
}

/// The most images one `sample` draws (a grid of 10000 is already 700 MB of pixels at 256).
pub const MAX_SAMPLES: usize = 10_000;

/// Generate images; returns ([n, c, s, s] values in [-1, 1], n). `stop` (a signal) ends the
/// work between two batches with an error.
pub fn generate(gpu: &Gpu, g: &Generator, latents: Latents, stop: &AtomicBool, mut progress: impl FnMut(usize, usize)) -> Result<(Vec<f32>, usize)> {
    let zd = g.arch.z_dim;
    let (n, z) = match latents {
        Latents::Seed { n, seed } => (n, uniform_z(&mut Rng::new(seed), n, zd)),
        Latents::File(path) => {
            let (shape, data) = npy::read_f32(path)?;
            if shape.len() != 2 || shape[1] != zd || shape[0] == 0 {
                return Err(Error::new(format!("{} has shape {shape:?}; the generator needs [n, {zd}] (n >= 1)", path.display())));
            }
            (shape[0], data)
        }
    };
    if n == 0 || n > MAX_SAMPLES {
        return Err(Error::new(format!("--n (or the rows of --z) must be from 1 to {MAX_SAMPLES}, got {n}")));
    }
    // In batches, so any --n fits the adapter.
    let mut images = Vec::new();
    for rows in z.chunks(SAMPLE_BATCH * zd) {
        progress(images.len() / g.arch.image_size.pow(2) / g.arch.channels, n);
        if stop.load(Ordering::Relaxed) {
            return Err(Error::new("interrupted; nothing was written"));
        }
        let z = Tensor::from_slice(gpu, &[rows.len() / zd, zd], rows);
        images.extend(g.forward(&mut Tape::new(gpu), &z, false, true).try_to_vec(gpu)?);
    }
    Ok((images, n))
}

/// Write a grid PNG (and optionally the raw [n, c, s, s] output as .npy).
pub fn sample(gpu: &Gpu, weights_path: &Path, latents: Latents, out: &Path, raw_out: Option<&Path>, stop: &AtomicBool, progress: impl FnMut(usize, usize)) -> Result<usize> {
    let z_file = match &latents {
        Latents::File(p) => vec![*p],
        Latents::Seed { .. } => vec![],
    };
    let inputs: Vec<&Path> = [weights_path].into_iter().chain(z_file).collect();
    output::check(out, "png", "the sample grid", &inputs)?;
    if let Some(raw) = raw_out {
        output::check(raw, "npy", "the raw output", &[&inputs[..], &[out]].concat())?;
    }
    let g = model_weights::load_generator(gpu, weights_path)?;
    let (images, n) = generate(gpu, &g, latents, stop, progress)?;
    if stop.load(Ordering::Relaxed) {
        return Err(Error::new("interrupted; nothing was written"));
    }
    let (c, s) = (g.arch.channels, g.arch.image_size);
    let columns = (n as f64).sqrt().ceil() as usize;
    picture::save_png(&picture::grid(&images, n, c, s, columns), out)?;
    if let Some(raw) = raw_out {
        npy::write_f32(raw, &[n, c, s, s], &images)?;
    }
    Ok(n)
}

/// Copy G and D (with BN running statistics) out of a checkpoint into a weights file,
/// never over one of its inputs.
pub fn export(checkpoint: &Path, out: &Path, f16: bool) -> Result<()> {
    output::check(out, "safetensors", "the exported weights", &[checkpoint])?;
    model_weights::export_checkpoint(checkpoint, out, f16)
}
