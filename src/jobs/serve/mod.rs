//! `dcgan-inpaint serve`: a local page for interactive completion (draw a mask, watch G(z)
//! move toward the image) and the HTTP API behind it, on the same engine and pipeline as
//! `complete`.
//!
//!   mod.rs     start-up: settings checked, models, the worker thread, the listener, shutdown
//!              on a signal
//!   access.rs  who may drive the server: Host, Origin and token checks
//!   api/       routes, request checks (4xx), Server-Sent Events
//!   queue.rs   the one GPU queue and its worker, which batches compatible jobs
//!   jobs.rs    a job's events and how it ended
//!   page/      the page (HTML/JS/CSS, embedded in the binary; no build step)

pub mod access;
pub mod api;
pub mod jobs;
pub mod lab;
pub mod queue;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::engine::gpu::Gpu;
use crate::error::{Error, Result};
use crate::io::data;
use crate::model::weights;
use access::Access;
use api::{App, Limits, ModelInfo};
use queue::{Model, Queue};

/// A model to serve: its weights and, optionally, a folder of example images.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub weights: PathBuf,
    pub examples: Option<PathBuf>,
    /// What the model knows (its training data), shown to users; None: unknown.
    pub about: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub models: Vec<ModelSpec>,
    pub host: String,
    pub port: u16,
    /// Unfinished completion jobs the queue holds; more are answered 503.
    pub queue: usize,
    /// Rows (images x restarts) one batch may hold.
    pub max_rows: usize,
    /// The largest request body, in MiB.
    pub max_body_mib: usize,
    /// The token every API request must carry (required on an address that is not loopback;
    /// generated there when not given).
    pub token: Option<String>,
    /// Host names answered besides localhost and IP addresses.
    pub allow_hosts: Vec<String>,
    /// A web page's origin allowed to call the API from the browser (CORS), e.g. an IOPaint
    /// web app served elsewhere.
    pub cors_origin: Option<String>,
    /// Where the Lab finds its data (the bundled faces by default) and saves models.
    pub lab: lab::LabConfig,
}

/// The largest `--max-body-mib`: uploads are images of at most 16384 pixels a side.
const MAX_BODY_MIB: usize = 1024;

/// Where the server listens, as `listening` hears it.
pub struct Listening<'a> {
    pub addr: SocketAddr,
    /// The adapter and backend the worker runs on.
    pub adapter: &'a str,
    /// The access token, when the server needs one.
    pub token: Option<&'a str>,
    /// Whether the token was generated (not given with --token).
    pub token_generated: bool,
}

/// Refuse settings that cannot serve: no model, two models of one name, zero limits, a body
/// limit past `MAX_BODY_MIB`, a token too short to resist guessing.
fn check(cfg: &ServeConfig) -> Result<()> {
    if cfg.models.is_empty() {
        return Err(Error::new("no model to serve: name weights with --weights"));
    }
    for (i, m) in cfg.models.iter().enumerate() {
        if m.name.is_empty() {
            return Err(Error::new(format!("--weights {}: the model needs a name (NAME=FILE)", m.weights.display())));
        }
        if let Some(other) = cfg.models[..i].iter().find(|o| o.name == m.name) {
            return Err(Error::new(format!(
                "two models are called '{}' ({} and {}): name them apart with --weights NAME=FILE",
                m.name,
                other.weights.display(),
                m.weights.display()
            )));
        }
    }
    if cfg.queue == 0 || cfg.max_rows == 0 {
        return Err(Error::new("--queue and --max-rows must be at least 1"));
    }
    if !(1..=MAX_BODY_MIB).contains(&cfg.max_body_mib) {
        return Err(Error::new(format!("--max-body-mib must be from 1 to {MAX_BODY_MIB}, got {}", cfg.max_body_mib)));
    }
    if let Some(o) = &cfg.cors_origin
        && !(o.starts_with("http://") || o.starts_with("https://")) | o.ends_with('/') | o.contains(char::is_whitespace)
    {
        return Err(Error::new(format!("--cors-origin {o} is not an origin: give scheme, host and port as a browser sends them, e.g. http://localhost:3000")));
    }
    if let Some(t) = &cfg.token
        && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(Error::new("--token must be at least 16 letters, digits, '-' or '_' (leave it out on a public address and one is generated)"));
    }
    Ok(())
}

/// Serve until `stop` is set (a signal); `listening` hears the address once bound.
/// `open_gpu` runs on the worker thread, which owns the GPU.
pub fn serve(open_gpu: impl FnOnce() -> Result<Gpu> + Send + 'static, cfg: &ServeConfig, stop: Arc<AtomicBool>, listening: impl FnOnce(&Listening)) -> Result<()> {
    check(cfg)?;
    let queue = Arc::new(Queue::new(cfg.queue, cfg.max_rows, cfg.lab.clone()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(Vec<ModelInfo>, String)>>();
    let worker = {
        let (queue, stop, specs, max_rows) = (queue.clone(), stop.clone(), cfg.models.clone(), cfg.max_rows);
        std::thread::Builder::new()
            .name("gpu-worker".into())
            .spawn(move || {
                // A panic while loading is an error the server reports, not a dead thread.
                let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_models(open_gpu, &specs, max_rows)))
                    .unwrap_or_else(|_| Err(Error::new("internal error while loading the models (see the message above)")));
                match loaded {
                    Ok((gpu, models, infos)) => {
                        let adapter = format!("{} ({:?})", gpu.info.name, gpu.info.backend);
                        let _ = ready_tx.send(Ok((infos, adapter)));
                        queue::run_worker(&queue, &gpu, models, &stop);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| Error::new(format!("cannot start the GPU worker thread: {e}")))?
    };
    let (infos, adapter) = ready_rx.recv().map_err(|_| Error::new("the GPU worker ended while loading the models"))??;
    let app = Arc::new(App::new(queue.clone(), infos, Limits { max_body: cfg.max_body_mib << 20, max_rows: cfg.max_rows }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the server's runtime: {e}")))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((cfg.host.as_str(), cfg.port)).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse { ": something else listens there; pick another port with --port (0: any free one)".to_string() } else { String::new() };
            Error::new(format!("cannot listen on {}:{}: {e}{hint}", cfg.host, cfg.port))
        })?;
        let addr = listener.local_addr().map_err(|e| Error::new(format!("cannot read the listening address: {e}")))?;
        // Off this machine, nobody may drive the server without the token.
        let token_generated = cfg.token.is_none() && !addr.ip().is_loopback();
        let token = if token_generated { Some(jobs::random_token()) } else { cfg.token.clone() };
        let access = Arc::new(Access::new(token.clone(), &cfg.allow_hosts, addr.ip(), addr.port()).with_cors(cfg.cors_origin.clone()));
        listening(&Listening { addr, adapter: &adapter, token: token.as_deref(), token_generated });
        let shutdown = {
            let (stop, app, queue) = (stop.clone(), app.clone(), queue.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Jobs end first, so their event streams close and the connections drain.
                app.stop_all();
                queue.close();
            }
        };
        let server = axum::serve(listener, api::router(app.clone(), access)).with_graceful_shutdown(shutdown);
        let drained = async {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        tokio::select! {
            r = server => r.map_err(|e| Error::new(format!("the server failed: {e}"))),
            _ = drained => Ok(()),
        }
    });
    queue.close();
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = worker.join();
    served
}

/// Open the GPU and load every model, each checked to fit `max_rows` rows on this adapter.
fn load_models(open_gpu: impl FnOnce() -> Result<Gpu>, specs: &[ModelSpec], max_rows: usize) -> Result<(Gpu, Vec<Model>, Vec<ModelInfo>)> {
    let gpu = open_gpu()?;
    let mut models = Vec::new();
    let mut infos = Vec::new();
    for spec in specs {
        let (g, d) = weights::load_gan(&gpu, &spec.weights)?;
        let e = weights::load_encoder(&gpu, &spec.weights)?;
        g.arch
            .check_fits(&gpu, max_rows, "use a smaller --max-rows", "serve weights of a smaller model")
            .map_err(|e| Error::new(format!("--max-rows {max_rows} with model '{}': {e}", spec.name)))?;
        infos.push(model_info(spec, &g)?);
        models.push(Model { g, d, e, fit_p99: weights::fit_p99(&spec.weights) });
    }
    Ok((gpu, models, infos))
}

fn model_info(spec: &ModelSpec, g: &crate::model::Generator) -> Result<ModelInfo> {
    let arch = g.arch;
    let examples = match &spec.examples {
        Some(dir) => data::list_images(dir, &[])?
            .files
            .into_iter()
            .filter_map(|p| p.strip_prefix(dir).ok().map(|r| r.to_string_lossy().into_owned()))
            .filter(|name| !name.contains('/'))
            .collect(),
        None => Vec::new(),
    };
    let colour = if arch.channels == 1 { "grey" } else { "colour" };
    let about = spec.about.clone().unwrap_or_else(|| format!("{s}x{s} {colour} images of whatever {} was trained on", spec.weights.display(), s = arch.image_size));
    Ok(ModelInfo {
        name: spec.name.clone(),
        about,
        channels: arch.channels,
        size: arch.image_size,
        z_dim: arch.z_dim,
        max_ilo_layers: g.image_stage() - 1,
        examples,
        example_dir: spec.examples.clone(),
    })
}
