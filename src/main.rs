//! The command line: parse flags (cli.rs), pick the adapter, run one job.

mod cli;

use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use cli::{BenchArgs, Cli, Command, CompleteArgs, ExportArgs, QualityArgs, SampleArgs, TrainArgs};
use dcgan_inpaint::engine::gpu::{AdapterChoice, context};
use dcgan_inpaint::jobs::bench::{self, BenchOptions};
use dcgan_inpaint::jobs::complete::CompleteConfig;
use dcgan_inpaint::jobs::complete::quality::QualityConfig;
use dcgan_inpaint::jobs::sample;
use dcgan_inpaint::jobs::train::{self, TrainConfig};
use dcgan_inpaint::{Error, Gpu, Result};

/// Set by Ctrl-C; long jobs stop at the next safe point and save their work.
static STOP: AtomicBool = AtomicBool::new(false);

fn main() {
    let cli = Cli::parse();
    let choice = AdapterChoice::from(cli.gpu);
    let result = match cli.command {
        Command::Info => info(&choice),
        Command::Bench(args) => bench(&choice, args),
        Command::Complete(args) => complete(&choice, args),
        Command::Quality(args) => quality(&choice, args),
        Command::Train(args) => train(&choice, args),
        Command::Sample(args) => sample(&choice, args),
        Command::Export(args) => export(args),
        Command::Plot(args) => dcgan_inpaint::io::picture::plot_log(&args.log, &args.out).map(|_| println!("wrote {}", args.out.display())),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn train(choice: &AdapterChoice, a: TrainArgs) -> Result<()> {
    let cfg = TrainConfig::from(a);
    cfg.arch.validate()?;
    let gpu = Gpu::new(choice)?;
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
    let summary = train::train(&gpu, &cfg, &STOP, |p| {
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
        train::checkpoint_path(out).display(),
        out.join("samples").display(),
        out.join("log.csv").display(),
        out.join("loss.png").display()
    );
    Ok(())
}

fn complete(choice: &AdapterChoice, a: CompleteArgs) -> Result<()> {
    use dcgan_inpaint::jobs::complete::{self, Event};
    let cfg = CompleteConfig::try_from(a)?;
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

fn quality(choice: &AdapterChoice, a: QualityArgs) -> Result<()> {
    use dcgan_inpaint::jobs::complete::quality;
    let out = a.out.clone();
    let cfg = QualityConfig::from(a);
    let gpu = Gpu::new(choice)?;
    let started = std::time::Instant::now();
    let rows = quality::run(&gpu, &cfg, |line| eprintln!("[{:>6.0}s] {line}", started.elapsed().as_secs_f64()))?;
    let table = quality::markdown(&rows);
    println!("{table}");
    if let Some(out) = &out {
        std::fs::write(out, &table).map_err(|e| dcgan_inpaint::Error::new(format!("cannot write {}: {e}", out.display())))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn sample(choice: &AdapterChoice, a: SampleArgs) -> Result<()> {
    let gpu = Gpu::new(choice)?;
    let latents = match &a.z {
        Some(path) => sample::Latents::File(path),
        None => sample::Latents::Seed { n: a.n, seed: a.seed },
    };
    let n = sample::sample(&gpu, &a.weights, latents, &a.out, a.raw_out.as_deref())?;
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

fn bench(choice: &AdapterChoice, a: BenchArgs) -> Result<()> {
    let opts = BenchOptions::from(&a);
    opts.arch.validate()?;
    if opts.batch == 0 || opts.reps == 0 {
        return Err(Error::new("--batch and --reps must be at least 1"));
    }
    let gpu = Gpu::new(choice)?;
    opts.arch.check_fits(&gpu, opts.batch, "use a smaller --batch")?;
    let report = bench::run(&gpu, &opts, !a.no_kernels, |what| eprintln!("timing {what}"));
    bench::print_report(&gpu, &report);
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::new(format!("cannot encode the report: {e}")))?;
        std::fs::write(path, json).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(())
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
    println!("  kernels:      {} (--kernels {})", gpu.kernels.name, dcgan_inpaint::engine::variants::names().replace(", ", "|"));
    for set in dcgan_inpaint::engine::variants::KERNEL_SETS {
        println!("    {:<10} {}", set.name, set.about);
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
