//! One GPU, many users: every piece of GPU work goes through one queue into one worker
//! thread, which owns the `Gpu` and the models. Completion jobs for the same model and
//! compatible settings that wait together leave the queue together and are optimised as
//! rows of one batch, so throughput grows with load. The queue holds at most `capacity`
//! unfinished jobs; beyond that `submit` refuses (the server answers 503).
//!
//! G(z) requests (the page's explore panel) wait in a queue of their own, bounded by
//! `GENERATE_QUEUE`: the worker answers one between two iterations of a running batch, and
//! alternates them with waiting batches, so neither kind can starve the other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::api::photo_of;
use super::jobs::{Ending, Job, JobEvent, Outcome};
use crate::engine::gpu::Gpu;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::error::{Error, Result};
use crate::inpaint::{self, Method, Step, blend, optimise::starting_z};
use crate::io::picture;
use crate::model::{Discriminator, Generator};

/// A model the worker holds.
pub struct Model {
    pub g: Generator,
    pub d: Discriminator,
    /// The encoder that starts each job's z, if the weights hold one.
    pub e: Option<crate::model::encoder::Encoder>,
    /// The fit past which a picture looks unlike what it knows (`calibrate`), if calibrated.
    pub fit_p99: Option<f32>,
}

/// G(z) for rows of z ([n, z_dim]); the answer is [n, c, s, s] in [-1, 1].
pub struct Generate {
    pub model: usize,
    pub z: Vec<f32>,
    pub reply: tokio::sync::oneshot::Sender<Result<Vec<f32>>>,
}

/// G(z) requests that may wait at once; more are answered 503.
pub const GENERATE_QUEUE: usize = 4;

#[derive(Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Completion jobs waiting, and running now.
    pub waiting: usize,
    pub running: usize,
    /// Batches run so far, the jobs they held, and the most jobs one batch held.
    pub batches: u64,
    pub batched_jobs: u64,
    pub largest_batch: usize,
    /// G(z) requests waiting, and answered so far.
    pub generate_waiting: usize,
    pub generated: u64,
}

struct State {
    jobs: VecDeque<Arc<Job>>,
    generates: VecDeque<Generate>,
    stats: Stats,
    closed: bool,
    /// Whether the worker's last pick between batches was a G(z) request.
    last_was_generate: bool,
    /// Iterations the running batch has left, and the measured seconds an iteration takes
    /// (of the last batch; none before the first): the waiting jobs' ETA.
    running_left: usize,
    seconds_per_iteration: Option<f64>,
}

impl State {
    /// Tell every waiting job whose place changed where it stands now, with an ETA.
    fn announce(&self) {
        let mut ahead = self.running_left;
        for (k, job) in self.jobs.iter().enumerate() {
            let position = self.stats.running.min(1) + k + 1;
            let eta = self.seconds_per_iteration.map(|s| (s * ahead as f64 * 10.0).round() / 10.0);
            job.announce(position, eta);
            ahead += job.iterations();
        }
    }
}

pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    /// The Lab's training run: chunks of it run when nothing else waits.
    pub lab: super::lab::Lab,
    capacity: usize,
    /// Rows one batch may hold (images x restarts).
    max_rows: usize,
}

/// Why `submit` refused work.
pub enum Refused {
    Full { capacity: usize },
    Closed,
}

/// What the worker takes next.
enum Work {
    Batch(Vec<Arc<Job>>),
    Generate(Generate),
    /// A chunk of the Lab's training.
    Lab,
}

impl Queue {
    /// `lab`: where the Lab finds its data and saves models.
    pub fn new(capacity: usize, max_rows: usize, lab: super::lab::LabConfig) -> Queue {
        let state = State {
            jobs: VecDeque::new(),
            generates: VecDeque::new(),
            stats: Stats::default(),
            closed: false,
            last_was_generate: false,
            running_left: 0,
            seconds_per_iteration: None,
        };
        Queue { state: Mutex::new(state), ready: Condvar::new(), lab: super::lab::Lab::new(lab), capacity, max_rows }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a completion job; it counts against the capacity until it has finished.
    pub fn submit(&self, job: Arc<Job>) -> std::result::Result<(), Refused> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refused::Closed);
        }
        if st.stats.waiting + st.stats.running >= self.capacity {
            return Err(Refused::Full { capacity: self.capacity });
        }
        st.stats.waiting += 1;
        st.jobs.push_back(job);
        st.announce();
        self.ready.notify_one();
        Ok(())
    }

    /// Queue a G(z) request.
    pub fn submit_generate(&self, work: Generate) -> std::result::Result<(), Refused> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refused::Closed);
        }
        // Requests whose client gave up (timed out) leave no trace.
        st.generates.retain(|g| !g.reply.is_closed());
        if st.generates.len() >= GENERATE_QUEUE {
            return Err(Refused::Full { capacity: GENERATE_QUEUE });
        }
        st.generates.push_back(work);
        st.stats.generate_waiting = st.generates.len();
        self.ready.notify_one();
        Ok(())
    }

    /// Cancel a job: one still waiting leaves the queue (and frees its place) and ends at
    /// once; a running one ends at its next iteration (the worker sees the flag).
    pub fn cancel(&self, job: &Job) {
        job.cancel();
        let mut st = self.lock();
        if let Some(k) = st.jobs.iter().position(|j| j.id == job.id) {
            st.jobs.remove(k);
            st.stats.waiting -= 1;
            st.announce();
            drop(st);
            job.finish(job.cancelled_ending());
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Tell the worker that the Lab may have work now.
    pub fn wake(&self) {
        let _st = self.lock();
        self.ready.notify_one();
    }

    /// No more work is taken; waiting jobs end and the worker stops.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        for job in st.jobs.drain(..) {
            job.finish(Ending::Failed("the server stopped before the job started".into()));
        }
        st.generates.clear();
        st.stats.waiting = 0;
        st.stats.generate_waiting = 0;
        self.ready.notify_all();
    }

    /// A waiting G(z) request whose client still waits, if any.
    fn next_generate(st: &mut State) -> Option<Generate> {
        while let Some(g) = st.generates.pop_front() {
            st.stats.generate_waiting = st.generates.len();
            if !g.reply.is_closed() {
                return Some(g);
            }
        }
        None
    }

    /// One waiting G(z) request, for the worker to answer between two iterations.
    fn take_generate(&self) -> Option<Generate> {
        Self::next_generate(&mut self.lock())
    }

    /// The next work: a G(z) request or a batch (the first waiting job with every waiting
    /// job that can share its batch), alternating when both wait. None once closed.
    fn take(&self) -> Option<Work> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return None;
            }
            let jobs_wait = !st.jobs.is_empty();
            if !(jobs_wait && st.last_was_generate)
                && let Some(g) = Self::next_generate(&mut st)
            {
                st.last_was_generate = true;
                return Some(Work::Generate(g));
            }
            st.last_was_generate = false;
            if let Some(first) = st.jobs.pop_front() {
                let mut rows = first.rows();
                let mut batch = vec![first];
                if !matches!(batch[0].settings.method, Method::Classical(_)) {
                    let mut k = 0;
                    while k < st.jobs.len() {
                        let other = &st.jobs[k];
                        if other.batches_with(&batch[0]) && rows + other.rows() <= self.max_rows {
                            rows += other.rows();
                            batch.extend(st.jobs.remove(k));
                        } else {
                            k += 1;
                        }
                    }
                }
                // Jobs cancelled while they waited end here, without GPU time.
                let (live, cancelled): (Vec<_>, Vec<_>) = batch.into_iter().partition(|j| !j.cancelled());
                st.stats.waiting -= live.len() + cancelled.len();
                for job in cancelled {
                    job.finish(job.cancelled_ending());
                }
                if live.is_empty() {
                    continue;
                }
                st.stats.running = live.len();
                st.running_left = live[0].iterations();
                st.announce();
                st.stats.batches += 1;
                st.stats.batched_jobs += live.len() as u64;
                st.stats.largest_batch = st.stats.largest_batch.max(live.len());
                return Some(Work::Batch(live));
            }
            // The Lab trains only when no completion job or G(z) request waits.
            if st.generates.is_empty() && self.lab.has_work() {
                return Some(Work::Lab);
            }
            if st.generates.is_empty() {
                st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// The running batch ended after `iterations` iterations in `seconds`.
    fn done_running(&self, iterations: usize, seconds: f64) {
        let mut st = self.lock();
        st.stats.running = 0;
        st.running_left = 0;
        if iterations > 0 {
            st.seconds_per_iteration = Some(seconds / iterations as f64);
        }
        st.announce();
    }

    /// The running batch has `left` iterations to go.
    fn progress(&self, left: usize) {
        self.lock().running_left = left;
    }

    fn answered_generate(&self) {
        self.lock().stats.generated += 1;
    }
}

/// The worker: takes work until the queue is closed. `stop` (a signal) interrupts a batch.
/// The Lab's saves join `models`.
pub fn run_worker(queue: &Queue, gpu: &Gpu, mut models: Vec<Model>, stop: &AtomicBool) {
    let mut lab_session = None;
    while let Some(work) = queue.take() {
        let jobs = match work {
            Work::Generate(g) => {
                answer_generate(queue, gpu, &models, g);
                continue;
            }
            Work::Lab => {
                let chunk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| super::lab::run_chunk(gpu, &queue.lab, &mut lab_session, &mut models)));
                if chunk.is_err() {
                    lab_session = None;
                    queue.lab.failed("internal error while training (see the server's log)");
                }
                continue;
            }
            Work::Batch(jobs) => jobs,
        };
        let started = std::time::Instant::now();
        let ids: Vec<&str> = jobs.iter().map(|j| &j.id[..8]).collect();
        // A panic in the engine fails this batch's jobs, never the server.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complete_batch(queue, gpu, &models, &jobs, stop)));
        let failure = match run {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("internal error while completing (see the server's log)".to_string()),
        };
        for job in &jobs {
            if job.cancelled() {
                job.finish(job.cancelled_ending());
            } else if let Some(message) = &failure {
                job.finish(Ending::Failed(message.clone()));
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
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("job {}: {how} in {seconds:.1} s ({} job(s) in one batch)", ids.join(", "), jobs.len());
        queue.done_running(if failure.is_none() && cancelled == 0 { jobs[0].iterations() } else { 0 }, seconds);
    }
}

/// Answer one G(z) request (a panic answers an error, never ends the worker).
fn answer_generate(queue: &Queue, gpu: &Gpu, models: &[Model], g: Generate) {
    let Generate { model, z, reply } = g;
    let images = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| generate(gpu, &models[model].g, &z)));
    // Counted before the answer leaves, so a client that reads the stats after its answer
    // sees it counted.
    queue.answered_generate();
    let _ = reply.send(images.unwrap_or_else(|_| Err(Error::new("internal error while generating (see the server's log)"))));
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

/// The phase iteration `t` of a job with `settings` is in: "z", then "ILO layer k".
fn phase(settings: &inpaint::Settings, t: usize) -> String {
    if t < settings.iters || settings.ilo_layers == 0 || settings.ilo_iters == 0 {
        "z".to_string()
    } else {
        format!("ILO layer {}", ((t - settings.iters) / settings.ilo_iters + 1).min(settings.ilo_layers))
    }
}

/// Complete the jobs of one batch together (`inpaint::complete`), then make each job's
/// result at its photo's resolution with its own blend. Between two iterations the worker
/// answers one waiting G(z) request.
fn complete_batch(queue: &Queue, gpu: &Gpu, models: &[Model], jobs: &[Arc<Job>], stop: &AtomicBool) -> Result<()> {
    let first = &jobs[0];
    let model = &models[first.model];
    let arch = model.g.arch;
    let (c, s, zd) = (arch.channels, arch.image_size, arch.z_dim);
    let (plane, r) = (c * s * s, first.settings.restarts);
    // Job i's rows start at first_row[i]: its restarts (then, for auto, its validation copy's).
    let first_row: Vec<usize> = jobs.iter().scan(0, |next, j| { let at = *next; *next += j.rows(); Some(at) }).collect();
    let rows: usize = jobs.iter().map(|j| j.rows()).sum();
    let iterations = first.iterations();
    for job in jobs {
        job.push(JobEvent::Start { batch_jobs: jobs.len(), batch_rows: rows, iterations, warnings: job.warnings.clone() });
    }
    let items: Vec<inpaint::Item> = jobs.iter().map(|j| j.item.clone()).collect();
    // Each job starts from its own seed, so its result does not depend on its batch.
    let z_init: Vec<f32> = jobs.iter().flat_map(|j| starting_z(j.settings.seed, 0, r, zd)).collect();
    // All rows in one optimise batch, so a step's row first_row[i] + k is job i's restart k.
    let settings = inpaint::Settings { batch: rows, ..first.settings.clone() };
    let halt = AtomicBool::new(false);
    let results = inpaint::complete(gpu, &model.g, &model.d, model.e.as_ref(), &items, Some(&z_init), &settings, &first.kind, &halt, |step: &Step| {
        let phase = phase(&settings, step.t);
        for (i, job) in jobs.iter().enumerate() {
            if job.cancelled() {
                job.finish(job.cancelled_ending());
                continue;
            }
            let total = |k: usize| step.contextual[k] + step.prior[k];
            let best = (first_row[i]..first_row[i] + r).min_by(|&a, &b| total(a).total_cmp(&total(b))).unwrap_or(first_row[i]);
            let frame = step.generated.map(|g| &g[best * plane..(best + 1) * plane]);
            job.push(JobEvent::Progress {
                t: step.t,
                iterations,
                phase: phase.clone(),
                contextual: step.contextual[best],
                prior: step.prior[best],
                generated: frame.map(|f| data_url(f, c, s)),
                completed: frame.map(|f| data_url(&blend::overlay(&job.item, f, c, s), c, s)),
            });
        }
        queue.progress(iterations.saturating_sub(step.t + 1));
        if stop.load(Ordering::Relaxed) || jobs.iter().all(|j| j.cancelled()) {
            halt.store(true, Ordering::Relaxed);
        }
        if let Some(g) = queue.take_generate() {
            answer_generate(queue, gpu, models, g);
        }
    })
    .map_err(|e| if stop.load(Ordering::Relaxed) { Error::new("the server stopped before the job finished") } else { e })?;
    for (job, r) in jobs.iter().zip(&results) {
        if job.cancelled() {
            continue;
        }
        job.push(JobEvent::Blending);
        match finish_one(job, r, &settings, c, s, model.fit_p99) {
            Ok(outcome) => job.finish(Ending::Done(Arc::new(outcome))),
            Err(e) => job.finish(Ending::Failed(e.to_string())),
        }
    }
    Ok(())
}

/// One job's files: its blend at the model's size (the preview and the GIF's last frame),
/// then the result at its photo's resolution, in its format.
fn finish_one(job: &Job, r: &inpaint::Completion, settings: &inpaint::Settings, c: usize, s: usize, fit_p99: Option<f32>) -> Result<Outcome> {
    let completed = if job.settings.blend == settings.blend { r.completed.clone() } else { r.blended(&job.item, c, s, &job.kind, settings.method, job.settings.blend)? };
    let mut frames = r.frames.clone();
    match frames.last_mut() {
        Some(last) => *last = completed.clone(),
        None => frames.push(completed.clone()),
    }
    let mut gif = Vec::new();
    picture::encode_gif(&frames, c, s, &mut gif).map_err(|e| Error::new(format!("cannot encode the progress GIF: {e}")))?;
    let (photo, format, _) = photo_of(&job.photo, s, job.settings.seed).map_err(|e| Error::new(e.message().to_string()))?;
    let full = photo.complete(&completed, c, s)?;
    let (encoding, note) = picture::Encoding::like(format, job.photo.force_png);
    let mut notes: Vec<String> = note.into_iter().collect();
    if full.classical > 0 {
        notes.push(format!("{} hole pixels outside the region the model sees were filled classically (harmonic)", full.classical));
    }
    if full.colour_from_surroundings {
        notes.push("the model is grey: it filled the luminance; the hole's colour comes from its surroundings".into());
    }
    let unlike = r.fit.zip(fit_p99).map(|(f, p)| f > p);
    if let (Some(true), Some(fit), Some(p99)) = (unlike, r.fit, fit_p99) {
        notes.push(format!(
            "this picture looks unlike the pictures this model knows: the generator fits its known pixels to {fit:.3}, past the {p99:.3} that 99% of those stay under; expect a poor fill"
        ));
    }
    let (method, method_name) = inpaint::method_report(settings.method, job.settings.blend, r);
    if let Some(name) = &method_name {
        notes.push(format!("auto chose {name}: it filled known pixels hidden like the hole best"));
    }
    Ok(Outcome {
        fit: r.fit,
        unlike,
        method,
        method_name,
        result: picture::encode(&full.image, encoding)?,
        mime: encoding.mime(),
        width: full.image.width(),
        height: full.image.height(),
        preview: picture::png_bytes(&picture::to_rgb8(&completed, c, s)),
        gif,
        notes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inpaint::{Item, MaskKind, Settings};
    use crate::jobs::serve::lab;

    pub(crate) fn lab_config() -> lab::LabConfig {
        lab::LabConfig { faces: "data/olivetti".into(), emoji: "data/twemoji64".into(), out: std::env::temp_dir().join("dcgan-lab-unit") }
    }

    pub(crate) fn lab_setup() -> lab::Setup {
        lab::Setup { preset: &lab::PRESETS[0], source: lab::Source::Faces, hyper: lab::Hyper::default() }
    }

    fn job(iters: usize) -> Arc<Job> {
        let item = Item { name: "x".into(), image: vec![0.0; 16], mask: vec![1.0; 16] };
        let photo = super::super::jobs::PhotoJob { image: Arc::new(Vec::new()), mask: None, preset: MaskKind::Center { scale: 0.25 }, region: None, force_png: false };
        Job::new(0, item, MaskKind::File(Default::default()), Settings { iters, restarts: 1, batch: 1, ..Settings::default() }, photo, Vec::new())
    }

    fn generate() -> (Generate, tokio::sync::oneshot::Receiver<Result<Vec<f32>>>) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        (Generate { model: 0, z: vec![0.0; 4], reply }, rx)
    }

    /// G(z) requests have their own bound (503 past it), and requests whose client gave up
    /// free their place.
    #[test]
    fn generate_requests_wait_in_a_bounded_queue() {
        let q = Queue::new(4, 4, tests::lab_config());
        let mut waiting: Vec<_> = (0..GENERATE_QUEUE).map(|_| generate()).map(|(g, rx)| (q.submit_generate(g).is_ok(), rx)).collect();
        assert!(waiting.iter().all(|(ok, _)| *ok));
        assert!(matches!(q.submit_generate(generate().0), Err(Refused::Full { capacity: GENERATE_QUEUE })));
        waiting.pop(); // its client timed out
        let (g, _rx) = generate();
        assert!(q.submit_generate(g).is_ok(), "a place freed by a client that gave up is taken again");
        assert_eq!(q.stats().generate_waiting, GENERATE_QUEUE);
    }

    /// Between batches the worker alternates G(z) requests and completion batches: a flood
    /// of either never starves the other.
    #[test]
    fn generate_requests_and_batches_alternate() {
        let q = Queue::new(8, 1, tests::lab_config());
        let mut receivers = Vec::new();
        for _ in 0..3 {
            let (g, rx) = generate();
            q.submit_generate(g).unwrap_or_else(|_| panic!("room"));
            receivers.push(rx);
        }
        for _ in 0..3 {
            assert!(q.submit(job(5)).is_ok());
        }
        let kinds: Vec<&str> = (0..6)
            .map(|_| match q.take().expect("work") {
                Work::Generate(_) => "G",
                Work::Batch(_) => {
                    q.done_running(0, 0.0);
                    "B"
                }
                Work::Lab => "L",
            })
            .collect();
        assert_eq!(kinds, ["G", "B", "G", "B", "G", "B"]);
    }

    /// The Lab trains only when no completion job or G(z) request waits.
    #[test]
    fn completion_jobs_go_before_the_lab_s_training() {
        let q = Queue::new(8, 1, tests::lab_config());
        assert!(q.lab.command(crate::jobs::serve::lab::Command::Start(tests::lab_setup())).is_ok());
        assert!(q.submit(job(5)).is_ok() && q.submit(job(5)).is_ok());
        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(match q.take().expect("work") {
                Work::Batch(_) => {
                    q.done_running(0, 0.0);
                    "B"
                }
                Work::Generate(_) => "G",
                Work::Lab => "L",
            });
        }
        assert_eq!(kinds, ["B", "B", "L"]);
    }

    /// The queue's capacity counts waiting and running jobs; cancelling a waiting one frees
    /// its place at once and ends it as cancelled.
    #[test]
    fn a_cancelled_waiting_job_frees_its_place() {
        let q = Queue::new(2, 1, tests::lab_config());
        let (a, b) = (job(5), job(6));
        assert!(q.submit(a.clone()).is_ok() && q.submit(b.clone()).is_ok());
        assert!(matches!(q.submit(job(7)), Err(Refused::Full { capacity: 2 })));
        q.cancel(&b);
        assert!(matches!(b.ending(), Some(Ending::Cancelled)));
        assert!(q.submit(job(8)).is_ok());
    }
}
