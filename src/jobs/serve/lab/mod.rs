//! The Lab: a DCGAN training run the page starts, pauses and steps, on the server's one GPU
//! worker. The worker runs it in chunks of steps whenever no completion job or G(z) request
//! waits (those go first), so the completion page stays responsive while it trains.
//!
//! The API thread only writes what it wants (`Lab::command`, `Lab::upload`) and reads what
//! the worker last published (`Lab::snapshot`, the views); the worker owns the run itself
//! (`Session`: the `Trainer`, its data, the fixed z of the sample grids) and rebuilds it
//! when a start or reset asks. What the views compute is in `views.rs`.

pub mod upload;
pub mod views;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::io::data::Dataset;
use crate::io::{data, picture};
use crate::model::Architecture;
use crate::model::gan::{Trainer, uniform_z};
use crate::rng::Rng;
use super::queue::Model;
use views::{KernelView, LayerRow, LayerView, NormRow};

/// A model size the Lab trains, with its batch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    #[serde(skip)]
    pub arch: Architecture,
    pub batch: usize,
}

const fn faces(image_size: usize, width: usize) -> Architecture {
    Architecture { image_size, channels: 1, z_dim: 100, gf: width, df: width, kernel: 4 }
}

pub static PRESETS: [Preset; 2] = [
    Preset { name: "tiny", about: "16x16 faces, width 8: learns face-like blobs in a minute on a CPU adapter", arch: faces(16, 8), batch: 16 },
    Preset { name: "small", about: "32x32 faces, width 16: the README's training command", arch: faces(32, 16), batch: 32 },
];

/// Steps one chunk runs at most before the worker looks at its queue again.
pub const CHUNK_STEPS: u64 = 5;
/// A sample grid of the fixed z every this many steps (and after every Step).
pub const SAMPLE_EVERY: u64 = 10;
/// The kernel view profiles one step in this many (and every Step); the layer view is
/// drawn as often. Profiling runs each dispatch alone, so such a step is slower.
pub const VIEWS_EVERY: u64 = 50;
/// Sample grids kept (the oldest go first), rows of the loss table and of the norms.
const KEEP_SAMPLES: usize = 200;
const KEEP_ROWS: usize = 20_000;
/// Uploaded sets: at least one batch of the largest preset, at most this many images, each
/// kept as a small RGBA thumbnail.
pub const MAX_UPLOAD_IMAGES: usize = 5000;
const UPLOAD_SIDE: u32 = 64;
/// Images in a sample grid.
const SAMPLE_GRID: usize = 16;
/// People s37..s40 stay out of training, as for the shipped model (the quality table's faces).
const HELD_OUT: [&str; 2] = ["s3[7-9]_*", "s40_*"];

/// One training step's numbers.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Row {
    pub step: u64,
    pub d_loss: f32,
    pub g_loss: f32,
    /// D's mean probability that the real batch is real, and that G's batch is (before D's
    /// update): D(x) near 1 and D(G(z)) near 0 means D wins; both near 0.5, a standoff.
    pub d_real: f32,
    pub d_fake: f32,
    pub steps_per_s: f64,
    pub images_per_s: f64,
    /// Profiled for the kernel view (its dispatches ran one at a time: slower than others).
    pub profiled: bool,
}

/// The training hyperparameters the page may set (`train`'s flags of the same names).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hyper {
    #[serde(serialize_with = "shortest")]
    pub lr: f32,
    #[serde(serialize_with = "shortest")]
    pub beta1: f32,
    pub g_steps: usize,
    pub seed: u64,
    pub flip: bool,
}

/// An f32 as the f64 of the same shortest decimal (0.0002, not 0.00019999999494757503).
fn shortest<S: serde::Serializer>(x: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(x.to_string().parse().unwrap_or(*x as f64))
}

impl Default for Hyper {
    fn default() -> Hyper {
        let adam = AdamConfig::dcgan();
        Hyper { lr: adam.lr, beta1: adam.beta1, g_steps: 1, seed: 1, flip: true }
    }
}

/// The images a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The bundled Olivetti faces (grey), people s37..s40 held out.
    Faces,
    /// Twemoji (colour), after tools/fetch_twemoji.sh.
    Emoji,
    /// The last set uploaded to /api/v1/lab/data (colour).
    Upload,
}

impl Source {
    pub const ALL: [(&str, Source); 3] = [("faces", Source::Faces), ("emoji", Source::Emoji), ("upload", Source::Upload)];

    pub fn channels(self) -> usize {
        if self == Source::Faces { 1 } else { 3 }
    }
}

/// What a run is: its model size, data and hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    pub preset: &'static Preset,
    pub source: Source,
    pub hyper: Hyper,
}

impl Setup {
    pub fn arch(&self) -> Architecture {
        Architecture { channels: self.source.channels(), ..self.preset.arch }
    }
}

/// A model saved from the Lab: its files, and what the completion page lists.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Saved {
    pub name: String,
    pub about: String,
    pub channels: usize,
    pub size: usize,
    pub z_dim: usize,
    pub max_ilo_layers: usize,
    pub checkpoint: PathBuf,
    pub weights: PathBuf,
}

/// How the last Save went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SaveOutcome {
    pub name: String,
    pub step: u64,
    pub error: Option<String>,
    pub checkpoint: Option<PathBuf>,
    pub weights: Option<PathBuf>,
}

/// What the page is shown: where the run stands.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub preset: Option<&'static str>,
    pub data: Option<Source>,
    pub hyper: Option<Hyper>,
    /// The architecture table of the run's model.
    pub layers: Vec<LayerRow>,
    pub step: u64,
    /// Training on by itself (Start), not paused.
    pub running: bool,
    /// Steps asked for by Step and not yet run.
    pub pending_steps: u64,
    pub rows: Vec<Row>,
    /// Steps that have a sample grid (GET .../samples/{step}.png).
    pub samples: Vec<u64>,
    /// Layer names of `norms`' columns, and one row of norms per sample step.
    pub norm_layers: Vec<String>,
    pub norms: Vec<NormRow>,
    /// The step of the kernel view (GET .../kernels) and of the layer view (.../layers).
    pub kernels_step: Option<u64>,
    pub layers_step: Option<u64>,
    /// The z of the sample grid the layer view shows.
    pub inspect_z: usize,
    /// Images in the uploaded set (0: none).
    pub uploaded: usize,
    /// Models saved from the Lab (on the completion page too), and the last Save.
    pub saved: Vec<String>,
    pub save: Option<SaveOutcome>,
    pub error: Option<String>,
}

/// What the page asks.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start a run of this setup (a run of the same setup continues).
    Start(Setup),
    Pause,
    /// Exactly one more step (only while paused).
    Step,
    /// Forget the run.
    Reset,
    /// Show the layer view of this z of the sample grid.
    Inspect(usize),
    /// Save the run as a model of this name.
    Save(String),
}

/// Where the Lab finds and writes files.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The bundled faces, and the emoji (when fetched).
    pub faces: PathBuf,
    pub emoji: PathBuf,
    /// Saved models go to OUT/NAME/.
    pub out: PathBuf,
}

struct Shared {
    snapshot: Snapshot,
    sample_png: BTreeMap<u64, Vec<u8>>,
    kernels: Option<KernelView>,
    layers: Option<LayerView>,
    /// The setup the run should have; a new one (or a reset) bumps `generation`.
    wanted: Option<Setup>,
    generation: u64,
    /// What the worker is asked besides steps: a layer view, a save.
    inspect: bool,
    save: Option<String>,
    uploaded: std::sync::Arc<Vec<image::RgbaImage>>,
    saved: Vec<Saved>,
}

impl Shared {
    /// Whether the worker has something to do for the run.
    fn busy(&self) -> bool {
        let stepping = (self.snapshot.running || self.snapshot.pending_steps > 0) && self.snapshot.error.is_none();
        self.wanted.is_some() && (stepping || self.inspect || self.save.is_some())
    }
}

pub struct Lab {
    shared: Mutex<Shared>,
    /// Whether the worker has Lab work (checked by the queue without this lock).
    work: AtomicBool,
    config: LabConfig,
}

/// A model name the Lab may save under: a folder name and a weights-file name.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty() && name.len() <= 40 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') && !name.starts_with('-');
    if ok { Ok(()) } else { Err(format!("'{name}' is not a model name: use 1 to 40 letters, digits, '-' or '_'")) }
}

impl Lab {
    pub fn new(config: LabConfig) -> Lab {
        let shared = Shared {
            snapshot: Snapshot::default(),
            sample_png: BTreeMap::new(),
            kernels: None,
            layers: None,
            wanted: None,
            generation: 0,
            inspect: false,
            save: None,
            uploaded: Default::default(),
            saved: Vec::new(),
        };
        Lab { shared: Mutex::new(shared), work: AtomicBool::new(false), config }
    }

    /// Models saved so far, in the order the worker added them to its models.
    pub fn saved(&self) -> Vec<Saved> {
        self.lock().saved.clone()
    }

    pub fn kernels(&self) -> Option<KernelView> {
        self.lock().kernels.clone()
    }

    pub fn layers(&self) -> Option<LayerView> {
        self.lock().layers.clone()
    }

    /// Keep `images` as the set `Source::Upload` trains on (the next start of such a run).
    pub fn upload(&self, images: Vec<image::RgbaImage>) -> Snapshot {
        let mut sh = self.lock();
        sh.snapshot.uploaded = images.len();
        sh.uploaded = std::sync::Arc::new(images);
        sh.snapshot.clone()
    }

    /// An uploaded image as the Lab keeps it: its centre square at most 64 pixels a side.
    pub fn thumbnail(image: &image::DynamicImage) -> image::RgbaImage {
        let square = data::centre_square(image);
        let side = square.width().min(UPLOAD_SIDE);
        square.resize_exact(side, side, image::imageops::FilterType::Triangle).to_rgba8()
    }

    /// Mark the run failed (a panic in the worker's chunk).
    pub fn failed(&self, message: &str) {
        let generation = self.lock().generation;
        fail(self, generation, message.to_string());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn preset(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name == name)
    }

    /// Apply a command; `Err` (a message for a 409) when it does not fit the run's state.
    /// The caller wakes the worker afterwards.
    pub fn command(&self, command: Command) -> std::result::Result<Snapshot, String> {
        let mut sh = self.lock();
        match command {
            Command::Start(setup) => {
                if setup.source == Source::Upload && sh.uploaded.len() < setup.preset.batch {
                    return Err(format!("upload a set of at least {} images first (POST /api/v1/lab/data); {} uploaded", setup.preset.batch, sh.uploaded.len()));
                }
                if sh.wanted != Some(setup) || sh.snapshot.error.is_some() {
                    sh.wanted = Some(setup);
                    sh.generation += 1;
                    sh.snapshot = fresh(&sh, Some(setup));
                    sh.sample_png.clear();
                    (sh.kernels, sh.layers, sh.inspect) = (None, None, false);
                }
                sh.snapshot.running = true;
            }
            Command::Pause => sh.snapshot.running = false,
            Command::Step => {
                if sh.wanted.is_none() {
                    return Err("nothing to step: start a run first (action start), then pause it".into());
                }
                if sh.snapshot.running {
                    return Err("the run is training by itself: pause it first, then step".into());
                }
                sh.snapshot.pending_steps += 1;
            }
            Command::Reset => {
                sh.wanted = None;
                sh.generation += 1;
                sh.snapshot = fresh(&sh, None);
                sh.sample_png.clear();
                (sh.kernels, sh.layers, sh.inspect, sh.save) = (None, None, false, None);
            }
            Command::Inspect(z) => {
                if sh.wanted.is_none() {
                    return Err("nothing to inspect: start a run first".into());
                }
                if z >= SAMPLE_GRID {
                    return Err(format!("z {z} is not in the sample grid: pick 0 to {}", SAMPLE_GRID - 1));
                }
                sh.snapshot.inspect_z = z;
                sh.inspect = true;
            }
            Command::Save(name) => {
                if sh.wanted.is_none() {
                    return Err("nothing to save: start a run first".into());
                }
                if sh.save.is_some() {
                    return Err("a save is under way: wait for it (the run's `save` says when it is done)".into());
                }
                if sh.saved.iter().any(|s| s.name == name) {
                    return Err(format!("a model called '{name}' was already saved: pick another name"));
                }
                sh.save = Some(name);
                sh.snapshot.save = None;
            }
        }
        self.work.store(sh.busy(), Ordering::SeqCst);
        Ok(sh.snapshot.clone())
    }

    /// Where the run stands, with the rows after step `since`.
    pub fn snapshot(&self, since: u64) -> Snapshot {
        let sh = self.lock();
        let mut s = sh.snapshot.clone();
        s.rows.retain(|r| r.step > since);
        s.norms.retain(|r| r.step > since);
        s
    }

    pub fn sample(&self, step: u64) -> Option<Vec<u8>> {
        self.lock().sample_png.get(&step).cloned()
    }

    /// Whether the worker should run a chunk.
    pub fn has_work(&self) -> bool {
        self.work.load(Ordering::SeqCst)
    }
}

/// The run the worker owns.
/// A new run's snapshot: what the Lab keeps across runs, the setup's table, nothing else.
fn fresh(sh: &Shared, setup: Option<Setup>) -> Snapshot {
    Snapshot {
        preset: setup.map(|s| s.preset.name),
        data: setup.map(|s| s.source),
        hyper: setup.map(|s| s.hyper),
        layers: setup.map(|s| views::layer_table(&s.arch())).unwrap_or_default(),
        uploaded: sh.uploaded.len(),
        saved: sh.saved.iter().map(|s| s.name.clone()).collect(),
        ..Snapshot::default()
    }
}

pub struct Session {
    generation: u64,
    setup: Setup,
    trainer: Trainer,
    data: Dataset,
    sample_z: Vec<f32>,
}

fn load_data(lab: &Lab, setup: &Setup, uploaded: &[image::RgbaImage]) -> Result<Dataset> {
    let arch = setup.arch();
    let (c, size) = (arch.channels, arch.image_size);
    let data = match setup.source {
        Source::Faces => {
            let exclude: Vec<String> = HELD_OUT.iter().map(|s| s.to_string()).collect();
            let dir = &lab.config.faces;
            Dataset::load(dir, &exclude, c, size).map_err(|e| Error::new(format!("the Lab trains on the bundled faces ({}): {e}; start the server from the project's folder or pass --lab-data DIR", dir.display())))?
        }
        Source::Emoji => {
            let dir = &lab.config.emoji;
            Dataset::load(dir, &[], c, size).map_err(|e| Error::new(format!("the emoji set ({}): {e}; fetch it with tools/fetch_twemoji.sh (from npm, 62 MB), or pass --lab-emoji DIR", dir.display())))?
        }
        Source::Upload => {
            let images = uploaded.iter().map(|im| data::convert(&image::DynamicImage::ImageRgba8(im.clone()), c, size)).collect();
            let paths = (0..uploaded.len()).map(|i| PathBuf::from(format!("upload/{i}"))).collect();
            Dataset { paths, images, channels: c, size, skipped: Vec::new() }
        }
    };
    if data.len() < setup.preset.batch {
        return Err(Error::new(format!("the {:?} set holds {} images, fewer than one batch of {}", setup.source, data.len(), setup.preset.batch)));
    }
    Ok(data)
}

fn start(gpu: &Gpu, lab: &Lab, setup: Setup, generation: u64) -> Result<Session> {
    let arch = setup.arch();
    let uploaded = lab.lock().uploaded.clone();
    let data = load_data(lab, &setup, &uploaded)?;
    let h = setup.hyper;
    let adam = AdamConfig { lr: h.lr, beta1: h.beta1, ..AdamConfig::dcgan() };
    let trainer = Trainer::new(gpu, &arch, setup.preset.batch, h.g_steps, h.seed, h.flip, adam);
    let sample_z = uniform_z(&mut Rng::derived(h.seed, &[4]), SAMPLE_GRID, arch.z_dim);
    let layers = views::norm_layers(&trainer.state.g, &trainer.state.d);
    lab.lock().snapshot.norm_layers = layers;
    Ok(Session { generation, setup, trainer, data, sample_z })
}

fn sample_png(gpu: &Gpu, s: &Session) -> Result<Vec<u8>> {
    let arch = s.setup.arch();
    let z = Tensor::from_slice(gpu, &[SAMPLE_GRID, arch.z_dim], &s.sample_z);
    let images = s.trainer.state.g.forward(&mut Tape::new(gpu), &z, false, true).try_to_vec(gpu)?;
    Ok(picture::png_bytes(&picture::grid(&images, SAMPLE_GRID, arch.channels, arch.image_size, 4)))
}

/// The layer view of z `which` of the sample grid, with the first training image as the
/// real one.
fn layer_view(gpu: &Gpu, s: &Session, which: usize) -> Result<LayerView> {
    let zd = s.setup.arch().z_dim;
    let z = Tensor::from_slice(gpu, &[1, zd], &s.sample_z[which * zd..(which + 1) * zd]);
    let real = s.data.batch(&[which % s.data.len()], &[false]);
    views::layer_view(gpu, &s.trainer.state.g, &s.trainer.state.d, &z, &real, s.trainer.steps, which)
}

/// Write the run as OUT/NAME/checkpoint.safetensors (what `train --resume` reads) and
/// OUT/NAME/NAME.safetensors (what `complete` and `serve` read), then load the weights back
/// as a model the completion page lists. Never overwrites: an existing folder is an error.
fn save(gpu: &Gpu, lab: &Lab, s: &Session, name: &str, models: &mut Vec<Model>) -> Result<Saved> {
    use crate::model::weights as model_weights;
    let dir = lab.config.out.join(name);
    if dir.exists() {
        return Err(Error::new(format!("{} exists: pick another name (a save never overwrites)", dir.display())));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("cannot create {}: {e}; start the server with --lab-out DIR on a writable folder", dir.display())))?;
    let arch = s.setup.arch();
    let state = &s.trainer.state;
    let tensors = model_weights::snapshot(gpu, &state.named_with_optimiser())?;
    let mut meta = model_weights::base_metadata(&arch, "checkpoint");
    let h = s.setup.hyper;
    meta.insert("step".into(), s.trainer.steps.to_string());
    meta.insert("epoch".into(), (s.trainer.steps / s.trainer.steps_per_epoch(&s.data)).to_string());
    meta.insert("seed".into(), h.seed.to_string());
    meta.insert("adam_g_step".into(), state.adam_g.step.to_string());
    meta.insert("adam_d_step".into(), state.adam_d.step.to_string());
    let (data, exclude) = match s.setup.source {
        Source::Faces => (lab.config.faces.display().to_string(), HELD_OUT.iter().map(|p| p.to_string()).collect()),
        Source::Emoji => (lab.config.emoji.display().to_string(), Vec::new()),
        Source::Upload => ("(uploaded to the Lab)".to_string(), Vec::new()),
    };
    let adam = AdamConfig { lr: h.lr, beta1: h.beta1, ..AdamConfig::dcgan() };
    let config = model_weights::train_config_json(&data, &exclude, h.flip, s.setup.preset.batch, h.g_steps, &adam);
    meta.insert("train_config".into(), config.to_string());
    meta.insert("data_images".into(), s.data.len().to_string());
    meta.insert("data_fingerprint".into(), format!("{:016x}", s.data.fingerprint()));
    let checkpoint = dir.join("checkpoint.safetensors");
    crate::io::weights::write(&checkpoint, &tensors, meta, false)?;
    let weights = dir.join(format!("{name}.safetensors"));
    model_weights::export_checkpoint(&checkpoint, &weights, false)?;
    let (g, d) = model_weights::load_gan(gpu, &weights)?;
    let saved = Saved {
        name: name.to_string(),
        about: format!("saved from the Lab: {} on {:?} at step {} ({})", s.setup.preset.name, s.setup.source, s.trainer.steps, weights.display()),
        channels: arch.channels,
        size: arch.image_size,
        z_dim: arch.z_dim,
        max_ilo_layers: g.image_stage() - 1,
        checkpoint,
        weights,
    };
    models.push(Model { g, d, e: None, fit_p99: None });
    Ok(saved)
}

/// Run the Save that waits, if any, and publish how it went.
fn save_if_asked(gpu: &Gpu, lab: &Lab, s: &Session, models: &mut Vec<Model>) {
    let Some(name) = lab.lock().save.clone() else { return };
    let done = save(gpu, lab, s, &name, models);
    let mut sh = lab.lock();
    sh.save = None;
    let step = s.trainer.steps;
    sh.snapshot.save = Some(match done {
        Ok(saved) => {
            let outcome = SaveOutcome { name: name.clone(), step, error: None, checkpoint: Some(saved.checkpoint.clone()), weights: Some(saved.weights.clone()) };
            sh.saved.push(saved);
            sh.snapshot.saved.push(name);
            outcome
        }
        Err(e) => SaveOutcome { name, step, error: Some(e.to_string()), checkpoint: None, weights: None },
    });
    lab.work.store(sh.busy(), Ordering::SeqCst);
}

/// Draw the layer view the page asked for, if any.
fn inspect_if_asked(gpu: &Gpu, lab: &Lab, s: &Session) -> Result<()> {
    let which = {
        let sh = lab.lock();
        if !sh.inspect {
            return Ok(());
        }
        sh.snapshot.inspect_z
    };
    let view = layer_view(gpu, s, which)?;
    let mut sh = lab.lock();
    if sh.generation == s.generation {
        sh.inspect = false;
        sh.snapshot.layers_step = Some(view.step);
        sh.layers = Some(view);
        lab.work.store(sh.busy(), Ordering::SeqCst);
    }
    Ok(())
}

/// Run one chunk: a Save or layer view the page asked for, then up to `CHUNK_STEPS` steps
/// while the run trains by itself, or the steps Step asked for. Builds (or drops) the
/// session first when a start or reset asked for that. A Save adds to `models`.
pub fn run_chunk(gpu: &Gpu, lab: &Lab, session: &mut Option<Session>, models: &mut Vec<Model>) {
    let (wanted, generation) = {
        let sh = lab.lock();
        (sh.wanted, sh.generation)
    };
    if session.as_ref().is_none_or(|s| s.generation != generation) {
        *session = None;
        if let Some(setup) = wanted {
            match start(gpu, lab, setup, generation) {
                Ok(s) => *session = Some(s),
                Err(e) => return fail(lab, generation, e.to_string()),
            }
        }
    }
    let Some(s) = session.as_mut() else {
        lab.work.store(false, Ordering::SeqCst);
        return;
    };
    save_if_asked(gpu, lab, s, models);
    if let Err(e) = inspect_if_asked(gpu, lab, s) {
        return fail(lab, s.generation, e.to_string());
    }
    for _ in 0..CHUNK_STEPS {
        // One more step while it runs by itself, or for a pending Step (counted off when
        // its row is published, so a client never sees a Step done before its step is).
        let stepping = {
            let sh = lab.lock();
            if sh.generation != s.generation {
                return; // reset or restarted meanwhile: the next chunk rebuilds
            }
            if !sh.snapshot.running && sh.snapshot.pending_steps == 0 || sh.snapshot.error.is_some() {
                lab.work.store(sh.busy(), Ordering::SeqCst);
                return;
            }
            !sh.snapshot.running
        };
        if let Err(e) = one_step(gpu, lab, s, stepping) {
            return fail(lab, s.generation, e.to_string());
        }
    }
}

/// One training step, published with what it changed: its row, and at their steps the
/// sample grid, the norms, the kernel view (this step profiled) and the layer view.
fn one_step(gpu: &Gpu, lab: &Lab, s: &mut Session, stepping: bool) -> Result<()> {
    let step = s.trainer.steps + 1;
    let views = stepping || step == 1 || step.is_multiple_of(VIEWS_EVERY);
    let sampled = step.is_multiple_of(SAMPLE_EVERY) || step == 1 || stepping;
    // The norms need the step's gradients; other steps let the pool reuse their buffers.
    s.trainer.keep_gradients = sampled;
    let t0 = Instant::now();
    let (d_loss, g_loss, kernels) = if views {
        let ((d_loss, g_loss), dispatches) = gpu.profile_dispatches(|| s.trainer.record_step(gpu, &s.data));
        (d_loss, g_loss, Some(views::kernel_view(step, &dispatches)))
    } else {
        let (d_loss, g_loss) = s.trainer.record_step(gpu, &s.data);
        gpu.flush();
        (d_loss, g_loss, None)
    };
    let Some(last) = &s.trainer.last else { unreachable!("record_step keeps its step's output") };
    // The losses and D's logits in one read: one wait for the step, not four.
    let read = Tensor::read_many(gpu, &[&d_loss, &g_loss, &last.logits.0, &last.logits.1])?;
    let seconds = t0.elapsed().as_secs_f64();
    let (d, g) = (read[0][0], read[1][0]);
    if !(d.is_finite() && g.is_finite()) {
        return Err(Error::new(format!("training diverged at step {step}: d_loss = {d}, g_loss = {g}; reset, lower lr, and start again")));
    }
    // D's mean probability of "real" on a batch of logits.
    let mean_sigmoid = |v: &[f32]| v.iter().map(|l| 1.0 / (1.0 + (-l).exp())).sum::<f32>() / v.len().max(1) as f32;
    let (d_real, d_fake) = (mean_sigmoid(&read[2]), mean_sigmoid(&read[3]));
    let row = Row { step, d_loss: d, g_loss: g, d_real, d_fake, steps_per_s: 1.0 / seconds, images_per_s: s.setup.preset.batch as f64 / seconds, profiled: views };
    // The sample grid and views first, so a row and its pictures are published together.
    let png = if sampled { Some(sample_png(gpu, s)?) } else { None };
    let norms = match &last.grads {
        Some((d_grads, g_grads)) => Some(views::norms(gpu, &s.trainer.state.g, &s.trainer.state.d, g_grads, d_grads, step)?),
        None => None,
    };
    let inspect_z = lab.lock().snapshot.inspect_z;
    let layers = if views { Some(layer_view(gpu, s, inspect_z)?) } else { None };
    let mut sh = lab.lock();
    if sh.generation != s.generation {
        return Ok(());
    }
    if stepping {
        sh.snapshot.pending_steps = sh.snapshot.pending_steps.saturating_sub(1);
    }
    sh.snapshot.step = step;
    sh.snapshot.rows.push(row);
    if sh.snapshot.rows.len() > KEEP_ROWS {
        sh.snapshot.rows.remove(0);
    }
    if let Some(png) = png {
        sh.sample_png.insert(step, png);
        while sh.sample_png.len() > KEEP_SAMPLES {
            sh.sample_png.pop_first();
        }
        sh.snapshot.samples = sh.sample_png.keys().copied().collect();
    }
    if let Some(norms) = norms {
        sh.snapshot.norms.push(norms);
        if sh.snapshot.norms.len() > KEEP_ROWS / SAMPLE_EVERY as usize {
            sh.snapshot.norms.remove(0);
        }
    }
    if let Some(k) = kernels {
        sh.snapshot.kernels_step = Some(step);
        sh.kernels = Some(k);
    }
    if let Some(l) = layers {
        sh.snapshot.layers_step = Some(step);
        sh.layers = Some(l);
    }
    Ok(())
}

/// The run stopped on an error: say so, and stop asking for work.
fn fail(lab: &Lab, generation: u64, message: String) {
    let mut sh = lab.lock();
    if sh.generation == generation {
        sh.snapshot.error = Some(message);
        sh.snapshot.running = false;
        sh.snapshot.pending_steps = 0;
        (sh.inspect, sh.save) = (false, None);
    }
    lab.work.store(false, Ordering::SeqCst);
}
