//! `dcgan-inpaint train`: the DCGAN training loop.
//!
//! One step = one discriminator update on a real and a generated batch, then `g_steps`
//! generator updates (non-saturating loss), all recorded into one submission; the two
//! losses are read back after it. Every random draw comes from (seed, what, step), so a run
//! resumed from its checkpoint continues bit for bit like an uninterrupted one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::io::data::Dataset;
use crate::io::picture;
use crate::io::weights::{self, HostTensor};
use crate::model::weights as model_weights;
use crate::model::Architecture;
use crate::model::gan::{GanState, Trainer, uniform_z};
use crate::rng::Rng;

// The random stream of the sample grid's z (see Rng::derived; model::gan names the others).
const SAMPLE_Z: u64 = 4;

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub arch: Architecture,
    pub data: PathBuf,
    pub exclude: Vec<String>,
    pub flip: bool,
    pub batch: usize,
    pub epochs: u64,
    /// Stop after this many steps in total (overrides `epochs`).
    pub steps: Option<u64>,
    pub out: PathBuf,
    pub seed: u64,
    pub adam: AdamConfig,
    pub g_steps: usize,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub resume: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Steps completed in total (including those before a resume).
    pub steps: u64,
    pub d_loss: f32,
    pub g_loss: f32,
    pub images_per_s: f64,
    pub interrupted: bool,
}

pub fn checkpoint_path(out: &Path) -> PathBuf {
    out.join("checkpoint.safetensors")
}

pub fn log_path(out: &Path) -> PathBuf {
    out.join("log.csv")
}

/// The most generator updates per discriminator update.
pub const MAX_G_STEPS: usize = 100;

fn config_json(cfg: &TrainConfig) -> serde_json::Value {
    model_weights::train_config_json(&cfg.data.display().to_string(), &cfg.exclude, cfg.flip, cfg.batch, cfg.g_steps, &cfg.adam)
}

fn save_checkpoint(gpu: &Gpu, cfg: &TrainConfig, data: &Dataset, state: &GanState, step: u64, epoch: u64) -> Result<()> {
    let tensors: Vec<HostTensor> = model_weights::snapshot(gpu, &state.named_with_optimiser())?;
    let mut meta = model_weights::base_metadata(&cfg.arch, "checkpoint");
    meta.insert("step".into(), step.to_string());
    meta.insert("epoch".into(), epoch.to_string());
    meta.insert("seed".into(), cfg.seed.to_string());
    meta.insert("adam_g_step".into(), state.adam_g.step.to_string());
    meta.insert("adam_d_step".into(), state.adam_d.step.to_string());
    meta.insert("train_config".into(), config_json(cfg).to_string());
    meta.insert("data_images".into(), data.len().to_string());
    meta.insert("data_fingerprint".into(), format!("{:016x}", data.fingerprint()));
    weights::write(&checkpoint_path(&cfg.out), &tensors, meta, false)
}

/// Refuse an output folder that would mix with the training data: the data folder itself,
/// or one that holds it (a folder inside the data is fine: it is marked as results and
/// never read as data), or a file.
fn check_out(cfg: &TrainConfig) -> Result<()> {
    if cfg.out.exists() && !cfg.out.is_dir() {
        return Err(Error::new(format!("--out {} is a file; --out names a folder for the checkpoint, log and samples", cfg.out.display())));
    }
    if let (Ok(out), Ok(data)) = (std::fs::canonicalize(&cfg.out), std::fs::canonicalize(&cfg.data))
        && data.starts_with(&out)
    {
        return Err(Error::new(format!(
            "--out {} is the data folder {} or holds it: the run's samples would become training data; choose another --out",
            cfg.out.display(),
            cfg.data.display()
        )));
    }
    Ok(())
}

/// Restore `state` from the checkpoint in `cfg.out`; returns the completed step count. The
/// data must be the data the checkpoint was trained on (its fingerprint), or the run would
/// not continue as one; other settings that differ are accepted with a warning.
fn load_checkpoint(gpu: &Gpu, cfg: &TrainConfig, data: &Dataset, state: &mut GanState, warn: &mut dyn FnMut(String)) -> Result<u64> {
    let path = checkpoint_path(&cfg.out);
    if !path.exists() {
        return Err(Error::new(format!("--resume: there is no checkpoint at {}", path.display())));
    }
    let file = weights::read(&path)?;
    if file.meta("kind")? != "checkpoint" {
        return Err(Error::new(format!(
            "{} is not a training checkpoint (its kind is \"{}\", e.g. weights from `export`); --resume continues from the checkpoint a run wrote to OUT",
            path.display(),
            file.meta("kind")?
        )));
    }
    model_weights::expect_architecture(&file, &cfg.arch)?;
    for key in ["seed", "batch"] {
        let saved = if key == "seed" {
            file.meta_u64("seed")?
        } else {
            let cfg_json: serde_json::Value = serde_json::from_str(file.meta("train_config")?).unwrap_or_default();
            cfg_json["batch"].as_u64().unwrap_or(0)
        };
        let now = if key == "seed" { cfg.seed } else { cfg.batch as u64 };
        if saved != now {
            return Err(Error::new(format!(
                "{} was trained with --{key} {saved}; resume with the same --{key} (got {now})",
                path.display()
            )));
        }
    }
    match (file.meta("data_fingerprint"), file.meta("data_images")) {
        (Ok(print), Ok(images)) => {
            if print != format!("{:016x}", data.fingerprint()) {
                return Err(Error::new(format!(
                    "the training data changed since {} was written ({images} images then, {} now under {}): resume with the same --data and --exclude, or start a new run with another --out",
                    path.display(),
                    data.len(),
                    cfg.data.display()
                )));
            }
        }
        _ => warn(format!("{} does not record its training data (an older checkpoint): the data could not be checked", path.display())),
    }
    let saved: serde_json::Value = file.meta("train_config").ok().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let now = config_json(cfg);
    for key in ["flip", "g_steps", "lr", "beta1", "beta2", "exclude"] {
        if !saved[key].is_null() && saved[key] != now[key] {
            warn(format!("--resume with {key} {} (the checkpoint was trained with {}): the run goes on with the new setting", now[key], saved[key]));
        }
    }
    model_weights::load_into(&file, gpu, &state.named_with_optimiser())?;
    state.adam_g.step = file.meta_u64("adam_g_step")?;
    state.adam_d.step = file.meta_u64("adam_d_step")?;
    file.meta_u64("step")
}

/// Keep only the log rows of steps up to `step` (after a resume), or start a new log; the
/// kept rows are rewritten atomically, then the file is opened to append a row per step.
fn open_log(path: &Path, keep_up_to: u64) -> Result<std::fs::File> {
    let header = picture::LOG_HEADER;
    let mut kept = vec![header.to_string()];
    if keep_up_to > 0 {
        if let Ok(text) = std::fs::read_to_string(path) {
            kept.extend(
                text.lines()
                    .skip(1)
                    .filter(|l| l.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= keep_up_to))
                    .map(String::from),
            );
        }
    }
    crate::io::output::write_atomic(path, format!("{}\n", kept.join("\n")).as_bytes())?;
    std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

fn write_samples(gpu: &Gpu, cfg: &TrainConfig, state: &GanState, z: &Tensor, completed: u64) -> Result<()> {
    let dir = cfg.out.join("samples");
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    let images = state.g.forward(&mut Tape::new(gpu), z, false, true).try_to_vec(gpu)?;
    let n = z.shape()[0];
    let img = picture::grid(&images, n, cfg.arch.channels, cfg.arch.image_size, 8);
    picture::save_png(&img, &dir.join(format!("step_{completed:06}.png")))
}

/// Check the settings before any work (also before the adapter is opened).
pub fn validate(cfg: &TrainConfig) -> Result<()> {
    cfg.arch.validate()?;
    cfg.adam.validate()?;
    if cfg.batch == 0 || cfg.g_steps == 0 {
        return Err(Error::new("--batch and --g-steps must be at least 1"));
    }
    if cfg.g_steps > MAX_G_STEPS {
        return Err(Error::new(format!("--g-steps must be at most {MAX_G_STEPS} (the DCGAN recipe uses 2), got {}", cfg.g_steps)));
    }
    check_out(cfg)
}

/// Train, writing log, samples and checkpoints under `cfg.out`. `stop` (Ctrl-C, SIGTERM,
/// SIGHUP) ends the run after the current step with a checkpoint.
pub fn train(gpu: &Gpu, cfg: &TrainConfig, stop: &AtomicBool, mut report: impl FnMut(TrainEvent)) -> Result<TrainSummary> {
    validate(cfg)?;
    if !cfg.resume && checkpoint_path(&cfg.out).exists() {
        return Err(Error::new(format!(
            "{} already holds a checkpoint; pass --resume to continue it, or choose another --out",
            cfg.out.display()
        )));
    }
    cfg.arch.check_fits(gpu, cfg.batch, "use a smaller --batch", "use a smaller --gf, --df or --image-size")?;
    let dataset = Dataset::load(&cfg.data, &cfg.exclude, cfg.arch.channels, cfg.arch.image_size)?;
    for line in &dataset.skipped {
        report(TrainEvent::Warning(line.clone()));
    }
    if dataset.len() < cfg.batch {
        return Err(Error::new(format!(
            "{} holds {} images, fewer than one batch of {}; lower --batch",
            cfg.data.display(),
            dataset.len(),
            cfg.batch
        )));
    }
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::new(format!("cannot create {}: {e}", cfg.out.display())))?;
    crate::io::output::mark_results_folder(&cfg.out, "train")?;

    let mut trainer = Trainer::new(gpu, &cfg.arch, cfg.batch, cfg.g_steps, cfg.seed, cfg.flip, cfg.adam);
    let start = if cfg.resume { load_checkpoint(gpu, cfg, &dataset, &mut trainer.state, &mut |w| report(TrainEvent::Warning(w)))? } else { 0 };
    trainer.steps = start;
    let per_epoch = trainer.steps_per_epoch(&dataset);
    let total = cfg.steps.unwrap_or(cfg.epochs * per_epoch);
    let mut log = open_log(&log_path(&cfg.out), start)?;

    let (b, zd) = (cfg.batch, cfg.arch.z_dim);
    let sample_z = Tensor::from_slice(gpu, &[64, zd], &uniform_z(&mut Rng::derived(cfg.seed, &[SAMPLE_Z]), 64, zd));

    let mut summary = TrainSummary { steps: start, d_loss: f32::NAN, g_loss: f32::NAN, images_per_s: 0.0, interrupted: false };
    let mut rate = None::<f64>;
    for step in start..total {
        if stop.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let t0 = Instant::now();
        let epoch = step / per_epoch;
        let (d_loss, g_loss) = trainer.record_step(gpu, &dataset);
        gpu.flush();

        // A lost device cannot hand back its state: say where the last good one is.
        let read = |t: &Tensor| {
            t.try_to_vec(gpu).map(|v| v[0]).map_err(|e| {
                let last = if checkpoint_path(&cfg.out).exists() { "the last checkpoint is kept" } else { "no checkpoint was written yet" };
                Error::new(format!("{e} at step {}; {last} at {}; continue with --resume", step + 1, checkpoint_path(&cfg.out).display()))
            })
        };
        let (d_value, g_value) = (read(&d_loss)?, read(&g_loss)?);
        let completed = step + 1;
        if !d_value.is_finite() || !g_value.is_finite() {
            let kept = if checkpoint_path(&cfg.out).exists() { "the last good checkpoint is kept" } else { "no checkpoint was written yet" };
            return Err(Error::new(format!(
                "training diverged at step {completed}: d_loss = {d_value}, g_loss = {g_value}; {kept} at {}. Try a lower --lr",
                checkpoint_path(&cfg.out).display()
            )));
        }
        let dt = t0.elapsed().as_secs_f64();
        let r = b as f64 / dt;
        rate = Some(rate.map_or(r, |old| 0.9 * old + 0.1 * r));
        writeln!(log, "{completed},{epoch},{d_value},{g_value},{r:.3}").map_err(|e| Error::new(format!("cannot write log: {e}")))?;
        summary = TrainSummary { steps: completed, d_loss: d_value, g_loss: g_value, images_per_s: rate.unwrap(), interrupted: false };
        report(TrainEvent::Step(Progress { step: completed, total, epoch, summary: summary.clone() }));

        if cfg.sample_every > 0 && completed % cfg.sample_every == 0 {
            write_samples(gpu, cfg, &trainer.state, &sample_z, completed)?;
        }
        if cfg.checkpoint_every > 0 && completed % cfg.checkpoint_every == 0 {
            save_checkpoint(gpu, cfg, &dataset, &trainer.state, completed, completed / per_epoch)?;
        }
    }
    log.flush().ok();
    if summary.steps > start || !checkpoint_path(&cfg.out).exists() {
        save_checkpoint(gpu, cfg, &dataset, &trainer.state, summary.steps, summary.steps / per_epoch)?;
        write_samples(gpu, cfg, &trainer.state, &sample_z, summary.steps)?;
    }
    if summary.steps > 0 {
        picture::plot_log(&log_path(&cfg.out), &cfg.out.join("loss.png"))?;
    }
    Ok(summary)
}

/// What the caller is told as the run goes on.
pub enum TrainEvent {
    /// After every step.
    Step(Progress),
    /// Something accepted that the user may not expect (a file passed over, a setting that
    /// changed on resume).
    Warning(String),
}

/// Where the run stands after a step.
pub struct Progress {
    pub step: u64,
    pub total: u64,
    pub epoch: u64,
    pub summary: TrainSummary,
}
