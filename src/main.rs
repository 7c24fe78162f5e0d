//! The command line: parse flags, pick the adapter, run one job.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use dcgan_inpaint::gpu::{AdapterChoice, context};
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::ops::adam::AdamConfig;
use dcgan_inpaint::{Gpu, Result};

/// Set by Ctrl-C; long jobs stop at the next safe point and save their work.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(name = "dcgan-inpaint", version, about = "Semantic image inpainting with a DCGAN on a hand-written wgpu engine")]
struct Cli {
    #[command(flatten)]
    gpu: GpuFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GpuFlags {
    /// Backends to search (vulkan, metal, dx12, gl; comma-separated). Overrides WGPU_BACKEND.
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the first adapter whose name contains this text (case-insensitive). Overrides WGPU_ADAPTER_NAME.
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Kernel variants: auto (by adapter: simd8 on CPU adapters with 8-lane subgroups such as lavapipe, portable elsewhere), portable or simd8. Overrides DCGAN_KERNELS.
    #[arg(long, global = true)]
    kernels: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter seen, the one chosen, and its limits and features.
    Info,
    /// Time every kernel at the DCGAN's layer shapes.
    Bench(BenchArgs),
    /// Fill the missing pixels of images (semantic inpainting by optimising z).
    Complete(CompleteArgs),
    /// The completion quality table: masks x losses x priors x blends, and a mean-fill baseline.
    Quality(QualityArgs),
    /// Train the DCGAN on a folder of images.
    Train(TrainArgs),
    /// Draw images from a trained generator.
    Sample(SampleArgs),
    /// Write inference weights (G, D, BN statistics) from a training checkpoint.
    Export(ExportArgs),
    /// Draw the loss curves of a training log (log.csv) as a PNG.
    Plot(PlotArgs),
}

#[derive(Args)]
struct ModelArgs {
    /// Image side in pixels (a power of two, 16..256).
    #[arg(long, default_value_t = 64)]
    image_size: usize,
    /// 1 (grayscale) or 3 (colour).
    #[arg(long, default_value_t = 3)]
    channels: usize,
    #[arg(long, default_value_t = 100)]
    z_dim: usize,
    /// Generator base width.
    #[arg(long, default_value_t = 64)]
    gf: usize,
    /// Discriminator base width.
    #[arg(long, default_value_t = 64)]
    df: usize,
    /// Convolution kernel size (5: TensorFlow original, 4: PyTorch example).
    #[arg(long, default_value_t = 5)]
    kernel: usize,
}

impl ModelArgs {
    fn architecture(&self) -> Architecture {
        Architecture {
            image_size: self.image_size,
            channels: self.channels,
            z_dim: self.z_dim,
            gf: self.gf,
            df: self.df,
            kernel: self.kernel,
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Folder of training images (searched recursively; png/jpg/jpeg/bmp/gif).
    #[arg(long)]
    data: PathBuf,
    /// Hold out files whose name or relative path matches (shell glob; repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// Random horizontal flips.
    #[arg(long)]
    flip: bool,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 25)]
    epochs: u64,
    /// Stop after this many steps in total (overrides --epochs).
    #[arg(long)]
    steps: Option<u64>,
    /// Output folder: checkpoint, log.csv, loss.png, samples/.
    #[arg(long, default_value = "runs/train")]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 2e-4)]
    lr: f32,
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// Generator updates per discriminator update.
    #[arg(long, default_value_t = 2)]
    g_steps: usize,
    /// Write an 8x8 grid from a fixed z every N steps (0: only at the end).
    #[arg(long, default_value_t = 100)]
    sample_every: u64,
    /// Write the checkpoint every N steps (and always at the end and on Ctrl-C).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Continue from OUT/checkpoint.safetensors.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct CompleteArgs {
    /// Image files or folders of images.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Trained weights (or a checkpoint); the shipped face model by default.
    #[arg(long, default_value = "weights/olivetti-64.safetensors")]
    weights: PathBuf,
    /// A fast preview: 200 iterations and 2 restarts (overrides --iters and --restarts).
    #[arg(long)]
    quick: bool,
    /// center, left, right, top, bottom, half, random, grid, pattern, lowres, full, or a PNG
    /// (white = known, black = missing).
    #[arg(long, default_value = "center")]
    mask: String,
    /// Per-image masks: DIR/<input name>.png.
    #[arg(long)]
    mask_dir: Option<PathBuf>,
    /// Border width of the center mask as a fraction of the size (0.25: a 32x32 hole in 64x64).
    #[arg(long, default_value_t = 0.25)]
    center_scale: f32,
    /// Fraction of pixels missing with --mask random.
    #[arg(long, default_value_t = 0.8)]
    missing: f32,
    /// Weighted contextual loss window (the paper uses 7); 0 = the binary mask.
    #[arg(long, default_value_t = 7)]
    weighted_window: usize,
    /// paper = log(1 - D(G(z))), nonsaturating = -log D(G(z)).
    #[arg(long, default_value = "paper")]
    prior: String,
    /// Weight of the prior (perceptual) loss.
    #[arg(long, default_value_t = 0.003)]
    lam: f32,
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    #[arg(long, default_value_t = 0.9)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    #[arg(long, default_value_t = 1e-8)]
    eps: f32,
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Random starts per image; the one with the lowest final loss is kept.
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// poisson or none (plain overlay).
    #[arg(long, default_value = "poisson")]
    blend: String,
    /// Rows (images x restarts) optimised together.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value = "runs/complete")]
    out: PathBuf,
    /// A progress.gif frame every N iterations (0: none).
    #[arg(long, default_value_t = 50)]
    frames_every: usize,
    /// Also write each image's final z as z.npy.
    #[arg(long)]
    save_z: bool,
    /// Starting latents, float32 .npy [images x restarts, z_dim] (image-major).
    #[arg(long)]
    z_init: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Treat inputs as ground truth: report PSNR/SSIM (whole image and hole) and write metrics.json.
    #[arg(long)]
    eval: bool,
}

#[derive(Args)]
struct QualityArgs {
    #[arg(long)]
    weights: PathBuf,
    /// Folder of ground-truth images.
    #[arg(long)]
    data: PathBuf,
    /// Use only files whose name matches (shell glob; repeatable), e.g. the held-out people.
    #[arg(long)]
    include: Vec<String>,
    /// At most this many images (0: all that match).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    #[arg(long, default_value_t = 0.003)]
    lam: f32,
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the table here (Markdown).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    /// Weights or checkpoint file.
    #[arg(long)]
    weights: PathBuf,
    #[arg(long, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Latents as float32 .npy [n, z_dim] (instead of --n/--seed).
    #[arg(long)]
    z: Option<PathBuf>,
    #[arg(long, default_value = "samples.png")]
    out: PathBuf,
    /// Also write the raw generator output, float32 [n, c, s, s] in [-1, 1].
    #[arg(long)]
    raw_out: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Store the values as 16-bit floats (half the size).
    #[arg(long)]
    f16: bool,
}

#[derive(Args)]
struct PlotArgs {
    /// A training log.csv.
    #[arg(long)]
    log: PathBuf,
    #[arg(long, default_value = "loss.png")]
    out: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    image_size: usize,
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Base width of both nets (gf = df).
    #[arg(long, default_value_t = 64)]
    width: usize,
    #[arg(long, default_value_t = 100)]
    z_dim: usize,
    #[arg(long, default_value_t = 5)]
    kernel: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Timed repetitions per kernel and step (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Generator updates per discriminator update in the timed training step.
    #[arg(long, default_value_t = 2)]
    g_steps: usize,
    /// Time the training step and completion iteration only.
    #[arg(long)]
    no_kernels: bool,
    /// Also write the results as JSON (for tools/compare.py).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let choice = AdapterChoice { backend: cli.gpu.backend, adapter: cli.gpu.adapter, kernels: cli.gpu.kernels };
    let result = match cli.command {
        Command::Info => info(&choice),
        Command::Bench(args) => bench(&choice, args),
        Command::Complete(args) => complete(&choice, args),
        Command::Quality(args) => quality(&choice, args),
        Command::Train(args) => train(&choice, args),
        Command::Sample(args) => sample(&choice, args),
        Command::Export(args) => export(args),
        Command::Plot(args) => dcgan_inpaint::train::plot_log(&args.log, &args.out).map(|_| println!("wrote {}", args.out.display())),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn train(choice: &AdapterChoice, a: TrainArgs) -> Result<()> {
    let arch = a.model.architecture();
    arch.validate()?;
    let gpu = Gpu::new(choice)?;
    let cfg = dcgan_inpaint::train::TrainConfig {
        arch,
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
    };
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::Relaxed) {
            std::process::exit(130); // a second Ctrl-C: leave at once
        }
        eprintln!("\nstopping after this step and writing the checkpoint (Ctrl-C again to quit now)");
    })
    .ok();
    eprintln!("training on {} ({:?})", gpu.info.name, gpu.info.backend);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    let plain = bar.is_hidden();
    let summary = dcgan_inpaint::train::train(&gpu, &cfg, &STOP, |p| {
        bar.set_length(p.total);
        bar.set_position(p.step);
        let msg = format!(
            "epoch {} | {:.1} img/s | d_loss {:.4} | g_loss {:.4}",
            p.epoch, p.summary.images_per_s, p.summary.d_loss, p.summary.g_loss
        );
        if plain && (p.step % (p.total / 20).max(1) == 0 || p.step == p.total) {
            eprintln!("step {}/{} {msg}", p.step, p.total);
        }
        bar.set_message(msg);
    });
    bar.finish_and_clear();
    let summary = summary?;
    let out = &cfg.out;
    if summary.interrupted {
        println!("stopped at step {}; continue with the same command and --resume", summary.steps);
    }
    println!(
        "{} steps, {:.1} images/s, d_loss {:.4}, g_loss {:.4}\ncheckpoint: {}\nsamples: {}\nlog: {} (plot: {})",
        summary.steps,
        summary.images_per_s,
        summary.d_loss,
        summary.g_loss,
        dcgan_inpaint::train::checkpoint_path(out).display(),
        out.join("samples").display(),
        out.join("log.csv").display(),
        out.join("loss.png").display()
    );
    Ok(())
}

fn complete(choice: &AdapterChoice, a: CompleteArgs) -> Result<()> {
    use dcgan_inpaint::complete::{self, Blend, Event, Prior};
    let prior = match a.prior.as_str() {
        "paper" => Prior::Paper,
        "nonsaturating" => Prior::NonSaturating,
        other => dcgan_inpaint::bail!("--prior must be paper or nonsaturating, got '{other}'"),
    };
    let blend = match a.blend.as_str() {
        "poisson" => Blend::Poisson,
        "none" => Blend::None,
        other => dcgan_inpaint::bail!("--blend must be poisson or none, got '{other}'"),
    };
    let (iters, restarts) = if a.quick { (200, 2) } else { (a.iters, a.restarts) };
    let cfg = complete::CompleteConfig {
        inputs: a.inputs,
        weights: shipped(&a.weights),
        mask: complete::mask::MaskKind::parse(&a.mask, a.center_scale, a.missing)?,
        mask_dir: a.mask_dir,
        weighted_window: a.weighted_window,
        prior,
        lam: a.lam,
        adam: AdamConfig { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps },
        iters,
        restarts,
        blend,
        batch: a.batch,
        out: a.out,
        frames_every: a.frames_every,
        save_z: a.save_z,
        z_init: a.z_init,
        seed: a.seed,
        eval: a.eval,
    };
    let gpu = Gpu::new(choice)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} iterations {msg} [{elapsed} < {eta}]").expect("valid template"),
    );
    let outcome = complete::complete(&gpu, &cfg, |event| match event {
        Event::Start { images, total_iterations } => {
            eprintln!("completing {images} image(s) on {} ({:?})", gpu.info.name, gpu.info.backend);
            bar.set_length(total_iterations as u64);
        }
        Event::Iteration { mean_loss } => {
            bar.inc(1);
            bar.set_message(format!("mean loss {mean_loss:.3}"));
        }
    });
    bar.finish_and_clear();
    let outcome = outcome?;
    if let Some(m) = &outcome.metrics {
        println!("{:<24} {:>8} {:>7} {:>10} {:>9}", "image", "PSNR", "SSIM", "PSNR hole", "SSIM hole");
        let mean = complete::mean_metrics(m);
        for (name, x) in outcome.names.iter().map(String::as_str).zip(m).chain(std::iter::once(("mean", &mean))) {
            println!("{name:<24} {:>8.2} {:>7.4} {:>10.2} {:>9.4}", x.psnr, x.ssim, x.psnr_hole, x.ssim_hole);
        }
        println!("metrics: {}", cfg.out.join("metrics.json").display());
    }
    println!("completed {} image(s); results in {}/<name>/", outcome.names.len(), cfg.out.display());
    println!("summary: {}", outcome.summary.display());
    Ok(())
}

/// A relative path under `weights/` that is not found from the current folder is looked up
/// in the source tree, so the shipped defaults work from anywhere.
fn shipped(path: &std::path::Path) -> PathBuf {
    let in_tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if path.is_relative() && !path.exists() && path.starts_with("weights") && in_tree.exists() { in_tree } else { path.to_path_buf() }
}

fn quality(choice: &AdapterChoice, a: QualityArgs) -> Result<()> {
    use dcgan_inpaint::complete::{self, quality};
    let gpu = Gpu::new(choice)?;
    let base = complete::CompleteConfig {
        inputs: vec![],
        weights: a.weights,
        mask: complete::mask::MaskKind::Center { scale: 0.25 },
        mask_dir: None,
        weighted_window: 7,
        prior: complete::Prior::Paper,
        lam: a.lam,
        adam: AdamConfig { lr: a.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        iters: a.iters,
        restarts: a.restarts,
        blend: complete::Blend::Poisson,
        batch: a.batch,
        out: PathBuf::new(),
        frames_every: 0,
        save_z: false,
        z_init: None,
        seed: a.seed,
        eval: true,
    };
    let cfg = quality::QualityConfig { base, data: a.data, include: a.include, limit: a.limit };
    let started = std::time::Instant::now();
    let rows = quality::run(&gpu, &cfg, |line| eprintln!("[{:>6.0}s] {line}", started.elapsed().as_secs_f64()))?;
    let table = quality::markdown(&rows);
    println!("{table}");
    if let Some(out) = &a.out {
        std::fs::write(out, &table).map_err(|e| dcgan_inpaint::Error::new(format!("cannot write {}: {e}", out.display())))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn sample(choice: &AdapterChoice, a: SampleArgs) -> Result<()> {
    let gpu = Gpu::new(choice)?;
    let latents = match &a.z {
        Some(path) => dcgan_inpaint::sample::Latents::File(path),
        None => dcgan_inpaint::sample::Latents::Seed { n: a.n, seed: a.seed },
    };
    let n = dcgan_inpaint::sample::sample(&gpu, &a.weights, latents, &a.out, a.raw_out.as_deref())?;
    println!("wrote {} ({n} images)", a.out.display());
    if let Some(raw) = &a.raw_out {
        println!("wrote {}", raw.display());
    }
    Ok(())
}

fn export(a: ExportArgs) -> Result<()> {
    dcgan_inpaint::sample::export(&a.checkpoint, &a.out, a.f16)?;
    println!("wrote {}", a.out.display());
    Ok(())
}

fn bench(choice: &AdapterChoice, a: BenchArgs) -> Result<()> {
    use dcgan_inpaint::bench;
    let arch = Architecture { image_size: a.image_size, channels: a.channels, z_dim: a.z_dim, gf: a.width, df: a.width, kernel: a.kernel };
    arch.validate()?;
    let gpu = Gpu::new(choice)?;
    let opts = bench::KernelBenchOptions {
        image_size: a.image_size,
        channels: a.channels,
        width: a.width,
        z_dim: a.z_dim,
        kernel: a.kernel,
        batch: a.batch,
        reps: a.reps,
    };
    let timings = if a.no_kernels {
        Vec::new()
    } else {
        let t = bench::kernels(&gpu, &opts, |name| eprint!("\rtiming {name:<40}"));
        eprintln!("\r{:<60}", "");
        bench::print_table(&gpu, &t);
        t
    };
    eprintln!("timing a training step (batch {}, g_steps {}) ...", a.batch, a.g_steps);
    let (step, memory) = bench::train_step_timing(&gpu, &arch, a.batch, a.g_steps, a.reps);
    eprintln!("timing a completion iteration (batch {}) ...", a.batch);
    let iter = bench::complete_iter_timing(&gpu, &arch, a.batch, a.reps);
    println!("\nmodel {}, {} kernels", arch.to_json(), gpu.kernels.name());
    bench::print_step("training step:", "images/s", &step);
    bench::print_step("completion iteration:", "images x iterations/s", &iter);
    println!("training step memory:  peak {:.1} MiB held by tensors, minimum about {:.1} MiB", memory.peak_bytes as f64 / 1048576.0, memory.minimum_bytes as f64 / 1048576.0);
    if let Some(path) = &a.json {
        let json = serde_json::json!({
            "adapter": {"name": gpu.info.name, "backend": format!("{:?}", gpu.info.backend), "device_type": format!("{:?}", gpu.info.device_type),
                        "kernels": gpu.kernels.name(), "timer": if gpu.has_timestamps() { "timestamps" } else { "wall clock" }},
            "train_step": {"image_size": arch.image_size, "channels": arch.channels, "z_dim": arch.z_dim, "gf": arch.gf, "df": arch.df,
                           "kernel": arch.kernel, "batch": a.batch, "g_steps": a.g_steps, "images_per_s": step.per_s,
                           "wall_ms": step.wall_ms, "gpu_ms": step.gpu_ms, "dispatches": step.dispatches, "submissions": step.submissions,
                           "dispatch_overhead_ms": step.dispatch_overhead_ms, "profile": profile_json(&step.profile)},
            "complete_iter": {"batch": a.batch, "images_iters_per_s": iter.per_s, "wall_ms": iter.wall_ms, "gpu_ms": iter.gpu_ms,
                              "dispatches": iter.dispatches, "submissions": iter.submissions,
                              "dispatch_overhead_ms": iter.dispatch_overhead_ms, "profile": profile_json(&iter.profile)},
            "kernels": timings.iter().map(|t| serde_json::json!({"name": t.name, "shape": t.shape, "gflops": t.gflops, "gbps": t.gbps, "ms": t.ms})).collect::<Vec<_>>(),
            "memory": {"peak_bytes": memory.peak_bytes, "minimum_bytes": memory.minimum_bytes},
        });
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap())
            .map_err(|e| dcgan_inpaint::Error::new(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn profile_json(profile: &[dcgan_inpaint::gpu::KernelProfile]) -> serde_json::Value {
    profile.iter().map(|k| serde_json::json!({"entry": k.entry, "dispatches": k.dispatches, "ms": k.seconds * 1e3})).collect()
}

fn info(choice: &AdapterChoice) -> Result<()> {
    let (_instance, adapters) = context::enumerate(choice)?;
    println!("Adapters seen ({}):", adapters.len());
    for (_, report) in &adapters {
        let i = &report.info;
        let note = report.unusable.map(|u| format!("  [unusable: {u}]")).unwrap_or_default();
        println!("  - {} | {:?} | {:?} | driver: {} {}{note}", i.name, i.backend, i.device_type, i.driver, i.driver_info);
    }
    let gpu = Gpu::new(choice)?;
    let (i, l) = (&gpu.info, &gpu.limits);
    println!("\nChosen adapter: {}", i.name);
    println!("  backend:      {:?}", i.backend);
    println!("  device type:  {:?}", i.device_type);
    println!("  driver:       {} ({})", i.driver, i.driver_info);
    println!("  vendor/device: {:#06x}/{:#06x}", i.vendor, i.device);
    println!("  subgroups:    {}..{} lanes", i.subgroup_min_size, i.subgroup_max_size);
    println!("  kernels:      {} (--kernels auto|portable|simd8)", gpu.kernels.name());
    println!("Limits:");
    let mib = |b: u64| format!("{} MiB", b >> 20);
    println!("  max buffer size:                 {}", mib(l.max_buffer_size));
    println!("  max storage binding:             {}", mib(l.max_storage_buffer_binding_size));
    println!("  storage buffers per stage:       {}", l.max_storage_buffers_per_shader_stage);
    println!("  workgroup storage:               {} KiB", l.max_compute_workgroup_storage_size / 1024);
    println!("  invocations per workgroup:       {}", l.max_compute_invocations_per_workgroup);
    println!(
        "  workgroup size x/y/z:            {}/{}/{}",
        l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z
    );
    println!("  workgroups per dimension:        {}", l.max_compute_workgroups_per_dimension);
    println!("  uniform offset alignment:        {}", l.min_uniform_buffer_offset_alignment);
    println!("  texture size (2-D):              {}", l.max_texture_dimension_2d);
    println!("Features:");
    let adapter_features = adapters
        .iter()
        .find(|(_, r)| r.info.name == i.name && r.info.backend == i.backend)
        .map(|(a, _)| a.features())
        .unwrap_or(gpu.features);
    for (name, f) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
    ] {
        let state = if gpu.features.contains(f) {
            "enabled"
        } else if adapter_features.contains(f) {
            "available (not used)"
        } else {
            "absent"
        };
        println!("  {name:<16} {state}");
    }
    Ok(())
}
