//! Batch normalisation per channel over (N, H, W) (shaders/batchnorm.wgsl), PyTorch's
//! conventions: biased batch variance to normalise, unbiased variance in the running
//! estimate, momentum 0.1 (TensorFlow decay 0.9), eps 1e-5.
//!
//!   forward      x[N, C, H, W] (or [N, C]) -> y[same], stats[2, C] = (mean, invstd) used
//!   grad_reduce  dy, x, stats               -> dbeta[C] = sum dy, dgamma[C] = sum dy * xhat
//!   grad_input   train: dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M)
//!                eval:  dx = gamma * invstd * dy

use crate::engine::gpu::{Element, Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, PORTABLE, Variant};

/// The family's implementations (one set so far: any adapter runs these buffer kernels).
pub static VARIANTS: [Variant<Family>; 1] = [Variant { set: &PORTABLE, imp: crate::family!("batchnorm.wgsl") }];

crate::kernel_params! {
    /// shaders/batchnorm.wgsl `Params`.
    pub struct BatchNormParams { n: u32, c: u32, hw: u32, eps: f32, momentum: f32, chunk: u32 }
}

/// The kernels of one call: all on vec4 elements where each channel plane holds whole
/// vec4s (hw % 4 == 0), else on single items. Returns the kernel maker and the items per
/// element.
fn kernels(gpu: &Gpu, shape: &[usize]) -> (impl Fn(&'static str) -> Kernel, usize) {
    let element = if layout(shape).2.is_multiple_of(4) { Element::Vec4F32 } else { Element::F32 };
    let family = variants::pick(gpu, &VARIANTS);
    (move |entry| Kernel::new(family, entry).with_element(element), element.width())
}

/// A batchnorm layer's tensors: learnable gamma/beta and the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm {
    /// gamma 1, beta 0, running mean 0, running var 1; gamma and beta trainable.
    pub fn new(gpu: &Gpu, channels: usize) -> BatchNorm {
        let full = |v: f32| Tensor::from_slice(gpu, &[channels], &vec![v; channels]);
        BatchNorm {
            gamma: full(1.0).with_grad(true),
            beta: full(0.0).with_grad(true),
            running_mean: full(0.0),
            running_var: full(1.0),
            momentum: 0.1,
            eps: 1e-5,
        }
    }

    pub fn channels(&self) -> usize {
        self.gamma.numel()
    }
}

/// (n, c, hw) of an NCHW or NC tensor.
pub fn layout(shape: &[usize]) -> (usize, usize, usize) {
    match shape {
        [n, c] => (*n, *c, 1),
        [n, c, h, w] => (*n, *c, h * w),
        s => panic!("batchnorm needs a [N, C] or [N, C, H, W] input, got {s:?}"),
    }
}

/// Items per channel one invocation sums before handing on a partial (see batchnorm.wgsl).
const CHUNK: usize = 4096;

fn params(shape: &[usize], bn: &BatchNorm) -> BatchNormParams {
    let (n, c, hw) = layout(shape);
    assert_eq!(c, bn.channels(), "batchnorm: input has {c} channels, the layer {}", bn.channels());
    BatchNormParams { n: u32_of(n), c: u32_of(c), hw: u32_of(hw), eps: bn.eps, momentum: bn.momentum, chunk: u32_of(CHUNK) }
}

/// A [2, chunks, C] buffer for the partial sums, and the grid that fills it.
fn partials(gpu: &Gpu, shape: &[usize]) -> (Tensor, [u32; 3]) {
    let (n, c, hw) = layout(shape);
    let chunks = (n * hw).div_ceil(CHUNK).max(1);
    (Tensor::empty(gpu, &[2, chunks, c]), [c.div_ceil(64) as u32, chunks as u32, 1])
}

/// Normalise `x`; in training mode with batch statistics (and update the running ones).
/// Returns y and the statistics the backward needs.
pub fn forward(gpu: &Gpu, x: &Tensor, bn: &BatchNorm, train: bool) -> (Tensor, Tensor) {
    let p = params(x.shape(), bn);
    let (n, c, hw) = layout(x.shape());
    let stats = Tensor::empty(gpu, &[2, c]);
    let per_channel = [c.div_ceil(64) as u32, 1, 1];
    let (kernel, width) = kernels(gpu, x.shape());
    if train {
        assert!(n * hw > 1, "batchnorm in training mode needs more than one value per channel, got input {:?}", x.shape());
        let (sums, grid) = partials(gpu, x.shape());
        gpu.dispatch(kernel("batchnorm_partial_stats"), &p, &[arg("src", x), arg("partials", &sums)], grid);
        let args = [
            arg("src", x),
            arg("stats", &stats),
            arg("running_mean", &bn.running_mean),
            arg("running_var", &bn.running_var),
            arg("partials", &sums),
        ];
        gpu.dispatch(kernel("batchnorm_train_stats"), &p, &args, per_channel);
    } else {
        let args = [arg("stats", &stats), arg("running_mean", &bn.running_mean), arg("running_var", &bn.running_var)];
        gpu.dispatch(kernel("batchnorm_eval_stats"), &p, &args, per_channel);
    }
    let y = Tensor::empty(gpu, x.shape());
    let args = [arg("dst", &y), arg("src", x), arg("gamma", &bn.gamma), arg("beta", &bn.beta), arg("stats", &stats)];
    gpu.dispatch(kernel("batchnorm_forward"), &p, &args, gpu.grid_1d(x.numel() / width));
    (y, stats)
}

/// (dgamma, dbeta), also needed by the training-mode dx.
pub fn grad_reduce(gpu: &Gpu, dy: &Tensor, x: &Tensor, stats: &Tensor, bn: &BatchNorm) -> (Tensor, Tensor) {
    let p = params(x.shape(), bn);
    let c = bn.channels();
    let (dgamma, dbeta) = (Tensor::empty(gpu, &[c]), Tensor::empty(gpu, &[c]));
    let (sums, grid) = partials(gpu, x.shape());
    let (kernel, _) = kernels(gpu, x.shape());
    let args = [arg("src", dy), arg("x_saved", x), arg("stats", stats), arg("partials", &sums)];
    gpu.dispatch(kernel("batchnorm_partial_grad"), &p, &args, grid);
    let args = [arg("dbeta", &dbeta), arg("dgamma", &dgamma), arg("partials", &sums)];
    gpu.dispatch(kernel("batchnorm_grad_reduce"), &p, &args, [c.div_ceil(64) as u32, 1, 1]);
    (dgamma, dbeta)
}

/// Training-mode dx from the sums of `grad_reduce`.
pub fn grad_input(gpu: &Gpu, dy: &Tensor, x: &Tensor, stats: &Tensor, bn: &BatchNorm, dgamma: &Tensor, dbeta: &Tensor) -> Tensor {
    let p = params(x.shape(), bn);
    let dx = Tensor::empty(gpu, x.shape());
    let (kernel, width) = kernels(gpu, x.shape());
    let args = [
        arg("dst", &dx),
        arg("src", dy),
        arg("x_saved", x),
        arg("gamma", &bn.gamma),
        arg("stats", stats),
        arg("dbeta", dbeta),
        arg("dgamma", dgamma),
    ];
    gpu.dispatch(kernel("batchnorm_grad_input"), &p, &args, gpu.grid_1d(x.numel() / width));
    dx
}

/// Eval-mode dx (the statistics are constants).
pub fn eval_grad_input(gpu: &Gpu, dy: &Tensor, stats: &Tensor, bn: &BatchNorm) -> Tensor {
    let p = params(dy.shape(), bn);
    let dx = Tensor::empty(gpu, dy.shape());
    let (kernel, width) = kernels(gpu, dy.shape());
    let args = [arg("dst", &dx), arg("src", dy), arg("gamma", &bn.gamma), arg("stats", stats)];
    gpu.dispatch(kernel("batchnorm_eval_grad_input"), &p, &args, gpu.grid_1d(dy.numel() / width));
    dx
}

/// CPU reference in f64.
pub mod cpu {
    pub struct Output {
        pub y: Vec<f32>,
        pub mean: Vec<f64>,
        pub invstd: Vec<f64>,
        pub running_mean: Vec<f32>,
        pub running_var: Vec<f32>,
    }

    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        x: &[f32], shape: &[usize], gamma: &[f32], beta: &[f32], running_mean: &[f32], running_var: &[f32],
        momentum: f32, eps: f32, train: bool,
    ) -> Output {
        let (n, c, hw) = super::layout(shape);
        let count = (n * hw) as f64;
        let items = |ch: usize| (0..n).flat_map(move |i| (0..hw).map(move |k| (i * c + ch) * hw + k));
        let (mut mean, mut invstd) = (vec![0.0; c], vec![0.0; c]);
        let (mut rm, mut rv) = (running_mean.to_vec(), running_var.to_vec());
        for ch in 0..c {
            if train {
                let m = items(ch).map(|i| x[i] as f64).sum::<f64>() / count;
                let ss: f64 = items(ch).map(|i| (x[i] as f64 - m).powi(2)).sum();
                mean[ch] = m;
                invstd[ch] = 1.0 / (ss / count + eps as f64).sqrt();
                let mo = momentum as f64;
                rm[ch] = ((1.0 - mo) * rm[ch] as f64 + mo * m) as f32;
                rv[ch] = ((1.0 - mo) * rv[ch] as f64 + mo * ss / (count - 1.0).max(1.0)) as f32;
            } else {
                mean[ch] = running_mean[ch] as f64;
                invstd[ch] = 1.0 / (running_var[ch] as f64 + eps as f64).sqrt();
            }
        }
        let mut y = vec![0.0; x.len()];
        for ch in 0..c {
            for i in items(ch) {
                y[i] = ((x[i] as f64 - mean[ch]) * invstd[ch] * gamma[ch] as f64 + beta[ch] as f64) as f32;
            }
        }
        Output { y, mean, invstd, running_mean: rm, running_var: rv }
    }

    /// Returns (dx, dgamma, dbeta) given the statistics the forward used.
    pub fn backward(
        dy: &[f32], x: &[f32], shape: &[usize], gamma: &[f32], mean: &[f64], invstd: &[f64], train: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (n, c, hw) = super::layout(shape);
        let count = (n * hw) as f64;
        let items = |ch: usize| (0..n).flat_map(move |i| (0..hw).map(move |k| (i * c + ch) * hw + k));
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        for ch in 0..c {
            let xhat = |i: usize| (x[i] as f64 - mean[ch]) * invstd[ch];
            let sum_dy: f64 = items(ch).map(|i| dy[i] as f64).sum();
            let sum_dy_xhat: f64 = items(ch).map(|i| dy[i] as f64 * xhat(i)).sum();
            dbeta[ch] = sum_dy as f32;
            dgamma[ch] = sum_dy_xhat as f32;
            let k = gamma[ch] as f64 * invstd[ch];
            for i in items(ch) {
                dx[i] = if train {
                    (k * (dy[i] as f64 - sum_dy / count - xhat(i) * sum_dy_xhat / count)) as f32
                } else {
                    (k * dy[i] as f64) as f32
                };
            }
        }
        (dx, dgamma, dbeta)
    }
}
