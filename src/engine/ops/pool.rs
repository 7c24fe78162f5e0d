//! Average pooling over non-overlapping f x f blocks (shaders/pool.wgsl), NCHW:
//!
//!   forward     x[N, C, H, W]      -> y[N, C, H/f, W/f]  block means
//!   grad_input  dy[N, C, H/f, W/f] -> dx[N, C, H, W]     each pixel gets dy of its block / f^2

use super::launch_1d;
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

const POOL: Family = crate::family!("pool.wgsl");
const FORWARD: Kernel = Kernel::new(POOL, "avg_pool_forward");
const GRAD_INPUT: Kernel = Kernel::new(POOL, "avg_pool_grad_input");

crate::kernel_params! {
    /// shaders/pool.wgsl `Params`.
    pub struct PoolParams { planes: u32, h: u32, w: u32, f: u32 }
}

fn params(planes: usize, h: usize, w: usize, f: usize) -> PoolParams {
    PoolParams { planes: u32_of(planes), h: u32_of(h), w: u32_of(w), f: u32_of(f) }
}

fn dims(shape: &[usize], f: usize) -> (usize, usize, usize) {
    let [n, c, h, w] = shape.try_into().unwrap_or_else(|_| panic!("avg_pool needs NCHW, got {shape:?}"));
    assert!(f >= 1 && h % f == 0 && w % f == 0, "avg_pool: {h}x{w} is not divisible into {f}x{f} blocks");
    (n * c, h, w)
}

pub fn avg_pool_forward(gpu: &Gpu, x: &Tensor, f: usize) -> Tensor {
    let (planes, h, w) = dims(x.shape(), f);
    let y = Tensor::empty(gpu, &[x.shape()[0], x.shape()[1], h / f, w / f]);
    launch_1d(gpu, FORWARD, &params(planes, h, w, f), &[arg("dst", &y), arg("src", x)], y.numel());
    y
}

pub fn avg_pool_grad_input(gpu: &Gpu, dy: &Tensor, x_shape: &[usize], f: usize) -> Tensor {
    let (planes, h, w) = dims(x_shape, f);
    let dx = Tensor::empty(gpu, x_shape);
    launch_1d(gpu, GRAD_INPUT, &params(planes, h, w, f), &[arg("dst", &dx), arg("src", dy)], dx.numel());
    dx
}

/// CPU reference in f64.
pub mod cpu {
    pub fn avg_pool_forward(x: &[f32], shape: &[usize], f: usize) -> Vec<f32> {
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
        let mut y = Vec::with_capacity(planes * (h / f) * (w / f));
        for p in 0..planes {
            for by in 0..h / f {
                for bx in 0..w / f {
                    let mut acc = 0.0f64;
                    for dy in 0..f {
                        for dx in 0..f {
                            acc += x[(p * h + by * f + dy) * w + bx * f + dx] as f64;
                        }
                    }
                    y.push((acc / (f * f) as f64) as f32);
                }
            }
        }
        y
    }

    pub fn avg_pool_grad_input(dy: &[f32], shape: &[usize], f: usize) -> Vec<f32> {
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
        let mut dx = vec![0.0; planes * h * w];
        for p in 0..planes {
            for y in 0..h {
                for x in 0..w {
                    dx[(p * h + y) * w + x] = dy[(p * (h / f) + y / f) * (w / f) + x / f] / (f * f) as f32;
                }
            }
        }
        dx
    }
}
