//! Kernel benchmarks at the DCGAN's layer shapes: every conv / deconv product, the linear
//! layers and batchnorm, timed with GPU timestamps where the adapter has them (host wall
//! clock otherwise), after a warm-up run that also pays the shader compilation.

use std::time::Instant;

use crate::gpu::Gpu;
use crate::ops::batchnorm::{self, BatchNorm};
use crate::ops::conv::{self, ConvGeometry, Padding};
use crate::ops::linear;
use crate::rng::Rng;
use crate::tensor::Tensor;

#[derive(Debug, Clone)]
pub struct KernelBenchOptions {
    pub image_size: usize,
    pub channels: usize,
    /// gf = df
    pub width: usize,
    pub z_dim: usize,
    pub kernel: usize,
    pub batch: usize,
    pub reps: usize,
}

pub struct KernelTiming {
    pub name: String,
    pub shape: String,
    pub ms: f64,
    /// 2 * multiply-accumulates per second, where the op is compute-bound.
    pub gflops: Option<f64>,
}

fn random(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_slice(gpu, shape, &rng.uniform_vec(n, -1.0, 1.0))
}

/// Median seconds of `reps` timed runs of `op`, after one warm-up run.
fn median_seconds(gpu: &Gpu, reps: usize, op: &dyn Fn()) -> f64 {
    op();
    gpu.flush();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            gpu.time(op).unwrap_or_else(|| {
                let start = Instant::now();
                op();
                gpu.flush();
                gpu.device.poll(wgpu::PollType::wait_indefinitely()).expect("device lost");
                start.elapsed().as_secs_f64()
            })
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Time every kernel at the model's layer shapes; `progress` is told each kernel's name.
pub fn kernels(gpu: &Gpu, o: &KernelBenchOptions, mut progress: impl FnMut(&str)) -> Vec<KernelTiming> {
    let mut rng = Rng::new(1);
    let mut out = Vec::new();
    let mut record = |name: String, shape: String, macs: Option<usize>, op: &dyn Fn()| {
        progress(&name);
        let s = median_seconds(gpu, o.reps, op);
        out.push(KernelTiming { name, shape, ms: s * 1e3, gflops: macs.map(|m| 2.0 * m as f64 / s / 1e9) });
    };
    let stages = (o.image_size as f64).log2() as usize - 2;
    let (b, k) = (o.batch, o.kernel);

    // Discriminator convs: c -> w -> 2w -> ..., halving the size each time.
    let mut size = o.image_size;
    let mut c_in = o.channels;
    for i in 0..stages {
        let c_out = o.width << i;
        let x = random(gpu, &mut rng, &[b, c_in, size, size]);
        let w = random(gpu, &mut rng, &[c_out, c_in, k, k]);
        let bias = random(gpu, &mut rng, &[c_out]);
        let g = ConvGeometry::conv2d(x.shape(), w.shape(), 2, Padding::same(size, size, k, 2));
        let dy = random(gpu, &mut rng, &g.feat_shape());
        let shape = format!("{b}x{c_in}x{size}² -> {c_out}x{}², k{k}", g.h_feat);
        record(format!("conv{i} forward"), shape.clone(), Some(g.macs()), &|| {
            conv::conv2d_forward(gpu, &x, &w, Some(&bias), &g);
        });
        record(format!("conv{i} grad_input"), shape.clone(), Some(g.macs()), &|| {
            conv::conv2d_grad_input(gpu, &dy, &w, &g);
        });
        record(format!("conv{i} grad_weight"), shape, Some(g.macs()), &|| {
            conv::conv2d_grad_weight(gpu, &dy, &x, &g);
        });
        size /= 2;
        c_in = c_out;
    }

    // Generator deconvs: 4x4x(w * 2^(stages-1)) -> ... -> s x s x c.
    let mut size = 4;
    let mut c_in = o.width << (stages - 1);
    for i in 1..=stages {
        let c_out = if i == stages { o.channels } else { o.width << (stages - 1 - i) };
        let x = random(gpu, &mut rng, &[b, c_in, size, size]);
        let w = random(gpu, &mut rng, &[c_in, c_out, k, k]);
        let bias = random(gpu, &mut rng, &[c_out]);
        let g = ConvGeometry::conv_transpose2d_same(x.shape(), w.shape(), 2);
        let dy = random(gpu, &mut rng, &g.img_shape());
        let shape = format!("{b}x{c_in}x{size}² -> {c_out}x{}², k{k}", g.h_img);
        record(format!("deconv{i} forward"), shape.clone(), Some(g.macs()), &|| {
            conv::conv_transpose2d_forward(gpu, &x, &w, Some(&bias), &g);
        });
        record(format!("deconv{i} grad_input"), shape.clone(), Some(g.macs()), &|| {
            conv::conv_transpose2d_grad_input(gpu, &dy, &w, &g);
        });
        record(format!("deconv{i} grad_weight"), shape, Some(g.macs()), &|| {
            conv::conv_transpose2d_grad_weight(gpu, &dy, &x, &g);
        });
        size *= 2;
        c_in = c_out;
    }

    // Linear layers: G's z -> 4x4xC projection and D's flatten -> 1 logit.
    let feat = (o.width << (stages - 1)) * 16;
    for (name, m, n, kk) in [("g.fc", b, feat, o.z_dim), ("d.fc", b, 1, feat)] {
        let x = random(gpu, &mut rng, &[m, kk]);
        let w = random(gpu, &mut rng, &[n, kk]);
        let bias = random(gpu, &mut rng, &[n]);
        let dy = random(gpu, &mut rng, &[m, n]);
        let shape = format!("{m}x{kk} -> {m}x{n}");
        let macs = Some(m * n * kk);
        record(format!("{name} forward"), shape.clone(), macs, &|| {
            linear::forward(gpu, &x, &w, Some(&bias));
        });
        record(format!("{name} grad_input"), shape.clone(), macs, &|| {
            linear::grad_input(gpu, &dy, &w);
        });
        record(format!("{name} grad_weight"), shape, macs, &|| {
            linear::grad_weight(gpu, &dy, &x);
        });
    }

    // Batchnorm on the largest activation of the generator (train mode).
    let c = o.width;
    let s = o.image_size / 2;
    let x = random(gpu, &mut rng, &[b, c, s, s]);
    let dy = random(gpu, &mut rng, &[b, c, s, s]);
    let bn = BatchNorm::new(gpu, c);
    let shape = format!("{b}x{c}x{s}²");
    record("batchnorm forward (train)".into(), shape.clone(), None, &|| {
        batchnorm::forward(gpu, &x, &bn, true);
    });
    let (_, stats) = batchnorm::forward(gpu, &x, &bn, true);
    record("batchnorm backward (train)".into(), shape, None, &|| {
        let (dgamma, dbeta) = batchnorm::grad_reduce(gpu, &dy, &x, &stats, &bn);
        batchnorm::grad_input(gpu, &dy, &x, &stats, &bn, &dgamma, &dbeta);
    });
    out
}

pub fn print_table(gpu: &Gpu, timings: &[KernelTiming]) {
    let timer = if gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) { "GPU timestamps" } else { "wall clock" };
    println!("{} ({:?}, {:?}), {timer}, median", gpu.info.name, gpu.info.backend, gpu.info.device_type);
    println!("{:<28} {:<32} {:>10} {:>10}", "kernel", "shape", "ms", "GFLOP/s");
    for t in timings {
        let g = t.gflops.map(|g| format!("{g:.1}")).unwrap_or_else(|| "-".into());
        println!("{:<28} {:<32} {:>10.3} {:>10}", t.name, t.shape, t.ms, g);
    }
}
