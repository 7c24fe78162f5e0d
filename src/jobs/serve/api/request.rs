//! A completion request, from multipart or JSON: its fields, its options (checked against
//! the same limits as the command line, plus the server's own), its images decoded off the
//! request threads, and the job it makes.

use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;

use super::{ApiError, ApiResult, App, ModelInfo, defaults, png};
use crate::inpaint::{Blend, Classical, Item, MaskKind, Method, Settings, blend::HYBRID_WEIGHT, mask};
use crate::io::data::{self, DecodeFailure};
use crate::io::picture;
use crate::model::inpaint::Prior;
use crate::jobs::serve::jobs::Job;

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

/// The server's own bound on iterations per phase (the method's is `inpaint::MAX_ITERS`):
/// one job must not hold a shared GPU for hours.
pub const MAX_ITERS: usize = 5000;

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
    /// Only a preset's parameters (the page asks for a preset mask on its own).
    pub fn for_preset(center_scale: Option<f32>, missing: Option<f32>) -> Options {
        Options { center_scale, missing, ..Options::default() }
    }

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
        if let Some(v) = self.lam { s.lam = in_range("lam", v, 0.0, crate::inpaint::MAX_LAM)?; }
        if let Some(v) = self.lr { s.adam.lr = in_range("lr", v, 1e-6, crate::engine::ops::adam::MAX_LR)?; }
        if let Some(p) = &self.prior { s.prior = choice("prior", p, &[("paper", Prior::Paper), ("nonsaturating", Prior::NonSaturating)])?; }
        if let Some(v) = self.window { s.weighted_window = in_range("window", v, 0, model.size)?; }
        let weight = in_range("hybrid_weight", self.hybrid_weight.unwrap_or(HYBRID_WEIGHT), 0.0, 1.0)?;
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
        if let Some(v) = self.ilo_radius { s.ilo_radius = in_range("ilo_radius", v, 1e-3, crate::inpaint::MAX_ILO_RADIUS)?; }
        if let Some(v) = self.seed { s.seed = v; }
        if let Some(v) = self.frames_every { s.frames_every = in_range("frames_every", v, 1, 1000)?; }
        s.batch = s.restarts;
        if s.ilo_layers == 0 {
            s.ilo_iters = d.ilo_iters; // irrelevant without freed layers; keeps such jobs batchable
        }
        s.validate(model.size, model.max_ilo_layers + 1).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        Ok(s)
    }

    /// The preset mask kinds the API knows (a mask PNG is sent as `mask`): the table's holes.
    pub fn preset(&self, name: &str) -> ApiResult<MaskKind> {
        let scale = in_range("center_scale", self.center_scale.unwrap_or(mask::CENTER_SCALE), 0.01, 0.49)?;
        let missing = in_range("missing", self.missing.unwrap_or(mask::MISSING), 0.01, 0.99)?;
        let preset = mask::PRESETS
            .iter()
            .find(|p| p.hole && p.name == name)
            .ok_or_else(|| ApiError::unprocessable(format!("unknown preset '{name}': use one of {}", mask::preset_names(true))))?;
        Ok(preset.kind(scale, missing))
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
pub struct Parsed {
    model: Option<String>,
    image: Option<Vec<u8>>,
    mask: Option<Vec<u8>>,
    preset: Option<String>,
    options: Options,
}

/// An image sent as text: base64 (standard or URL-safe, padded or not, wrapped across lines
/// as the `base64` command prints it) or a data URL.
fn base64_image(field: &str, text: &str) -> ApiResult<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, b)| b).ok_or_else(|| ApiError::bad(format!("{field}: a data URL without ','")))?,
        None => text,
    };
    let compact: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let lenient = |alphabet: &base64::alphabet::Alphabet| {
        let config = base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
        base64::engine::GeneralPurpose::new(alphabet, config).decode(compact.as_bytes())
    };
    lenient(&base64::alphabet::STANDARD)
        .or_else(|_| lenient(&base64::alphabet::URL_SAFE))
        .map_err(|e| ApiError::bad(format!("{field} is not base64 (nor a data URL): {e}")))
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, text)
}

/// The JSON body as UTF-8 text: a byte-order mark is dropped; UTF-16 is named, not guessed.
fn json_text(bytes: &[u8]) -> ApiResult<&[u8]> {
    if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) || (bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0)) {
        return Err(ApiError::bad("the JSON body is UTF-16 (or holds NUL bytes); send it as UTF-8"));
    }
    Ok(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes))
}

pub async fn parse_request(req: Request, max_body: usize) -> ApiResult<Parsed> {
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
        let mut seen = Vec::new();
        while let Some(field) = form.next_field().await.map_err(|e| rejection(e.status(), e.body_text()))? {
            let name = field.name().unwrap_or("").to_string();
            if seen.contains(&name) {
                return Err(ApiError::unprocessable(format!("field '{name}' is sent twice: send each field once")));
            }
            seen.push(name.clone());
            let bytes = field.bytes().await.map_err(|e| rejection(e.status(), e.body_text()))?;
            let text = || String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad(format!("field '{name}' is not UTF-8 text")));
            match name.as_str() {
                "model" => p.model = Some(text()?),
                "preset" => p.preset = Some(text()?),
                "options" => p.options = serde_json::from_slice(json_text(&bytes)?).map_err(|e| ApiError::unprocessable(format!("options: {e}")))?,
                "image" => p.image = Some(bytes.to_vec()),
                "mask" => p.mask = Some(bytes.to_vec()),
                other => return Err(ApiError::unprocessable(format!("unknown field '{other}': send model, image, mask or preset, and options (JSON)"))),
            }
        }
        Ok(p)
    } else if kind.starts_with("application/json") {
        let body = axum::body::to_bytes(req.into_body(), max_body).await.map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is too large or broken: {e}")))?;
        let j: JsonRequest = serde_json::from_slice(json_text(&body)?).map_err(|e| {
            let status = if e.is_data() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST };
            ApiError::new(status, format!("the JSON body: {e}"))
        })?;
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
    /// Run `work` (decoding: CPU-bound) on a blocking thread, at most `DECODERS` at once.
    async fn off_request_threads<T: Send + 'static>(&self, work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
        let _permit = self.decoding.acquire().await.map_err(|_| ApiError::busy("the server is shutting down", 5))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while decoding (see the server's log)"))?
    }

    /// Check a request and make its job (not yet queued).
    pub async fn job_from(&self, p: Parsed) -> ApiResult<Arc<Job>> {
        let (index, model) = self.model_or_default(p.model.as_deref())?;
        let model = model.clone();
        let settings = p.options.settings(&model, self.limits.max_rows)?;
        let preset = match (p.preset.as_deref(), &p.mask) {
            (Some(name), None) => Some(p.options.preset(name)?),
            _ => None,
        };
        let (image, mask) = (p.image, p.mask);
        let seed = settings.seed;
        let (item, kind) = self.off_request_threads(move || item_of(&model, image, mask, preset, seed)).await?;
        Ok(Job::new(index, item, kind, settings))
    }
}

/// The image and its mask (a PNG, or a preset of `kind`), checked.
fn item_of(model: &ModelInfo, image: Option<Vec<u8>>, mask_png: Option<Vec<u8>>, preset: Option<MaskKind>, seed: u64) -> ApiResult<(Item, MaskKind)> {
    let (c, s) = (model.channels, model.size);
    let bytes = image.ok_or_else(|| ApiError::unprocessable("no image: send the image to complete as 'image'"))?;
    let decoded = decode(&bytes, s, "'image'")?;
    let image = data::convert(&decoded, c, s);
    let (kind, mask) = match (mask_png, preset) {
        (Some(_), Some(_)) => return Err(ApiError::unprocessable("send either a mask image or a preset, not both")),
        (None, None) => {
            return Err(ApiError::unprocessable(format!("no mask: send 'mask' (a PNG, white = keep, black = fill) or a 'preset' ({})", mask::preset_names(true))));
        }
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
        (None, Some(kind)) => {
            let m = mask::make(&kind, s, seed, 0).map_err(|e| ApiError::unprocessable(e.to_string()))?;
            (if kind == MaskKind::LowRes { kind } else { MaskKind::File(Default::default()) }, m)
        }
    };
    let known = mask.iter().filter(|v| **v > 0.5).count();
    if kind != MaskKind::LowRes && known == 0 {
        return Err(ApiError::unprocessable(format!("the mask keeps no pixel, so there is nothing to match: white (a grey of {} or more out of 255) = keep, black = fill", mask::KNOWN_FROM)));
    }
    if kind != MaskKind::LowRes && known == mask.len() {
        return Err(ApiError::unprocessable("the mask keeps every pixel (all white), so there is nothing to complete: black = fill"));
    }
    Ok((Item { name: "upload".into(), image, mask }, kind))
}

/// An uploaded image as the model sees it: centre-cropped, resized, in its channels (PNG).
pub async fn prepare(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let p = parse_request(req, app.limits.max_body).await?;
    let (_, m) = app.model_or_default(p.model.as_deref())?;
    let (c, s) = (m.channels, m.size);
    let bytes = p.image.ok_or_else(|| ApiError::unprocessable("no image: send it as 'image'"))?;
    let prepared = app
        .off_request_threads(move || {
            let image = data::convert(&decode(&bytes, s, "'image'")?, c, s);
            Ok(picture::png_bytes(&picture::to_rgb8(&image, c, s)))
        })
        .await?;
    Ok(png(prepared))
}
