//! `cargo bench`: the same measurements as `dcgan-inpaint bench` (kernels at the DCGAN's
//! layer shapes, a training step, a completion iteration), on the default adapter.
//! BENCH_BATCH (default 64) and BENCH_REPS (default 5) change the run; for other models and
//! JSON output use the `bench` subcommand.

use dcgan_inpaint::jobs::bench;
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::Gpu;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let gpu = Gpu::default_adapter().unwrap_or_else(|e| panic!("the benchmark needs a GPU adapter: {e}"));
    let (batch, reps) = (env("BENCH_BATCH", 64), env("BENCH_REPS", 5));
    let opts = bench::BenchOptions { arch: Architecture::default(), batch, reps, g_steps: 2, roofline: true };
    let never = std::sync::atomic::AtomicBool::new(false);
    let report = bench::run(&gpu, &opts, true, &never, |what| eprintln!("timing {what}")).unwrap_or_else(|e| panic!("{e}"));
    bench::print_report(&gpu, &report);
}
