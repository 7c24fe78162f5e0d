//! The z optimisation: rows (images x restarts) in batches, each iteration one submission
//! of the inpainting objective (`model::inpaint`), and the best restart per image.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Item, MaskKind, Settings, Start, mask};
use crate::engine::gpu::Gpu;
use crate::engine::ops::pool;
use crate::engine::ops::project::L1Ball;
use crate::engine::optim::Adam;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::model::inpaint::{self, LOWRES_BLOCK, Objective};
use crate::model::encoder::Encoder;
use crate::model::{Discriminator, Generator};
use crate::rng::Rng;

/// The optimisation's result for one image (its best restart).
pub struct Optimised {
    /// G(z) for the final z, [c, s, s]
    pub generated: Vec<f32>,
    pub z: Vec<f32>,
    /// (contextual, prior) per iteration, row t before update t; the last row is the final z.
    pub losses: Vec<(f32, f32)>,
    /// G(z) of this row every `frames_every` iterations, [c, s, s] each; at most
    /// `MAX_KEPT_FRAMES`, evenly spread (the spacing doubles as a long run goes on).
    pub frames: Vec<Vec<f32>>,
    pub restart: usize,
}

/// One iteration of one batch, as the caller sees it.
pub struct Step<'a> {
    /// The iteration in this batch (0 = the starting x, before any update).
    pub t: usize,
    /// Per row (the batch's items x restarts), before update t.
    pub contextual: &'a [f32],
    pub prior: &'a [f32],
    /// G(x) of every row [rows, c, s, s], when a frame is due (every `frames_every`
    /// iterations) and after the last.
    pub generated: Option<&'a [f32]>,
}

impl Step<'_> {
    pub fn mean_loss(&self) -> f32 {
        (self.contextual.iter().sum::<f32>() + self.prior.iter().sum::<f32>()) / self.contextual.len().max(1) as f32
    }
}

/// The most frames of G(z) kept for the progress animation: memory stays bounded however
/// many iterations run (a frame of a batch holds every row).
pub const MAX_KEPT_FRAMES: usize = 64;

/// The random stream of each row's starting z (see `Rng::derived`).
const Z_START_STREAM: u64 = 0x2E;

/// The starting z of item `index`'s `restarts` rows, [restarts, zd], uniform in [-1, 1].
pub fn starting_z(seed: u64, index: usize, restarts: usize, zd: usize) -> Vec<f32> {
    (0..restarts).flat_map(|k| Rng::derived(seed, &[Z_START_STREAM, index as u64, k as u64]).uniform_vec(zd, -1.0, 1.0)).collect()
}

/// Optimise every item (its mask of `kind`) in batches of `cfg.batch` rows; one result per
/// item. `tick` hears every iteration; `stop` ends the work at the next one with an error.
#[allow(clippy::too_many_arguments)]
pub fn optimise(gpu: &Gpu, g: &Generator, d: &Discriminator, e: Option<&Encoder>, items: &[Item], z_init: Option<&[f32]>, cfg: &Settings, kind: &MaskKind, stop: &AtomicBool, mut tick: impl FnMut(&Step)) -> Result<Vec<Optimised>> {
    let per_batch = (cfg.batch / cfg.restarts).max(1);
    // Restarts of one image share a batch, so a batch holds at least `restarts` rows.
    let rows = per_batch.min(items.len().max(1)) * cfg.restarts;
    g.arch.check_fits(gpu, rows, "use a smaller --batch or fewer --restarts", "use weights of a smaller model")?;
    let mut results = Vec::new();
    for (k, chunk) in items.chunks(per_batch).enumerate() {
        let refs: Vec<&Item> = chunk.iter().collect();
        results.extend(optimise_batch(gpu, g, d, e, &refs, k * per_batch, z_init, cfg, cfg.objective(kind), stop, &mut tick)?);
    }
    Ok(results)
}

/// Optimise all rows of one batch: `items` x `restarts`. Returns one result per item.
#[allow(clippy::too_many_arguments)]
fn optimise_batch(gpu: &Gpu, g: &Generator, d: &Discriminator, e: Option<&Encoder>, items: &[&Item], first_index: usize, z_init: Option<&[f32]>, cfg: &Settings, objective: Objective, stop: &AtomicBool, mut tick: impl FnMut(&Step)) -> Result<Vec<Optimised>> {
    let arch = g.arch;
    let (c, s, zd, r) = (arch.channels, arch.image_size, arch.z_dim, cfg.restarts);
    let rows = items.len() * r;
    let plane = c * s * s;

    let mut y = Vec::with_capacity(rows * plane);
    let mut w = Vec::with_capacity(rows * plane);
    for item in items {
        let wm = mask::weighted(&item.mask, s, cfg.weighted_window);
        for _ in 0..r {
            y.extend_from_slice(&item.image);
            for _ in 0..c {
                w.extend_from_slice(&wm);
            }
        }
    }
    let y_t = Tensor::from_slice(gpu, &[rows, c, s, s], &y);
    let target = if objective.lowres { pool::avg_pool_forward(gpu, &y_t, LOWRES_BLOCK) } else { y_t.clone() };
    let weight = Tensor::from_slice(gpu, &[rows, c, s, s], &w);

    let random: Vec<f32> = match z_init {
        Some(all) => all[first_index * r * zd..(first_index + items.len()) * r * zd].to_vec(),
        None => (0..items.len()).flat_map(|i| starting_z(cfg.seed, first_index + i, r, zd)).collect(),
    };
    let z0 = match e {
        Some(e) if cfg.start == Start::Encoder && !objective.lowres => encoder_start(gpu, e, items, &random, r)?,
        _ => random,
    };
    let z = Tensor::from_slice(gpu, &[rows, zd], &z0).with_grad(true);

    // Phases: z for --iters updates (the paper), then each freed stage of G for --ilo-iters
    // updates, starting from where the previous phase left G's activation there.
    let phases: Vec<(usize, usize)> = std::iter::once((0, cfg.iters)).chain((1..=cfg.ilo_layers).map(|k| (k, cfg.ilo_iters))).collect();
    let (mut x, mut x_stage) = (z.clone(), 0);
    // Not preallocated from --iters, which may be any number.
    let mut history: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    let mut frames: Vec<Vec<f32>> = Vec::new();
    let mut keep_every = cfg.frames_every;
    let mut last_gz = Vec::new();
    let mut t = 0;
    for (phase, &(stage, updates)) in phases.iter().enumerate() {
        let ball = if stage == 0 {
            None
        } else {
            let x0 = g.forward_between(&mut Tape::new(gpu), &x, x_stage, stage, false, true);
            // Each row's L1 budget: ilo_radius x the L1 norm of its starting activation.
            let values = x0.try_to_vec(gpu)?;
            let budgets: Vec<f32> = values.chunks(values.len() / rows).map(|row| cfg.ilo_radius * row.iter().map(|v| v.abs()).sum::<f32>()).collect();
            let h = Tensor::empty(gpu, x0.shape());
            gpu.copy(x0.buffer(), h.buffer(), (x0.numel() * 4) as u64);
            x = h.with_grad(true);
            Some(L1Ball::new(gpu, x0.view(x0.shape()).with_grad(false), &budgets))
        };
        x_stage = stage;
        let obj = Objective { stage, ..objective };
        let mut adam = Adam::new(gpu, cfg.adam, &[&x]);
        let last_phase = phase + 1 == phases.len();
        // The last phase ends with one more evaluation, of the final x.
        for u in 0..updates + last_phase as usize {
            if stop.load(Ordering::Relaxed) {
                return Err(Error::new(format!("interrupted at iteration {t}; nothing was written")));
            }
            let update = (u < updates).then_some(&mut adam);
            let (contextual, prior, gz) = inpaint::iteration(g, d, &x, update, &target, &weight, &obj, ball.as_ref(), &mut Tape::new(gpu));
            gpu.flush();
            let (cv, pv) = (contextual.try_to_vec(gpu)?, prior.try_to_vec(gpu)?);
            if cv.iter().chain(&pv).any(|x| !x.is_finite()) {
                return Err(Error::new(format!("the completion loss became {} at iteration {t}; try a lower --lr", cv[0] + pv[0])));
            }
            let final_one = last_phase && u == updates;
            let frame_due = cfg.frames_every > 0 && t % cfg.frames_every == 0;
            let images = if frame_due || final_one { Some(gz.try_to_vec(gpu)?) } else { None };
            tick(&Step { t, contextual: &cv, prior: &pv, generated: images.as_deref() });
            history.push((cv, pv));
            if let Some(images) = images {
                if final_one {
                    last_gz = images.clone();
                }
                if frame_due && t % keep_every == 0 {
                    frames.push(images);
                    if frames.len() > MAX_KEPT_FRAMES {
                        // Keep every other frame (those at multiples of twice the spacing).
                        frames = frames.into_iter().step_by(2).collect();
                        keep_every *= 2;
                    }
                }
            }
            t += 1;
        }
    }
    let final_z = z.try_to_vec(gpu)?;

    let Some(last) = history.last() else { unreachable!("the last phase evaluates at least once") };
    let total = |row: usize| last.0[row] + last.1[row];
    let results = (0..items.len())
        .map(|i| {
            let best = (0..r).min_by(|&a, &b| total(i * r + a).total_cmp(&total(i * r + b))).unwrap_or(0);
            let row = i * r + best;
            Optimised {
                generated: last_gz[row * plane..(row + 1) * plane].to_vec(),
                z: final_z[row * zd..(row + 1) * zd].to_vec(),
                losses: history.iter().map(|(cv, pv)| (cv[row], pv[row])).collect(),
                frames: frames.iter().map(|f| f[row * plane..(row + 1) * plane].to_vec()).collect(),
                restart: best,
            }
        })
        .collect();
    Ok(results)
}

/// How far restarts 1.. start from the encoder's z: this times the row's random start.
pub const ENCODER_JITTER: f32 = 0.25;

/// Starting latents from the encoder: per item E(y * M, M) (BN in eval mode), restart 0
/// exactly there and restart k > 0 at E's z + ENCODER_JITTER x its random start (clipped to
/// [-1, 1] as z is). `random`: [items x restarts, z_dim].
fn encoder_start(gpu: &Gpu, e: &Encoder, items: &[&Item], random: &[f32], restarts: usize) -> Result<Vec<f32>> {
    let (c, s, zd) = (e.arch.channels, e.arch.image_size, e.arch.z_dim);
    let y: Vec<f32> = items.iter().flat_map(|it| it.image.iter().copied()).collect();
    let m: Vec<f32> = items.iter().flat_map(|it| it.mask.iter().copied()).collect();
    let x = Tensor::from_slice(gpu, &[items.len(), c + 1, s, s], &Encoder::input(&y, &m, items.len(), c, s));
    let z = e.forward(&mut Tape::new(gpu), &x, false, true).try_to_vec(gpu)?;
    let mut out = Vec::with_capacity(random.len());
    for i in 0..items.len() {
        for k in 0..restarts {
            let row = i * restarts + k;
            let jitter = if k == 0 { 0.0 } else { ENCODER_JITTER };
            out.extend((0..zd).map(|j| (z[i * zd + j] + jitter * random[row * zd + j]).clamp(-1.0, 1.0)));
        }
    }
    Ok(out)
}
