//! Elementwise arithmetic (shaders/elementwise.wgsl). All tensors are flat: shapes must
//! have the same number of items, and the output takes the first operand's shape.

use super::launch_vec4;
use crate::gpu::{Family, Gpu, Kernel, Params};
use crate::tensor::Tensor;

const ADD: Kernel = Kernel::new(Family::Elementwise, "add_forward");
const SUB: Kernel = Kernel::new(Family::Elementwise, "sub_forward");
const CLAMP: Kernel = Kernel::new(Family::Elementwise, "clamp_in_place");
const MUL: Kernel = Kernel::new(Family::Elementwise, "mul_forward");
const SCALE: Kernel = Kernel::new(Family::Elementwise, "scale_forward");
const AXPY: Kernel = Kernel::new(Family::Elementwise, "axpy");
const FILL: Kernel = Kernel::new(Family::Elementwise, "fill");

fn same_size(a: &Tensor, b: &Tensor) {
    assert_eq!(a.numel(), b.numel(), "elementwise op on {:?} and {:?}", a.shape(), b.shape());
}

/// out = a + b. Backward: da = dy, db = dy.
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    same_size(a, b);
    let out = Tensor::empty(gpu, a.shape());
    launch_vec4(gpu, ADD, Params::new().size(a.numel()).f32(0.0).f32(0.0), &[out.buffer(), a.buffer(), b.buffer()], a.numel());
    out
}

/// out = a - b. Backward: da = dy, db = -dy.
pub fn sub(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    same_size(a, b);
    let out = Tensor::empty(gpu, a.shape());
    launch_vec4(gpu, SUB, Params::new().size(a.numel()).f32(0.0).f32(0.0), &[out.buffer(), a.buffer(), b.buffer()], a.numel());
    out
}

/// dst = clamp(dst, lo, hi), in place.
pub fn clamp(gpu: &Gpu, dst: &Tensor, lo: f32, hi: f32) {
    launch_vec4(gpu, CLAMP, Params::new().size(dst.numel()).f32(lo).f32(hi), &[dst.buffer()], dst.numel());
}

/// out = a * b. Backward: da = dy * b, db = dy * a (this same kernel).
pub fn mul(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    same_size(a, b);
    let out = Tensor::empty(gpu, a.shape());
    launch_vec4(gpu, MUL, Params::new().size(a.numel()).f32(0.0).f32(0.0), &[out.buffer(), a.buffer(), b.buffer()], a.numel());
    out
}

/// out = alpha * a. Backward: da = alpha * dy (this same kernel).
pub fn scale(gpu: &Gpu, a: &Tensor, alpha: f32) -> Tensor {
    let out = Tensor::empty(gpu, a.shape());
    launch_vec4(gpu, SCALE, Params::new().size(a.numel()).f32(alpha).f32(0.0), &[out.buffer(), a.buffer()], a.numel());
    out
}

/// dst += alpha * x, in place.
pub fn axpy(gpu: &Gpu, dst: &Tensor, alpha: f32, x: &Tensor) {
    same_size(dst, x);
    launch_vec4(gpu, AXPY, Params::new().size(dst.numel()).f32(alpha).f32(0.0), &[dst.buffer(), x.buffer()], dst.numel());
}

/// dst = value, in place.
pub fn fill(gpu: &Gpu, dst: &Tensor, value: f32) {
    launch_vec4(gpu, FILL, Params::new().size(dst.numel()).f32(value).f32(0.0), &[dst.buffer()], dst.numel());
}

/// A new tensor filled with `value`.
pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Tensor {
    let t = Tensor::empty(gpu, shape);
    fill(gpu, &t, value);
    t
}

/// CPU reference.
pub mod cpu {
    pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }
    pub fn sub(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x - y).collect()
    }
    pub fn clamp(dst: &mut [f32], lo: f32, hi: f32) {
        for v in dst {
            *v = v.clamp(lo, hi);
        }
    }
    pub fn mul(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x * y).collect()
    }
    pub fn scale(a: &[f32], alpha: f32) -> Vec<f32> {
        a.iter().map(|x| alpha * x).collect()
    }
    pub fn axpy(dst: &mut [f32], alpha: f32, x: &[f32]) {
        for (d, v) in dst.iter_mut().zip(x) {
            *d += alpha * v;
        }
    }
    pub fn fill(dst: &mut [f32], value: f32) {
        dst.fill(value);
    }
}
