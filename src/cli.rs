//! The command line: clap's view of every flag, and the conversions into the jobs'
//! configurations (`From` / `TryFrom`), so each setting is copied in exactly one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dcgan_inpaint::Result;
use dcgan_inpaint::engine::gpu::AdapterChoice;
use dcgan_inpaint::engine::ops::adam::AdamConfig;
use dcgan_inpaint::jobs::bench::BenchOptions;
use dcgan_inpaint::inpaint::blend::HYBRID_WEIGHT;
use dcgan_inpaint::inpaint::photo::Region;
use dcgan_inpaint::inpaint::{Blend, Classical, DEFAULTS, MaskKind, Method, QUICK, Settings, Start, mask};
use dcgan_inpaint::jobs::complete::{CompleteConfig, quality::QualityConfig, shard::Shard};
use dcgan_inpaint::jobs::serve::{ModelSpec, ServeConfig, lab::LabConfig};
use dcgan_inpaint::jobs::train::TrainConfig;
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::model::inpaint::Prior;

#[derive(Parser)]
#[command(name = "dcgan-inpaint", version, about = "Semantic image inpainting with a DCGAN on a hand-written wgpu engine")]
pub struct Cli {
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct GpuFlags {
    /// Backends to search (vulkan, metal, dx12, gl; comma-separated). Overrides WGPU_BACKEND.
    #[arg(long, global = true)]
    pub backend: Option<String>,
    /// Use the first adapter whose name contains this text (case-insensitive). Overrides WGPU_ADAPTER_NAME.
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    #[arg(long, global = true, help = dcgan_inpaint::engine::variants::help())]
    pub kernels: Option<String>,
    /// With --kernels auto: time every kernel set again instead of using the winners cached
    /// for this adapter (DCGAN_TUNE_CACHE names the cache file, or "off" to measure nothing).
    #[arg(long, global = true)]
    pub retune: bool,
}

/// On every command "-1" is a number given to a flag (then refused with the flag's range),
/// never a flag of its own.
#[derive(Subcommand)]
pub enum Command {
    /// List every adapter seen, the one chosen, and its limits and features.
    Info,
    /// Time every kernel at the DCGAN's layer shapes.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// Fill the missing pixels of images (semantic inpainting by optimising z).
    #[command(allow_negative_numbers = true)]
    Complete(CompleteArgs),
    /// The completion quality table: masks x losses x priors x blends, and a mean-fill baseline.
    #[command(allow_negative_numbers = true)]
    Quality(QualityArgs),
    /// How well the generator fits pictures it knows: the threshold past which a picture is
    /// said to look unlike them (stored in the weights with --write).
    #[command(allow_negative_numbers = true)]
    Calibrate(CalibrateArgs),
    /// Serve the interactive completion page and its HTTP API (local only by default).
    #[command(allow_negative_numbers = true)]
    Serve(ServeArgs),
    /// Train the DCGAN on a folder of images.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Train the encoder that starts each completion's z (G frozen), and write the weights
    /// with it added.
    #[command(allow_negative_numbers = true)]
    TrainEncoder(TrainEncoderArgs),
    /// Draw images from a trained generator.
    #[command(allow_negative_numbers = true)]
    Sample(SampleArgs),
    /// Write inference weights (G, D, BN statistics) from a training checkpoint.
    #[command(allow_negative_numbers = true)]
    Export(ExportArgs),
    /// Draw the loss curves of a training log (log.csv) as a PNG.
    #[command(allow_negative_numbers = true)]
    Plot(PlotArgs),
    /// Merge the output folders of `complete` runs (shards, resumed runs): the metrics table
    /// over all images, contact sheets, the inputs missing or failed.
    Report(ReportArgs),
}

#[derive(Args)]
pub struct ReportArgs {
    /// The --out folders of `complete` runs.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    #[arg(long, default_value = "runs/report")]
    pub out: PathBuf,
    /// Another run over the same inputs (one process, say): each result is compared with
    /// its own there, and the largest difference reported.
    #[arg(long)]
    pub against: Option<PathBuf>,
}

#[derive(Args)]
pub struct ModelArgs {
    /// Image side in pixels (a power of two, 16..256).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// 1 (grayscale) or 3 (colour).
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    #[arg(long, default_value_t = 100)]
    pub z_dim: usize,
    /// Generator base width.
    #[arg(long, default_value_t = 64)]
    pub gf: usize,
    /// Discriminator base width.
    #[arg(long, default_value_t = 64)]
    pub df: usize,
    /// Convolution kernel size (5: TensorFlow original, 4: PyTorch example).
    #[arg(long, default_value_t = 5)]
    pub kernel: usize,
}


#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of training images (searched recursively; png/jpg/jpeg/bmp/gif).
    #[arg(long)]
    pub data: PathBuf,
    /// Hold out files whose name or relative path matches (shell glob; repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Random horizontal flips.
    #[arg(long)]
    pub flip: bool,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 25)]
    pub epochs: u64,
    /// Stop after this many steps in total (overrides --epochs).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Output folder: checkpoint, log.csv, loss.png, samples/.
    #[arg(long, default_value = "runs/train")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f32,
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f32,
    /// Generator updates per discriminator update.
    #[arg(long, default_value_t = 2)]
    pub g_steps: usize,
    /// Write an 8x8 grid from a fixed z every N steps (0: only at the end).
    #[arg(long, default_value_t = 100)]
    pub sample_every: u64,
    /// Write the checkpoint every N steps (and always at the end and on Ctrl-C).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    /// Continue from OUT/checkpoint.safetensors.
    #[arg(long)]
    pub resume: bool,
}

#[derive(Args)]
pub struct CompleteArgs {
    /// Image files or folders of images.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Trained weights (or a checkpoint); the shipped face model by default.
    #[arg(long, default_value = "weights/olivetti-64.safetensors")]
    pub weights: PathBuf,
    /// A faster preview: 10 updates of z and 5 of each freed layer, 1 restart (overrides
    /// --iters, --ilo-iters and --restarts).
    #[arg(long)]
    pub quick: bool,
    #[arg(long, default_value = "center", help = format!("A preset ({}) or a PNG (white = known, black = missing)", mask::preset_names(false)))]
    pub mask: String,
    /// Per-image masks: DIR/<input name>.png.
    #[arg(long)]
    pub mask_dir: Option<PathBuf>,
    /// Border width of the center mask as a fraction of the size (0.25: a 32x32 hole in 64x64).
    #[arg(long, default_value_t = mask::CENTER_SCALE)]
    pub center_scale: f32,
    /// Fraction of pixels missing with --mask random (default 0.8).
    #[arg(long)]
    pub missing: Option<f32>,
    /// Weighted contextual loss window (the paper uses 7); 0 = the binary mask.
    #[arg(long, default_value_t = DEFAULTS.weighted_window)]
    pub weighted_window: usize,
    /// paper = log(1 - D(G(z))), nonsaturating = -log D(G(z)).
    #[arg(long, value_enum, default_value_t = PriorArg::Paper)]
    pub prior: PriorArg,
    /// Weight of the prior (perceptual) loss.
    #[arg(long, default_value_t = DEFAULTS.lam)]
    pub lam: f32,
    #[arg(long, default_value_t = DEFAULTS.adam.lr)]
    pub lr: f32,
    #[arg(long, default_value_t = DEFAULTS.adam.beta1)]
    pub beta1: f32,
    #[arg(long, default_value_t = DEFAULTS.adam.beta2)]
    pub beta2: f32,
    #[arg(long, default_value_t = DEFAULTS.adam.eps)]
    pub eps: f32,
    #[arg(long, default_value_t = DEFAULTS.iters)]
    pub iters: usize,
    /// Random starts per image; the one with the lowest final loss is kept.
    #[arg(long, default_value_t = DEFAULTS.restarts)]
    pub restarts: usize,
    /// How G(z) joins the known pixels: poisson, biharmonic, hybrid (a mix with the
    /// biharmonic fill, see --hybrid-weight), or none (plain overlay).
    #[arg(long, value_enum, default_value_t = BlendArg::Poisson)]
    pub blend: BlendArg,
    /// With --blend hybrid: the weight of the DCGAN completion (the rest is the biharmonic
    /// fill) [default: 0.4]
    #[arg(long)]
    pub hybrid_weight: Option<f32>,
    /// Intermediate-layer optimisation (Daras et al. 2021): after z, free G's stages 1..=N in
    /// turn (0: z only, the paper's method; 2 measured best on the center mask).
    #[arg(long, default_value_t = DEFAULTS.ilo_layers)]
    pub ilo_layers: usize,
    /// Updates per freed stage.
    #[arg(long, default_value_t = DEFAULTS.ilo_iters)]
    pub ilo_iters: usize,
    /// How far a freed activation may move from where it started: an L1 distance, as a share
    /// of its L1 norm (per image).
    #[arg(long, default_value_t = DEFAULTS.ilo_radius)]
    pub ilo_radius: f32,
    /// auto: per image, whichever of the DCGAN (with or without ILO, each mixed with the
    /// biharmonic fill at a few weights) and the classical fills best completes known pixels
    /// hidden like the hole; dcgan: the DCGAN with --blend; or a classical fill without the
    /// model, to compare: harmonic, biharmonic, mean.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Where z starts: encoder (the encoder's z for the known pixels, when the weights
    /// hold one; restarts jittered around it) or random (uniform, as in the paper).
    #[arg(long, value_enum, default_value_t = StartArg::Encoder)]
    pub start: StartArg,
    /// Rows (images x restarts) optimised together.
    #[arg(long, default_value_t = DEFAULTS.batch)]
    pub batch: usize,
    /// Output folder [default: runs/complete, or runs/complete-2, -3, ... if that holds files].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an earlier run's results in --out (otherwise a folder with files is refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Keep the results an earlier (killed) run left in --out and complete only the rest.
    #[arg(long)]
    pub resume: bool,
    /// Complete only shard K (from 0) of N: the inputs whose path, relative to the folder
    /// named, hashes to K. Without it, a Slurm array task or a Kubernetes Indexed Job gives
    /// the shard from its environment.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// The number of shards when the environment gives only the index
    /// (JOB_COMPLETION_INDEX of a Kubernetes Indexed Job); or set DCGAN_SHARD_COUNT.
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u64>,
    /// A progress.gif frame every N iterations (0: none; at most 64 frames are kept, evenly
    /// spread over a long run).
    #[arg(long, default_value_t = DEFAULTS.frames_every)]
    pub frames_every: usize,
    /// The square of each image the model sees, X,Y,SIZE in its pixels (default: the centre
    /// square); hole pixels outside it are filled classically.
    #[arg(long)]
    pub region: Option<String>,
    /// The format of the full-resolution result: same (the input's: a lossless input stays
    /// lossless, a JPEG gives a JPEG at quality 95) or png.
    #[arg(long, value_enum, default_value_t = FormatArg::Same)]
    pub format: FormatArg,
    /// Also write each image's final z as z.npy.
    #[arg(long)]
    pub save_z: bool,
    /// Starting latents, float32 .npy [images x restarts, z_dim] (image-major).
    #[arg(long)]
    pub z_init: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Treat inputs as ground truth: report PSNR/SSIM (whole image and hole) and write metrics.json.
    #[arg(long)]
    pub eval: bool,
}

/// A set of images a measurement runs on.
#[derive(Args)]
pub struct ImageSetArgs {
    /// Folder of images (for the shipped faces: data/olivetti, with the held-out people).
    #[arg(long)]
    pub data: PathBuf,
    /// Use only files whose name matches (shell glob; repeatable), e.g. the held-out people.
    #[arg(long)]
    pub include: Vec<String>,
    /// At most this many images (0: all that match).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

#[derive(Args)]
pub struct QualityArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[command(flatten)]
    pub images: ImageSetArgs,
    #[arg(long, default_value_t = DEFAULTS.iters)]
    pub iters: usize,
    #[arg(long, default_value_t = DEFAULTS.restarts)]
    pub restarts: usize,
    #[arg(long, default_value_t = DEFAULTS.lam)]
    pub lam: f32,
    #[arg(long, default_value_t = DEFAULTS.adam.lr)]
    pub lr: f32,
    #[arg(long, default_value_t = DEFAULTS.batch)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the table here (Markdown).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these masks (repeatable), by preset name or table label: center, half, random
    /// (the table's "random 0.8"), grid, pattern, scratches, strokes, lowres.
    #[arg(long)]
    pub mask: Vec<String>,
    /// Weighted-loss windows to compare (repeatable; 0 = the binary mask).
    #[arg(long, default_values_t = [DEFAULTS.weighted_window])]
    pub window: Vec<usize>,
    /// Intermediate-layer optimisation depths to compare (repeatable; 0 = z only, the paper).
    #[arg(long, default_values_t = [0, DEFAULTS.ilo_layers])]
    pub ilo_layers: Vec<usize>,
    /// Updates per freed layer.
    #[arg(long, default_value_t = DEFAULTS.ilo_iters)]
    pub ilo_iters: usize,
    /// The DCGAN weight of the hybrid rows.
    #[arg(long, default_value_t = HYBRID_WEIGHT)]
    pub hybrid_weight: f32,
    /// Where z starts (see `complete --start`).
    #[arg(long, value_enum, default_value_t = StartArg::Encoder)]
    pub start: StartArg,
    /// Leave out the DCGAN rows of each --window and --ilo-layers (only the classical fills
    /// and the default's row: the table a user's choice is made from, in a third of the time).
    #[arg(long)]
    pub default_only: bool,
    /// Instead of the table, the start curve: hole PSNR of G(z) after each of these numbers
    /// of z updates (comma-separated, e.g. 0,25,50,100,200,1000), random start against the
    /// encoder's, on the first --mask (default center). Needs weights with an encoder.
    #[arg(long, value_delimiter = ',')]
    pub curve: Vec<usize>,
    /// Write every mask's images and masks here (`<mask>/<image>.png`, `<image>.mask.png`,
    /// white = known), for another tool to fill (tools/opencv_rows.py).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Add another tool's fills as a classical row: LABEL=DIR, DIR holding
    /// `<mask>/<image>.png` for every mask and image (repeatable).
    #[arg(long, value_parser = parse_import)]
    pub import: Vec<(String, PathBuf)>,
}

#[derive(Args)]
pub struct TrainEncoderArgs {
    /// The trained model (G is frozen; the output is a copy with the encoder added).
    #[arg(long)]
    pub weights: PathBuf,
    /// Folder of training images (the pictures G was trained on).
    #[arg(long)]
    pub data: PathBuf,
    /// Leave out files whose name matches (shell glob; repeatable), e.g. the held-out people.
    #[arg(long)]
    pub exclude: Vec<String>,
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The weights file to write (never the input).
    #[arg(long)]
    pub out: PathBuf,
    /// Store the tensors as 16-bit floats (as the shipped weights are).
    #[arg(long)]
    pub f16: bool,
}

fn parse_import(text: &str) -> std::result::Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((label, dir)) if !label.trim().is_empty() && !dir.is_empty() => Ok((label.trim().to_string(), PathBuf::from(dir))),
        _ => Err(format!("--import wants LABEL=DIR (e.g. \"OpenCV Telea=runs/opencv/telea\"), got {text:?}")),
    }
}

#[derive(Args)]
pub struct CalibrateArgs {
    #[arg(long)]
    pub weights: PathBuf,
    /// Pictures the model knows.
    #[command(flatten)]
    pub images: ImageSetArgs,
    /// Iterations of z (the page's default: a fit after more is only lower).
    #[arg(long, default_value_t = DEFAULTS.iters)]
    pub iters: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Store the threshold in the weights file's metadata (fit_p99).
    #[arg(long)]
    pub write: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Weights to offer (repeatable), named after the file; NAME=FILE names one. Default:
    /// the shipped faces and emoji models, with their example images.
    #[arg(long)]
    pub weights: Vec<String>,
    /// Address to listen on. 127.0.0.1 keeps the page on this machine; 0.0.0.0 opens it to
    /// the network (with a warning: there is no authentication).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: any free one; the URL printed says which).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Completion jobs waiting or running at once; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// Rows (images x restarts) optimised together in one batch.
    #[arg(long, default_value_t = 16)]
    pub max_rows: usize,
    /// The largest request body in MiB (1 to 1024).
    #[arg(long, default_value_t = 16)]
    pub max_body_mib: usize,
    /// The access token every API request must carry (header `Authorization: Bearer TOKEN`,
    /// or the cookie the page sets after `/?token=TOKEN`). Required with a --host that is
    /// not loopback; generated and printed when not given there.
    #[arg(long)]
    pub token: Option<String>,
    /// Another host name the server answers to (repeatable), besides localhost and IP
    /// addresses: requests naming any other Host are refused (DNS rebinding).
    #[arg(long)]
    pub allow_host: Vec<String>,
    /// Let the page at this origin call the API from a browser (CORS), e.g. an IOPaint web
    /// app served elsewhere: http://localhost:3000. Every other origin is refused.
    #[arg(long)]
    pub cors_origin: Option<String>,
    /// The images the Lab (/lab) trains on: the faces that come with the project.
    #[arg(long, default_value = "data/olivetti")]
    pub lab_data: PathBuf,
    /// The emoji the Lab trains on when asked: tools/fetch_twemoji.sh fetches them here.
    #[arg(long, default_value = "data/twemoji64")]
    pub lab_emoji: PathBuf,
    /// Where the Lab's Save writes models (a folder per model, never overwritten).
    #[arg(long, default_value = "runs/lab")]
    pub lab_out: PathBuf,
}

#[derive(Args)]
pub struct SampleArgs {
    /// Weights or checkpoint file.
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latents as float32 .npy [n, z_dim] (instead of --n/--seed).
    #[arg(long)]
    pub z: Option<PathBuf>,
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Also write the raw generator output, float32 [n, c, s, s] in [-1, 1].
    #[arg(long)]
    pub raw_out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Store the values as 16-bit floats (half the size).
    #[arg(long)]
    pub f16: bool,
}

#[derive(Args)]
pub struct PlotArgs {
    /// A training log.csv.
    #[arg(long)]
    pub log: PathBuf,
    #[arg(long, default_value = "loss.png")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Base width of both nets (gf = df).
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    #[arg(long, default_value_t = 100)]
    pub z_dim: usize,
    #[arg(long, default_value_t = 5)]
    pub kernel: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed repetitions per kernel and step (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Generator updates per discriminator update in the timed training step.
    #[arg(long, default_value_t = 2)]
    pub g_steps: usize,
    /// Time the training step and completion iteration only.
    #[arg(long)]
    pub no_kernels: bool,
    /// Also write the results as JSON (for tools/compare.py).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Measure the adapter's peak FLOP/s and bandwidth, and draw every timed kernel of the
    /// training step and the completion iteration under those roofs (.svg or .png).
    #[arg(long)]
    pub roofline: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Same,
    Png,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PriorArg {
    Paper,
    Nonsaturating,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BlendArg {
    Poisson,
    Biharmonic,
    Hybrid,
    None,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StartArg {
    Encoder,
    Random,
}

impl From<StartArg> for Start {
    fn from(s: StartArg) -> Start {
        match s {
            StartArg::Encoder => Start::Encoder,
            StartArg::Random => Start::Random,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Auto,
    Dcgan,
    Harmonic,
    Biharmonic,
    Mean,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Dcgan => Method::Dcgan,
            MethodArg::Harmonic => Method::Classical(Classical::Harmonic),
            MethodArg::Biharmonic => Method::Classical(Classical::Biharmonic),
            MethodArg::Mean => Method::Classical(Classical::MeanFill),
        }
    }
}

impl From<PriorArg> for Prior {
    fn from(p: PriorArg) -> Prior {
        match p {
            PriorArg::Paper => Prior::Paper,
            PriorArg::Nonsaturating => Prior::NonSaturating,
        }
    }
}

/// The blend a flag names, with the hybrid's weight.
fn blend_of(b: BlendArg, hybrid_weight: f32) -> Blend {
    match b {
        BlendArg::Poisson => Blend::Poisson,
        BlendArg::Biharmonic => Blend::Biharmonic,
        BlendArg::Hybrid => Blend::Hybrid { weight: hybrid_weight },
        BlendArg::None => Blend::None,
    }
}

impl From<GpuFlags> for AdapterChoice {
    fn from(f: GpuFlags) -> AdapterChoice {
        AdapterChoice { backend: f.backend, adapter: f.adapter, kernels: f.kernels, tune_cache: None, retune: f.retune }
    }
}

impl From<&ModelArgs> for Architecture {
    fn from(m: &ModelArgs) -> Architecture {
        Architecture { image_size: m.image_size, channels: m.channels, z_dim: m.z_dim, gf: m.gf, df: m.df, kernel: m.kernel }
    }
}

impl From<TrainArgs> for TrainConfig {
    fn from(a: TrainArgs) -> TrainConfig {
        TrainConfig {
            arch: Architecture::from(&a.model),
            data: a.data,
            exclude: a.exclude,
            flip: a.flip,
            batch: a.batch,
            epochs: a.epochs,
            steps: a.steps,
            out: a.out,
            seed: a.seed,
            adam: AdamConfig { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: 1e-8 },
            g_steps: a.g_steps,
            sample_every: a.sample_every,
            checkpoint_every: a.checkpoint_every,
            resume: a.resume,
        }
    }
}

impl TryFrom<CompleteArgs> for CompleteConfig {
    type Error = dcgan_inpaint::Error;
    fn try_from(a: CompleteArgs) -> Result<CompleteConfig> {
        let (iters, ilo_iters, restarts) = if a.quick { (QUICK.iters, QUICK.ilo_iters, QUICK.restarts) } else { (a.iters, a.ilo_iters, a.restarts) };
        Ok(CompleteConfig {
            inputs: a.inputs,
            weights: shipped(&a.weights),
            mask: MaskKind::parse(&a.mask, a.center_scale, a.missing.unwrap_or(mask::MISSING))?,
            mask_dir: a.mask_dir,
            settings: Settings {
                weighted_window: a.weighted_window,
                prior: a.prior.into(),
                lam: a.lam,
                adam: AdamConfig { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps },
                iters,
                restarts,
                blend: blend_of(a.blend, a.hybrid_weight.unwrap_or(HYBRID_WEIGHT)),
                method: a.method.into(),
                ilo_layers: a.ilo_layers,
                ilo_iters,
                ilo_radius: a.ilo_radius,
                batch: a.batch,
                // Latents given with --z-init are where z starts.
                start: if a.z_init.is_some() { Start::Random } else { a.start.into() },
                frames_every: a.frames_every,
                seed: a.seed,
            },
            out: a.out.unwrap_or_else(fresh_complete_folder),
            overwrite: a.overwrite,
            save_z: a.save_z,
            z_init: a.z_init,
            eval: a.eval,
            region: a.region.as_deref().map(Region::parse).transpose()?,
            force_png: matches!(a.format, FormatArg::Png),
            shard: match &a.shard {
                Some(text) => Some(Shard::parse(text)?),
                None => Shard::from_env(|k| std::env::var(k).ok(), a.shard_count)?,
            },
            resume: a.resume,
        })
    }
}

impl From<QualityArgs> for QualityConfig {
    fn from(a: QualityArgs) -> QualityConfig {
        let defaults = Settings::default();
        let base = CompleteConfig {
            weights: shipped(&a.weights),
            settings: Settings {
                lam: a.lam,
                adam: AdamConfig { lr: a.lr, ..defaults.adam },
                iters: a.iters,
                ilo_iters: a.ilo_iters,
                restarts: a.restarts,
                batch: a.batch,
                start: a.start.into(),
                frames_every: 0,
                seed: a.seed,
                ..defaults
            },
            eval: true,
            ..CompleteConfig::default()
        };
        QualityConfig {
            base,
            data: a.images.data,
            include: a.images.include,
            limit: a.images.limit,
            masks: a.mask,
            windows: a.window,
            ilo_layers: a.ilo_layers,
            hybrid_weight: a.hybrid_weight,
            export: a.export,
            imports: a.import,
            default_only: a.default_only,
            curve: a.curve,
        }
    }
}

impl From<ServeArgs> for ServeConfig {
    fn from(a: ServeArgs) -> ServeConfig {
        let models = if a.weights.is_empty() {
            [
                ("faces", "olivetti-64", "faces", "64x64 grey photos of faces, frontal and centred (the Olivetti faces: 36 people, 1992-94); a face region of a photo, not a whole photo"),
                ("emoji", "twemoji-64", "emoji", "64x64 colour emoji (Twemoji) on white; not photos"),
            ]
            .iter()
            .map(|(name, file, examples, about)| ModelSpec {
                name: name.to_string(),
                weights: shipped(&PathBuf::from(format!("weights/{file}.safetensors"))),
                examples: Some(shipped(&PathBuf::from(format!("weights/examples/{examples}")))),
                about: Some(about.to_string()),
            })
            .collect()
        } else {
            a.weights
                .iter()
                .map(|w| {
                    let (name, file) = match w.split_once('=') {
                        Some((name, file)) => (name.to_string(), PathBuf::from(file)),
                        None => {
                            let file = PathBuf::from(w);
                            (file.file_stem().unwrap_or_default().to_string_lossy().into_owned(), file)
                        }
                    };
                    ModelSpec { name, weights: shipped(&file), examples: None, about: None }
                })
                .collect()
        };
        ServeConfig {
            models,
            host: a.host,
            port: a.port,
            queue: a.queue,
            max_rows: a.max_rows,
            max_body_mib: a.max_body_mib,
            token: a.token,
            allow_hosts: a.allow_host,
            cors_origin: a.cors_origin,
            lab: LabConfig { faces: a.lab_data, emoji: a.lab_emoji, out: a.lab_out },
        }
    }
}

impl From<&BenchArgs> for BenchOptions {
    fn from(a: &BenchArgs) -> BenchOptions {
        BenchOptions {
            arch: Architecture { image_size: a.image_size, channels: a.channels, z_dim: a.z_dim, gf: a.width, df: a.width, kernel: a.kernel },
            batch: a.batch,
            reps: a.reps,
            g_steps: a.g_steps,
            roofline: a.roofline.is_some(),
        }
    }
}

/// The default output of `complete`: runs/complete, or the first runs/complete-N that does
/// not hold files yet, so running the same command twice loses nothing.
fn fresh_complete_folder() -> PathBuf {
    let empty = |p: &std::path::Path| std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none());
    let base = PathBuf::from("runs/complete");
    (1..)
        .map(|k| if k == 1 { base.clone() } else { PathBuf::from(format!("runs/complete-{k}")) })
        .find(|p| empty(p))
        .unwrap_or(base)
}

/// A relative path under `weights/` that is not found from the current folder is looked up
/// in the source tree, so the shipped defaults work from anywhere.
pub fn shipped(path: &std::path::Path) -> PathBuf {
    let in_tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if path.is_relative() && !path.exists() && path.starts_with("weights") && in_tree.exists() { in_tree } else { path.to_path_buf() }
}
