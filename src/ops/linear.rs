//! Linear layer y = x W^T + b (shaders/matmul.wgsl), PyTorch's weight layout W[out, in].
//!
//!   forward      x[M, K], W[N, K], b[N]  ->  y[M, N]
//!   grad_input   dy[M, N], W[N, K]       ->  dx[M, K] = dy W
//!   grad_weight  dy[M, N], x[M, K]       ->  dW[N, K] = dy^T x
//!   grad_bias    dy[M, N]                ->  db[N]    = sum over rows of dy
//!
//! On devices that run `KernelSet::Simd8` the three products go through the SIMD-8 conv
//! kernels where their textures fit: a linear layer is a 1x1 convolution of M one-pixel
//! images, and texture operands are several times faster there than a buffer GEMM.

use super::conv::{ConvGeometry, Padding, simd8};
use super::reduce;
use crate::gpu::{Family, Gpu, Kernel, KernelSet, Params};
use crate::tensor::Tensor;

const FORWARD: Kernel = Kernel::new(Family::Matmul, "linear_forward");
const FORWARD_NOBIAS: Kernel = Kernel::new(Family::Matmul, "linear_forward_nobias");
const GRAD_INPUT: Kernel = Kernel::new(Family::Matmul, "linear_grad_input");
const GRAD_WEIGHT: Kernel = Kernel::new(Family::Matmul, "linear_grad_weight");
const GRAD_BIAS: Kernel = Kernel::new(Family::Matmul, "linear_grad_bias");

/// Each invocation computes 4x4 outputs, each 8x8 workgroup a 32x32 tile.
const TILE: usize = 32;
/// Reduction length per split (see matmul.wgsl).
const DEPTH_CHUNK: usize = 1024;

/// C[rows, cols] = (product selected by `kernel`) with reduction length `depth`, as the sum
/// of per-split partial products.
fn gemm(gpu: &Gpu, kernel: Kernel, rows: usize, cols: usize, depth: usize, inputs: &[&Tensor]) -> Tensor {
    let splits = depth.div_ceil(DEPTH_CHUNK).max(1);
    let partials = Tensor::empty(gpu, &[splits, rows, cols]);
    let mut buffers = vec![partials.buffer()];
    buffers.extend(inputs.iter().map(|t| t.buffer()));
    let params = Params::new().size(rows).size(cols).size(depth).size(DEPTH_CHUNK);
    gpu.dispatch(kernel, params, &buffers, [cols.div_ceil(TILE) as u32, rows.div_ceil(TILE) as u32, splits as u32]);
    reduce::sum_partials(gpu, &partials, &[rows, cols])
}

fn dims2(t: &Tensor, what: &str) -> (usize, usize) {
    match t.shape() {
        [a, b] => (*a, *b),
        s => panic!("linear: {what} must be 2-D, got {s:?}"),
    }
}

/// The 1x1 convolution that computes a linear layer with M rows, N outputs, K inputs,
/// on devices that run the SIMD-8 kernels (see the module comment).
fn as_conv(gpu: &Gpu, m: usize, n: usize, k: usize) -> Option<ConvGeometry> {
    (gpu.kernels == KernelSet::Simd8).then(|| ConvGeometry::conv2d(&[m, k, 1, 1], &[n, k, 1, 1], 1, Padding::default()))
}

/// y[M, N] = x[M, K] W[N, K]^T + b[N]
pub fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let (m, k) = dims2(x, "input");
    let (n, k2) = dims2(w, "weight");
    assert_eq!(k, k2, "linear: input has {k} features, weight expects {k2}");
    let conv = as_conv(gpu, m, n, k);
    let correlate = |g: ConvGeometry| {
        let bias = b.cloned().unwrap_or_else(|| Tensor::zeros(gpu, &[n]));
        simd8::correlate(gpu, &simd8::CONV2D, &x.view(&g.img_shape()), &w.view(&g.weight_shape()), &bias, &g)
    };
    if let Some(y) = conv.and_then(correlate) {
        return y.view(&[m, n]);
    }
    match b {
        Some(b) => {
            assert_eq!(b.numel(), n, "linear: bias has {} items, expected {n}", b.numel());
            gemm(gpu, FORWARD, m, n, k, &[x, w, b])
        }
        None => gemm(gpu, FORWARD_NOBIAS, m, n, k, &[x, w]),
    }
}

/// dx[M, K] = dy[M, N] W[N, K]
pub fn grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(w, "weight");
    let conv = as_conv(gpu, m, n, k);
    let scatter = |g: ConvGeometry| simd8::scatter(gpu, &simd8::CONV2D, &dy.view(&g.feat_shape()), &w.view(&g.weight_shape()), &Tensor::zeros(gpu, &[k]), &g);
    if let Some(dx) = conv.and_then(scatter) {
        return dx.view(&[m, k]);
    }
    gemm(gpu, GRAD_INPUT, m, k, n, &[dy, w])
}

/// dW[N, K] = dy[M, N]^T x[M, K]
pub fn grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(x, "input");
    let conv = as_conv(gpu, m, n, k);
    if let Some(dw) = conv.and_then(|g| simd8::filter(gpu, &simd8::CONV2D, &dy.view(&g.feat_shape()), &x.view(&g.img_shape()), &g)) {
        return dw.view(&[n, k]);
    }
    gemm(gpu, GRAD_WEIGHT, n, k, m, &[dy, x])
}

/// db[N] = sum_m dy[m, N]
pub fn grad_bias(gpu: &Gpu, dy: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let splits = m.div_ceil(DEPTH_CHUNK).max(1);
    let partials = Tensor::empty(gpu, &[splits, n]);
    let params = Params::new().size(m).size(n).size(0).size(DEPTH_CHUNK);
    gpu.dispatch(GRAD_BIAS, params, &[partials.buffer(), dy.buffer()], [n.div_ceil(64) as u32, splits as u32, 1]);
    reduce::sum_partials(gpu, &partials, &[n])
}

/// CPU reference with f64 accumulation; matrices are row-major slices.
pub mod cpu {
    pub fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut y = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = b.map_or(0.0, |b| b[j] as f64);
                for d in 0..k {
                    acc += x[i * k + d] as f64 * w[j * k + d] as f64;
                }
                y[i * n + j] = acc as f32;
            }
        }
        y
    }

    pub fn grad_input(dy: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut dx = vec![0.0; m * k];
        for i in 0..m {
            for d in 0..k {
                let acc: f64 = (0..n).map(|j| dy[i * n + j] as f64 * w[j * k + d] as f64).sum();
                dx[i * k + d] = acc as f32;
            }
        }
        dx
    }

    pub fn grad_weight(dy: &[f32], x: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut dw = vec![0.0; n * k];
        for j in 0..n {
            for d in 0..k {
                let acc: f64 = (0..m).map(|i| dy[i * n + j] as f64 * x[i * k + d] as f64).sum();
                dw[j * k + d] = acc as f32;
            }
        }
        dw
    }

    pub fn grad_bias(dy: &[f32], m: usize, n: usize) -> Vec<f32> {
        (0..n).map(|j| (0..m).map(|i| dy[i * n + j] as f64).sum::<f64>() as f32).collect()
    }
}
