//! Elementwise arithmetic (shaders/elementwise.wgsl). All tensors are flat: shapes must
//! have the same number of items, and the output takes the first operand's shape.

use super::launch_elements;
use crate::engine::gpu::{Element, Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, PORTABLE, Variant};

/// The family's implementations (one set so far: any adapter runs these buffer kernels).
pub static VARIANTS: [Variant<Family>; 1] = [Variant { set: &PORTABLE, imp: crate::family!("elementwise.wgsl") }];

crate::kernel_params! {
    /// shaders/elementwise.wgsl `Params`.
    pub struct ElementwiseParams { n: u32, alpha: f32, beta: f32 }
}

fn kernel(gpu: &Gpu, entry: &'static str) -> Kernel {
    Kernel::new(variants::pick(gpu, &VARIANTS), entry).with_element(Element::Vec4F32)
}

fn params(n: usize, alpha: f32, beta: f32) -> ElementwiseParams {
    ElementwiseParams { n: u32_of(n), alpha, beta }
}

fn same_size(a: &Tensor, b: &Tensor) {
    assert_eq!(a.numel(), b.numel(), "elementwise op on {:?} and {:?}", a.shape(), b.shape());
}

/// out = entry(a, b) for the binary kernels.
fn binary(gpu: &Gpu, entry: &'static str, a: &Tensor, b: &Tensor) -> Tensor {
    same_size(a, b);
    let out = Tensor::empty(gpu, a.shape());
    launch_elements(gpu, kernel(gpu, entry), &params(a.numel(), 0.0, 0.0), &[arg("dst", &out), arg("a", a), arg("b", b)], a.numel());
    out
}

/// out = a + b. Backward: da = dy, db = dy.
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    binary(gpu, "add_forward", a, b)
}

/// out = a - b. Backward: da = dy, db = -dy.
pub fn sub(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    binary(gpu, "sub_forward", a, b)
}

/// out = a * b. Backward: da = dy * b, db = dy * a (this same kernel).
pub fn mul(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Tensor {
    binary(gpu, "mul_forward", a, b)
}

/// dst = clamp(dst, lo, hi), in place.
pub fn clamp(gpu: &Gpu, dst: &Tensor, lo: f32, hi: f32) {
    launch_elements(gpu, kernel(gpu, "clamp_in_place"), &params(dst.numel(), lo, hi), &[arg("dst", dst)], dst.numel());
}

/// out = alpha * a. Backward: da = alpha * dy (this same kernel).
pub fn scale(gpu: &Gpu, a: &Tensor, alpha: f32) -> Tensor {
    let out = Tensor::empty(gpu, a.shape());
    launch_elements(gpu, kernel(gpu, "scale_forward"), &params(a.numel(), alpha, 0.0), &[arg("dst", &out), arg("a", a)], a.numel());
    out
}

/// dst += alpha * x, in place.
pub fn axpy(gpu: &Gpu, dst: &Tensor, alpha: f32, x: &Tensor) {
    same_size(dst, x);
    launch_elements(gpu, kernel(gpu, "axpy"), &params(dst.numel(), alpha, 0.0), &[arg("dst", dst), arg("a", x)], dst.numel());
}

/// dst = value, in place.
pub fn fill(gpu: &Gpu, dst: &Tensor, value: f32) {
    launch_elements(gpu, kernel(gpu, "fill"), &params(dst.numel(), value, 0.0), &[arg("dst", dst)], dst.numel());
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
