//! `dcgan-inpaint complete`: semantic inpainting by gradient descent on the latent z
//! (Yeh et al.; Amos' dcgan-completion).
//!
//! For each image y with mask M (1 = known) and R random starts z, minimise
//!   L(z) = sum_i W_i |G(z)_i - y_i|  +  lambda * prior(D(G(z)))
//! with Adam, clipping z to [-1, 1] after every step. W is M, or the paper's weighted mask.
//! prior is log(1 - D) ("paper") or -log D ("nonsaturating"), written with the logit l as
//! -softplus(l) and softplus(-l). G and D run in eval mode and are frozen, so the backward
//! pass computes gradients for z alone. Each image's loss is its own term of the sum, so its
//! z gets its own gradient whatever the batch. The best start is blended into y.

pub mod mask;
pub mod metrics;
pub mod poisson;
pub mod quality;

use std::path::{Path, PathBuf};

use crate::data;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::{Discriminator, Generator};
use crate::npy;
use crate::ops::adam::{self, AdamConfig};
use crate::ops::elementwise;
use crate::picture;
use crate::rng::Rng;
use crate::tape::Tape;
use crate::tensor::Tensor;
use crate::weights;
use mask::{LOWRES_BLOCK, MaskKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    /// log(1 - D(G(z))), as in the paper
    Paper,
    /// -log D(G(z)), as in Amos' code
    NonSaturating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    Poisson,
    None,
}

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
    /// Rows (images x restarts) optimised together on the GPU.
    pub batch: usize,
    pub out: PathBuf,
    pub frames_every: usize,
    pub save_z: bool,
    pub z_init: Option<PathBuf>,
    pub seed: u64,
    pub eval: bool,
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

/// The optimisation's result for one image (its best restart).
pub struct Optimised {
    /// G(z) for the final z, [c, s, s]
    pub generated: Vec<f32>,
    pub z: Vec<f32>,
    /// (contextual, prior) per iteration, row t before update t; the last row is the final z.
    pub losses: Vec<(f32, f32)>,
    /// M * y + (1 - M) * G(z) every `frames_every` iterations.
    pub frames: Vec<Vec<f32>>,
    pub restart: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub psnr: f64,
    pub ssim: f64,
    pub psnr_hole: f64,
    pub ssim_hole: f64,
}

/// Image files named on the command line, folders expanded (recursively, sorted).
pub fn list_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(data::list_images(input, &[])?);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::new(format!("input {} does not exist", input.display())));
        }
    }
    if files.is_empty() {
        return Err(Error::new("no input images: name image files or folders holding them"));
    }
    Ok(files)
}

/// Load the inputs and make their masks.
pub fn load_items(cfg: &CompleteConfig, channels: usize, size: usize) -> Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    for (index, path) in list_inputs(&cfg.inputs)?.into_iter().enumerate() {
        let image = data::load_image(&path, channels, size)?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mask = match &cfg.mask_dir {
            Some(dir) => {
                let file = dir.join(format!("{stem}.png"));
                if !file.exists() {
                    return Err(Error::new(format!("no mask for {}: expected {}", path.display(), file.display())));
                }
                mask::from_png(&file, size)?
            }
            None => mask::make(&cfg.mask, size, cfg.seed, index as u64)?,
        };
        let kind = if cfg.mask_dir.is_some() { MaskKind::File(PathBuf::new()) } else { cfg.mask.clone() };
        mask::check(&mask, &kind, &path.display().to_string())?;
        // Unique output folder names even when two inputs share a stem.
        let mut name = stem.clone();
        let mut k = 2;
        while items.iter().any(|it| it.name == name) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        items.push(Item { name, path, image, mask });
    }
    Ok(items)
}

/// The per-row loss terms of the current z: contextual [B], lambda-weighted prior [B], and
/// G(z) [B, c, s, s]. Records on `tape`; `target` is y (or its block means for lowres).
fn losses(tape: &mut Tape, g: &Generator, d: &Discriminator, z: &Tensor, target: &Tensor, weight: &Tensor, lowres: bool, cfg: &CompleteConfig) -> (Tensor, Tensor, Tensor) {
    let b = z.shape()[0];
    let gz = g.forward(tape, z, false, true); //                       [B, c, s, s]
    let context_items = if lowres {
        let pooled = tape.avg_pool(&gz, LOWRES_BLOCK); //               [B, c, s/8, s/8]
        let diff = tape.sub(&pooled, target);
        tape.abs(&diff)
    } else {
        let diff = tape.sub(&gz, target);
        let abs = tape.abs(&diff);
        tape.mul(&abs, weight)
    };
    let per_row = context_items.numel() / b;
    let context_items = tape.reshape(&context_items, &[b, per_row]);
    let contextual = tape.sum_axis(&context_items, 1); //               [B]
    let logits = d.forward(tape, &gz, false, true); //                  [B, 1]
    let logits = tape.reshape(&logits, &[b]);
    let prior = match cfg.prior {
        Prior::Paper => {
            let sp = tape.softplus(&logits); //                         log(1 - D) = -softplus(l)
            tape.scale(&sp, -cfg.lam)
        }
        Prior::NonSaturating => {
            let neg = tape.scale(&logits, -1.0); //                     -log D = softplus(-l)
            let sp = tape.softplus(&neg);
            tape.scale(&sp, cfg.lam)
        }
    };
    (contextual, prior, gz)
}

/// One iteration, recorded but not submitted: the losses at z and G(z), then (when `step`
/// is given, counting from 1) an Adam update of z with moments `mv` and the clip to [-1, 1].
#[allow(clippy::too_many_arguments)]
pub fn iteration(gpu: &Gpu, g: &Generator, d: &Discriminator, z: &Tensor, mv: (&Tensor, &Tensor), target: &Tensor, weight: &Tensor, lowres: bool, cfg: &CompleteConfig, step: Option<u64>) -> (Tensor, Tensor, Tensor) {
    let mut tape = Tape::new(gpu);
    let (contextual, prior, gz) = losses(&mut tape, g, d, z, target, weight, lowres, cfg);
    if let Some(step) = step {
        let total = tape.add(&contextual, &prior);
        let loss = tape.sum(&total);
        let grads = tape.backward(&loss);
        let dz = grads.get(z).expect("z has a gradient");
        adam::update(gpu, &cfg.adam, step, z, dz, mv.0, mv.1);
        elementwise::clamp(gpu, z, -1.0, 1.0);
    }
    (contextual, prior, gz)
}

/// Optimise all rows of one batch: `items` x `restarts`. Returns one result per item.
fn optimise_batch(gpu: &Gpu, g: &Generator, d: &Discriminator, items: &[&Item], first_index: usize, z_init: Option<&[f32]>, cfg: &CompleteConfig, mut tick: impl FnMut(f32)) -> Result<Vec<Optimised>> {
    let arch = g.arch;
    let (c, s, zd, r) = (arch.channels, arch.image_size, arch.z_dim, cfg.restarts);
    let rows = items.len() * r;
    let plane = c * s * s;
    let lowres = cfg.mask == MaskKind::LowRes && cfg.mask_dir.is_none();

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
    let target = if lowres { crate::ops::pool::avg_pool_forward(gpu, &y_t, LOWRES_BLOCK) } else { y_t.clone() };
    let weight = Tensor::from_slice(gpu, &[rows, c, s, s], &w);

    let z0: Vec<f32> = match z_init {
        Some(all) => all[first_index * r * zd..(first_index + items.len()) * r * zd].to_vec(),
        None => (0..rows)
            .flat_map(|row| {
                let (i, k) = (first_index + row / r, row % r);
                Rng::derived(cfg.seed, &[0x2E, i as u64, k as u64]).uniform_vec(zd, -1.0, 1.0)
            })
            .collect(),
    };
    let z = Tensor::from_slice(gpu, &[rows, zd], &z0).with_grad(true);
    let (m, v) = (Tensor::zeros(gpu, &[rows, zd]), Tensor::zeros(gpu, &[rows, zd]));

    let mut history: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(cfg.iters + 1);
    let mut frames: Vec<Vec<f32>> = Vec::new();
    let mut last_gz = Vec::new();
    for t in 0..=cfg.iters {
        let (contextual, prior, gz) = iteration(gpu, g, d, &z, (&m, &v), &target, &weight, lowres, cfg, (t < cfg.iters).then_some(t as u64 + 1));
        gpu.flush();
        let (cv, pv) = (contextual.to_vec(gpu), prior.to_vec(gpu));
        if cv.iter().chain(&pv).any(|x| !x.is_finite()) {
            return Err(Error::new(format!("the completion loss became {} at iteration {t}; try a lower --lr", cv[0] + pv[0])));
        }
        tick((cv.iter().sum::<f32>() + pv.iter().sum::<f32>()) / rows as f32);
        history.push((cv, pv));
        let frame_due = cfg.frames_every > 0 && t % cfg.frames_every == 0;
        if frame_due || t == cfg.iters {
            let images = gz.to_vec(gpu);
            if frame_due {
                frames.push(images.clone());
            }
            if t == cfg.iters {
                last_gz = images;
            }
        }
    }
    let final_z = z.to_vec(gpu);

    let mut results = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let last = &history[cfg.iters];
        let best = (0..r).min_by(|&a, &b| {
            let ta = last.0[i * r + a] + last.1[i * r + a];
            let tb = last.0[i * r + b] + last.1[i * r + b];
            ta.total_cmp(&tb)
        });
        let row = i * r + best.unwrap_or(0);
        let generated = last_gz[row * plane..(row + 1) * plane].to_vec();
        results.push(Optimised {
            z: final_z[row * zd..(row + 1) * zd].to_vec(),
            losses: history.iter().map(|(cv, pv)| (cv[row], pv[row])).collect(),
            frames: frames.iter().map(|f| overlay(item, &f[row * plane..(row + 1) * plane], c, s)).collect(),
            generated,
            restart: row % r,
        });
    }
    Ok(results)
}

/// M * y + (1 - M) * generated.
fn overlay(item: &Item, generated: &[f32], c: usize, s: usize) -> Vec<f32> {
    let plane = s * s;
    (0..c * plane).map(|i| { let m = item.mask[i % plane]; m * item.image[i] + (1.0 - m) * generated[i] }).collect()
}

/// The completed image: blended (Poisson or overlay); `full` keeps the projection G(z);
/// `lowres` corrects each block of G(z) to the block mean of y.
pub fn compose(item: &Item, generated: &[f32], c: usize, s: usize, cfg: &CompleteConfig, blend: Blend) -> Result<Vec<f32>> {
    let plane = s * s;
    if cfg.mask_dir.is_none() && cfg.mask == MaskKind::Full {
        return Ok(generated.to_vec());
    }
    if cfg.mask_dir.is_none() && cfg.mask == MaskKind::LowRes {
        let (f, shape) = (LOWRES_BLOCK, [1, c, s, s]);
        let (py, pg) = (crate::ops::pool::cpu::avg_pool_forward(&item.image, &shape, f), crate::ops::pool::cpu::avg_pool_forward(generated, &shape, f));
        let delta: Vec<f32> = py.iter().zip(&pg).map(|(a, b)| (a - b) * (f * f) as f32).collect();
        let up = crate::ops::pool::cpu::avg_pool_grad_input(&delta, &shape, f);
        return Ok(generated.iter().zip(&up).map(|(g, u)| (g + u).clamp(-1.0, 1.0)).collect());
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
        let shape = [1, c, s, s];
        let pooled = crate::ops::pool::cpu::avg_pool_forward(&item.image, &shape, LOWRES_BLOCK);
        let scaled: Vec<f32> = pooled.iter().map(|v| v * (LOWRES_BLOCK * LOWRES_BLOCK) as f32).collect();
        return crate::ops::pool::cpu::avg_pool_grad_input(&scaled, &shape, LOWRES_BLOCK);
    }
    let plane = s * s;
    (0..c * plane).map(|i| if item.mask[i % plane] > 0.5 { item.image[i] } else { 0.0 }).collect()
}

pub fn evaluate(item: &Item, completed: &[f32], c: usize, s: usize) -> Metrics {
    let all = vec![true; s * s];
    let hole: Vec<bool> = item.mask.iter().map(|&m| m < 0.5).collect();
    Metrics {
        psnr: metrics::psnr(completed, &item.image, &all, c),
        ssim: metrics::ssim(completed, &item.image, &all, c, s),
        psnr_hole: metrics::psnr(completed, &item.image, &hole, c),
        ssim_hole: metrics::ssim(completed, &item.image, &hole, c, s),
    }
}

fn write_gif(frames: &[Vec<f32>], c: usize, s: usize, path: &Path) -> Result<()> {
    let scale = (192 / s).max(1) as u32;
    let file = std::fs::File::create(path).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    let mut encoder = image::codecs::gif::GifEncoder::new(file);
    encoder.set_repeat(image::codecs::gif::Repeat::Infinite).ok();
    for (k, f) in frames.iter().enumerate() {
        let rgb = picture::to_rgb8(f, c, s);
        let big = image::imageops::resize(&rgb, s as u32 * scale, s as u32 * scale, image::imageops::FilterType::Nearest);
        let rgba = image::DynamicImage::ImageRgb8(big).to_rgba8();
        let delay = if k + 1 == frames.len() { 1500 } else { 120 };
        let frame = image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(delay, 1));
        encoder.encode_frame(frame).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// What the caller is told as the work goes on.
pub enum Event {
    Start { images: usize, total_iterations: usize },
    Iteration { mean_loss: f32 },
}

pub struct Outcome {
    pub names: Vec<String>,
    pub metrics: Option<Vec<Metrics>>,
    pub summary: PathBuf,
}

/// G and D of a weights (or checkpoint) file.
pub fn load_model(gpu: &Gpu, path: &Path) -> Result<(Generator, Discriminator)> {
    let file = weights::read(path)?;
    let arch = file.architecture()?;
    let g = Generator::init(gpu, &arch, &mut Rng::new(0));
    let d = Discriminator::init(gpu, &arch, &mut Rng::new(0));
    file.load_into(gpu, &g.named())?;
    file.load_into(gpu, &d.named())?;
    Ok((g, d))
}

/// Optimise every item in batches of `cfg.batch` rows; one result per item.
pub fn optimise(gpu: &Gpu, g: &Generator, d: &Discriminator, items: &[Item], z_init: Option<&[f32]>, cfg: &CompleteConfig, mut tick: impl FnMut(f32)) -> Result<Vec<Optimised>> {
    if cfg.restarts == 0 || cfg.batch == 0 {
        return Err(Error::new("--restarts and --batch must be at least 1"));
    }
    let per_batch = (cfg.batch / cfg.restarts).max(1);
    let mut results = Vec::new();
    for (k, chunk) in items.chunks(per_batch).enumerate() {
        let refs: Vec<&Item> = chunk.iter().collect();
        results.extend(optimise_batch(gpu, g, d, &refs, k * per_batch, z_init, cfg, &mut tick)?);
    }
    Ok(results)
}

/// Run the completion job; writes everything under `cfg.out`.
pub fn complete(gpu: &Gpu, cfg: &CompleteConfig, mut report: impl FnMut(Event)) -> Result<Outcome> {
    if cfg.restarts == 0 || cfg.batch == 0 {
        return Err(Error::new("--restarts and --batch must be at least 1"));
    }
    let (g, d) = load_model(gpu, &cfg.weights)?;
    let arch = g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let items = load_items(cfg, c, s)?;
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
            Some(data)
        }
        None => None,
    };
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::new(format!("cannot create {}: {e}", cfg.out.display())))?;

    let per_batch = (cfg.batch / cfg.restarts).max(1);
    report(Event::Start { images: items.len(), total_iterations: items.len().div_ceil(per_batch) * (cfg.iters + 1) });
    let results = optimise(gpu, &g, &d, &items, z_init.as_deref(), cfg, |mean_loss| report(Event::Iteration { mean_loss }))?;

    let lowres = cfg.mask == MaskKind::LowRes && cfg.mask_dir.is_none();
    let mut grid_rows = Vec::new();
    let mut all_metrics = Vec::new();
    for (item, r) in items.iter().zip(&results) {
        let completed = compose(item, &r.generated, c, s, cfg, cfg.blend)?;
        let dir = cfg.out.join(&item.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        let masked = masked_view(item, c, s, lowres);
        let save = |img: &[f32], name: &str| picture::save_png(&picture::to_rgb8(img, c, s), &dir.join(name));
        save(&masked, "masked.png")?;
        save(&r.generated, "generated.png")?;
        save(&completed, "completed.png")?;
        let row: Vec<f32> = [&masked, &r.generated, &completed, &item.image].iter().flat_map(|v| v.iter().copied()).collect();
        picture::save_png(&picture::grid(&row, 4, c, s, 4), &dir.join("summary.png"))?;
        grid_rows.extend(row);
        if !r.frames.is_empty() {
            let mut frames = r.frames.clone();
            frames.push(completed.clone());
            write_gif(&frames, c, s, &dir.join("progress.gif"))?;
        }
        let mut csv = String::from("iteration,contextual,prior,total\n");
        for (t, (cv, pv)) in r.losses.iter().enumerate() {
            csv.push_str(&format!("{t},{cv},{pv},{}\n", cv + pv));
        }
        std::fs::write(dir.join("loss.csv"), csv).map_err(|e| Error::new(format!("cannot write loss.csv: {e}")))?;
        if cfg.save_z {
            npy::write_f32(&dir.join("z.npy"), &[1, zd], &r.z)?;
        }
        if cfg.eval {
            all_metrics.push(evaluate(item, &completed, c, s));
        }
    }
    let summary = cfg.out.join("summary.png");
    picture::save_png(&picture::grid(&grid_rows, items.len() * 4, c, s, 4), &summary)?;
    let metrics = if cfg.eval {
        write_metrics_json(&cfg.out.join("metrics.json"), &items, &all_metrics)?;
        Some(all_metrics)
    } else {
        None
    };
    Ok(Outcome { names: items.iter().map(|i| i.name.clone()).collect(), metrics, summary })
}

/// Mean of the finite values (a hole metric is NaN when an image has no hole).
pub fn mean_metrics(m: &[Metrics]) -> Metrics {
    let mean = |f: &dyn Fn(&Metrics) -> f64| {
        let v: Vec<f64> = m.iter().map(f).filter(|x| x.is_finite()).collect();
        if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    Metrics { psnr: mean(&|x| x.psnr), ssim: mean(&|x| x.ssim), psnr_hole: mean(&|x| x.psnr_hole), ssim_hole: mean(&|x| x.ssim_hole) }
}

fn write_metrics_json(path: &Path, items: &[Item], m: &[Metrics]) -> Result<()> {
    let num = |x: f64| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null };
    let row = |name: &str, x: &Metrics| {
        serde_json::json!({"name": name, "psnr": num(x.psnr), "ssim": num(x.ssim), "psnr_hole": num(x.psnr_hole), "ssim_hole": num(x.ssim_hole)})
    };
    let images: Vec<_> = items.iter().zip(m).map(|(i, x)| row(&i.name, x)).collect();
    let json = serde_json::json!({"images": images, "mean": row("mean", &mean_metrics(m))});
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}
