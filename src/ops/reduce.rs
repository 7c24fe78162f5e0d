//! Sums (shaders/reduce.wgsl). A tensor is viewed as [outer, len, inner] around the
//! reduced axis; `scale` turns a sum into a mean.
//!
//!   sum_axis             x[outer, len, inner]  ->  y[outer, inner] = scale * sum over len
//!   sum_axis_grad_input  dy[outer, inner]      ->  dx[outer, len, inner] = scale * dy (broadcast)
//!   sum_all              x[any]                ->  y[1] = scale * sum of everything

use super::launch_1d;
use crate::gpu::{Family, Gpu, Kernel, Params};
use crate::tensor::Tensor;

const SUM_AXIS: Kernel = Kernel::new(Family::Reduce, "sum_axis_forward");
const SUM_AXIS_GRAD: Kernel = Kernel::new(Family::Reduce, "sum_axis_grad_input");

/// Items one invocation adds up in each pass of `sum_all`.
const CHUNK: usize = 256;

/// Split `shape` around `axis` into (outer, len, inner).
pub fn split_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    assert!(axis < shape.len(), "axis {axis} out of range for shape {shape:?}");
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

fn sum_params(outer: usize, len: usize, inner: usize, total: usize, scale: f32) -> Params {
    Params::new().size(outer).size(len).size(inner).size(total).f32(scale)
}

/// y = scale * x summed over `axis` (the axis is removed from the shape).
pub fn sum_axis(gpu: &Gpu, x: &Tensor, axis: usize, scale: f32) -> Tensor {
    let (outer, len, inner) = split_axis(x.shape(), axis);
    let mut shape = x.shape().to_vec();
    shape.remove(axis);
    let y = Tensor::empty(gpu, &shape);
    let params = sum_params(outer, len, inner, x.numel(), scale);
    launch_1d(gpu, SUM_AXIS, params, &[y.buffer(), x.buffer()], outer * inner);
    y
}

/// dx = scale * dy broadcast along `axis` of `x_shape`.
pub fn sum_axis_grad_input(gpu: &Gpu, dy: &Tensor, x_shape: &[usize], axis: usize, scale: f32) -> Tensor {
    let (outer, len, inner) = split_axis(x_shape, axis);
    let dx = Tensor::empty(gpu, x_shape);
    let params = sum_params(outer, len, inner, dx.numel(), scale);
    launch_1d(gpu, SUM_AXIS_GRAD, params, &[dx.buffer(), dy.buffer()], dx.numel());
    dx
}

/// y[1] = scale * sum(x): passes of chunked partial sums until one value is left, so no
/// single invocation walks a long array. An empty tensor sums to 0.
pub fn sum_all(gpu: &Gpu, x: &Tensor, scale: f32) -> Tensor {
    let mut current = x.view(&[x.numel()]);
    loop {
        let n = current.numel();
        let chunks = n.div_ceil(CHUNK).max(1);
        let last = chunks == 1;
        let out = Tensor::empty(gpu, &[chunks]);
        let params = sum_params(chunks, CHUNK, 1, n, if last { scale } else { 1.0 });
        launch_1d(gpu, SUM_AXIS, params, &[out.buffer(), current.buffer()], chunks);
        if last {
            return out;
        }
        current = out;
    }
}

/// The backward of `sum_all`: dx = scale * dy[0] everywhere.
pub fn sum_all_grad_input(gpu: &Gpu, dy: &Tensor, x_shape: &[usize], scale: f32) -> Tensor {
    let n: usize = x_shape.iter().product();
    sum_axis_grad_input(gpu, &dy.view(&[1]), &[n], 0, scale).view(x_shape)
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
