//! The HTTP API (documented in the README) and the page's files. Every request is parsed
//! and checked here, so bad input is a 4xx with a message naming the field and the fix;
//! the GPU work goes through the queue (`queue.rs`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;

use super::jobs::{CANCELLED, Job, JobEvent};
use super::queue::{Queue, Refused, Work, data_url};
use crate::inpaint::{Blend, Classical, Item, MaskKind, Method, Settings, mask};
use crate::io::data::{self, DecodeFailure};
use crate::io::picture;
use crate::model::inpaint::Prior;

/// What the page and the API know of a model.
#[derive(Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub channels: usize,
    pub size: usize,
    pub z_dim: usize,
    /// Stages of G that ILO may free: 0..=max_ilo_layers.
    pub max_ilo_layers: usize,
    /// Example images, served prepared at /api/v1/models/{name}/examples/{file}.
    pub examples: Vec<String>,
    #[serde(skip)]
    pub example_dir: Option<std::path::PathBuf>,
}

/// Limits on what one request may ask.
#[derive(Clone, Copy)]
pub struct Limits {
    pub max_body: usize,
    /// Rows (images x restarts) per batch: also the most restarts one job may ask.
    pub max_rows: usize,
}

pub struct App {
    pub queue: Arc<Queue>,
    pub models: Vec<ModelInfo>,
    pub limits: Limits,
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

/// Finished jobs kept for their results (the oldest go first).
const KEEP_JOBS: usize = 64;

impl App {
    pub fn new(queue: Arc<Queue>, models: Vec<ModelInfo>, limits: Limits) -> App {
        App { queue, models, limits, jobs: Mutex::new(VecDeque::new()) }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn job(&self, id: u64) -> Result<Arc<Job>, ApiError> {
        self.jobs().iter().find(|j| j.id == id).cloned().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id} (finished jobs are kept for a while, then forgotten)")))
    }

    fn model(&self, name: &str) -> Result<(usize, &ModelInfo), ApiError> {
        self.models.iter().enumerate().find(|(_, m)| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown model '{name}': this server has {}", names.join(", ")))
        })
    }

    /// Cancel every job (the server is stopping).
    pub fn cancel_all(&self) {
        let jobs: Vec<Arc<Job>> = self.jobs().iter().cloned().collect();
        for job in jobs {
            self.queue.cancel(&job);
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let limit = app.limits.max_body;
    Router::new()
        .route("/", get(|| async { page(PAGE_HTML, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(PAGE_JS, "text/javascript; charset=utf-8") }))
        .route("/style.css", get(|| async { page(PAGE_CSS, "text/css; charset=utf-8") }))
        .route("/api/v1/models", get(models))
        .route("/api/v1/models/{model}/examples/{file}", get(example))
        .route("/api/v1/models/{model}/masks/{preset}", get(preset_mask))
        .route("/api/v1/prepare", post(prepare))
        .route("/api/v1/inpaint", post(inpaint))
        .route("/api/v1/jobs", post(create_job))
        .route("/api/v1/jobs/{id}", delete(cancel_job))
        .route("/api/v1/jobs/{id}/events", get(events))
        .route("/api/v1/jobs/{id}/result.png", get(result_png))
        .route("/api/v1/jobs/{id}/progress.gif", get(progress_gif))
        .route("/api/v1/generate", post(generate))
        .route("/api/v1/stats", get(stats))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API route: see the README's API section") })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(app)
}

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");

fn page(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn png(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

/// An error answer: `{"error": message}` with a 4xx (or 5xx) status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after: None }
    }
    fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ---- requests ----

/// Options of a completion; absent ones take the server's defaults (`defaults`).
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    method: Option<String>,
    iters: Option<usize>,
    restarts: Option<usize>,
    lam: Option<f32>,
    lr: Option<f32>,
    prior: Option<String>,
    window: Option<usize>,
    blend: Option<String>,
    hybrid_weight: Option<f32>,
    ilo_layers: Option<usize>,
    ilo_iters: Option<usize>,
    ilo_radius: Option<f32>,
    seed: Option<u64>,
    frames_every: Option<usize>,
    center_scale: Option<f32>,
    missing: Option<f32>,
}

/// The server's defaults: `complete`'s, with 200 z iterations (as `complete --quick`) and a
/// live frame every 10 iterations.
pub fn defaults() -> Settings {
    Settings { iters: 200, frames_every: 10, ..Settings::default() }
}

const MAX_ITERS: usize = 5000;

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(name: &str, v: T, lo: T, hi: T) -> ApiResult<T> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(ApiError::unprocessable(format!("options.{name} must be between {lo} and {hi}, got {v}")))
    }
}

fn choice<T: Copy>(name: &str, v: &str, table: &[(&str, T)]) -> ApiResult<T> {
    table.iter().find(|(k, _)| *k == v).map(|(_, t)| *t).ok_or_else(|| {
        ApiError::unprocessable(format!("options.{name} '{v}' is not one of {}", table.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")))
    })
}

impl Options {
    fn settings(&self, model: &ModelInfo, max_rows: usize) -> ApiResult<Settings> {
        let d = defaults();
        let mut s = d.clone();
        if let Some(m) = &self.method {
            s.method = choice("method", m, &[
                ("dcgan", Method::Dcgan),
                ("mean", Method::Classical(Classical::MeanFill)),
                ("harmonic", Method::Classical(Classical::Harmonic)),
                ("biharmonic", Method::Classical(Classical::Biharmonic)),
            ])?;
        }
        if let Some(v) = self.iters { s.iters = in_range("iters", v, 1, MAX_ITERS)?; }
        if let Some(v) = self.restarts { s.restarts = in_range("restarts", v, 1, max_rows)?; }
        if let Some(v) = self.lam { s.lam = in_range("lam", v, 0.0, 10.0)?; }
        if let Some(v) = self.lr { s.adam.lr = in_range("lr", v, 1e-6, 1.0)?; }
        if let Some(p) = &self.prior { s.prior = choice("prior", p, &[("paper", Prior::Paper), ("nonsaturating", Prior::NonSaturating)])?; }
        if let Some(v) = self.window { s.weighted_window = in_range("window", v, 0, model.size)?; }
        let weight = in_range("hybrid_weight", self.hybrid_weight.unwrap_or(crate::inpaint::blend::HYBRID_WEIGHT), 0.0, 1.0)?;
        if let Some(b) = &self.blend {
            s.blend = choice("blend", b, &[
                ("poisson", Blend::Poisson),
                ("biharmonic", Blend::Biharmonic),
                ("overlay", Blend::None),
                ("hybrid", Blend::Hybrid { weight }),
            ])?;
        }
        if let Some(v) = self.ilo_layers { s.ilo_layers = in_range("ilo_layers", v, 0, model.max_ilo_layers)?; }
        if let Some(v) = self.ilo_iters { s.ilo_iters = in_range("ilo_iters", v, 0, MAX_ITERS)?; }
        if let Some(v) = self.ilo_radius { s.ilo_radius = in_range("ilo_radius", v, 1e-3, 100.0)?; }
        if let Some(v) = self.seed { s.seed = v; }
        if let Some(v) = self.frames_every { s.frames_every = in_range("frames_every", v, 1, 1000)?; }
        s.batch = s.restarts;
        if s.ilo_layers == 0 {
            s.ilo_iters = d.ilo_iters; // irrelevant without freed layers; keeps such jobs batchable
        }
        s.validate(model.size, model.max_ilo_layers + 1).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        Ok(s)
    }

    /// The preset mask kinds the API knows (a mask PNG is sent as `mask`).
    fn preset(&self, name: &str) -> ApiResult<MaskKind> {
        let scale = in_range("center_scale", self.center_scale.unwrap_or(0.25), 0.01, 0.49)?;
        let missing = in_range("missing", self.missing.unwrap_or(0.8), 0.01, 0.99)?;
        const PRESETS: [&str; 10] = ["center", "left", "right", "top", "bottom", "half", "random", "grid", "pattern", "lowres"];
        if !PRESETS.contains(&name) {
            return Err(ApiError::unprocessable(format!("unknown preset '{name}': use one of {}", PRESETS.join(", "))));
        }
        MaskKind::parse(name, scale, missing).map_err(|e| ApiError::unprocessable(e.to_string()))
    }
}

/// A completion request in JSON: images as base64 or data URLs.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    model: Option<String>,
    image: Option<String>,
    mask: Option<String>,
    preset: Option<String>,
    #[serde(default)]
    options: Options,
}

/// A completion request, from JSON or multipart.
struct Parsed {
    model: Option<String>,
    image: Option<Vec<u8>>,
    mask: Option<Vec<u8>>,
    preset: Option<String>,
    options: Options,
}

fn base64_image(field: &str, text: &str) -> ApiResult<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, b)| b).ok_or_else(|| ApiError::bad(format!("{field}: a data URL without ','")))?,
        None => text,
    };
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| ApiError::bad(format!("{field} is not base64 (nor a data URL): {e}")))
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, text)
}

async fn parse_request(req: Request, max_body: usize) -> ApiResult<Parsed> {
    // Refused from its Content-Length before a byte of it is read (a body without one is
    // cut off at the limit by DefaultBodyLimit).
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > max_body as u64) {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is {n} bytes; this server takes at most {max_body} (--max-body-mib)")));
    }
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if kind.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &()).await.map_err(|e| rejection(e.status(), e.body_text()))?;
        let mut p = Parsed { model: None, image: None, mask: None, preset: None, options: Options::default() };
        while let Some(field) = form.next_field().await.map_err(|e| rejection(e.status(), e.body_text()))? {
            let name = field.name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| rejection(e.status(), e.body_text()))?;
            let text = || String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad(format!("field '{name}' is not UTF-8 text")));
            match name.as_str() {
                "model" => p.model = Some(text()?),
                "preset" => p.preset = Some(text()?),
                "options" => p.options = serde_json::from_str(&text()?).map_err(|e| ApiError::unprocessable(format!("options: {e}")))?,
                "image" => p.image = Some(bytes.to_vec()),
                "mask" => p.mask = Some(bytes.to_vec()),
                other => return Err(ApiError::unprocessable(format!("unknown field '{other}': send model, image, mask or preset, and options (JSON)"))),
            }
        }
        Ok(p)
    } else if kind.starts_with("application/json") {
        let Json(j): Json<JsonRequest> = Json::from_request(req, &()).await.map_err(|e| rejection(e.status(), e.body_text()))?;
        Ok(Parsed {
            image: j.image.as_deref().map(|t| base64_image("image", t)).transpose()?,
            mask: j.mask.as_deref().map(|t| base64_image("mask", t)).transpose()?,
            model: j.model,
            preset: j.preset,
            options: j.options,
        })
    } else {
        Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json or multipart/form-data (see the README's API section)"))
    }
}

fn decode(bytes: &[u8], size: usize, what: &str) -> ApiResult<image::DynamicImage> {
    data::decode_bytes(bytes, size, what).map_err(|(kind, e)| match kind {
        DecodeFailure::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        DecodeFailure::NotAnImage => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
        DecodeFailure::Corrupt => ApiError::unprocessable(e.to_string()),
    })
}

impl App {
    fn model_or_default(&self, name: Option<&str>) -> ApiResult<(usize, &ModelInfo)> {
        match name {
            Some(n) => self.model(n),
            None => Ok((0, &self.models[0])),
        }
    }

    /// Check a request and make its job (not yet queued).
    fn job_from(&self, p: Parsed) -> ApiResult<Arc<Job>> {
        let (index, model) = self.model_or_default(p.model.as_deref())?;
        let (c, s) = (model.channels, model.size);
        let settings = p.options.settings(model, self.limits.max_rows)?;
        let bytes = p.image.ok_or_else(|| ApiError::unprocessable("no image: send the image to complete as 'image'"))?;
        let decoded = decode(&bytes, s, "'image'")?;
        let image = data::convert(&decoded, c, s);
        let (kind, mask) = match (p.mask, p.preset.as_deref()) {
            (Some(_), Some(_)) => return Err(ApiError::unprocessable("send either a mask image or a preset, not both")),
            (None, None) => return Err(ApiError::unprocessable("no mask: send 'mask' (a PNG, white = keep, black = fill) or a 'preset' (center, random, half, pattern, grid, lowres, ...)")),
            (Some(bytes), None) => {
                let m = decode(&bytes, s, "'mask'")?;
                if (m.width(), m.height()) != (decoded.width(), decoded.height()) {
                    return Err(ApiError::unprocessable(format!(
                        "the mask is {}x{} but the image is {}x{}: a mask must have the image's size",
                        m.width(),
                        m.height(),
                        decoded.width(),
                        decoded.height()
                    )));
                }
                (MaskKind::File(Default::default()), mask::from_image(&m, s, "the mask").0)
            }
            (None, Some(name)) => {
                let kind = p.options.preset(name)?;
                let m = mask::make(&kind, s, settings.seed, 0).map_err(|e| ApiError::unprocessable(e.to_string()))?;
                (if kind == MaskKind::LowRes { kind } else { MaskKind::File(Default::default()) }, m)
            }
        };
        let known = mask.iter().filter(|v| **v > 0.5).count();
        if kind != MaskKind::LowRes && known == 0 {
            return Err(ApiError::unprocessable("the mask keeps no pixel (all black), so there is nothing to match: white = keep"));
        }
        if kind != MaskKind::LowRes && known == mask.len() {
            return Err(ApiError::unprocessable("the mask keeps every pixel (all white), so there is nothing to complete: black = fill"));
        }
        let item = Item { name: "upload".into(), image, mask };
        Ok(Job::new(self.queue.next_id(), index, item, kind, settings))
    }

    /// Queue a job and keep it findable; 503 with Retry-After when the queue is full.
    fn submit(&self, job: Arc<Job>) -> ApiResult<()> {
        {
            let mut jobs = self.jobs();
            jobs.push_back(job.clone());
            while jobs.len() > KEEP_JOBS {
                match jobs.iter().position(|j| j.finished()) {
                    Some(k) => drop(jobs.remove(k)),
                    None => break,
                }
            }
        }
        self.queue.submit(Work::Complete(job.clone())).map_err(|refused| {
            self.jobs().retain(|j| j.id != job.id);
            match refused {
                Refused::Full { capacity } => ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: format!("the queue is full ({capacity} jobs): try again in a few seconds"),
                    retry_after: Some(5),
                },
                Refused::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
            }
        })
    }
}

/// Cancels its job when dropped before the job ended: a client that goes away cancels.
struct CancelOnDrop(Arc<Job>, Arc<Queue>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.0.finished() {
            self.1.cancel(&self.0);
        }
    }
}

// ---- handlers ----

/// An f32 as the f64 with the same shortest decimal form (0.003, not 0.0030000000260770321).
fn tidy(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

async fn models(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let d = defaults();
    Json(serde_json::json!({
        "models": app.models,
        "defaults": { "iters": d.iters, "restarts": d.restarts, "lam": tidy(d.lam), "lr": tidy(d.adam.lr), "prior": "paper",
            "window": d.weighted_window, "blend": "poisson", "hybrid_weight": tidy(crate::inpaint::blend::HYBRID_WEIGHT),
            "method": "dcgan", "ilo_layers": d.ilo_layers, "ilo_iters": d.ilo_iters, "ilo_radius": tidy(d.ilo_radius),
            "seed": d.seed, "frames_every": d.frames_every },
        "limits": { "max_body_bytes": app.limits.max_body, "max_restarts": app.limits.max_rows, "max_iters": MAX_ITERS },
    }))
}

/// A shipped example, centre-cropped and resized to the model's size.
async fn example(State(app): State<Arc<App>>, Path((model, file)): Path<(String, String)>) -> ApiResult<Response> {
    let (_, m) = app.model(&model)?;
    let dir = m.example_dir.as_ref().filter(|_| m.examples.contains(&file)).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("model '{model}' has no example '{file}'")))?;
    let (c, s) = (m.channels, m.size);
    let image = data::load_image(&dir.join(&file), c, s).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(png(picture::png_bytes(&picture::to_rgb8(&image, c, s))))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetQuery {
    seed: Option<u64>,
    center_scale: Option<f32>,
    missing: Option<f32>,
}

/// A preset mask as a PNG (white = keep), for the page to edit further.
async fn preset_mask(State(app): State<Arc<App>>, Path((model, preset)): Path<(String, String)>, Query(q): Query<PresetQuery>) -> ApiResult<Response> {
    let (_, m) = app.model(&model)?;
    let options = Options { center_scale: q.center_scale, missing: q.missing, ..Options::default() };
    let kind = options.preset(&preset)?;
    if kind == MaskKind::LowRes {
        return Err(ApiError::unprocessable("lowres keeps block means, not pixels: send preset=lowres instead of a mask"));
    }
    let mask = mask::make(&kind, m.size, q.seed.unwrap_or(0), 0).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let to_pm1: Vec<f32> = mask.iter().map(|v| v * 2.0 - 1.0).collect();
    Ok(png(picture::png_bytes(&picture::to_rgb8(&to_pm1, 1, m.size))))
}

/// An uploaded image as the model sees it: centre-cropped, resized, in its channels (PNG).
async fn prepare(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let p = parse_request(req, app.limits.max_body).await?;
    let (_, m) = app.model_or_default(p.model.as_deref())?;
    let bytes = p.image.ok_or_else(|| ApiError::unprocessable("no image: send it as 'image'"))?;
    let image = data::convert(&decode(&bytes, m.size, "'image'")?, m.channels, m.size);
    Ok(png(picture::png_bytes(&picture::to_rgb8(&image, m.channels, m.size))))
}

async fn create_job(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let job = app.job_from(parse_request(req, app.limits.max_body).await?)?;
    app.submit(job.clone())?;
    let id = job.id;
    let body = serde_json::json!({
        "id": id,
        "events": format!("/api/v1/jobs/{id}/events"),
        "result": format!("/api/v1/jobs/{id}/result.png"),
        "gif": format!("/api/v1/jobs/{id}/progress.gif"),
        "cancel": format!("/api/v1/jobs/{id}"),
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// One-shot: complete and answer with the PNG. A client that hangs up cancels the job.
async fn inpaint(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let job = app.job_from(parse_request(req, app.limits.max_body).await?)?;
    let mut changed = job.subscribe();
    app.submit(job.clone())?;
    let _guard = CancelOnDrop(job.clone(), app.queue.clone());
    loop {
        if let Some(outcome) = job.outcome() {
            return match outcome {
                Ok(files) => Ok(png(files.png.clone())),
                Err(e) if e == CANCELLED => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the job was cancelled")),
                Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
            };
        }
        if changed.changed().await.is_err() {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the job was lost"));
        }
    }
}

fn job_id(text: &str) -> ApiResult<u64> {
    text.parse().map_err(|_| ApiError::bad(format!("'{text}' is not a job id (a number)")))
}

async fn cancel_job(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let job = app.job(job_id(&id)?)?;
    app.queue.cancel(&job);
    Ok(StatusCode::ACCEPTED)
}

/// The job's events as Server-Sent Events, from its first; the stream ends after done,
/// error or cancelled. Closing it before then cancels the job.
async fn events(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let job = app.job(job_id(&id)?)?;
    struct Cursor {
        rx: tokio::sync::watch::Receiver<usize>,
        sent: usize,
        pending: VecDeque<JobEvent>,
        ended: bool,
        guard: CancelOnDrop,
    }
    let start = Cursor { rx: job.subscribe(), sent: 0, pending: VecDeque::new(), ended: false, guard: CancelOnDrop(job, app.queue.clone()) };
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
            let fresh = cur.guard.0.events_since(cur.sent);
            if fresh.is_empty() {
                if cur.rx.changed().await.is_err() {
                    return None;
                }
                continue;
            }
            cur.sent += fresh.len();
            cur.pending.extend(fresh);
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

fn finished_file(app: &App, id: &str, pick: fn(&super::jobs::Outcome) -> &Vec<u8>, kind: &'static str) -> ApiResult<Response> {
    let id = job_id(id)?;
    match app.job(id)?.outcome() {
        None => Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} has not finished: wait for its done event"))),
        Some(Err(e)) => Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} ended without a result: {e}"))),
        Some(Ok(files)) => Ok(([(header::CONTENT_TYPE, kind)], pick(&files).clone()).into_response()),
    }
}

async fn result_png(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    finished_file(&app, &id, |o| &o.png, "image/png")
}

async fn progress_gif(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    finished_file(&app, &id, |o| &o.gif, "image/gif")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    model: Option<String>,
    /// Rows of z, each of the model's z_dim.
    z: Vec<Vec<f32>>,
}

/// Most rows of z one generate request may send.
const MAX_GENERATE: usize = 64;

/// G(z) for the explore panel: PNG data URLs, one per row of z.
async fn generate(State(app): State<Arc<App>>, body: Result<Json<GenerateRequest>, axum::extract::rejection::JsonRejection>) -> ApiResult<Json<serde_json::Value>> {
    let Json(req) = body.map_err(|e| rejection(e.status(), e.body_text()))?;
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
    app.queue
        .submit(Work::Generate { model: index, z: req.z.concat(), reply: tx })
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"))?;
    let images = rx.await.map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"))?.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let plane = m.channels * m.size * m.size;
    let urls: Vec<String> = images.chunks(plane).map(|img| data_url(img, m.channels, m.size)).collect();
    Ok(Json(serde_json::json!({ "images": urls })))
}

async fn stats(State(app): State<Arc<App>>) -> Json<super::queue::Stats> {
    Json(app.queue.stats())
}
