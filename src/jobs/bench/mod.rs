//! Kernel benchmarks at the DCGAN's layer shapes: every conv / deconv product, the linear
//! layers and batchnorm, timed with GPU timestamps where the adapter has them (host wall
//! clock otherwise), after a warm-up run that also pays the shader compilation; and the
//! adapter's roofline with every timed kernel on it ([`roofline`]).

pub mod roofline;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};

use crate::engine::gpu::{Gpu, KernelProfile};
use crate::model::{Architecture, trainable};
use crate::engine::ops::adam::AdamConfig;
use crate::engine::ops::elementwise;
use crate::engine::tape::Tape;
use crate::model::gan::{GanState, train_step};
use crate::model::inpaint::{self, Objective, Prior};
use crate::engine::optim::Adam;
use crate::engine::ops::batchnorm::{self, BatchNorm};
use crate::engine::ops::conv::{self, ConvGeometry, Padding};
use crate::engine::ops::linear;
use crate::rng::Rng;
use crate::engine::tensor::Tensor;
use crate::engine::tune;

/// What to measure: the model (gf = df is the width the kernel table uses), the batch, and
/// timed repetitions per kernel and step (the median is reported).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub arch: Architecture,
    pub batch: usize,
    pub reps: usize,
    /// Generator updates per discriminator update in the timed training step.
    pub g_steps: usize,
    /// Also measure the adapter's roofs and place every timed kernel under them.
    pub roofline: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelTiming {
    pub name: String,
    pub shape: String,
    pub ms: f64,
    /// 2 * multiply-accumulates per second, where the op is compute-bound.
    pub gflops: Option<f64>,
    /// Bytes the op must move per second, where it is memory-bound.
    pub gbps: Option<f64>,
    /// Floating-point operations and the fewest bytes the op must move (its operands and
    /// result once): the roofline's arithmetic intensity is their ratio.
    pub flops: f64,
    pub bytes: f64,
    /// Whether a completion iteration runs this product (forward and input gradients).
    pub in_completion: bool,
    /// The kernel set that ran it, and with `--kernels auto` how much slower the runner-up
    /// was when it was tuned (1.25: 25% slower).
    pub set: Option<String>,
    pub margin: Option<f64>,
}

/// What a timed op does: multiply-adds over operands of `numel` floats in all
/// (compute-bound), or bytes it must move with about `flops_per_byte` operations per byte
/// (memory-bound).
enum Work {
    Macs { macs: usize, numel: usize },
    Bytes { bytes: usize, flops_per_byte: f64 },
}

fn random(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_slice(gpu, shape, &rng.uniform_vec(n, -1.0, 1.0))
}

/// Host wall-clock seconds of `op`, from an idle device until the device has run it all.
fn wall_seconds(gpu: &Gpu, op: &dyn Fn()) -> f64 {
    gpu.finish();
    let start = Instant::now();
    op();
    gpu.finish();
    start.elapsed().as_secs_f64()
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Median seconds of `reps` timed runs of `op` (GPU timestamps where trustworthy, else the
/// wall clock), after one warm-up run.
fn median_seconds(gpu: &Gpu, reps: usize, op: &dyn Fn()) -> f64 {
    op();
    gpu.finish();
    median((0..reps.max(1)).map(|_| gpu.time(op).unwrap_or_else(|| wall_seconds(gpu, op))).collect())
}

/// Time every kernel at the model's layer shapes; `progress` is told each kernel's name.
/// Once `stop` is set the remaining kernels are passed over.
pub fn kernels(gpu: &Gpu, o: &BenchOptions, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Vec<KernelTiming> {
    let mut rng = Rng::new(1);
    let mut out = Vec::new();
    let mut record = |name: String, shape: String, work: Work, key: Option<String>, op: &dyn Fn()| {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        progress(&name);
        let s = median_seconds(gpu, o.reps, op);
        let ((), ran) = gpu.trace_variants(op);
        let set = ran.first().map(|(_, set)| set.to_string());
        let margin = key.and_then(|k| gpu.tuning()?.get(&k)).filter(|c| Some(&c.set) == set.as_ref()).and_then(|c| c.margin());
        let (gflops, gbps, flops, bytes) = match work {
            Work::Macs { macs, numel } => {
                let flops = 2.0 * macs as f64;
                (Some(flops / s / 1e9), None, flops, 4.0 * numel as f64)
            }
            Work::Bytes { bytes, flops_per_byte } => (None, Some(bytes as f64 / s / 1e9), flops_per_byte * bytes as f64, bytes as f64),
        };
        let in_completion = !name.contains("grad_weight") && !name.contains("(train)");
        out.push(KernelTiming { name, shape, ms: s * 1e3, gflops, gbps, flops, bytes, in_completion, set, margin });
    };
    let conv_work = |g: &ConvGeometry| {
        let numel = |s: [usize; 4]| s.iter().product::<usize>();
        Work::Macs { macs: g.macs(), numel: numel(g.img_shape()) + numel(g.feat_shape()) + numel(g.weight_shape()) }
    };
    let key = |product: &str, g: &ConvGeometry| Some(tune::product_key(product, &g.key()));
    let stages = (o.arch.image_size as f64).log2() as usize - 2;
    let (b, k) = (o.batch, o.arch.kernel);

    // Discriminator convs: c -> w -> 2w -> ..., halving the size each time.
    let mut size = o.arch.image_size;
    let mut c_in = o.arch.channels;
    for i in 0..stages {
        let c_out = o.arch.gf << i;
        let x = random(gpu, &mut rng, &[b, c_in, size, size]);
        let w = random(gpu, &mut rng, &[c_out, c_in, k, k]);
        let bias = random(gpu, &mut rng, &[c_out]);
        let g = ConvGeometry::conv2d(x.shape(), w.shape(), 2, Padding::same(size, size, k, 2));
        let dy = random(gpu, &mut rng, &g.feat_shape());
        let shape = format!("{b}x{c_in}x{size}² -> {c_out}x{}², k{k}", g.h_feat);
        record(format!("conv{i} forward"), shape.clone(), conv_work(&g), key("conv2d_forward", &g), &|| {
            conv::conv2d_forward(gpu, &x, &w, Some(&bias), &g);
        });
        record(format!("conv{i} grad_input"), shape.clone(), conv_work(&g), key("conv2d_grad_input", &g), &|| {
            conv::conv2d_grad_input(gpu, &dy, &w, &g);
        });
        record(format!("conv{i} grad_weight"), shape, conv_work(&g), key("conv2d_grad_weight", &g), &|| {
            conv::conv2d_grad_weight(gpu, &dy, &x, &g);
        });
        size /= 2;
        c_in = c_out;
    }

    // Generator deconvs: 4x4x(w * 2^(stages-1)) -> ... -> s x s x c.
    let mut size = 4;
    let mut c_in = o.arch.gf << (stages - 1);
    for i in 1..=stages {
        let c_out = if i == stages { o.arch.channels } else { o.arch.gf << (stages - 1 - i) };
        let x = random(gpu, &mut rng, &[b, c_in, size, size]);
        let w = random(gpu, &mut rng, &[c_in, c_out, k, k]);
        let bias = random(gpu, &mut rng, &[c_out]);
        let g = ConvGeometry::conv_transpose2d_same(x.shape(), w.shape(), 2);
        let dy = random(gpu, &mut rng, &g.img_shape());
        let shape = format!("{b}x{c_in}x{size}² -> {c_out}x{}², k{k}", g.h_img);
        record(format!("deconv{i} forward"), shape.clone(), conv_work(&g), key("conv_transpose2d_forward", &g), &|| {
            conv::conv_transpose2d_forward(gpu, &x, &w, Some(&bias), &g);
        });
        record(format!("deconv{i} grad_input"), shape.clone(), conv_work(&g), key("conv_transpose2d_grad_input", &g), &|| {
            conv::conv_transpose2d_grad_input(gpu, &dy, &w, &g);
        });
        record(format!("deconv{i} grad_weight"), shape, conv_work(&g), key("conv_transpose2d_grad_weight", &g), &|| {
            conv::conv_transpose2d_grad_weight(gpu, &dy, &x, &g);
        });
        size *= 2;
        c_in = c_out;
    }

    // Linear layers: G's z -> 4x4xC projection and D's flatten -> 1 logit.
    let feat = (o.arch.gf << (stages - 1)) * 16;
    for (name, m, n, kk) in [("g.fc", b, feat, o.arch.z_dim), ("d.fc", b, 1, feat)] {
        let x = random(gpu, &mut rng, &[m, kk]);
        let w = random(gpu, &mut rng, &[n, kk]);
        let bias = random(gpu, &mut rng, &[n]);
        let dy = random(gpu, &mut rng, &[m, n]);
        let shape = format!("{m}x{kk} -> {m}x{n}");
        let work = || Work::Macs { macs: m * n * kk, numel: m * kk + n * kk + m * n };
        let key = |product: &str| Some(tune::product_key(product, &[m, n, kk]));
        record(format!("{name} forward"), shape.clone(), work(), key("linear_forward"), &|| {
            linear::forward(gpu, &x, &w, Some(&bias));
        });
        record(format!("{name} grad_input"), shape.clone(), work(), key("linear_grad_input"), &|| {
            linear::grad_input(gpu, &dy, &w);
        });
        record(format!("{name} grad_weight"), shape, work(), key("linear_grad_weight"), &|| {
            linear::grad_weight(gpu, &dy, &x);
        });
    }

    // Batchnorm on the largest activation of the generator (train mode), memory-bound: the
    // forward reads x twice (statistics, then normalising) and writes y; the backward reads
    // dy and x twice (sums, then dx) and writes dx. Operations per element, counted in
    // batchnorm.wgsl: forward 3 (sum, square, sum) + 4 (subtract, scale, shift, store) over
    // 12 bytes; backward 4 (the two sums) + 6 (dx) over 20 bytes.
    let c = o.arch.gf;
    let s = o.arch.image_size / 2;
    let x = random(gpu, &mut rng, &[b, c, s, s]);
    let dy = random(gpu, &mut rng, &[b, c, s, s]);
    let bn = BatchNorm::new(gpu, c);
    let shape = format!("{b}x{c}x{s}²");
    let bytes = 4 * x.numel();
    record("batchnorm forward (train)".into(), shape.clone(), Work::Bytes { bytes: 3 * bytes, flops_per_byte: 7.0 / 12.0 }, None, &|| {
        batchnorm::forward(gpu, &x, &bn, true);
    });
    let (_, stats) = batchnorm::forward(gpu, &x, &bn, true);
    record("batchnorm backward (train)".into(), shape, Work::Bytes { bytes: 5 * bytes, flops_per_byte: 10.0 / 20.0 }, None, &|| {
        let (dgamma, dbeta) = batchnorm::grad_reduce(gpu, &dy, &x, &stats, &bn);
        batchnorm::grad_input(gpu, &dy, &x, &stats, &bn, &dgamma, &dbeta);
    });
    out
}

pub fn print_table(gpu: &Gpu, timings: &[KernelTiming]) {
    let timer = if gpu.has_timestamps() { "GPU timestamps" } else { "host wall clock" };
    println!("{} ({:?}, {:?}), {timer}, median", gpu.info.name, gpu.info.backend, gpu.info.device_type);
    println!("{:<28} {:<32} {:>10} {:>10} {:>8}  {:<9} {}", "kernel", "shape", "ms", "GFLOP/s", "GB/s", "set", "margin");
    let show = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    for t in timings {
        let set = t.set.as_deref().unwrap_or("-");
        let margin = t.margin.map(|m| format!("{m:.2}x over the runner-up")).unwrap_or_else(|| "-".into());
        println!("{:<28} {:<32} {:>10.3} {:>10} {:>8}  {set:<9} {margin}", t.name, t.shape, t.ms, show(t.gflops), show(t.gbps));
    }
}

/// Time of a whole step: host wall clock (recording + GPU + waiting) and GPU time alone,
/// what one step dispatches, and where its time goes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    pub wall_ms: f64,
    pub gpu_ms: Option<f64>,
    /// Images (or image-iterations) per second, from the wall clock.
    #[serde(skip)]
    pub per_s: f64,
    /// Kernel launches in one step, and the submissions they reach the device in.
    pub dispatches: u64,
    pub submissions: u64,
    /// Wall time of as many launches of an empty kernel, in one submission: what the
    /// step's launches cost by themselves.
    pub dispatch_overhead_ms: f64,
    /// Wall time per entry point with each dispatch run on its own (see `Gpu::profile`).
    pub profile: Vec<KernelProfile>,
    /// Products of one step per kernel set that ran them.
    pub sets: std::collections::BTreeMap<String, usize>,
}

fn time_step(gpu: &Gpu, reps: usize, items: usize, step: &mut dyn FnMut()) -> StepTiming {
    // Warm-up: compiles the pipelines, fills the pool; it records what every step records.
    gpu.finish();
    let before = gpu.stats();
    step();
    gpu.finish();
    let (dispatches, submissions) = (gpu.stats().dispatches - before.dispatches, gpu.stats().submissions - before.submissions);
    let (mut wall, mut on_gpu) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        // The wall clock spans recording, submission, execution and the wait for the
        // timestamps; the timestamps alone give the GPU's busy time inside it.
        let start = Instant::now();
        let busy = gpu.time(&mut *step);
        if busy.is_none() {
            step();
            gpu.finish();
        }
        wall.push(start.elapsed().as_secs_f64());
        on_gpu.extend(busy);
    }
    let w = median(wall);
    let ((), profile, ran) = gpu.profile_variants(&mut *step);
    let mut sets = std::collections::BTreeMap::new();
    for (_, set) in ran {
        *sets.entry(set.to_string()).or_insert(0) += 1;
    }
    StepTiming {
        wall_ms: w * 1e3,
        gpu_ms: (!on_gpu.is_empty()).then(|| median(on_gpu) * 1e3),
        per_s: items as f64 / w,
        dispatches,
        submissions,
        dispatch_overhead_ms: empty_dispatches_seconds(gpu, dispatches as usize) * 1e3,
        profile,
        sets,
    }
}

/// Wall seconds for `n` launches of a one-workgroup kernel in one submission (median of 3).
fn empty_dispatches_seconds(gpu: &Gpu, n: usize) -> f64 {
    let t = Tensor::zeros(gpu, &[1]);
    let op = || {
        for _ in 0..n {
            elementwise::fill(gpu, &t, 0.0);
        }
    };
    median((0..3).map(|_| wall_seconds(gpu, &op)).collect())
}

/// The step's report: wall time, launches, their overhead, and the largest kernels.
pub fn print_step(what: &str, unit: &str, t: &StepTiming) {
    let busy = t.gpu_ms.map(|g| format!(", GPU busy {g:.1} ms ({:.0}% of the wall time)", 100.0 * g / t.wall_ms)).unwrap_or_default();
    println!("{what:<22}{:8.1} {unit} ({:.1} ms{busy})", t.per_s, t.wall_ms);
    println!(
        "{:<22}{} dispatches in {} submission(s); as many empty dispatches take {:.1} ms ({:.1}% of the step)",
        "",
        t.dispatches,
        t.submissions,
        t.dispatch_overhead_ms,
        100.0 * t.dispatch_overhead_ms / t.wall_ms
    );
    let sets: Vec<String> = t.sets.iter().map(|(s, n)| format!("{s} x{n}")).collect();
    println!("{:<22}conv and linear products by kernel set: {}", "", sets.join(", "));
    let total: f64 = t.profile.iter().map(|k| k.seconds).sum();
    println!("{:<22}where the time goes (each dispatch run alone, {:.1} ms in all):", "", total * 1e3);
    for k in t.profile.iter().take(12) {
        println!("{:<24}{:<36} {:5} x {:9.1} ms {:5.1}%", "", k.entry, k.dispatches, k.seconds * 1e3, 100.0 * k.seconds / total);
    }
}

/// Memory of a training step: the most the engine held at once, and an estimate of the
/// least any implementation needs (parameters with gradient and two Adam moments, plus the
/// activations the discriminator step keeps for its backward pass).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StepMemory {
    pub peak_bytes: u64,
    pub minimum_bytes: u64,
}

/// One full training step (D step + `g_steps` G steps) at `batch`.
pub fn train_step_timing(gpu: &Gpu, arch: &Architecture, batch: usize, g_steps: usize, reps: usize) -> (StepTiming, StepMemory) {
    let mut rng = Rng::new(2);
    let mut state = GanState::new(gpu, arch, 1, AdamConfig::dcgan());
    let real = random(gpu, &mut rng, &[batch, arch.channels, arch.image_size, arch.image_size]);
    let z = random(gpu, &mut rng, &[batch, arch.z_dim]);
    let ones = elementwise::full(gpu, &[batch, 1], 1.0);
    let zeros = Tensor::zeros(gpu, &[batch, 1]);
    let timing = time_step(gpu, reps, batch, &mut || {
        train_step(gpu, &mut state, &real, &z, &ones, &zeros, g_steps);
    });

    gpu.finish();
    gpu.pool().reset_peak();
    train_step(gpu, &mut state, &real, &z, &ones, &zeros, g_steps);
    gpu.finish();
    let peak_bytes = gpu.pool().stats().peak_bytes_in_use;
    let params: usize = trainable(&state.g.named()).iter().chain(&trainable(&state.d.named())).map(|t| t.numel()).sum();
    let mut tape = Tape::new(gpu);
    let fake = state.g.forward(&mut tape, &z, true, true);
    state.d.forward(&mut tape, &real, true, false);
    state.d.forward(&mut tape, &fake, true, false);
    let activations = tape.saved_bytes();
    (timing, StepMemory { peak_bytes, minimum_bytes: (params * 4 * 4 + activations) as u64 })
}

/// One completion iteration (losses, gradient to z only, Adam on z) at `batch` rows,
/// with the objective `complete` runs by default.
pub fn complete_iter_timing(gpu: &Gpu, arch: &Architecture, batch: usize, reps: usize) -> StepTiming {
    let mut rng = Rng::new(3);
    let state = GanState::new(gpu, arch, 1, AdamConfig::dcgan());
    let (c, s) = (arch.channels, arch.image_size);
    let y = random(gpu, &mut rng, &[batch, c, s, s]);
    let w = Tensor::from_slice(gpu, &[batch, c, s, s], &vec![1.0; batch * c * s * s]);
    let z = random(gpu, &mut rng, &[batch, arch.z_dim]).with_grad(true);
    let mut adam = Adam::new(gpu, AdamConfig { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, &[&z]);
    let objective = Objective { prior: Prior::Paper, lam: 0.003, lowres: false, stage: 0 };
    time_step(gpu, reps, batch, &mut || {
        inpaint::iteration(&state.g, &state.d, &z, Some(&mut adam), &y, &w, &objective, None, &mut Tape::new(gpu));
    })
}

/// The adapter a report was measured on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub kernels: String,
    pub timer: &'static str,
    /// With `--kernels auto`: the product shapes this run measured, and the seconds it took.
    pub tuning: Option<tune::TuneStats>,
}

/// The training step as `--json` writes it: the model, then the timing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainStepReport {
    #[serde(flatten)]
    pub model: Architecture,
    pub batch: usize,
    pub g_steps: usize,
    pub images_per_s: f64,
    #[serde(flatten)]
    pub timing: StepTiming,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CompleteIterReport {
    pub batch: usize,
    pub images_iters_per_s: f64,
    #[serde(flatten)]
    pub timing: StepTiming,
}

/// Everything `bench` measures, as written by `--json` (read by tools/compare.py, and the
/// same layout tools/bench_torch.py writes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub adapter: AdapterReport,
    pub train_step: TrainStepReport,
    pub complete_iter: CompleteIterReport,
    pub kernels: Vec<KernelTiming>,
    pub memory: StepMemory,
    pub roofline: Option<RooflineReport>,
}

/// The roofs and every timed kernel under them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RooflineReport {
    pub roofs: roofline::Roofs,
    pub points: Vec<roofline::Point>,
}

/// The most timed repetitions `--reps` takes.
pub const MAX_REPS: usize = 1000;

/// Run the whole benchmark; `progress` hears what is being timed. `stop` (a signal) ends it
/// at the next timing with an error: a report of half the timings is not written.
pub fn run(gpu: &Gpu, o: &BenchOptions, with_kernels: bool, stop: &AtomicBool, mut progress: impl FnMut(&str)) -> Result<BenchReport> {
    let interrupted = || if stop.load(Ordering::Relaxed) { Err(Error::new("interrupted; no report was written")) } else { Ok(()) };
    let kernels = if with_kernels { kernels(gpu, o, stop, &mut progress) } else { Vec::new() };
    interrupted()?;
    progress(&format!("a training step (batch {}, g_steps {})", o.batch, o.g_steps));
    let (train_step, memory) = train_step_timing(gpu, &o.arch, o.batch, o.g_steps, o.reps);
    interrupted()?;
    progress(&format!("a completion iteration (batch {})", o.batch));
    let complete_iter = complete_iter_timing(gpu, &o.arch, o.batch, o.reps);
    interrupted()?;
    let roofline = o.roofline.then(|| {
        progress("the roofs: peak FLOP/s and streaming bandwidth");
        let roofs = roofline::measure(gpu);
        RooflineReport { roofs, points: roofline::points(&roofs, &kernels) }
    });
    interrupted()?;
    let adapter = AdapterReport {
        name: gpu.info.name.clone(),
        backend: format!("{:?}", gpu.info.backend),
        device_type: format!("{:?}", gpu.info.device_type),
        kernels: if gpu.tuning().is_some() { "auto".to_string() } else { gpu.kernels.name.to_string() },
        timer: if gpu.has_timestamps() { "timestamps" } else { "wall clock" },
        tuning: gpu.tuning().map(|t| t.stats()),
    };
    Ok(BenchReport {
        adapter,
        train_step: TrainStepReport { model: o.arch, batch: o.batch, g_steps: o.g_steps, images_per_s: train_step.per_s, timing: train_step },
        complete_iter: CompleteIterReport { batch: o.batch, images_iters_per_s: complete_iter.per_s, timing: complete_iter },
        kernels,
        memory,
        roofline,
    })
}

/// The report as the terminal shows it.
pub fn print_report(gpu: &Gpu, r: &BenchReport) {
    if !r.kernels.is_empty() {
        print_table(gpu, &r.kernels);
    }
    println!("\nmodel {}, {} kernels", r.train_step.model.to_json(), r.adapter.kernels);
    print_step("training step:", "images/s", &r.train_step.timing);
    print_step("completion iteration:", "images x iterations/s", &r.complete_iter.timing);
    if let Some(rl) = &r.roofline {
        roofline::print(&rl.roofs, &rl.points);
    }
    if let Some(t) = &r.adapter.tuning {
        println!("autotuning:            {} product shapes measured in {:.1} s this run (the rest came from the cache)", t.shapes_tuned, t.seconds);
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    println!("training step memory:  peak {:.1} MiB held by tensors, minimum about {:.1} MiB", mib(r.memory.peak_bytes), mib(r.memory.minimum_bytes));
}
