//! `cargo bench`: the same measurements as `dcgan-inpaint bench` (kernels at the DCGAN's
//! layer shapes, a training step, a completion iteration), on the default adapter.
//! BENCH_BATCH (default 64) and BENCH_REPS (default 5) change the run; for other models and
//! JSON output use the `bench` subcommand.

use dcgan_inpaint::bench;
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::Gpu;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let gpu = Gpu::default_adapter().unwrap_or_else(|e| panic!("the benchmark needs a GPU adapter: {e}"));
    let arch = Architecture::default();
    let (batch, reps) = (env("BENCH_BATCH", 64), env("BENCH_REPS", 5));
    let opts = bench::KernelBenchOptions {
        image_size: arch.image_size,
        channels: arch.channels,
        width: arch.gf,
        z_dim: arch.z_dim,
        kernel: arch.kernel,
        batch,
        reps,
    };
    let timings = bench::kernels(&gpu, &opts, |name| eprintln!("timing {name}"));
    bench::print_table(&gpu, &timings);
    let (step, memory) = bench::train_step_timing(&gpu, &arch, batch, 2, reps);
    let iter = bench::complete_iter_timing(&gpu, &arch, batch, reps);
    println!("\n{} kernels", gpu.kernels.name());
    bench::print_step("training step:", "images/s", &step);
    bench::print_step("completion iteration:", "images x iterations/s", &iter);
    println!("training step memory: peak {} bytes, minimum about {} bytes", memory.peak_bytes, memory.minimum_bytes);
}
