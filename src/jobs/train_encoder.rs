//! `dcgan-inpaint train-encoder`: train the encoder E that starts a completion's z
//! (`model::encoder`) against a trained generator, G frozen.
//!
//! Each step draws a batch of images and a mask per image from `TRAINING_MASKS` (every
//! family of the quality table, a tenth with nothing hidden), and updates E to lower
//! mean |G(E(y * M, M)) - y| over all pixels: the starting z should already say what the
//! hole holds, not only fit the known pixels. The result is the input weights file with
//! E's tensors (`e.*`) added and how it was trained in the `encoder` metadata.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::engine::optim::Adam;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::inpaint::mask::{self, MaskKind};
use crate::io::data::Dataset;
use crate::io::weights::{self, HostTensor};
use crate::model::encoder::{self, Encoder};
use crate::model::{self, weights as model_weights};
use crate::rng::Rng;

// Random streams (see Rng::derived).
const INIT: u64 = 0xE1;
const DRAW: u64 = 0xE2;

/// The masks E learns from: every family of the quality table (lowres gives E nothing to
/// read: its completions start from a random z) and nothing hidden at all.
pub fn training_mask(rng: &mut Rng) -> MaskKind {
    match rng.below(10) {
        0 => MaskKind::Center { scale: 0.25 },
        1 => MaskKind::Center { scale: rng.range(0.1, 0.5) },
        2 => MaskKind::Half,
        3 => MaskKind::Random { missing: rng.range(0.5, 0.95) },
        4 => MaskKind::Grid,
        5 => MaskKind::Pattern,
        6 => MaskKind::Scratches,
        7 => MaskKind::Strokes,
        8 => MaskKind::Pattern,
        _ => MaskKind::Full,
    }
}

#[derive(Debug, Clone)]
pub struct EncoderTrainConfig {
    /// The trained G (and D) to train E against; E's tensors are added to a copy.
    pub weights: PathBuf,
    pub data: PathBuf,
    pub exclude: Vec<String>,
    pub steps: u64,
    pub batch: usize,
    pub adam: AdamConfig,
    pub seed: u64,
    /// The weights file to write: `weights` with E added.
    pub out: PathBuf,
    pub f16: bool,
}

pub struct Progress {
    pub step: u64,
    pub steps: u64,
    /// Mean |G(E(x)) - y| of the step, on the [-1, 1] scale.
    pub loss: f32,
    pub images_per_s: f64,
}

pub struct Summary {
    pub steps: u64,
    pub loss: f32,
    pub images_per_s: f64,
    pub interrupted: bool,
}

/// Train E; `progress` hears every step. A stop (Ctrl-C, SIGTERM) ends the run after the
/// current step and still writes E as trained so far (its metadata says so).
pub fn run(gpu: &Gpu, cfg: &EncoderTrainConfig, stop: &AtomicBool, mut progress: impl FnMut(&Progress)) -> Result<Summary> {
    if cfg.batch < 2 {
        return Err(Error::new("--batch must be at least 2 (batchnorm needs batch statistics)"));
    }
    crate::io::output::check(&cfg.out, "safetensors", "the weights with the encoder", &[&cfg.weights, &cfg.data])?;
    let file = weights::read(&cfg.weights)?;
    let arch = model_weights::architecture(&file)?;
    let g = model_weights::load_generator(gpu, &cfg.weights)?;
    let (c, s) = (arch.channels, arch.image_size);
    let data = Dataset::load(&cfg.data, &cfg.exclude, c, s)?;
    arch.check_fits(gpu, cfg.batch, "use a smaller --batch", "use weights of a smaller model")?;

    let e = Encoder::init(gpu, &arch, &mut Rng::derived(cfg.seed, &[INIT]));
    let params = model::trainable(&e.named());
    let mut adam = Adam::new(gpu, cfg.adam, &params.iter().collect::<Vec<_>>());
    let started = Instant::now();
    let (mut step, mut loss, mut interrupted) = (0u64, f32::NAN, false);
    let mut order: Vec<usize> = Vec::new();
    let mut epoch = 0;
    while step < cfg.steps {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let mut rng = Rng::derived(cfg.seed, &[DRAW, step]);
        let mut indices = Vec::with_capacity(cfg.batch);
        while indices.len() < cfg.batch {
            if order.is_empty() {
                order = data.epoch_order(cfg.seed, epoch);
                epoch += 1;
            }
            indices.extend(order.pop());
        }
        let flips: Vec<bool> = (0..cfg.batch).map(|_| rng.below(2) == 1).collect();
        let y = data.batch(&indices, &flips);
        let mut m = Vec::with_capacity(cfg.batch * s * s);
        for k in 0..cfg.batch {
            let kind = training_mask(&mut rng);
            m.extend(mask::make(&kind, s, cfg.seed, step * cfg.batch as u64 + k as u64)?);
        }
        let x = Tensor::from_slice(gpu, &[cfg.batch, c + 1, s, s], &Encoder::input(&y, &m, cfg.batch, c, s));
        let y = Tensor::from_slice(gpu, &[cfg.batch, c, s, s], &y);
        let mut tape = Tape::new(gpu);
        let z = e.forward(&mut tape, &x, true, false); //                [B, z_dim]
        let gz = g.forward(&mut tape, &z, false, true); //              [B, c, s, s], G frozen
        let diff = tape.sub(&gz, &y);
        let abs = tape.abs(&diff);
        let mean = tape.mean(&abs);
        let grads = tape.backward(&mean);
        adam.step(gpu, &params.iter().collect::<Vec<_>>(), &grads);
        drop(grads);
        loss = mean.try_to_vec(gpu)?[0];
        if !loss.is_finite() {
            return Err(Error::new(format!("the encoder's loss became {loss} at step {step}; try a lower --lr")));
        }
        step += 1;
        let images_per_s = (step as usize * cfg.batch) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        progress(&Progress { step, steps: cfg.steps, loss, images_per_s });
    }
    let images_per_s = (step as usize * cfg.batch) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    // The input file's tensors (an older encoder replaced), then E's.
    let mut tensors: Vec<HostTensor> = file.tensors.iter().filter(|(name, _)| !name.starts_with(encoder::PREFIX)).map(|(n, (shape, v))| (n.clone(), shape.clone(), v.clone())).collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors.extend(model_weights::snapshot(gpu, &e.named())?);
    let mut meta = file.metadata.clone();
    let about = serde_json::json!({
        "steps": step, "interrupted": interrupted, "batch": cfg.batch, "lr": cfg.adam.lr, "seed": cfg.seed,
        "data": cfg.data.display().to_string(), "exclude": cfg.exclude, "images": data.len(),
        "final_loss": loss, "loss": "mean |G(E(y*M, M)) - y| over all pixels, [-1, 1] scale",
        "masks": "center 0.25, center 0.1-0.5, half, random 0.5-0.95, grid, pattern (x2), scratches, strokes, none",
    });
    meta.insert(model_weights::ENCODER_META.into(), about.to_string());
    weights::write(&cfg.out, &tensors, meta, cfg.f16)?;
    Ok(Summary { steps: step, loss, images_per_s, interrupted })
}
