//! A completion request, from multipart or JSON: its fields, its options (checked against
//! the same limits as the command line, plus the server's own), the photo and its hole
//! decoded off the request threads, and the job it makes.
//!
//! Two dialects share the parsing:
//! - the project's own (`/api/v1/jobs`): every field known, and the mask names its
//!   convention: `keep_mask` (white = keep) or `fill_mask` (white = fill), so no request is
//!   ambiguous; a bare `mask` is refused;
//! - IOPaint's (`/api/v1/inpaint`): its `InpaintRequest` as its web app sends it. `mask` is
//!   white = fill, `sd_seed` is the seed, and every other field of its schema (or unknown)
//!   is accepted, ignored, and listed in the answer's `X-Ignored-Fields`.

use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;

use super::{ApiError, ApiResult, App, ModelInfo, defaults, png};
use crate::inpaint::photo::{Hole, Photo, Region};
use crate::inpaint::{Blend, Classical, MaskKind, Method, Settings, blend::HYBRID_WEIGHT, mask};
use crate::io::data::{self, DecodeFailure};
use crate::io::picture;
use crate::jobs::serve::jobs::{Job, PhotoJob};
use crate::model::inpaint::Prior;

/// Options of a completion; absent ones take the server's defaults (`defaults`).
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    method: Option<String>,
    start: Option<String>,
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
                ("auto", Method::Auto),
                ("dcgan", Method::Dcgan),
                ("mean", Method::Classical(Classical::MeanFill)),
                ("harmonic", Method::Classical(Classical::Harmonic)),
                ("biharmonic", Method::Classical(Classical::Biharmonic)),
            ])?;
        }
        if let Some(v) = &self.start { s.start = choice("start", v, &[("encoder", crate::inpaint::Start::Encoder), ("random", crate::inpaint::Start::Random)])?; }
        if let Some(v) = self.iters { s.iters = in_range("iters", v, 1, MAX_ITERS)?; }
        // Auto may add a validation copy of each restart: both must fit one batch.
        let most_restarts = if s.method == Method::Auto { (max_rows / 2).max(1) } else { max_rows };
        if let Some(v) = self.restarts { s.restarts = in_range("restarts", v, 1, most_restarts)?; }
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

    /// The preset mask kinds the API knows (a mask image is sent instead): the table's holes.
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

/// Which API a request came to (see the module's notes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Jobs,
    IoPaint,
}

/// A mask as sent, in the convention its field names.
pub struct MaskInput {
    pub bytes: Vec<u8>,
    /// `fill_mask`, and IOPaint's `mask`: white = fill.
    pub white_fills: bool,
}

/// A completion request, from JSON or multipart.
#[derive(Default)]
pub struct Parsed {
    model: Option<String>,
    image: Option<Vec<u8>>,
    mask: Option<MaskInput>,
    preset: Option<String>,
    region: Option<Region>,
    options: Options,
    /// `format`: "png" for a lossless PNG whatever came in (default: the input's format).
    force_png: bool,
    /// IOPaint's fields accepted and ignored, for `X-Ignored-Fields`.
    pub ignored: Vec<String>,
    /// IOPaint's `sd_seed` (-1: a random seed).
    sd_seed: Option<i64>,
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

/// A JSON object's entries in order, duplicates kept (a map would silently keep the last).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A field's value: text (a JSON string, or a multipart text part) or bytes (a file part).
enum Value {
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

const OWN_FIELDS: &str = "model, image, keep_mask (white = keep) or fill_mask (white = fill) or preset, region, options, format";

impl Parsed {
    fn text(field: &str, v: Value) -> ApiResult<String> {
        match v {
            Value::Json(serde_json::Value::String(s)) => Ok(s),
            Value::Json(other) => Err(ApiError::unprocessable(format!("{field} must be a string, got {other}"))),
            Value::Bytes(b) => String::from_utf8(b).map_err(|_| ApiError::bad(format!("field '{field}' is not UTF-8 text"))),
        }
    }

    fn image(field: &str, v: Value) -> ApiResult<Vec<u8>> {
        match v {
            Value::Bytes(b) => Ok(b),
            Value::Json(serde_json::Value::String(s)) => base64_image(field, &s),
            Value::Json(other) => Err(ApiError::unprocessable(format!("{field} must be an image as base64 or a data URL, got {other}"))),
        }
    }

    fn set(&mut self, dialect: Dialect, name: &str, v: Value) -> ApiResult<()> {
        if matches!(v, Value::Json(serde_json::Value::Null)) {
            return Ok(()); // IOPaint's web app sends nulls for what it does not use
        }
        match name {
            "model" => self.model = Some(Self::text(name, v)?),
            "image" => self.image = Some(Self::image(name, v)?),
            "keep_mask" | "fill_mask" => {
                if self.mask.is_some() {
                    return Err(ApiError::unprocessable("send one mask: keep_mask, fill_mask or (IOPaint) mask"));
                }
                self.mask = Some(MaskInput { bytes: Self::image(name, v)?, white_fills: name == "fill_mask" });
            }
            "mask" if dialect == Dialect::IoPaint => {
                if self.mask.is_some() {
                    return Err(ApiError::unprocessable("send one mask: keep_mask, fill_mask or (IOPaint) mask"));
                }
                self.mask = Some(MaskInput { bytes: Self::image(name, v)?, white_fills: true });
            }
            "mask" => {
                return Err(ApiError::unprocessable(
                    "'mask' does not say its convention here: send keep_mask (white = keep, black = fill) or fill_mask (white = fill, as IOPaint's mask)",
                ));
            }
            "preset" => self.preset = Some(Self::text(name, v)?),
            "region" => {
                self.region = Some(match v {
                    Value::Json(serde_json::Value::Object(o)) => {
                        let get = |k: &str| o.get(k).and_then(|x| x.as_u64()).and_then(|x| u32::try_from(x).ok());
                        match (get("x"), get("y"), get("size")) {
                            (Some(x), Some(y), Some(size)) if size > 0 => Region { x, y, size },
                            _ => return Err(ApiError::unprocessable("region must be {x, y, size} (whole numbers, size >= 1) or \"x,y,size\"")),
                        }
                    }
                    v => Region::parse(&Self::text(name, v)?).map_err(|e| ApiError::unprocessable(e.to_string().replace("--region", "region")))?,
                })
            }
            "options" => {
                self.options = match v {
                    Value::Json(o) => serde_json::from_value(o),
                    Value::Bytes(b) => serde_json::from_slice(json_text(&b)?),
                }
                .map_err(|e| ApiError::unprocessable(format!("options: {e}")))?
            }
            "format" => {
                self.force_png = match Self::text(name, v)?.as_str() {
                    "png" => true,
                    "same" => false,
                    other => return Err(ApiError::unprocessable(format!("format '{other}' is not png or same (the input's own format, the default)"))),
                }
            }
            "sd_seed" if dialect == Dialect::IoPaint => {
                self.sd_seed = match v {
                    Value::Json(serde_json::Value::Number(n)) => n.as_i64(),
                    v => Self::text(name, v)?.trim().parse().ok(),
                };
                if self.sd_seed.is_none() {
                    return Err(ApiError::unprocessable("sd_seed must be a whole number (-1: random)"));
                }
            }
            other if dialect == Dialect::IoPaint => self.ignored.push(other.to_string()),
            other => return Err(ApiError::unprocessable(format!("unknown field '{other}': send {OWN_FIELDS}"))),
        }
        Ok(())
    }

    /// The seed the job runs with: the options', else IOPaint's `sd_seed` (-1: random).
    fn seed(&self, settings: &Settings) -> u64 {
        match (self.options.seed, self.sd_seed) {
            (None, Some(s)) if s >= 0 => s as u64,
            (None, Some(_)) => getrandom::u64().unwrap_or(0) % 100_000_000,
            _ => settings.seed,
        }
    }
}

pub async fn parse_request(req: Request, max_body: usize, dialect: Dialect) -> ApiResult<Parsed> {
    // Refused from its Content-Length before a byte of it is read (a body without one is
    // cut off at the limit by DefaultBodyLimit).
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > max_body as u64) {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is {n} bytes; this server takes at most {max_body} (--max-body-mib)")));
    }
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let mut p = Parsed::default();
    let mut seen: Vec<String> = Vec::new();
    let mut once = |name: &str| {
        if seen.iter().any(|s| s == name) {
            return Err(ApiError::unprocessable(format!("field '{name}' is sent twice: send each field once")));
        }
        seen.push(name.to_string());
        Ok(())
    };
    if kind.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &()).await.map_err(|e| rejection(e.status(), e.body_text()))?;
        while let Some(field) = form.next_field().await.map_err(|e| rejection(e.status(), e.body_text()))? {
            let name = field.name().unwrap_or("").to_string();
            once(&name)?;
            let bytes = field.bytes().await.map_err(|e| rejection(e.status(), e.body_text()))?;
            p.set(dialect, &name, Value::Bytes(bytes.to_vec()))?;
        }
    } else if kind.starts_with("application/json") {
        let body = axum::body::to_bytes(req.into_body(), max_body).await.map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is too large or broken: {e}")))?;
        let Entries(entries) = serde_json::from_slice(json_text(&body)?).map_err(|e| {
            let status = if e.is_data() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST };
            ApiError::new(status, format!("the JSON body: {e}"))
        })?;
        for (name, value) in entries {
            once(&name)?;
            p.set(dialect, &name, Value::Json(value))?;
        }
    } else {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json or multipart/form-data (see the README's API section)"));
    }
    Ok(p)
}

/// Decode an upload, each failure with its own status.
pub fn decode(bytes: &[u8], what: &str) -> ApiResult<data::Decoded> {
    data::decode_bytes(bytes, what).map_err(|(kind, e)| match kind {
        DecodeFailure::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        DecodeFailure::NotAnImage => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
        DecodeFailure::Corrupt => ApiError::unprocessable(e.to_string()),
    })
}

/// The photo of a job (also what the worker rebuilds when it writes the result): decoded,
/// its hole from the mask image or the preset, the model seeing `region`.
pub fn photo_of(job: &PhotoJob, size: usize, seed: u64) -> ApiResult<(Photo, image::ImageFormat, Vec<String>)> {
    let decoded = decode(&job.image, "'image'")?;
    let mask_image = match &job.mask {
        Some(m) => {
            let mask = decode(&m.bytes, "the mask")?.image;
            // Over HTTP a mask has the image's size (as IOPaint requires): a client that sends
            // another made a mistake, and a resize would hide it.
            let (image, mask_size) = ((decoded.image.width(), decoded.image.height()), (mask.width(), mask.height()));
            if image != mask_size {
                return Err(ApiError::unprocessable(format!(
                    "the mask is {}x{} but the image is {}x{}: a mask must have the image's size",
                    mask_size.0, mask_size.1, image.0, image.1
                )));
            }
            Some(mask)
        }
        None => None,
    };
    let hole = match (&mask_image, &job.mask) {
        (Some(image), Some(m)) => Hole::Mask { image, white_fills: m.white_fills, what: "the mask".into() },
        _ => Hole::Preset { kind: &job.preset, seed, index: 0 },
    };
    let (photo, warnings) = Photo::new(decoded.image, hole, job.region, size, "the image").map_err(|e| ApiError::unprocessable(e.to_string()))?;
    Ok((photo, decoded.format, warnings))
}

impl App {
    /// Run `work` (decoding: CPU-bound) on a blocking thread, at most `DECODERS` at once.
    pub async fn off_request_threads<T: Send + 'static>(&self, work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
        let _permit = self.decoding.acquire().await.map_err(|_| ApiError::busy("the server is shutting down", 5))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while decoding (see the server's log)"))?
    }

    /// Check a request and make its job (not yet queued), with the warnings it earned.
    pub async fn job_from(&self, mut p: Parsed) -> ApiResult<(Arc<Job>, Vec<String>)> {
        let (index, model) = self.model_or_default(p.model.as_deref())?;
        let model = model.clone();
        let mut settings = p.options.settings(&model, self.limits.max_rows)?;
        settings.seed = p.seed(&settings);
        let preset = match (p.preset.as_deref(), &p.mask) {
            (Some(_), Some(_)) => return Err(ApiError::unprocessable("send either a mask image or a preset, not both")),
            (None, None) => return Err(ApiError::unprocessable(format!("no mask: send keep_mask (white = keep), fill_mask (white = fill) or a preset ({})", mask::preset_names(true)))),
            (Some(name), None) => p.options.preset(name)?,
            (None, Some(_)) => MaskKind::File(Default::default()),
        };
        let image = p.image.take().ok_or_else(|| ApiError::unprocessable("no image: send the image to complete as 'image'"))?;
        let job = PhotoJob { image: Arc::new(image), mask: p.mask.take(), preset: preset.clone(), region: p.region, force_png: p.force_png };
        let (c, s, seed) = (model.channels, model.size, settings.seed);
        let item = self
            .off_request_threads(move || {
                let (photo, _, mut warnings) = photo_of(&job, s, seed)?;
                let (inside, all) = photo.holes();
                if all == 0 {
                    return Err(ApiError::unprocessable("the mask keeps every pixel, so there is nothing to complete (see the mask's convention: keep_mask white = keep, fill_mask white = fill)"));
                }
                if inside == 0 && preset != MaskKind::LowRes {
                    let r = photo.region;
                    return Err(ApiError::unprocessable(format!("the region {},{},{} holds none of the hole: move it over what to fill", r.x, r.y, r.size)));
                }
                let item = photo.model_item("upload", c, s);
                let known = item.mask.iter().filter(|v| **v > 0.5).count();
                let white_fills = job.mask.as_ref().is_some_and(|m| m.white_fills);
                let convention = if white_fills {
                    "fill_mask (and IOPaint's mask): white = fill, black = keep".to_string()
                } else {
                    format!("keep_mask: white (a grey of {} or more out of 255) = keep, black = fill", mask::KNOWN_FROM)
                };
                if preset != MaskKind::LowRes && known == 0 {
                    return Err(ApiError::unprocessable(format!(
                        "the mask leaves no known pixel in the region the model sees, so there is nothing to match; its convention: {convention}"
                    )));
                }
                let area = photo.region.size as f64 * photo.region.size as f64;
                if job.mask.is_some() && inside as f64 > 0.5 * area {
                    warnings.push(format!("the mask fills {:.0}% of the region the model sees: is that meant? Its convention: {convention}", 100.0 * inside as f64 / area));
                }
                Ok((item, job, warnings))
            })
            .await?;
        let (item, photo, warnings) = item;
        let kind = if photo.preset == MaskKind::LowRes { MaskKind::LowRes } else { MaskKind::File(Default::default()) };
        Ok((Job::new(index, item, kind, settings, photo, warnings.clone()), warnings))
    }
}

/// An uploaded image as the model sees it (PNG): the region (default: the centre square),
/// resized, in the model's channels.
pub async fn prepare(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let p = parse_request(req, app.limits.max_body, Dialect::Jobs).await?;
    let (_, m) = app.model_or_default(p.model.as_deref())?;
    let (c, s, region) = (m.channels, m.size, p.region);
    let bytes = p.image.ok_or_else(|| ApiError::unprocessable("no image: send it as 'image'"))?;
    let prepared = app
        .off_request_threads(move || {
            let image = decode(&bytes, "'image'")?.image;
            let r = region.unwrap_or(Region::centre(image.width(), image.height()));
            r.check(image.width(), image.height(), "the image").map_err(|e| ApiError::unprocessable(e.to_string()))?;
            let x = data::convert(&image.crop_imm(r.x, r.y, r.size, r.size), c, s);
            Ok(picture::png_bytes(&picture::to_rgb8(&x, c, s)))
        })
        .await?;
    Ok(png(prepared))
}
