//! The HTTP API (documented in the README) and the page's files. Every request passes the
//! access checks (`access.rs`) and is parsed and checked here, so bad input is a 4xx with a
//! message naming the field and the fix; the GPU work goes through the queue (`queue.rs`).
//!
//!   mod.rs         the router, the shared state, error answers, models / examples / presets
//!   request.rs     a completion request: multipart or JSON, options, images decoded off the
//!                  request threads, the job it makes
//!   completion.rs  jobs: create, one-shot (IOPaint's /api/v1/inpaint), cancel, events,
//!                  results; G(z)
//!   iopaint.rs     IOPaint's discovery calls: server-config, the current model

mod completion;
mod iopaint;
mod request;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::access::{self, Access};
use super::jobs::Job;
use super::lab;
use super::queue::Queue;
use crate::inpaint::{MaskKind, Settings, blend::HYBRID_WEIGHT, mask};
use crate::io::{data, picture};
pub use request::{MaskInput, Options, photo_of};

/// What the page and the API know of a model.
#[derive(Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub channels: usize,
    pub size: usize,
    pub z_dim: usize,
    /// Stages of G that ILO may free: 0..=max_ilo_layers.
    pub max_ilo_layers: usize,
    /// What the model knows (what it was trained on), for the page and the API.
    pub about: String,
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
    /// The models the server started with; the Lab's saves follow them (`App::models`).
    base_models: Vec<ModelInfo>,
    pub limits: Limits,
    /// The model a request without `model` gets (IOPaint's "current model", switched with
    /// `POST /api/v1/model`).
    current: std::sync::atomic::AtomicUsize,
    jobs: Mutex<VecDeque<Arc<Job>>>,
    /// Decoding an upload is CPU work: at most this many at once, on blocking threads, so the
    /// request threads stay free (stats, events) however many uploads arrive.
    decoding: tokio::sync::Semaphore,
}

/// Finished jobs kept for their results (the oldest go first), and the bytes they may hold
/// together (events and files).
const KEEP_JOBS: usize = 64;
const KEEP_BYTES: usize = 256 << 20;
/// Uploads decoded at once.
const DECODERS: usize = 2;

impl App {
    pub fn new(queue: Arc<Queue>, models: Vec<ModelInfo>, limits: Limits) -> App {
        App { queue, base_models: models, limits, current: Default::default(), jobs: Mutex::new(VecDeque::new()), decoding: tokio::sync::Semaphore::new(DECODERS) }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn job(&self, id: &str) -> Result<Arc<Job>, ApiError> {
        self.jobs().iter().find(|j| j.id == id).cloned().ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no job '{id}' (a job is known by the id its creation returned; finished jobs are kept for a while, then forgotten)"))
        })
    }

    /// Every model, in the worker's order: those the server started with, then those saved
    /// from the Lab (which borrow the examples of the first model with their channels).
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut all = self.base_models.clone();
        for s in self.queue.lab.saved() {
            let like = self.base_models.iter().find(|m| m.channels == s.channels);
            all.push(ModelInfo {
                name: s.name,
                channels: s.channels,
                size: s.size,
                z_dim: s.z_dim,
                max_ilo_layers: s.max_ilo_layers,
                about: s.about,
                examples: like.map(|m| m.examples.clone()).unwrap_or_default(),
                example_dir: like.and_then(|m| m.example_dir.clone()),
            });
        }
        all
    }

    fn model(&self, name: &str) -> Result<(usize, ModelInfo), ApiError> {
        let models = self.models();
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        models.into_iter().enumerate().find(|(_, m)| m.name == name).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown model '{name}': this server has {}", names.join(", ")))
        })
    }

    fn model_or_default(&self, name: Option<&str>) -> Result<(usize, ModelInfo), ApiError> {
        match name {
            Some(n) => self.model(n),
            None => Ok(self.current_model()),
        }
    }

    fn current_model(&self) -> (usize, ModelInfo) {
        let k = self.current.load(std::sync::atomic::Ordering::Relaxed);
        (k, self.models().swap_remove(k))
    }

    /// Keep a job findable, then forget the oldest finished jobs past `KEEP_JOBS` or past
    /// `KEEP_BYTES` in all.
    fn remember(&self, job: Arc<Job>) {
        let mut jobs = self.jobs();
        jobs.push_back(job);
        for j in jobs.iter().filter(|j| j.finished()) {
            j.compact();
        }
        loop {
            let bytes: usize = jobs.iter().map(|j| j.retained_bytes()).sum();
            if jobs.len() <= KEEP_JOBS && bytes <= KEEP_BYTES {
                break;
            }
            match jobs.iter().position(|j| j.finished()) {
                Some(k) => drop(jobs.remove(k)),
                None => break,
            }
        }
    }

    fn forget(&self, id: &str) {
        self.jobs().retain(|j| j.id != id);
    }

    /// End every job: the server is stopping (their clients hear so, not "cancelled").
    pub fn stop_all(&self) {
        let jobs: Vec<Arc<Job>> = self.jobs().iter().cloned().collect();
        for job in jobs {
            job.stop("the server stopped before the job finished");
            self.queue.cancel(&job);
        }
    }
}

/// Every route behind the access checks.
pub fn router(app: Arc<App>, access: Arc<Access>) -> Router {
    let limit = app.limits.max_body;
    Router::new()
        .route("/", get(|| async { page(PAGE_HTML, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(PAGE_JS, "text/javascript; charset=utf-8") }))
        .route("/style.css", get(|| async { page(PAGE_CSS, "text/css; charset=utf-8") }))
        .route("/lab", get(|| async { page(LAB_HTML, "text/html; charset=utf-8") }))
        .route("/lab.js", get(|| async { page(LAB_JS, "text/javascript; charset=utf-8") }))
        .route("/api/v1/models", get(models))
        .route("/api/v1/models/{model}/examples/{file}", get(example))
        .route("/api/v1/models/{model}/masks/{preset}", get(preset_mask))
        .route("/api/v1/prepare", post(request::prepare))
        .route("/api/v1/inpaint", post(completion::inpaint))
        .route("/api/v1/jobs", post(completion::create_job))
        .route("/api/v1/jobs/{id}", axum::routing::delete(completion::cancel_job))
        .route("/api/v1/jobs/{id}/events", get(completion::events))
        .route("/api/v1/jobs/{id}/result", get(completion::result))
        .route("/api/v1/jobs/{id}/preview.png", get(completion::preview_png))
        .route("/api/v1/jobs/{id}/progress.gif", get(completion::progress_gif))
        .route("/api/v1/generate", post(completion::generate))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/lab", get(lab_state).post(lab_command))
        .route("/api/v1/lab/samples/{file}", get(lab_sample))
        .route("/api/v1/lab/kernels", get(lab_kernels))
        .route("/api/v1/lab/layers", get(lab_layers))
        .route("/api/v1/lab/data", post(lab_data))
        .route("/api/v1/server-config", get(iopaint::server_config))
        .route("/api/v1/model", get(iopaint::current_model).post(iopaint::switch_model))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API route: see the README's API section") })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not a method of this route: see the README's API section"))
        })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
}

const PAGE_HTML: &str = include_str!("../page/index.html");
const PAGE_JS: &str = include_str!("../page/app.js");
const PAGE_CSS: &str = include_str!("../page/style.css");
const LAB_HTML: &str = include_str!("../page/lab.html");
const LAB_JS: &str = include_str!("../page/lab.js");

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
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after: None }
    }
    fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    /// 503 with `Retry-After: seconds`.
    fn busy(message: impl Into<String>, seconds: u64) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into(), retry_after: Some(seconds) }
    }
}

impl ApiError {
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // `errors` too: IOPaint's web app shows that field of an error answer.
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message, "errors": self.message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The server's defaults: `complete`'s (one table, `inpaint::DEFAULTS`), one restart per
/// job (so more jobs share a batch), and a live frame every 5 iterations.
pub fn defaults() -> Settings {
    Settings { restarts: 1, frames_every: 5, ..Settings::default() }
}

/// An f32 as the f64 with the same shortest decimal form (0.003, not 0.0030000000260770321).
fn tidy(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

async fn models(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let d = defaults();
    let presets: Vec<serde_json::Value> = mask::PRESETS.iter().filter(|p| p.hole).map(|p| serde_json::json!({ "name": p.name, "about": p.about })).collect();
    Json(serde_json::json!({
        "models": app.models(),
        "current": app.current_model().1.name,
        "defaults": { "iters": d.iters, "restarts": d.restarts, "lam": tidy(d.lam), "lr": tidy(d.adam.lr), "prior": "paper",
            "window": d.weighted_window, "blend": "poisson", "hybrid_weight": tidy(HYBRID_WEIGHT),
            "method": "auto", "start": "encoder", "ilo_layers": d.ilo_layers, "ilo_iters": d.ilo_iters, "ilo_radius": tidy(d.ilo_radius),
            "seed": d.seed, "frames_every": d.frames_every },
        "presets": presets,
        "limits": { "max_body_bytes": app.limits.max_body, "max_restarts": app.limits.max_rows, "max_iters": request::MAX_ITERS },
    }))
}

/// A shipped example, centre-cropped and resized to the model's size.
async fn example(State(app): State<Arc<App>>, Path((model, file)): Path<(String, String)>) -> ApiResult<Response> {
    let (_, m) = app.model(&model)?;
    let dir = m.example_dir.as_ref().filter(|_| m.examples.contains(&file)).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("model '{model}' has no example '{file}'")))?;
    let (c, s) = (m.channels, m.size);
    let image = data::load_image(&dir.join(&file), c, s).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let rgb = picture::to_rgb8(&image, c, s);
    // A grey model's example is a grey PNG: it is a grey photo, not a colour one.
    let picture = if c == 1 { image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(rgb).to_luma8()) } else { image::DynamicImage::ImageRgb8(rgb) };
    Ok(png(picture::encode(&picture, picture::Encoding::Png).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetQuery {
    seed: Option<u64>,
    center_scale: Option<f32>,
    missing: Option<f32>,
}

/// A preset mask as a PNG (white = keep), for the page to edit further.
async fn preset_mask(State(app): State<Arc<App>>, Path((model, preset)): Path<(String, String)>, query: Result<Query<PresetQuery>, QueryRejection>) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::bad(format!("{}: the query takes seed (a whole number >= 0), center_scale and missing", e.body_text())))?;
    let (_, m) = app.model(&model)?;
    let options = Options::for_preset(q.center_scale, q.missing);
    let kind = options.preset(&preset)?;
    if kind == MaskKind::LowRes {
        return Err(ApiError::unprocessable("lowres keeps block means, not pixels: send preset=lowres instead of a mask"));
    }
    let mask = mask::make(&kind, m.size, q.seed.unwrap_or(0), 0).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let to_pm1: Vec<f32> = mask.iter().map(|v| v * 2.0 - 1.0).collect();
    Ok(png(picture::png_bytes(&picture::to_rgb8(&to_pm1, 1, m.size))))
}

async fn stats(State(app): State<Arc<App>>) -> Json<super::queue::Stats> {
    Json(app.queue.stats())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LabQuery {
    /// Only the loss rows after this step.
    since: Option<u64>,
}

fn lab_answer(snapshot: lab::Snapshot) -> Json<serde_json::Value> {
    let data: Vec<&str> = lab::Source::ALL.iter().map(|(name, _)| *name).collect();
    Json(serde_json::json!({ "presets": lab::PRESETS, "data": data, "defaults": lab::Hyper::default(), "chunk_steps": lab::CHUNK_STEPS,
        "sample_every": lab::SAMPLE_EVERY, "views_every": lab::VIEWS_EVERY, "max_upload_images": lab::MAX_UPLOAD_IMAGES, "run": snapshot }))
}

/// Where the Lab's run stands: its step, loss rows (after `since`), sample grids, error.
async fn lab_state(State(app): State<Arc<App>>, query: Result<Query<LabQuery>, QueryRejection>) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = query.map_err(|e| ApiError::bad(format!("{}: the query takes since (a step number)", e.body_text())))?;
    Ok(lab_answer(app.queue.lab.snapshot(q.since.unwrap_or(0))))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LabRequest {
    action: String,
    preset: Option<String>,
    data: Option<String>,
    lr: Option<f32>,
    beta1: Option<f32>,
    g_steps: Option<usize>,
    seed: Option<u64>,
    flip: Option<bool>,
    z: Option<usize>,
    name: Option<String>,
}

impl LabRequest {
    /// A field sent with an action that does not take it, as a message.
    fn stray(&self) -> Option<String> {
        let fields = [("preset", self.preset.is_some(), "start"), ("data", self.data.is_some(), "start"), ("lr", self.lr.is_some(), "start"),
            ("beta1", self.beta1.is_some(), "start"), ("g_steps", self.g_steps.is_some(), "start"), ("seed", self.seed.is_some(), "start"),
            ("flip", self.flip.is_some(), "start"), ("z", self.z.is_some(), "inspect"), ("name", self.name.is_some(), "save")];
        fields.iter().find(|(_, sent, owner)| *sent && *owner != self.action).map(|(field, _, owner)| format!("only {owner} takes a {field}"))
    }

    fn setup(&self) -> ApiResult<lab::Setup> {
        let names: Vec<&str> = lab::PRESETS.iter().map(|p| p.name).collect();
        let name = self.preset.as_deref().unwrap_or(lab::PRESETS[0].name);
        let preset = lab::Lab::preset(name).ok_or_else(|| ApiError::bad(format!("unknown preset '{name}': use one of {}", names.join(", "))))?;
        let data = self.data.as_deref().unwrap_or("faces");
        let source = lab::Source::ALL.iter().find(|(n, _)| *n == data).map(|(_, s)| *s).ok_or_else(|| ApiError::bad(format!("unknown data '{data}': use faces, emoji or upload")))?;
        let d = lab::Hyper::default();
        let hyper = lab::Hyper { lr: self.lr.unwrap_or(d.lr), beta1: self.beta1.unwrap_or(d.beta1), g_steps: self.g_steps.unwrap_or(d.g_steps), seed: self.seed.unwrap_or(d.seed), flip: self.flip.unwrap_or(d.flip) };
        if !(hyper.lr > 0.0 && hyper.lr <= 0.1) {
            return Err(ApiError::unprocessable(format!("lr must be in (0, 0.1], got {}", hyper.lr)));
        }
        if !(0.0..1.0).contains(&hyper.beta1) {
            return Err(ApiError::unprocessable(format!("beta1 must be in [0, 1), got {}", hyper.beta1)));
        }
        if !(1..=10).contains(&hyper.g_steps) {
            return Err(ApiError::unprocessable(format!("g_steps must be 1 to 10 in the Lab, got {}", hyper.g_steps)));
        }
        Ok(lab::Setup { preset, source, hyper })
    }
}

/// `{"action": "start", "preset": "tiny", "data": "faces", "lr": .., "beta1": .., "g_steps":
/// .., "seed": .., "flip": ..}`, `pause`, `step` (one step, while paused), `reset`,
/// `{"action": "inspect", "z": 3}` (the layer view of that z), `{"action": "save", "name": ..}`.
async fn lab_command(State(app): State<Arc<App>>, body: Result<Json<LabRequest>, axum::extract::rejection::JsonRejection>) -> ApiResult<Json<serde_json::Value>> {
    let Json(r) = body.map_err(|e| ApiError::bad(format!("{}: send JSON like {{\"action\": \"start\", \"preset\": \"tiny\"}}", e.body_text())))?;
    if let Some(says) = r.stray() {
        return Err(ApiError::bad(says));
    }
    let command = match r.action.as_str() {
        "start" => lab::Command::Start(r.setup()?),
        "pause" => lab::Command::Pause,
        "step" => lab::Command::Step,
        "reset" => lab::Command::Reset,
        "inspect" => lab::Command::Inspect(r.z.ok_or_else(|| ApiError::bad("inspect needs z: which image of the sample grid (0-based)"))?),
        "save" => {
            let name = r.name.clone().ok_or_else(|| ApiError::bad("save needs a name for the model"))?;
            lab::check_name(&name).map_err(ApiError::unprocessable)?;
            if app.models().iter().any(|m| m.name == name) {
                return Err(ApiError::new(StatusCode::CONFLICT, format!("a model called '{name}' exists: pick another name")));
            }
            lab::Command::Save(name)
        }
        other => return Err(ApiError::bad(format!("unknown action '{other}': use start, pause, step, reset, inspect or save"))),
    };
    let snapshot = app.queue.lab.command(command).map_err(|m| ApiError::new(StatusCode::CONFLICT, m))?;
    app.queue.wake();
    Ok(lab_answer(snapshot))
}

/// The last profiled step's dispatches, grouped (see `lab::views::kernel_view`).
async fn lab_kernels(State(app): State<Arc<App>>) -> ApiResult<Json<lab::views::KernelView>> {
    app.queue.lab.kernels().map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no step profiled yet: start a run (its first step is profiled)"))
}

/// The last layer view: activations of one z, D on a real and a fake image, D's filters.
async fn lab_layers(State(app): State<Arc<App>>) -> ApiResult<Json<lab::views::LayerView>> {
    app.queue.lab.layers().map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no layer view yet: start a run (its first step draws one)"))
}

/// A set of images for the Lab to train on (`"data": "upload"`): multipart files, each an
/// image or a zip of images. Every image is checked as a completion upload is; a file with
/// an image's name that does not decode refuses the whole set, naming it.
async fn lab_data(State(app): State<Arc<App>>, req: axum::extract::Request) -> ApiResult<Json<serde_json::Value>> {
    use axum::extract::FromRequest;
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !kind.starts_with("multipart/form-data") {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the images (or a zip of them) as multipart/form-data files"));
    }
    let mut form = axum::extract::Multipart::from_request(req, &()).await.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|e| ApiError::new(e.status(), format!("{}: the upload was cut short or is larger than --max-body-mib", e.body_text())))? {
        let name = field.file_name().or(field.name()).unwrap_or("file").to_string();
        let bytes = field.bytes().await.map_err(|e| ApiError::new(e.status(), format!("{}: the upload was cut short or is larger than --max-body-mib", e.body_text())))?;
        files.push((name, bytes.to_vec()));
    }
    let (images, skipped) = app.off_request_threads(move || lab::upload::images(files).map_err(|(status, m)| ApiError::new(status, m))).await?;
    let snapshot = app.queue.lab.upload(images);
    Ok(Json(serde_json::json!({ "images": snapshot.uploaded, "skipped": skipped })))
}

/// The sample grid of the fixed z at one step: `/api/v1/lab/samples/120.png`.
async fn lab_sample(State(app): State<Arc<App>>, Path(file): Path<String>) -> ApiResult<Response> {
    let step = file.strip_suffix(".png").and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| ApiError::bad(format!("'{file}' is not STEP.png")))?;
    let png_bytes = app.queue.lab.sample(step).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no sample grid at step {step}: the run's `samples` lists the steps that have one")))?;
    Ok(png(png_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::serve::jobs::{Ending, Outcome};

    /// Finished jobs are forgotten oldest first past `KEEP_JOBS`, or past `KEEP_BYTES` in all
    /// (results of 10 MB each here); unfinished ones are never dropped.
    #[test]
    fn finished_jobs_keep_a_bounded_number_of_bytes() {
        let app = App::new(Arc::new(Queue::new(4, 4, crate::jobs::serve::queue::tests::lab_config())), Vec::new(), Limits { max_body: 1 << 20, max_rows: 4 });
        let running = crate::jobs::serve::jobs::tests::job();
        app.remember(running.clone());
        for _ in 0..100 {
            let job = crate::jobs::serve::jobs::tests::job();
            let outcome = Outcome { result: vec![0; 10 << 20], mime: "image/png", width: 1, height: 1, preview: Vec::new(), gif: Vec::new(), notes: Vec::new(), fit: None, unlike: None, method: "auto".into(), method_name: None };
            job.finish(Ending::Done(Arc::new(outcome)));
            app.remember(job);
        }
        let jobs = app.jobs();
        let bytes: usize = jobs.iter().map(|j| j.retained_bytes()).sum();
        assert!(bytes <= KEEP_BYTES && jobs.len() <= KEEP_JOBS, "{} jobs, {bytes} bytes", jobs.len());
        assert!(jobs.iter().any(|j| j.id == running.id), "an unfinished job stays");
    }
}
