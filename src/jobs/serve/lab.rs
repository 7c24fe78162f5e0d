//! The Lab: a DCGAN training run the page starts, pauses and steps, on the server's one GPU
//! worker. The worker runs it in chunks of steps whenever no completion job or G(z) request
//! waits (those go first), so the completion page stays responsive while it trains.
//!
//! The API thread only writes what it wants (`Lab::command`) and reads what the worker last
//! published (`Lab::snapshot`); the worker owns the run itself (`Session`: the `Trainer`,
//! its data, the fixed z of the sample grids) and rebuilds it when a start or reset asks.

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
use crate::io::picture;
use crate::model::Architecture;
use crate::model::gan::{Trainer, uniform_z};
use crate::rng::Rng;

/// A model size the Lab trains, with its batch.
#[derive(Debug, Clone, Copy, serde::Serialize)]
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
/// Sample grids kept (the oldest go first), and rows of the loss table.
const KEEP_SAMPLES: usize = 200;
const KEEP_ROWS: usize = 20_000;
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
    pub images_per_s: f64,
}

/// What the page is shown: where the run stands.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub preset: Option<&'static str>,
    pub step: u64,
    /// Training on by itself (Start), not paused.
    pub running: bool,
    /// Steps asked for by Step and not yet run.
    pub pending_steps: u64,
    pub rows: Vec<Row>,
    /// Steps that have a sample grid (GET .../samples/{step}.png).
    pub samples: Vec<u64>,
    pub error: Option<String>,
}

/// What the page asks.
#[derive(Debug, Clone, Copy)]
pub enum Command {
    /// Start a new run of `preset` (a run of the same preset continues).
    Start(&'static Preset),
    Pause,
    /// Exactly one more step (only while paused).
    Step,
    /// Forget the run.
    Reset,
}

struct Shared {
    snapshot: Snapshot,
    sample_png: BTreeMap<u64, Vec<u8>>,
    /// The preset the run should have; a new one (or a reset) bumps `generation`.
    wanted: Option<&'static Preset>,
    generation: u64,
}

pub struct Lab {
    shared: Mutex<Shared>,
    /// Whether the worker has Lab work (checked by the queue without this lock).
    work: AtomicBool,
    data: PathBuf,
}

impl Lab {
    pub fn new(data: PathBuf) -> Lab {
        let shared = Shared { snapshot: Snapshot::default(), sample_png: BTreeMap::new(), wanted: None, generation: 0 };
        Lab { shared: Mutex::new(shared), work: AtomicBool::new(false), data }
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
            Command::Start(preset) => {
                if sh.wanted.map(|p| p.name) != Some(preset.name) {
                    sh.wanted = Some(preset);
                    sh.generation += 1;
                    sh.snapshot = Snapshot { preset: Some(preset.name), ..Snapshot::default() };
                    sh.sample_png.clear();
                }
                sh.snapshot.running = true;
                sh.snapshot.error = None;
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
                sh.snapshot = Snapshot::default();
                sh.sample_png.clear();
            }
        }
        let busy = sh.wanted.is_some() && (sh.snapshot.running || sh.snapshot.pending_steps > 0) && sh.snapshot.error.is_none();
        self.work.store(busy, Ordering::SeqCst);
        Ok(sh.snapshot.clone())
    }

    /// Where the run stands, with the rows after step `since`.
    pub fn snapshot(&self, since: u64) -> Snapshot {
        let sh = self.lock();
        let mut s = sh.snapshot.clone();
        s.rows.retain(|r| r.step > since);
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
pub struct Session {
    generation: u64,
    preset: &'static Preset,
    trainer: Trainer,
    data: Dataset,
    sample_z: Tensor,
}

fn start(gpu: &Gpu, lab: &Lab, preset: &'static Preset, generation: u64) -> Result<Session> {
    let arch = preset.arch;
    let exclude: Vec<String> = HELD_OUT.iter().map(|s| s.to_string()).collect();
    let data = Dataset::load(&lab.data, &exclude, arch.channels, arch.image_size)
        .map_err(|e| Error::new(format!("the Lab trains on the bundled faces ({}): {e}; start the server from the project's folder or pass --lab-data DIR", lab.data.display())))?;
    if data.len() < preset.batch {
        return Err(Error::new(format!("{} holds {} images, fewer than one batch of {}", lab.data.display(), data.len(), preset.batch)));
    }
    let trainer = Trainer::new(gpu, &arch, preset.batch, 1, 1, true, AdamConfig::dcgan());
    let z = uniform_z(&mut Rng::derived(1, &[4]), SAMPLE_GRID, arch.z_dim);
    let sample_z = Tensor::from_slice(gpu, &[SAMPLE_GRID, arch.z_dim], &z);
    Ok(Session { generation, preset, trainer, data, sample_z })
}

fn sample_png(gpu: &Gpu, s: &Session) -> Result<Vec<u8>> {
    let images = s.trainer.state.g.forward(&mut Tape::new(gpu), &s.sample_z, false, true).try_to_vec(gpu)?;
    let arch = s.preset.arch;
    Ok(picture::png_bytes(&picture::grid(&images, SAMPLE_GRID, arch.channels, arch.image_size, 4)))
}

/// Run one chunk: up to `CHUNK_STEPS` steps while the run trains by itself, or the steps Step
/// asked for. Builds (or drops) the session first when a start or reset asked for that.
pub fn run_chunk(gpu: &Gpu, lab: &Lab, session: &mut Option<Session>) {
    let (wanted, generation) = {
        let sh = lab.lock();
        (sh.wanted, sh.generation)
    };
    if session.as_ref().is_none_or(|s| s.generation != generation) {
        *session = None;
        if let Some(preset) = wanted {
            match start(gpu, lab, preset, generation) {
                Ok(s) => *session = Some(s),
                Err(e) => return fail(lab, generation, e.to_string()),
            }
        }
    }
    let Some(s) = session.as_mut() else {
        lab.work.store(false, Ordering::SeqCst);
        return;
    };
    for _ in 0..CHUNK_STEPS {
        // One more step while it runs by itself, or for a pending Step (counted off when
        // its row is published, so a client never sees a Step done before its step is).
        let stepping = {
            let sh = lab.lock();
            if sh.generation != s.generation {
                return; // reset or restarted meanwhile: the next chunk rebuilds
            }
            if !sh.snapshot.running && sh.snapshot.pending_steps == 0 {
                lab.work.store(false, Ordering::SeqCst);
                return;
            }
            !sh.snapshot.running
        };
        let t0 = Instant::now();
        let (d_loss, g_loss) = s.trainer.record_step(gpu, &s.data);
        gpu.flush();
        let read = |t: &Tensor| t.try_to_vec(gpu).map(|v| v[0]);
        // D's mean probability of "real" on a batch of logits.
        let mean_sigmoid = |t: &Tensor| t.try_to_vec(gpu).map(|v| v.iter().map(|l| 1.0 / (1.0 + (-l).exp())).sum::<f32>() / v.len().max(1) as f32);
        let (d_real, d_fake) = match &s.trainer.last_logits {
            Some((real, fake)) => match (mean_sigmoid(real), mean_sigmoid(fake)) {
                (Ok(r), Ok(f)) => (r, f),
                (Err(e), _) | (_, Err(e)) => return fail(lab, s.generation, e.to_string()),
            },
            None => (f32::NAN, f32::NAN),
        };
        let (d, g) = match (read(&d_loss), read(&g_loss)) {
            (Ok(d), Ok(g)) if d.is_finite() && g.is_finite() => (d, g),
            (Ok(d), Ok(g)) => return fail(lab, s.generation, format!("training diverged at step {}: d_loss = {d}, g_loss = {g}; reset and start again", s.trainer.steps)),
            (Err(e), _) | (_, Err(e)) => return fail(lab, s.generation, e.to_string()),
        };
        let step = s.trainer.steps;
        let row = Row { step, d_loss: d, g_loss: g, d_real, d_fake, images_per_s: s.preset.batch as f64 / t0.elapsed().as_secs_f64() };
        // The sample grid first, so a row and its grid are published together.
        let png = if step % SAMPLE_EVERY == 0 || step == 1 || stepping {
            match sample_png(gpu, s) {
                Ok(png) => Some(png),
                Err(e) => return fail(lab, s.generation, e.to_string()),
            }
        } else {
            None
        };
        let mut sh = lab.lock();
        if sh.generation != s.generation {
            return;
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
    }
}

/// The run stopped on an error: say so, and stop asking for work.
fn fail(lab: &Lab, generation: u64, message: String) {
    let mut sh = lab.lock();
    if sh.generation == generation {
        sh.snapshot.error = Some(message);
        sh.snapshot.running = false;
        sh.snapshot.pending_steps = 0;
    }
    lab.work.store(false, Ordering::SeqCst);
}
