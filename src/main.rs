//! The command line: parse flags (cli.rs), pick the adapter, run one job.

mod cli;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::Parser;
use cli::{BenchArgs, CalibrateArgs, Cli, Command, CompleteArgs, ExportArgs, QualityArgs, SampleArgs, ServeArgs, TrainArgs};
use dcgan_inpaint::engine::gpu::{AdapterChoice, context};
use dcgan_inpaint::jobs::bench::{self, BenchOptions};
use dcgan_inpaint::jobs::complete::CompleteConfig;
use dcgan_inpaint::jobs::complete::quality::QualityConfig;
use dcgan_inpaint::jobs::sample;
use dcgan_inpaint::jobs::train::{self, TrainConfig};
use dcgan_inpaint::{Error, Gpu, Result};

/// Set by SIGINT (Ctrl-C), SIGTERM (timeout, systemd, docker stop, Slurm) or SIGHUP (the
/// terminal closed, an ssh session dropped); every job stops at its next safe point, saves
/// what it saves (training: the checkpoint) and exits 128 + the signal. A second signal
/// leaves at once.
fn stop_on_signals() -> (Arc<AtomicBool>, Arc<AtomicUsize>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (stop, which) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees `stop` as the earlier signal left it.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&stop));
        let _ = signal_hook::flag::register_usize(signal, Arc::clone(&which), signal as usize);
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    (stop, which)
}

/// Probing the windowing libraries is not needed by a compute program, but Mesa's Vulkan
/// driver does it at start-up and prints "error: XDG_RUNTIME_DIR is invalid" when that
/// variable is unset (headless machines, containers, CI). Any path silences it, so point it
/// at one that is never created: nothing to clean up, whatever way the process ends.
fn quiet_window_system_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("dcgan-inpaint-no-display");
    // SAFETY: the first thing main does, before any other thread exists.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
}

fn main() {
    quiet_window_system_probe();
    let cli = Cli::parse();
    let choice = AdapterChoice::from(cli.gpu);
    let (stop, which) = stop_on_signals();
    let result = match cli.command {
        Command::Info => info(&choice),
        Command::Bench(args) => bench(&choice, args, &stop),
        Command::Complete(args) => complete(&choice, args, &stop),
        Command::Quality(args) => quality(&choice, args, &stop),
        Command::Calibrate(args) => calibrate(&choice, args, &stop),
        Command::Serve(args) => serve(&choice, args, &stop),
        Command::Train(args) => train(&choice, args, &stop),
        Command::TrainEncoder(args) => train_encoder(&choice, args, &stop),
        Command::Sample(args) => sample(&choice, args, &stop),
        Command::Export(args) => export(args),
        Command::Plot(args) => dcgan_inpaint::io::picture::plot_log(&args.log, &args.out).map(|_| println!("wrote {}", args.out.display())),
        Command::Report(args) => report(args),
    };
    let signal = which.load(Ordering::Relaxed);
    if let Err(e) = &result {
        eprintln!("error: {e}");
    }
    // An interrupted run is not a finished one: 128 + the signal, as shells report it.
    if signal != 0 {
        std::process::exit(128 + signal as i32);
    }
    if result.is_err() {
        std::process::exit(1);
    }
}

/// Open the adapter; a GL software renderer is used only when asked for, with a warning.
fn open_gpu(choice: &AdapterChoice) -> Result<Gpu> {
    let gpu = Gpu::new(choice)?;
    if gpu.info.backend == wgpu::Backend::Gl && gpu.info.device_type == wgpu::DeviceType::Cpu {
        eprintln!(
            "warning: '{}' is OpenGL on the CPU, 5-50x slower than Mesa's Vulkan driver (lavapipe): apt-get install mesa-vulkan-drivers",
            gpu.info.name
        );
    }
    Ok(gpu)
}

/// A progress bar on a terminal; when stderr goes to a file or a log, a plain line every
/// few seconds instead, so a slow run never looks hung.
struct Progress {
    bar: indicatif::ProgressBar,
    last_line: std::time::Instant,
}

impl Progress {
    const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    fn new(template: &str) -> Progress {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        Progress { bar, last_line: std::time::Instant::now() }
    }

    /// Move to `pos` of `len` with `msg`; `unit` names what is counted in the plain line.
    fn update(&mut self, pos: u64, len: u64, unit: &str, msg: String) {
        self.bar.set_length(len);
        self.bar.set_position(pos);
        if self.bar.is_hidden() && (self.last_line.elapsed() >= Self::LOG_EVERY || pos == len) {
            let elapsed = self.bar.elapsed().as_secs_f64();
            eprintln!("[{elapsed:>6.0}s] {pos}/{len} {unit} {msg}");
            self.last_line = std::time::Instant::now();
        }
        self.bar.set_message(msg);
    }

    fn println(&self, line: String) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn serve(choice: &AdapterChoice, a: ServeArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    use dcgan_inpaint::jobs::serve::{self, ServeConfig};
    let cfg = ServeConfig::from(a);
    let open = {
        let choice = choice.clone();
        move || open_gpu(&choice)
    };
    serve::serve(open, &cfg, Arc::clone(stop), |at| {
        let addr = at.addr;
        let shown = if addr.ip().is_unspecified() { std::net::SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
        if !addr.ip().is_loopback() {
            eprintln!("warning: listening on {addr}: anyone who can reach this machine on the network and has the token can use the page and the GPU");
        }
        if at.token_generated {
            eprintln!("the access token was generated for this run (give your own with --token); it is in the URL below");
        }
        let names: Vec<&str> = cfg.models.iter().map(|m| m.name.as_str()).collect();
        eprintln!("models: {} on {}", names.join(", "), at.adapter);
        let query = at.token.map(|t| format!("?token={t}")).unwrap_or_default();
        println!("serving on http://{shown}/{query}  (Ctrl-C stops)");
    })
}

fn train(choice: &AdapterChoice, a: TrainArgs, stop: &AtomicBool) -> Result<()> {
    let cfg = TrainConfig::from(a);
    train::validate(&cfg)?;
    let gpu = open_gpu(choice)?;
    eprintln!("training on {} ({:?}); Ctrl-C or SIGTERM stops after this step and saves the checkpoint", gpu.info.name, gpu.info.backend);
    let mut progress = Progress::new("{bar:30} {pos}/{len} steps {msg} [{elapsed} < {eta}]");
    let summary = train::train(&gpu, &cfg, stop, |event| match event {
        train::TrainEvent::Step(p) => {
            let msg = format!(
                "epoch {} | {:.1} img/s | d_loss {:.4} | g_loss {:.4}",
                p.epoch, p.summary.images_per_s, p.summary.d_loss, p.summary.g_loss
            );
            progress.update(p.step, p.total, "steps", msg);
        }
        train::TrainEvent::Warning(w) => progress.println(format!("warning: {w}")),
    });
    progress.finish();
    let summary = summary?;
    let out = &cfg.out;
    if summary.interrupted {
        println!("stopped at step {}; continue with the same command and --resume", summary.steps);
    }
    let plot = out.join("loss.png");
    let plot = if plot.exists() { format!(" (plot: {})", plot.display()) } else { String::new() };
    println!(
        "{} steps, {:.1} images/s, d_loss {:.4}, g_loss {:.4}\ncheckpoint: {}\nsamples: {}\nlog: {}{plot}",
        summary.steps,
        summary.images_per_s,
        summary.d_loss,
        summary.g_loss,
        train::checkpoint_path(out).display(),
        out.join("samples").display(),
        out.join("log.csv").display(),
    );
    Ok(())
}

fn train_encoder(choice: &AdapterChoice, a: cli::TrainEncoderArgs, stop: &AtomicBool) -> Result<()> {
    use dcgan_inpaint::jobs::train_encoder::{self, EncoderTrainConfig};
    let adam = dcgan_inpaint::engine::ops::adam::AdamConfig { lr: a.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    adam.validate()?;
    let cfg = EncoderTrainConfig { weights: cli::shipped(&a.weights), data: a.data, exclude: a.exclude, steps: a.steps, batch: a.batch, adam, seed: a.seed, out: a.out, f16: a.f16 };
    let gpu = open_gpu(choice)?;
    eprintln!("training the encoder on {} ({:?}); Ctrl-C or SIGTERM stops after this step and writes the encoder as trained so far", gpu.info.name, gpu.info.backend);
    let mut progress = Progress::new("{bar:30} {pos}/{len} steps {msg} [{elapsed} < {eta}]");
    let summary = train_encoder::run(&gpu, &cfg, stop, |p| progress.update(p.step, p.steps, "steps", format!("| {:.1} img/s | loss {:.4}", p.images_per_s, p.loss)));
    progress.finish();
    let summary = summary?;
    if summary.interrupted {
        println!("stopped at step {} of {}; the encoder as trained so far was written", summary.steps, cfg.steps);
    }
    println!("{} steps, {:.1} images/s, loss {:.4} (mean |G(E(y*M, M)) - y|)\nweights with the encoder: {}", summary.steps, summary.images_per_s, summary.loss, cfg.out.display());
    Ok(())
}

fn complete(choice: &AdapterChoice, a: CompleteArgs, stop: &AtomicBool) -> Result<()> {
    use dcgan_inpaint::jobs::complete::{self, Event};
    if a.missing.is_some() && a.mask != "random" {
        eprintln!("warning: --missing only applies to --mask random; it is ignored with --mask {}", a.mask);
    }
    if a.hybrid_weight.is_some() && !matches!(a.blend, cli::BlendArg::Hybrid) {
        eprintln!("warning: --hybrid-weight only applies to --blend hybrid; it is ignored with this --blend");
    }
    let cfg = CompleteConfig::try_from(a)?;
    let gpu = open_gpu(choice)?;
    let mut progress = Progress::new("{bar:30} {pos}/{len} iterations {msg} [{elapsed} < {eta}]");
    let (mut done, mut total) = (0, 0);
    let outcome = complete::complete(&gpu, &cfg, stop, |event| match event {
        Event::Start { images, total_iterations } => {
            progress.println(format!("completing {images} image(s) on {} ({:?}) into {}", gpu.info.name, gpu.info.backend, cfg.out.display()));
            total = total_iterations as u64;
        }
        Event::Iteration { mean_loss } => {
            done += 1;
            progress.update(done, total, "iterations", format!("mean loss {mean_loss:.3}"));
        }
        Event::Warning(w) => progress.println(format!("warning: {w}")),
        Event::Said(line) => progress.println(line),
    });
    progress.finish();
    let outcome = outcome?;
    if let Some(m) = &outcome.metrics {
        println!("{:<24} {:>8} {:>7} {:>10} {:>9}", "image", "PSNR", "SSIM", "PSNR hole", "SSIM hole");
        let mean = dcgan_inpaint::inpaint::mean_metrics(m);
        for (name, x) in outcome.names.iter().map(String::as_str).zip(m).chain(std::iter::once(("mean", &mean))) {
            println!("{name:<24} {:>8.2} {:>7.4} {:>10.2} {:>9.4}", x.psnr, x.ssim, x.psnr_hole, x.ssim_hole);
        }
    }
    println!("metrics: {}", cfg.out.join("metrics.json").display());
    let resumed = if outcome.resumed > 0 { format!(" ({} more were already there)", outcome.resumed) } else { String::new() };
    println!("completed {} image(s){resumed}; results in {}/<name>/", outcome.names.len(), cfg.out.display());
    println!("summary: {}", outcome.summary.display());
    if !outcome.failed.is_empty() {
        // The rest are done; the exit status says that some are not.
        eprintln!("{} input(s) could not be completed (listed in {}):", outcome.failed.len(), cfg.out.join("run.json").display());
        for (input, why) in outcome.failed.iter().take(20) {
            eprintln!("  {input}: {why}");
        }
        std::process::exit(SOME_FAILED);
    }
    Ok(())
}

/// `complete`'s exit status when it completed some inputs and could not read others.
const SOME_FAILED: i32 = 2;

fn report(a: cli::ReportArgs) -> Result<()> {
    let r = dcgan_inpaint::jobs::complete::report::report(&a.runs, a.against.as_deref(), &a.out, |line| eprintln!("{line}"))?;
    println!("report: {}", a.out.join("report.md").display());
    for sheet in &r.sheets {
        println!("contact sheet: {}", sheet.display());
    }
    if !r.missing.is_empty() || !r.failed.is_empty() || !r.missing_shards.is_empty() {
        std::process::exit(SOME_FAILED);
    }
    Ok(())
}

fn quality(choice: &AdapterChoice, a: QualityArgs, stop: &AtomicBool) -> Result<()> {
    use dcgan_inpaint::jobs::complete::quality;
    let out = a.out.clone();
    // Checked before the table is computed, not after an hour of it.
    if let Some(out) = &out {
        dcgan_inpaint::io::output::check(out, "md", "the quality table", &[&a.weights, &a.images.data])?;
    }
    let cfg = QualityConfig::from(a);
    let gpu = open_gpu(choice)?;
    let started = std::time::Instant::now();
    if !cfg.curve.is_empty() {
        let points = quality::curve(&gpu, &cfg, stop, |line| eprintln!("[{:>6.0}s] {line}", started.elapsed().as_secs_f64()))?;
        let table = quality::curve_markdown(&points);
        println!("{table}");
        if let Some(out) = &out {
            dcgan_inpaint::io::output::write_atomic(out, table.as_bytes())?;
            println!("wrote {}", out.display());
        }
        return Ok(());
    }
    let rows = quality::run(&gpu, &cfg, stop, |line| eprintln!("[{:>6.0}s] {line}", started.elapsed().as_secs_f64()))?;
    let table = format!("{}\n{}", quality::summary(&rows), quality::markdown(&rows));
    println!("{table}");
    if let Some(out) = &out {
        dcgan_inpaint::io::output::write_atomic(out, table.as_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn calibrate(choice: &AdapterChoice, a: CalibrateArgs, stop: &AtomicBool) -> Result<()> {
    use dcgan_inpaint::jobs::calibrate::{self, CalibrateConfig};
    let cfg = CalibrateConfig {
        weights: cli::shipped(&a.weights),
        data: a.images.data,
        include: a.images.include,
        limit: a.images.limit,
        iters: a.iters,
        seed: a.seed,
        write: a.write,
    };
    let gpu = open_gpu(choice)?;
    let started = std::time::Instant::now();
    let c = calibrate::run(&gpu, &cfg, stop, |line| eprintln!("[{:>6.0}s] {line}", started.elapsed().as_secs_f64()))?;
    println!(
        "{} fits ({} images x {} masks): median {:.4}, 99th percentile {:.4}, largest {:.4}",
        c.fits.len(),
        c.images,
        calibrate::MASKS.len(),
        c.p50,
        c.p99,
        c.fits.last().copied().unwrap_or(f32::NAN)
    );
    for (mask, p50, p99) in &c.per_mask {
        println!("  {mask:<12} median {p50:.4}, 99th percentile {p99:.4}");
    }
    if cfg.write {
        println!("wrote fit_p99 = {} into {}", c.p99, cfg.weights.display());
    }
    Ok(())
}

fn sample(choice: &AdapterChoice, a: SampleArgs, stop: &AtomicBool) -> Result<()> {
    let gpu = open_gpu(choice)?;
    let latents = match &a.z {
        Some(path) => sample::Latents::File(path),
        None => sample::Latents::Seed { n: a.n, seed: a.seed },
    };
    let mut progress = Progress::new("{bar:30} {pos}/{len} images [{elapsed} < {eta}]");
    let mut started = false;
    let n = sample::sample(&gpu, &a.weights, latents, &a.out, a.raw_out.as_deref(), stop, |done, n| {
        if !started {
            progress.println(format!("generating {n} image(s) on {} into {}", gpu.info.name, a.out.display()));
            started = true;
        }
        progress.update(done as u64, n as u64, "images", String::new());
    });
    progress.finish();
    let n = n?;
    println!("wrote {} ({n} images)", a.out.display());
    if let Some(raw) = &a.raw_out {
        println!("wrote {}", raw.display());
    }
    Ok(())
}

fn export(a: ExportArgs) -> Result<()> {
    sample::export(&a.checkpoint, &a.out, a.f16)?;
    println!("wrote {}", a.out.display());
    Ok(())
}

fn bench(choice: &AdapterChoice, a: BenchArgs, stop: &AtomicBool) -> Result<()> {
    let opts = BenchOptions::from(&a);
    opts.arch.validate()?;
    if opts.batch == 0 || opts.reps == 0 || opts.g_steps == 0 {
        return Err(Error::new("--batch, --reps and --g-steps must be at least 1"));
    }
    if opts.reps > bench::MAX_REPS || opts.g_steps > dcgan_inpaint::jobs::train::MAX_G_STEPS {
        return Err(Error::new(format!("--reps must be at most {} and --g-steps at most {}", bench::MAX_REPS, dcgan_inpaint::jobs::train::MAX_G_STEPS)));
    }
    // Checked before the benchmark, not after it: never an input, never weights.
    if let Some(path) = &a.json {
        dcgan_inpaint::io::output::check(path, "json", "the benchmark report", &[])?;
    }
    if let Some(path) = &a.roofline {
        if a.no_kernels {
            return Err(Error::new("--roofline places the timed kernels under the roofs; leave out --no-kernels"));
        }
        let ext = if bench::roofline::has_extension(path, "png") { "png" } else { "svg" };
        dcgan_inpaint::io::output::check(path, ext, "the roofline (.svg or .png)", &[])?;
    }
    let gpu = open_gpu(choice)?;
    opts.arch.check_fits(&gpu, opts.batch, "use a smaller --batch", "use a smaller --width or --image-size")?;
    let report = bench::run(&gpu, &opts, !a.no_kernels, stop, |what| eprintln!("timing {what}"))?;
    bench::print_report(&gpu, &report);
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::new(format!("cannot encode the report: {e}")))?;
        dcgan_inpaint::io::output::write_atomic(path, json.as_bytes())?;
        println!("wrote {}", path.display());
    }
    if let (Some(path), Some(rl)) = (&a.roofline, &report.roofline) {
        let title = format!(
            "{}, {} kernels: model s{} c{} w{} k{}, batch {}",
            gpu.info.name, report.adapter.kernels, opts.arch.image_size, opts.arch.channels, opts.arch.gf, opts.arch.kernel, opts.batch
        );
        bench::roofline::write(path, &rl.roofs, &rl.points, &title)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The adapter `gpu` was opened on, among those `enumerate` listed.
fn adapter_of(adapters: &[(wgpu::Adapter, context::AdapterReport)], gpu: &Gpu) -> wgpu::Adapter {
    adapters
        .iter()
        .find(|(_, r)| r.info.name == gpu.info.name && r.info.backend == gpu.info.backend)
        .map(|(a, _)| a.clone())
        .unwrap_or_else(|| unreachable!("the chosen adapter was among those enumerated"))
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
    let enabled: Vec<&str> = gpu.enabled_sets().iter().map(|s| s.name).collect();
    let runnable: Vec<&str> = dcgan_inpaint::engine::variants::KERNEL_SETS.iter().filter(|s| (s.unsupported)(&adapter_of(&adapters, &gpu)).is_none()).map(|s| s.name).collect();
    match gpu.tuning() {
        Some(_) => println!("  kernels:      auto, timed per product and shape among {} (--kernels {})", enabled.join(", "), dcgan_inpaint::engine::variants::names().replace(", ", "|")),
        None => println!("  kernels:      {}, portable where it declines (--kernels {})", gpu.kernels.name, dcgan_inpaint::engine::variants::names().replace(", ", "|")),
    }
    println!("  runnable:     {}", runnable.join(","));
    for set in dcgan_inpaint::engine::variants::KERNEL_SETS {
        println!("    {:<10} {}", set.name, set.about);
    }
    match gpu.tuning() {
        Some(t) => {
            let choices = t.choices();
            let path = t.path().map(|p| p.display().to_string()).unwrap_or_else(|| "none (kept in memory)".into());
            println!("Tuning cache:   {path}{}", if t.retune() { " (--retune: measuring again)" } else { "" });
            println!("  {} product shapes measured on this adapter and build", choices.len());
            for (key, c) in &choices {
                let margin = c.margin().map(|m| format!("{m:.2}x over the runner-up")).unwrap_or_else(|| "alone".into());
                println!("    {key:<64} {:<9} {:>9.3} ms  {margin}", c.set, c.ms.get(&c.set).copied().unwrap_or(f64::NAN));
            }
        }
        None => println!("Tuning cache:   not used (a fixed --kernels set, or DCGAN_TUNE_CACHE=off)"),
    }
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
