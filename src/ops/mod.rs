//! One file per op family: the Rust binding of its WGSL entry points (forward and backward
//! side by side, shapes in comments) and a plain-Rust CPU reference the tests compare with.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod pool;
pub mod reduce;

use crate::gpu::{Gpu, Kernel, Params, PooledBuffer};

/// Launch a 1-D kernel over `n` items (see `Gpu::grid_1d`).
pub(crate) fn launch_1d(gpu: &Gpu, kernel: Kernel, params: Params, buffers: &[&PooledBuffer], n: usize) {
    gpu.dispatch(kernel, params, buffers, gpu.grid_1d(n));
}
