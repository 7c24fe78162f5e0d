//! A completion job as the server keeps it: what was asked, its events in order (the SSE
//! stream replays them from the start, so a late subscriber misses nothing), and its outcome.
//! The worker thread writes, request handlers read; `changed` wakes the readers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::inpaint::{Item, MaskKind, Settings};

/// What a job's event stream carries (`event:` is the variant's name in snake case).
#[derive(Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// Accepted; `position` jobs (this one included) are ahead in the queue or running.
    Queued { position: usize },
    /// Taken by the worker, as one of `batch_jobs` jobs optimised together in `batch_rows` rows.
    Start { batch_jobs: usize, batch_rows: usize, iterations: usize },
    /// Iteration `t` of `iterations`: the losses of this job's best restart so far, and every
    /// few iterations the frame: G(z) and the overlay of it into the known pixels (PNG data URLs).
    Progress {
        t: usize,
        iterations: usize,
        contextual: f32,
        prior: f32,
        #[serde(skip_serializing_if = "Option::is_none")]
        generated: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        completed: Option<String>,
    },
    /// The result is ready at `result` (PNG) and `gif` (the progress animation).
    Done { result: String, gif: String, seconds: f64 },
    Error { message: String },
    Cancelled,
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Queued { .. } => "queued",
            JobEvent::Start { .. } => "start",
            JobEvent::Progress { .. } => "progress",
            JobEvent::Done { .. } => "done",
            JobEvent::Error { .. } => "error",
            JobEvent::Cancelled => "cancelled",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, JobEvent::Done { .. } | JobEvent::Error { .. } | JobEvent::Cancelled)
    }
}

/// A finished job's files.
pub struct Outcome {
    pub png: Vec<u8>,
    pub gif: Vec<u8>,
}

#[derive(Default)]
struct State {
    events: Vec<JobEvent>,
    outcome: Option<std::result::Result<Arc<Outcome>, String>>,
}

pub struct Job {
    pub id: u64,
    pub model: usize,
    pub item: Item,
    /// Lowres (block means known) or a plain mask (`File`, the item's own).
    pub kind: MaskKind,
    pub settings: Settings,
    pub created: Instant,
    cancel: AtomicBool,
    state: Mutex<State>,
    /// The number of events so far; bumped on every push.
    changed: tokio::sync::watch::Sender<usize>,
}

pub const CANCELLED: &str = "cancelled";

impl Job {
    pub fn new(id: u64, model: usize, item: Item, kind: MaskKind, settings: Settings) -> Arc<Job> {
        Arc::new(Job {
            id,
            model,
            item,
            kind,
            settings,
            created: Instant::now(),
            cancel: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows this job takes in a batch.
    pub fn rows(&self) -> usize {
        self.settings.restarts
    }

    /// Whether `self` can be optimised in one batch with `other`: the same model, objective
    /// and schedule. The seed (z is started per job) and the blend (applied per job) may differ.
    pub fn batches_with(&self, other: &Job) -> bool {
        let key = |j: &Job| Settings { seed: 0, blend: Default::default(), batch: 0, ..j.settings.clone() };
        self.model == other.model && (self.kind == MaskKind::LowRes) == (other.kind == MaskKind::LowRes) && key(self) == key(other)
    }

    pub fn push(&self, event: JobEvent) {
        let mut st = self.lock();
        if st.outcome.is_some() {
            return;
        }
        st.events.push(event);
        let n = st.events.len();
        drop(st);
        self.changed.send_replace(n);
    }

    /// End the job (the first call wins): done, cancelled or failed.
    pub fn finish(&self, outcome: std::result::Result<Outcome, String>) {
        let mut st = self.lock();
        if st.outcome.is_some() {
            return;
        }
        let event = match &outcome {
            Ok(_) => JobEvent::Done {
                result: format!("/api/v1/jobs/{}/result.png", self.id),
                gif: format!("/api/v1/jobs/{}/progress.gif", self.id),
                seconds: self.created.elapsed().as_secs_f64(),
            },
            Err(e) if e == CANCELLED => JobEvent::Cancelled,
            Err(e) => JobEvent::Error { message: e.clone() },
        };
        st.events.push(event);
        st.outcome = Some(outcome.map(Arc::new));
        let n = st.events.len();
        drop(st);
        self.changed.send_replace(n);
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn finished(&self) -> bool {
        self.lock().outcome.is_some()
    }

    /// Events from `from` on.
    pub fn events_since(&self, from: usize) -> Vec<JobEvent> {
        self.lock().events.get(from..).map(<[JobEvent]>::to_vec).unwrap_or_default()
    }

    pub fn outcome(&self) -> Option<std::result::Result<Arc<Outcome>, String>> {
        self.lock().outcome.clone()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<usize> {
        self.changed.subscribe()
    }
}
