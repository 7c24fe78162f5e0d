//! Linear layer y = x W^T + b (shaders/matmul.wgsl), PyTorch's weight layout W[out, in].
//!
//!   forward      x[M, K], W[N, K], b[N]  ->  y[M, N]
//!   grad_input   dy[M, N], W[N, K]       ->  dx[M, K] = dy W
//!   grad_weight  dy[M, N], x[M, K]       ->  dW[N, K] = dy^T x
//!   grad_bias    dy[M, N]                ->  db[N]    = sum over rows of dy
//!
//! The three products run on the kernel sets in [`VARIANTS`]: [`portable`] (a register-
//! blocked GEMM, shaders/matmul.wgsl) and, through [`as_conv`], simd8 and the tiled sets (a
//! linear layer is a 1x1 convolution of M one-pixel images, run on the conv family's
//! products for the same set). The bias gradient is a plain reduction (portable only).

pub mod as_conv;
pub mod portable;

use crate::engine::gpu::Gpu;
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, PORTABLE, Variant};

/// One kernel set's linear products over (m, n, k) = (rows, outputs, inputs); `None` when
/// the set cannot take these operands.
pub struct LinearProducts {
    /// y[M, N] = x[M, K] W[N, K]^T + b[N]
    pub forward: fn(&Gpu, &Tensor, &Tensor, Option<&Tensor>, [usize; 3]) -> Option<Tensor>,
    /// dx[M, K] = dy[M, N] W[N, K]
    pub grad_input: fn(&Gpu, &Tensor, &Tensor, [usize; 3]) -> Option<Tensor>,
    /// dW[N, K] = dy[M, N]^T x[M, K]
    pub grad_weight: fn(&Gpu, &Tensor, &Tensor, [usize; 3]) -> Option<Tensor>,
}

/// The linear family's implementations, most preferred first; `portable` takes everything.
pub static VARIANTS: [Variant<LinearProducts>; 5] = [
    Variant { set: as_conv::SETS[0], imp: as_conv::products::<0>() },
    Variant { set: as_conv::SETS[1], imp: as_conv::products::<1>() },
    Variant { set: as_conv::SETS[2], imp: as_conv::products::<2>() },
    Variant { set: as_conv::SETS[3], imp: as_conv::products::<3>() },
    Variant { set: &PORTABLE, imp: portable::PRODUCTS },
];

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
    if let Some(b) = b {
        assert_eq!(b.numel(), n, "linear: bias has {} items, expected {n}", b.numel());
    }
    variants::run(gpu, "linear_forward", &[m, n, k], m * n * k, &VARIANTS, |v| (v.forward)(gpu, x, w, b, [m, n, k]))
}

/// dx[M, K] = dy[M, N] W[N, K]
pub fn grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(w, "weight");
    variants::run(gpu, "linear_grad_input", &[m, n, k], m * n * k, &VARIANTS, |v| (v.grad_input)(gpu, dy, w, [m, n, k]))
}

/// dW[N, K] = dy[M, N]^T x[M, K]
pub fn grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    let (_, k) = dims2(x, "input");
    variants::run(gpu, "linear_grad_weight", &[m, n, k], m * n * k, &VARIANTS, |v| (v.grad_weight)(gpu, dy, x, [m, n, k]))
}

/// db[N] = sum_m dy[m, N]
pub fn grad_bias(gpu: &Gpu, dy: &Tensor) -> Tensor {
    let (m, n) = dims2(dy, "dy");
    portable::grad_bias(gpu, dy, m, n)
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
