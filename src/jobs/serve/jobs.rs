//! A completion job as the server keeps it: what was asked, its events in order (the SSE
//! stream replays them from the start, so a late subscriber misses nothing but old frames),
//! and how it ended. The worker thread writes, request handlers read; `changed` wakes the
//! readers.
//!
//! Memory stays bounded: only the last `REPLAY_FRAMES` frames keep their pictures in the
//! replay (older progress events keep their losses), a finished job thins its progress
//! events to at most `KEPT_PROGRESS`, and `retained_bytes` lets the server drop the oldest
//! finished jobs past a byte budget.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::inpaint::{Item, MaskKind, Settings};

/// What a job's event stream carries (`event:` is the variant's name in snake case).
#[derive(Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// Waiting; `position` jobs (this one included) are ahead in the queue or running, and
    /// the wait is about `eta_seconds` (from the measured speed; absent before any batch ran).
    /// Sent again whenever the position changes.
    Queued {
        position: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        eta_seconds: Option<f64>,
    },
    /// Taken by the worker, as one of `batch_jobs` jobs optimised together in `batch_rows`
    /// rows; `warnings` about the request (e.g. a mask that fills most of the region).
    Start { batch_jobs: usize, batch_rows: usize, iterations: usize, warnings: Vec<String> },
    /// Iteration `t` of `iterations`, in `phase` ("z", "ILO layer k"): the losses of this
    /// job's best restart so far, and every few iterations the frame: G(z) and the overlay
    /// of it into the known pixels (PNG data URLs, at the model's size).
    Progress {
        t: usize,
        iterations: usize,
        phase: String,
        contextual: f32,
        prior: f32,
        #[serde(skip_serializing_if = "Option::is_none")]
        generated: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        completed: Option<String>,
    },
    /// The optimisation is over; the result is being made at the photo's resolution.
    Blending,
    /// The result is ready: `result` at the photo's size and in its format (`width` x
    /// `height`), `preview` (the region at the model's size, PNG), `gif` (the progress
    /// animation); `notes` say how the result was made.
    Done {
        result: String,
        preview: String,
        gif: String,
        seconds: f64,
        width: u32,
        height: u32,
        notes: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        fit: Option<f32>,
        /// The picture looks unlike what the model knows (its fit is past the 99th percentile
        /// of theirs).
        #[serde(skip_serializing_if = "Option::is_none")]
        unlike: Option<bool>,
        /// What filled the hole: with method auto, the candidate self-validation chose
        /// (`biharmonic`, `dcgan-ilo-1`, ...); otherwise the method asked for.
        method: String,
        /// With method auto: the chosen candidate's description.
        #[serde(skip_serializing_if = "Option::is_none")]
        method_name: Option<String>,
    },
    Error { message: String },
    Cancelled,
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Queued { .. } => "queued",
            JobEvent::Start { .. } => "start",
            JobEvent::Progress { .. } => "progress",
            JobEvent::Blending => "blending",
            JobEvent::Done { .. } => "done",
            JobEvent::Error { .. } => "error",
            JobEvent::Cancelled => "cancelled",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, JobEvent::Done { .. } | JobEvent::Error { .. } | JobEvent::Cancelled)
    }

    /// Bytes this event holds on the heap beyond its own size (its pictures).
    fn heap_bytes(&self) -> usize {
        match self {
            JobEvent::Progress { generated, completed, phase, .. } => generated.as_ref().map_or(0, String::len) + completed.as_ref().map_or(0, String::len) + phase.len(),
            JobEvent::Start { warnings, .. } => warnings.iter().map(String::len).sum(),
            JobEvent::Done { result, preview, gif, notes, .. } => result.len() + preview.len() + gif.len() + notes.iter().map(String::len).sum::<usize>(),
            JobEvent::Error { message } => message.len(),
            _ => 0,
        }
    }

    fn has_frame(&self) -> bool {
        matches!(self, JobEvent::Progress { generated: Some(_), .. })
    }
}

/// A finished job's files.
pub struct Outcome {
    /// The result at the photo's size, in `mime` (its format, or PNG).
    pub result: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    /// The region as the model completed it, at the model's size (PNG).
    pub preview: Vec<u8>,
    pub gif: Vec<u8>,
    /// How the result was made (classical fills, colour from the surroundings, a format, a
    /// picture unlike what the model knows).
    pub notes: Vec<String>,
    /// How well the generator alone fits the known pixels, and whether that is past what
    /// 99% of the pictures the model knows reach (None: not calibrated, or no fit).
    pub fit: Option<f32>,
    pub unlike: Option<bool>,
    /// See `JobEvent::Done`.
    pub method: String,
    pub method_name: Option<String>,
}

/// What a job needs to make its result at the photo's resolution: the upload as it came (it
/// is decoded again then, so waiting jobs hold compressed bytes, not pixels).
pub struct PhotoJob {
    pub image: Arc<Vec<u8>>,
    /// The mask image as sent, or none for a preset.
    pub mask: Option<super::api::MaskInput>,
    /// The preset (`File` when a mask image was sent).
    pub preset: MaskKind,
    pub region: Option<crate::inpaint::photo::Region>,
    pub force_png: bool,
}

/// How a job ended.
#[derive(Clone)]
pub enum Ending {
    Done(Arc<Outcome>),
    /// By `DELETE`, or by its one-shot client hanging up.
    Cancelled,
    /// An error, or the server stopping before the job ended (said as such).
    Failed(String),
}

/// Frames whose pictures a job's replay keeps (the newest); older progress events keep
/// their losses only.
pub const REPLAY_FRAMES: usize = 4;
/// Progress events a finished job keeps (evenly spread, the last always among them).
pub const KEPT_PROGRESS: usize = 1000;

#[derive(Default)]
struct State {
    events: Vec<JobEvent>,
    /// Events dropped from the front of `events` by thinning: a reader's count of events
    /// seen stays meaningful (see `events_since`).
    dropped: usize,
    ending: Option<Ending>,
    heap_bytes: usize,
}

pub struct Job {
    /// An unguessable token (128 random bits): whoever knows it may read and cancel the job,
    /// nobody else can find it.
    pub id: String,
    pub model: usize,
    pub item: Item,
    /// Lowres (block means known) or a plain mask (`File`, the item's own).
    pub kind: MaskKind,
    pub settings: Settings,
    pub photo: PhotoJob,
    /// What the request earned (sent with `start`).
    pub warnings: Vec<String>,
    pub created: Instant,
    /// Rows it takes in a batch (`rows`), worked out once: the queue asks at every batching.
    rows: usize,
    cancel: AtomicBool,
    /// The position last announced (`announce`).
    last_position: std::sync::atomic::AtomicUsize,
    /// Why the server ended the job, when it was not its client (the server stopping).
    stopped: Mutex<Option<String>>,
    state: Mutex<State>,
    /// The number of events so far; bumped on every push.
    changed: tokio::sync::watch::Sender<usize>,
}

/// 128 random bits as 32 hex digits, from the operating system's random source.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // Without the OS's random source there is no safe token to make: nothing to fall back on.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("the operating system gives no random bytes: {e}"));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Job {
    pub fn new(model: usize, item: Item, kind: MaskKind, settings: Settings, photo: PhotoJob, warnings: Vec<String>) -> Arc<Job> {
        let s = (item.mask.len() as f64).sqrt() as usize;
        let rows = settings.restarts * crate::inpaint::rows_per_image(&item.mask, &settings, &kind, s).max(1);
        Arc::new(Job {
            rows,
            id: random_token(),
            model,
            item,
            kind,
            settings,
            photo,
            warnings,
            created: Instant::now(),
            cancel: AtomicBool::new(false),
            last_position: std::sync::atomic::AtomicUsize::new(0),
            stopped: Mutex::new(None),
            state: Mutex::new(State::default()),
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows this job takes in a batch: its restarts, and for auto with a wide hole, those of
    /// its validation copy (right after them).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Iterations its batch runs (with the final evaluation; 0 for a classical fill).
    pub fn iterations(&self) -> usize {
        match self.settings.method {
            crate::inpaint::Method::Auto | crate::inpaint::Method::Dcgan => self.settings.iterations() + 1,
            crate::inpaint::Method::Classical(_) => 0,
        }
    }

    /// Tell the job where it waits, when that changed.
    pub fn announce(&self, position: usize, eta_seconds: Option<f64>) {
        if self.last_position.swap(position, Ordering::Relaxed) != position {
            self.push(JobEvent::Queued { position, eta_seconds });
        }
    }

    /// Whether `self` can be optimised in one batch with `other`: the same model, objective
    /// and schedule. The seed (z is started per job) and the blend (applied per job) may differ.
    pub fn batches_with(&self, other: &Job) -> bool {
        let key = |j: &Job| Settings { seed: 0, blend: Default::default(), batch: 0, ..j.settings.clone() };
        self.model == other.model && (self.kind == MaskKind::LowRes) == (other.kind == MaskKind::LowRes) && key(self) == key(other)
    }

    pub fn push(&self, event: JobEvent) {
        let mut st = self.lock();
        if st.ending.is_some() {
            return;
        }
        if event.has_frame() {
            // Keep the pictures of the newest frames only.
            let mut framed = 0;
            for old in st.events.iter_mut().rev() {
                if let JobEvent::Progress { generated, completed, .. } = old
                    && generated.is_some()
                {
                    framed += 1;
                    if framed >= REPLAY_FRAMES {
                        let freed = generated.take().map_or(0, |g| g.len()) + completed.take().map_or(0, |c| c.len());
                        st.heap_bytes -= freed;
                        break;
                    }
                }
            }
        }
        st.heap_bytes += event.heap_bytes();
        st.events.push(event);
        let n = st.dropped + st.events.len();
        drop(st);
        self.changed.send_replace(n);
    }

    /// End the job (the first call wins). A finished job's progress events are thinned to
    /// `KEPT_PROGRESS`.
    pub fn finish(&self, ending: Ending) {
        let mut st = self.lock();
        if st.ending.is_some() {
            return;
        }
        let event = match &ending {
            Ending::Done(o) => JobEvent::Done {
                result: format!("/api/v1/jobs/{}/result", self.id),
                preview: format!("/api/v1/jobs/{}/preview.png", self.id),
                gif: format!("/api/v1/jobs/{}/progress.gif", self.id),
                seconds: self.created.elapsed().as_secs_f64(),
                width: o.width,
                height: o.height,
                notes: o.notes.clone(),
                fit: o.fit,
                unlike: o.unlike,
                method: o.method.clone(),
                method_name: o.method_name.clone(),
            },
            Ending::Cancelled => JobEvent::Cancelled,
            Ending::Failed(message) => JobEvent::Error { message: message.clone() },
        };
        st.heap_bytes += event.heap_bytes();
        st.events.push(event);
        st.ending = Some(ending);
        let n = st.dropped + st.events.len();
        drop(st);
        self.changed.send_replace(n);
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The server ends the job (it is stopping): it stops like a cancelled one, and ends as
    /// failed with `why`, so its client is not told it cancelled.
    pub fn stop(&self, why: &str) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
        self.cancel();
    }

    /// How a job the worker saw cancelled ends: failed when the server stopped it.
    pub fn cancelled_ending(&self) -> Ending {
        match self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(why) => Ending::Failed(why),
            None => Ending::Cancelled,
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn finished(&self) -> bool {
        self.lock().ending.is_some()
    }

    /// Events after the first `seen` (counted over the job's life); `seen` moves past events
    /// thinned away meanwhile.
    pub fn events_since(&self, seen: usize) -> (Vec<JobEvent>, usize) {
        let st = self.lock();
        let from = seen.saturating_sub(st.dropped);
        let events = st.events.get(from..).map(<[JobEvent]>::to_vec).unwrap_or_default();
        (events, st.dropped + st.events.len())
    }

    pub fn ending(&self) -> Option<Ending> {
        self.lock().ending.clone()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<usize> {
        self.changed.subscribe()
    }

    /// Thin a finished job's progress events to `KEPT_PROGRESS` (the first, the last and
    /// evenly spread ones between). Readers that are part-way keep their place.
    pub fn compact(&self) {
        let mut st = self.lock();
        let progress = st.events.iter().filter(|e| matches!(e, JobEvent::Progress { .. })).count();
        if st.ending.is_none() || progress <= KEPT_PROGRESS {
            return;
        }
        let every = progress.div_ceil(KEPT_PROGRESS);
        let mut k = 0;
        let events = std::mem::take(&mut st.events);
        let old_len = events.len();
        let last_progress = events.iter().rposition(|e| matches!(e, JobEvent::Progress { .. }));
        let mut kept = Vec::with_capacity(KEPT_PROGRESS + 8);
        for (i, e) in events.into_iter().enumerate() {
            if matches!(e, JobEvent::Progress { .. }) {
                k += 1;
                if (k - 1) % every != 0 && Some(i) != last_progress {
                    st.heap_bytes -= e.heap_bytes();
                    continue;
                }
            }
            kept.push(e);
        }
        // Readers count events over the job's life: what was thinned counts as dropped from
        // the front, so a reader part-way still reaches the end (it may skip a few losses).
        st.dropped += old_len - kept.len();
        st.events = kept;
    }

    /// Bytes this job holds: its events and its files.
    pub fn retained_bytes(&self) -> usize {
        let st = self.lock();
        let files = match &st.ending {
            Some(Ending::Done(o)) => o.result.len() + o.preview.len() + o.gif.len(),
            _ => 0,
        };
        // The upload is kept until the job ends (its result is made from it).
        let upload = if st.ending.is_some() { 0 } else { self.photo.image.len() + self.photo.mask.as_ref().map_or(0, |m| m.bytes.len()) };
        st.heap_bytes + st.events.len() * std::mem::size_of::<JobEvent>() + files + upload + self.item.image.len() * 4 + self.item.mask.len() * 4
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn job() -> Arc<Job> {
        let item = Item { name: "x".into(), image: vec![0.0; 16], mask: vec![1.0; 16] };
        let photo = PhotoJob { image: Arc::new(Vec::new()), mask: None, preset: MaskKind::Center { scale: 0.25 }, region: None, force_png: false };
        Job::new(0, item, MaskKind::File(Default::default()), Settings::default(), photo, Vec::new())
    }

    fn progress(t: usize, framed: bool) -> JobEvent {
        let picture = framed.then(|| "p".repeat(10_000));
        JobEvent::Progress { t, iterations: 25_001, phase: "z".into(), contextual: 1.0, prior: 0.1, generated: picture.clone(), completed: picture }
    }

    /// A job of 25 000 iterations with a frame at each keeps the pictures of the newest few
    /// frames only, and once finished at most `KEPT_PROGRESS` progress events; a reader still
    /// reaches the end.
    #[test]
    fn a_long_job_keeps_bounded_memory() {
        let j = job();
        let mut reader = 0;
        for t in 0..25_001 {
            j.push(progress(t, true));
            if t == 100 {
                reader = j.events_since(0).1;
            }
        }
        let framed = j.events_since(0).0.iter().filter(|e| e.has_frame()).count();
        assert_eq!(framed, REPLAY_FRAMES);
        assert!(j.retained_bytes() < 2 * REPLAY_FRAMES * 20_000 + 25_001 * (std::mem::size_of::<JobEvent>() + 1) + 4096, "{}", j.retained_bytes());
        j.finish(Ending::Cancelled);
        j.compact();
        let (events, total) = j.events_since(0);
        let kept = events.iter().filter(|e| matches!(e, JobEvent::Progress { .. })).count();
        assert!(kept <= KEPT_PROGRESS + 1, "{kept}");
        assert!(matches!(events.last(), Some(JobEvent::Cancelled)));
        assert!(matches!(events[events.len() - 2], JobEvent::Progress { t: 25_000, .. }), "the last loss is kept");
        assert_eq!(total, 25_002);
        let (rest, _) = j.events_since(reader);
        assert!(matches!(rest.last(), Some(JobEvent::Cancelled)), "a reader part-way still gets the end");
    }

    #[test]
    fn ids_are_unguessable_tokens() {
        let (a, b) = (job(), job());
        assert_ne!(a.id, b.id);
        assert!(a.id.len() == 32 && a.id.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
