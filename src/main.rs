//! The command line: parse flags, pick the adapter, run one job.

use clap::{Args, Parser, Subcommand};
use dcgan_inpaint::gpu::{AdapterChoice, context};
use dcgan_inpaint::{Gpu, Result};

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
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter seen, the one chosen, and its limits and features.
    Info,
    /// Time every kernel at the DCGAN's layer shapes.
    Bench(BenchArgs),
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
    /// Timed repetitions per kernel (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn main() {
    let cli = Cli::parse();
    let choice = AdapterChoice { backend: cli.gpu.backend, adapter: cli.gpu.adapter };
    let result = match cli.command {
        Command::Info => info(&choice),
        Command::Bench(args) => bench(&choice, args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn bench(choice: &AdapterChoice, a: BenchArgs) -> Result<()> {
    if !a.image_size.is_power_of_two() || !(16..=256).contains(&a.image_size) {
        dcgan_inpaint::bail!("--image-size must be a power of two from 16 to 256, got {}", a.image_size);
    }
    let gpu = Gpu::new(choice)?;
    let opts = dcgan_inpaint::bench::KernelBenchOptions {
        image_size: a.image_size,
        channels: a.channels,
        width: a.width,
        z_dim: a.z_dim,
        kernel: a.kernel,
        batch: a.batch,
        reps: a.reps,
    };
    let timings = dcgan_inpaint::bench::kernels(&gpu, &opts, |name| eprint!("\rtiming {name:<40}"));
    eprintln!("\r{:<60}", "");
    dcgan_inpaint::bench::print_table(&gpu, &timings);
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
