//! One GPU, many users: every piece of GPU work goes through one queue into one worker
//! thread, which owns the `Gpu` and the models. Completion jobs for the same model and
//! compatible settings that wait together leave the queue together and are optimised as
//! rows of one batch, so throughput grows with load. The queue holds at most `capacity`
//! unfinished jobs; beyond that `submit` refuses (the server answers 503).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::jobs::{Job, JobEvent, Outcome};
use crate::engine::gpu::Gpu;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::inpaint::{self, Method, Optimised, Step, blend, optimise, optimise::starting_z};
use crate::io::picture;
use crate::model::{Discriminator, Generator};

/// A model the worker holds.
pub struct Model {
    pub g: Generator,
    pub d: Discriminator,
}

/// Work for the GPU.
pub enum Work {
    Complete(Arc<Job>),
    /// G(z) for rows of z ([n, z_dim]); the answer is [n, c, s, s] in [-1, 1].
    Generate { model: usize, z: Vec<f32>, reply: tokio::sync::oneshot::Sender<Result<Vec<f32>>> },
}

#[derive(Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Completion jobs waiting, and running now.
    pub waiting: usize,
    pub running: usize,
    /// Batches run so far, the jobs they held, and the most jobs one batch held.
    pub batches: u64,
    pub batched_jobs: u64,
    pub largest_batch: usize,
}

struct State {
    queue: VecDeque<Work>,
    stats: Stats,
    closed: bool,
}

pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    /// Rows one batch may hold (images x restarts).
    max_rows: usize,
    next_id: AtomicU64,
}

/// Why `submit` refused a job.
pub enum Refused {
    Full { capacity: usize },
    Closed,
}

impl Queue {
    pub fn new(capacity: usize, max_rows: usize) -> Queue {
        Queue {
            state: Mutex::new(State { queue: VecDeque::new(), stats: Stats::default(), closed: false }),
            ready: Condvar::new(),
            capacity,
            max_rows,
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue work; a completion job counts against the capacity until it has finished.
    pub fn submit(&self, work: Work) -> std::result::Result<(), Refused> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refused::Closed);
        }
        if let Work::Complete(job) = &work {
            if st.stats.waiting + st.stats.running >= self.capacity {
                return Err(Refused::Full { capacity: self.capacity });
            }
            st.stats.waiting += 1;
            let position = st.stats.waiting + st.stats.running;
            job.push(JobEvent::Queued { position });
        }
        st.queue.push_back(work);
        self.ready.notify_one();
        Ok(())
    }

    /// Cancel a job: one still waiting leaves the queue (and frees its place) and ends at
    /// once; a running one ends at its next iteration (the worker sees the flag).
    pub fn cancel(&self, job: &Job) {
        job.cancel();
        let mut st = self.lock();
        let waiting = st.queue.iter().position(|w| matches!(w, Work::Complete(j) if j.id == job.id));
        if let Some(k) = waiting {
            st.queue.remove(k);
            st.stats.waiting -= 1;
            drop(st);
            job.finish(Err(super::jobs::CANCELLED.into()));
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// No more work is taken; waiting jobs are cancelled and the worker ends.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        for work in st.queue.drain(..) {
            if let Work::Complete(job) = work {
                job.finish(Err("the server is shutting down".into()));
            }
        }
        st.stats.waiting = 0;
        self.ready.notify_all();
    }

    /// The next work: a single `Generate` (first), or the first waiting job with every
    /// waiting job that can share its batch. None once closed.
    fn take(&self) -> Option<Vec<Work>> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return None;
            }
            // G(z) for the explore panel is one short forward pass: it goes before the
            // completion jobs, so the page answers while they wait.
            if let Some(k) = st.queue.iter().position(|w| matches!(w, Work::Generate { .. })) {
                return st.queue.remove(k).map(|w| vec![w]);
            }
            if let Some(first) = st.queue.pop_front() {
                let Work::Complete(job) = first else { unreachable!("generate work was taken above") };
                let mut rows = job.rows();
                let mut batch = vec![job];
                if batch[0].settings.method == Method::Dcgan {
                    let mut k = 0;
                    while k < st.queue.len() {
                        let fits = match &st.queue[k] {
                            Work::Complete(other) => other.batches_with(&batch[0]) && rows + other.rows() <= self.max_rows,
                            Work::Generate { .. } => false,
                        };
                        if fits {
                            let Some(Work::Complete(other)) = st.queue.remove(k) else { unreachable!() };
                            rows += other.rows();
                            batch.push(other);
                        } else {
                            k += 1;
                        }
                    }
                }
                // Jobs cancelled while they waited end here, without GPU time.
                let (live, cancelled): (Vec<_>, Vec<_>) = batch.into_iter().partition(|j| !j.cancelled());
                st.stats.waiting -= live.len() + cancelled.len();
                for job in cancelled {
                    job.finish(Err("cancelled".into()));
                }
                if live.is_empty() {
                    continue;
                }
                st.stats.running = live.len();
                st.stats.batches += 1;
                st.stats.batched_jobs += live.len() as u64;
                st.stats.largest_batch = st.stats.largest_batch.max(live.len());
                return Some(live.into_iter().map(Work::Complete).collect());
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done_running(&self) {
        self.lock().stats.running = 0;
    }
}

/// The worker: takes work until the queue is closed. `stop` (a signal) interrupts a batch.
pub fn run_worker(queue: &Queue, gpu: &Gpu, models: &[Model], stop: &AtomicBool) {
    while let Some(mut batch) = queue.take() {
        if let [Work::Generate { .. }] = batch.as_slice() {
            let Some(Work::Generate { model, z, reply }) = batch.pop() else { unreachable!() };
            let images = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| generate(gpu, &models[model].g, &z)));
            let _ = reply.send(images.unwrap_or_else(|_| Err(Error::new("internal error while generating (see the server's log)"))));
            continue;
        }
        let jobs: Vec<Arc<Job>> = batch.into_iter().filter_map(|w| if let Work::Complete(j) = w { Some(j) } else { None }).collect();
        let started = std::time::Instant::now();
        let ids: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();
        // A panic in the engine fails this batch's jobs, never the server.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complete_batch(gpu, models, &jobs, stop)));
        let failure = match run {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("internal error while completing (see the server's log)".to_string()),
        };
        for job in &jobs {
            if job.cancelled() {
                job.finish(Err(super::jobs::CANCELLED.into()));
            } else if let Some(message) = &failure {
                job.finish(Err(message.clone()));
            }
        }
        // One line per batch, so a log shows what the server did and how long it took.
        let cancelled = jobs.iter().filter(|j| j.cancelled()).count();
        let how = match (&failure, cancelled) {
            (_, n) if n == jobs.len() => "cancelled".to_string(),
            (Some(e), _) => format!("failed: {e}"),
            (None, 0) => "done".to_string(),
            (None, n) => format!("done, {n} cancelled"),
        };
        eprintln!("job {}: {how} in {:.1} s ({} job(s) in one batch)", ids.join(", "), started.elapsed().as_secs_f64(), jobs.len());
        queue.done_running();
    }
}

fn generate(gpu: &Gpu, g: &Generator, z: &[f32]) -> Result<Vec<f32>> {
    let zd = g.arch.z_dim;
    let z = Tensor::from_slice(gpu, &[z.len() / zd, zd], z);
    g.forward(&mut Tape::new(gpu), &z, false, true).try_to_vec(gpu)
}

/// A PNG data URL of a [c, s, s] image.
pub fn data_url(image: &[f32], c: usize, s: usize) -> String {
    use base64::Engine;
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(picture::png_bytes(&picture::to_rgb8(image, c, s))))
}

/// Optimise the jobs of one batch together and finish each with its own blend.
fn complete_batch(gpu: &Gpu, models: &[Model], jobs: &[Arc<Job>], stop: &AtomicBool) -> Result<()> {
    let first = &jobs[0];
    let model = &models[first.model];
    let arch = model.g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let (plane, r) = (c * s * s, first.settings.restarts);
    let rows = jobs.len() * r;
    let iterations = match first.settings.method {
        Method::Dcgan => first.settings.iterations() + 1,
        Method::Classical(_) => 0,
    };
    for job in jobs {
        job.push(JobEvent::Start { batch_jobs: jobs.len(), batch_rows: rows, iterations });
    }
    let results: Vec<Optimised> = match first.settings.method {
        Method::Classical(fill) => {
            let generated = fill.fill(&first.item, c, s, &first.kind)?;
            vec![Optimised { generated, z: Vec::new(), losses: Vec::new(), frames: Vec::new(), restart: 0 }]
        }
        Method::Dcgan => {
            let items: Vec<inpaint::Item> = jobs.iter().map(|j| j.item.clone()).collect();
            // Each job starts from its own seed, so its result does not depend on its batch.
            let z_init: Vec<f32> = jobs.iter().flat_map(|j| starting_z(j.settings.seed, 0, r, zd)).collect();
            // All rows in one optimise batch, so a step's row i * r + k is job i's restart k.
            let settings = inpaint::Settings { batch: rows, ..first.settings.clone() };
            let halt = AtomicBool::new(false);
            optimise(gpu, &model.g, &model.d, &items, Some(&z_init), &settings, &first.kind, &halt, |step: &Step| {
                for (i, job) in jobs.iter().enumerate() {
                    if job.cancelled() {
                        job.finish(Err(super::jobs::CANCELLED.into()));
                        continue;
                    }
                    let total = |k: usize| step.contextual[k] + step.prior[k];
                    let best = (i * r..(i + 1) * r).min_by(|&a, &b| total(a).total_cmp(&total(b))).unwrap_or(i * r);
                    let frame = step.generated.map(|g| &g[best * plane..(best + 1) * plane]);
                    job.push(JobEvent::Progress {
                        t: step.t,
                        iterations,
                        contextual: step.contextual[best],
                        prior: step.prior[best],
                        generated: frame.map(|f| data_url(f, c, s)),
                        completed: frame.map(|f| data_url(&blend::overlay(&job.item, f, c, s), c, s)),
                    });
                }
                if stop.load(Ordering::Relaxed) || jobs.iter().all(|j| j.cancelled()) {
                    halt.store(true, Ordering::Relaxed);
                }
            })
            .map_err(|e| if stop.load(Ordering::Relaxed) { Error::new("the server is shutting down") } else { e })?
        }
    };
    for (job, r) in jobs.iter().zip(&results) {
        if job.cancelled() {
            continue;
        }
        let completed = match job.settings.method {
            Method::Dcgan => blend::compose(&job.item, &r.generated, c, s, &job.kind, job.settings.blend),
            Method::Classical(_) => Ok(r.generated.clone()),
        };
        let completed = match completed {
            Ok(x) => x,
            Err(e) => {
                job.finish(Err(e.to_string()));
                continue;
            }
        };
        let mut frames: Vec<Vec<f32>> = r.frames.iter().map(|f| blend::overlay(&job.item, f, c, s)).collect();
        frames.push(completed.clone());
        let mut gif = Vec::new();
        picture::encode_gif(&frames, c, s, &mut gif).map_err(|e| Error::new(format!("cannot encode the progress GIF: {e}")))?;
        job.finish(Ok(Outcome { png: picture::png_bytes(&picture::to_rgb8(&completed, c, s)), gif }));
    }
    Ok(())
}
