//! Sums (shaders/reduce.wgsl). A tensor is viewed as [outer, len, inner] around the
//! reduced axis; `scale` turns a sum into a mean.
//!
//!   sum_axis             x[outer, len, inner]  ->  y[outer, inner] = scale * sum over len
//!   sum_axis_grad_input  dy[outer, inner]      ->  dx[outer, len, inner] = scale * dy (broadcast)
//!   sum_all              x[any]                ->  y[1] = scale * sum of everything

use super::launch_1d;
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

const REDUCE: Family = crate::family!("reduce.wgsl");
const SUM_AXIS: Kernel = Kernel::new(REDUCE, "sum_axis_forward");
const SUM_AXIS_GRAD: Kernel = Kernel::new(REDUCE, "sum_axis_grad_input");

crate::kernel_params! {
    /// shaders/reduce.wgsl `Params`.
    pub struct SumParams { outer: u32, len: u32, inner: u32, chunk: u32, scale: f32 }
}

/// The most items one invocation adds up in a pass (see reduce.wgsl on why loops stay short).
pub const CHUNK: usize = 1024;

/// Split `shape` around `axis` into (outer, len, inner).
pub fn split_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    assert!(axis < shape.len(), "axis {axis} out of range for shape {shape:?}");
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

fn sum_params(outer: usize, len: usize, inner: usize, chunk: usize, scale: f32) -> SumParams {
    SumParams { outer: u32_of(outer), len: u32_of(len), inner: u32_of(inner), chunk: u32_of(chunk), scale }
}

/// [outer, len, inner] -> [outer * inner] summed over the middle axis: passes of chunked
/// partial sums until one chunk is left (an empty axis sums to 0).
fn sum_middle(gpu: &Gpu, x: &Tensor, outer: usize, len: usize, inner: usize, scale: f32) -> Tensor {
    let mut current = x.clone();
    let mut len = len;
    loop {
        let last = len <= CHUNK;
        let chunk = if last { len.max(1) } else { CHUNK };
        let chunks = len.div_ceil(chunk).max(1);
        let out = Tensor::empty(gpu, &[outer * chunks * inner]);
        let params = sum_params(outer, len, inner, chunk, if last { scale } else { 1.0 });
        launch_1d(gpu, SUM_AXIS, &params, &[arg("dst", &out), arg("src", &current)], outer * chunks * inner);
        if last {
            return out;
        }
        current = out;
        len = chunks;
    }
}

/// y = scale * x summed over `axis` (the axis is removed from the shape).
pub fn sum_axis(gpu: &Gpu, x: &Tensor, axis: usize, scale: f32) -> Tensor {
    let (outer, len, inner) = split_axis(x.shape(), axis);
    let mut shape = x.shape().to_vec();
    shape.remove(axis);
    sum_middle(gpu, x, outer, len, inner, scale).view(&shape)
}

/// dx = scale * dy broadcast along `axis` of `x_shape`.
pub fn sum_axis_grad_input(gpu: &Gpu, dy: &Tensor, x_shape: &[usize], axis: usize, scale: f32) -> Tensor {
    let (outer, len, inner) = split_axis(x_shape, axis);
    let dx = Tensor::empty(gpu, x_shape);
    let params = sum_params(outer, len, inner, 1, scale);
    launch_1d(gpu, SUM_AXIS_GRAD, &params, &[arg("dst", &dx), arg("src", dy)], dx.numel());
    dx
}

/// y[1] = scale * sum(x).
pub fn sum_all(gpu: &Gpu, x: &Tensor, scale: f32) -> Tensor {
    sum_middle(gpu, x, 1, x.numel(), 1, scale).view(&[1])
}

/// The backward of `sum_all`: dx = scale * dy[0] everywhere.
pub fn sum_all_grad_input(gpu: &Gpu, dy: &Tensor, x_shape: &[usize], scale: f32) -> Tensor {
    let n: usize = x_shape.iter().product();
    sum_axis_grad_input(gpu, &dy.view(&[1]), &[n], 0, scale).view(x_shape)
}

/// Sum partial results [splits, ...] over their leading axis (a no-op view for one split).
pub fn sum_partials(gpu: &Gpu, partials: &Tensor, shape: &[usize]) -> Tensor {
    if partials.shape()[0] == 1 { partials.view(shape) } else { sum_axis(gpu, partials, 0, 1.0).view(shape) }
}

/// CPU reference with f64 accumulation.
pub mod cpu {
    pub fn sum_axis(x: &[f32], shape: &[usize], axis: usize, scale: f32) -> Vec<f32> {
        let (outer, len, inner) = super::split_axis(shape, axis);
        let mut y = vec![0.0; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                let acc: f64 = (0..len).map(|l| x[(o * len + l) * inner + i] as f64).sum();
                y[o * inner + i] = (scale as f64 * acc) as f32;
            }
        }
        y
    }

    pub fn sum_axis_grad_input(dy: &[f32], shape: &[usize], axis: usize, scale: f32) -> Vec<f32> {
        let (outer, len, inner) = super::split_axis(shape, axis);
        let mut dx = vec![0.0; outer * len * inner];
        for o in 0..outer {
            for l in 0..len {
                for i in 0..inner {
                    dx[(o * len + l) * inner + i] = scale * dy[o * inner + i];
                }
            }
        }
        dx
    }

    pub fn sum_all(x: &[f32], scale: f32) -> f32 {
        (scale as f64 * x.iter().map(|&v| v as f64).sum::<f64>()) as f32
    }
}
