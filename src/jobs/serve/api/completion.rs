//! Completion jobs over HTTP: create one (202 and its URLs), the one-shot that IOPaint's
//! clients call (the result's bytes in the answer, at the photo's size and in its format),
//! cancel (only `DELETE` cancels), its Server-Sent Events, its files; and G(z) for the
//! explore panel, through the queue with its own bound and a timeout.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::request::{Dialect, parse_request};
use super::{ApiError, ApiResult, App};
use crate::jobs::serve::jobs::{Ending, Job, JobEvent, Outcome};
use crate::jobs::serve::queue::{Generate, Queue, Refused, data_url};

impl App {
    /// Queue a job and keep it findable; 503 with Retry-After when the queue is full.
    fn submit(&self, job: Arc<Job>) -> ApiResult<()> {
        self.remember(job.clone());
        self.queue.submit(job.clone()).map_err(|refused| {
            self.forget(&job.id);
            match refused {
                Refused::Full { capacity } => ApiError::busy(format!("the queue is full ({capacity} jobs): try again in a few seconds"), 5),
                Refused::Closed => ApiError::busy("the server is shutting down", 5),
            }
        })
    }
}

pub async fn create_job(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let (job, warnings) = app.job_from(parse_request(req, app.limits.max_body, Dialect::Jobs).await?).await?;
    app.submit(job.clone())?;
    let id = &job.id;
    let body = serde_json::json!({
        "id": id,
        "events": format!("/api/v1/jobs/{id}/events"),
        "result": format!("/api/v1/jobs/{id}/result"),
        "preview": format!("/api/v1/jobs/{id}/preview.png"),
        "gif": format!("/api/v1/jobs/{id}/progress.gif"),
        "cancel": format!("/api/v1/jobs/{id}"),
        "seed": job.settings.seed,
        "warnings": warnings,
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Cancels its job when dropped before the job ended: the one-shot's client hanging up.
struct CancelOnDrop(Arc<Job>, Arc<Queue>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.0.finished() {
            self.1.cancel(&self.0);
        }
    }
}

/// Comma-separated text for a header (what is not a visible ASCII character becomes '?').
fn header_text(items: &[String]) -> axum::http::HeaderValue {
    let text: String = items.join(", ").chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    axum::http::HeaderValue::from_str(&text).unwrap_or(axum::http::HeaderValue::from_static(""))
}

/// One-shot, as IOPaint's `POST /api/v1/inpaint` (its body as its web app sends it, `mask`
/// white = fill; the project's own fields too): complete and answer with the result's bytes
/// at the photo's size and in its format, with `X-Seed`, and `X-Ignored-Fields` /
/// `X-Warnings` when there are some. A client that hangs up cancels its job (its own
/// connection is the only one that knows the job).
pub async fn inpaint(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let parsed = parse_request(req, app.limits.max_body, Dialect::IoPaint).await?;
    let ignored = parsed.ignored.clone();
    let (job, warnings) = app.job_from(parsed).await?;
    let mut changed = job.subscribe();
    app.submit(job.clone())?;
    let _guard = CancelOnDrop(job.clone(), app.queue.clone());
    loop {
        if let Some(ending) = job.ending() {
            return match ending {
                Ending::Done(files) => {
                    let mut response = ([(header::CONTENT_TYPE, files.mime)], files.result.clone()).into_response();
                    let headers = response.headers_mut();
                    headers.insert("x-seed", job.settings.seed.into());
                    if !ignored.is_empty() {
                        headers.insert("x-ignored-fields", header_text(&ignored));
                    }
                    let said: Vec<String> = warnings.iter().chain(&files.notes).cloned().collect();
                    if !said.is_empty() {
                        headers.insert("x-warnings", header_text(&said));
                    }
                    Ok(response)
                }
                Ending::Cancelled => Err(ApiError::busy("the job was cancelled", 5)),
                Ending::Failed(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
            };
        }
        if changed.changed().await.is_err() {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the job was lost"));
        }
    }
}

/// A job's id as the API gave it: 32 hex digits.
fn job_id(text: &str) -> ApiResult<&str> {
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text)
    } else {
        Err(ApiError::bad(format!("'{text}' is not a job id (the 32 hex digits its creation returned)")))
    }
}

pub async fn cancel_job(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let job = app.job(job_id(&id)?)?;
    app.queue.cancel(&job);
    Ok(StatusCode::ACCEPTED)
}

/// The job's events as Server-Sent Events, from its first; the stream ends after done,
/// error or cancelled. Closing it changes nothing (cancel with `DELETE`).
pub async fn events(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let job = app.job(job_id(&id)?)?;
    struct Cursor {
        job: Arc<Job>,
        rx: tokio::sync::watch::Receiver<usize>,
        seen: usize,
        pending: VecDeque<JobEvent>,
        ended: bool,
    }
    let start = Cursor { rx: job.subscribe(), job, seen: 0, pending: VecDeque::new(), ended: false };
    let stream = futures_util::stream::unfold(start, |mut cur| async move {
        loop {
            if let Some(event) = cur.pending.pop_front() {
                cur.ended = event.is_final();
                let sse = Event::default().event(event.name()).json_data(&event).unwrap_or_else(|_| Event::default().comment("unencodable event"));
                return Some((Ok(sse), cur));
            }
            if cur.ended {
                return None;
            }
            let (fresh, seen) = cur.job.events_since(cur.seen);
            if fresh.is_empty() {
                if cur.rx.changed().await.is_err() {
                    return None;
                }
                continue;
            }
            cur.seen = seen;
            cur.pending.extend(fresh);
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

fn finished_file(app: &App, id: &str, pick: fn(&Outcome) -> (&Vec<u8>, &'static str)) -> ApiResult<Response> {
    let id = job_id(id)?;
    match app.job(id)?.ending() {
        None => Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} has not finished: wait for its done event"))),
        Some(Ending::Cancelled) => Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} was cancelled: it has no result"))),
        Some(Ending::Failed(e)) => Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} failed, without a result: {e}"))),
        Some(Ending::Done(files)) => {
            let (bytes, kind) = pick(&files);
            Ok(([(header::CONTENT_TYPE, kind)], bytes.clone()).into_response())
        }
    }
}

/// The result at the photo's size, in its format.
pub async fn result(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    finished_file(&app, &id, |o| (&o.result, o.mime))
}

/// The region as the model completed it, at the model's size.
pub async fn preview_png(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    finished_file(&app, &id, |o| (&o.preview, "image/png"))
}

pub async fn progress_gif(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    finished_file(&app, &id, |o| (&o.gif, "image/gif"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    model: Option<String>,
    /// Rows of z, each of the model's z_dim.
    z: Vec<Vec<f32>>,
}

/// Most rows of z one generate request may send.
const MAX_GENERATE: usize = 64;
/// How long a G(z) request waits for the GPU before it is answered 503.
const GENERATE_TIMEOUT: Duration = Duration::from_secs(30);

/// G(z) for the explore panel: PNG data URLs, one per row of z.
pub async fn generate(State(app): State<Arc<App>>, body: Result<Json<GenerateRequest>, axum::extract::rejection::JsonRejection>) -> ApiResult<Json<serde_json::Value>> {
    let Json(req) = body.map_err(|e| ApiError::new(if e.status().is_client_error() { e.status() } else { StatusCode::BAD_REQUEST }, e.body_text()))?;
    let (index, m) = app.model_or_default(req.model.as_deref())?;
    if req.z.is_empty() || req.z.len() > MAX_GENERATE {
        return Err(ApiError::unprocessable(format!("z must hold 1 to {MAX_GENERATE} rows, got {}", req.z.len())));
    }
    if let Some(bad) = req.z.iter().position(|row| row.len() != m.z_dim) {
        return Err(ApiError::unprocessable(format!("z row {bad} has {} values; model '{}' needs {}", req.z[bad].len(), m.name, m.z_dim)));
    }
    if req.z.iter().flatten().any(|v| !v.is_finite() || v.abs() > 10.0) {
        return Err(ApiError::unprocessable("z values must be finite and within [-10, 10] (the model was trained on [-1, 1])"));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.queue.submit_generate(Generate { model: index, z: req.z.concat(), reply: tx }).map_err(|refused| match refused {
        Refused::Full { capacity } => ApiError::busy(format!("{capacity} G(z) requests already wait: try again in a moment"), 1),
        Refused::Closed => ApiError::busy("the server is shutting down", 5),
    })?;
    let images = match tokio::time::timeout(GENERATE_TIMEOUT, rx).await {
        Err(_) => return Err(ApiError::busy(format!("the GPU did not get to this request within {} s: try again", GENERATE_TIMEOUT.as_secs()), 5)),
        Ok(Err(_)) => return Err(ApiError::busy("the server is shutting down", 5)),
        Ok(Ok(images)) => images.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    };
    let plane = m.channels * m.size * m.size;
    let urls: Vec<String> = images.chunks(plane).map(|img| data_url(img, m.channels, m.size)).collect();
    Ok(Json(serde_json::json!({ "images": urls })))
}
