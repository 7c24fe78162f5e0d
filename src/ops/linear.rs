//! Linear layer y = x W^T + b (shaders/matmul.wgsl), PyTorch's weight layout W[out, in].
//!
//!   forward      x[M, K], W[N, K], b[N]  ->  y[M, N]
//!   grad_input   dy[M, N], W[N, K]       ->  dx[M, K] = dy W
//!   grad_weight  dy[M, N], x[M, K]       ->  dW[N, K] = dy^T x
//!   grad_bias    dy[M, N]                ->  db[N]    = sum over rows of dy

use super::launch_1d;
use crate::gpu::{Family, Gpu, Kernel, Params};
use crate::tensor::Tensor;

const FORWARD: Kernel = Kernel::new(Family::Matmul, "linear_forward");
const FORWARD_NOBIAS: Kernel = Kernel::new(Family::Matmul, "linear_forward_nobias");
const GRAD_INPUT: Kernel = Kernel::new(Family::Matmul, "linear_grad_input");
const GRAD_WEIGHT: Kernel = Kernel::new(Family::Matmul, "linear_grad_weight");
const GRAD_BIAS: Kernel = Kernel::new(Family::Matmul, "linear_grad_bias");

/// Each invocation computes 4x4 outputs, each 8x8 workgroup a 32x32 tile.
const TILE: usize = 32;

/// Record C[rows, cols] = (product selected by `kernel`) with reduction length `depth`.
fn gemm(gpu: &Gpu, kernel: Kernel, rows: usize, cols: usize, depth: usize, out: &Tensor, inputs: &[&Tensor]) {
    let mut buffers = vec![out.buffer()];
    buffers.extend(inputs.iter().map(|t| t.buffer()));
    let params = Params::new().size(rows).size(cols).size(depth);
    gpu.dispatch(kernel, params, &buffers, [cols.div_ceil(TILE) as u32, rows.div_ceil(TILE) as u32, 1]);
}

fn dims2(t: &Tensor, what: &str) -> (usize, usize) {
    match t.shape() {
        [a, b] => (*a, *b),
        s => panic!("linear: {what} must be 2-D, got {s:?}"),
    }
}

/// y[M, N] = x[M, K] W[N, K]^T + b[N]
pub fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let (m, k) = dims2(x, "input");
    let (n, k2) = dims2(w, "weight");
    assert_eq!(k, k2, "linear: input has {k} features, weight expects {k2}");
    let y = Tensor::empty(gpu, &[m, n]);
    match b {
        Some(b) => {
            assert_eq!(b.numel(), n, "linear: bias has {} items, expected {n}", b.numel());
            gemm(gpu, FORWARD, m, n, k, &y, &[x, w, b]);
        }
        None => gemm(gpu, FORWARD_NOBIAS, m, n, k, &y, &[x, w]),
    }
    y
}

/// dx[M, K] = dy[M, N] W[N, K]
pub fn grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(w, "weight");
    let dx = Tensor::empty(gpu, &[m, k]);
    gemm(gpu, GRAD_INPUT, m, k, n, &dx, &[dy, w]);
    dx
}

/// dW[N, K] = dy[M, N]^T x[M, K]
pub fn grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(x, "input");
    let dw = Tensor::empty(gpu, &[n, k]);
    gemm(gpu, GRAD_WEIGHT, n, k, m, &dw, &[dy, x]);
    dw
}

/// db[N] = sum_m dy[m, N]
pub fn grad_bias(gpu: &Gpu, dy: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let db = Tensor::empty(gpu, &[n]);
    launch_1d(gpu, GRAD_BIAS, Params::new().size(m).size(n).size(0), &[db.buffer(), dy.buffer()], n);
    db
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
