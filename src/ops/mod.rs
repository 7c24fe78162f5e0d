//! One file per op family: the Rust binding of its WGSL entry points (forward and backward
//! side by side, shapes in comments) and a plain-Rust CPU reference the tests compare with.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod pack;
pub mod pool;
pub mod reduce;

use crate::gpu::{Binding, Gpu, Kernel, Params};

/// Launch a 1-D kernel over `n` items (see `Gpu::grid_1d`).
pub(crate) fn launch_1d<'a, R: Into<Binding<'a>> + Copy>(gpu: &Gpu, kernel: Kernel, params: Params, resources: &[R], n: usize) {
    gpu.dispatch(kernel, params, resources, gpu.grid_1d(n));
}

/// Launch a kernel that takes 4 of `n` items per invocation (a vec4; see elementwise.wgsl).
pub(crate) fn launch_vec4<'a, R: Into<Binding<'a>> + Copy>(gpu: &Gpu, kernel: Kernel, params: Params, resources: &[R], n: usize) {
    launch_1d(gpu, kernel, params, resources, n.div_ceil(4));
}
