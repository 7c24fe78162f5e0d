//! One module per op family: the binding of its WGSL entry points (named buffers, a typed
//! params struct), forward and backward side by side with shapes in comments, and a
//! plain-Rust CPU reference (`cpu`) the tests compare with. A family with several kernel
//! sets lists them in one registry (`variants::Variant`) and keeps each set's
//! implementation in `<family>/<set>.rs`.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod pack;
pub mod pool;
pub mod project;
pub mod reduce;

use crate::engine::gpu::{Arg, Gpu, Kernel, KernelParams};

/// Launch a 1-D kernel over `n` items (see `Gpu::grid_1d`).
pub(crate) fn launch_1d<P: KernelParams>(gpu: &Gpu, kernel: Kernel, params: &P, args: &[Arg], n: usize) {
    gpu.dispatch(kernel, params, args, gpu.grid_1d(n));
}

/// Launch a kernel compiled for `kernel.element` over `n` items: one element (1 or 4 items)
/// per invocation. A partial last vec4 runs into the buffer's tail: pooled buffers are whole
/// multiples of 64 bytes, and nothing reads past a tensor's n items.
pub(crate) fn launch_elements<P: KernelParams>(gpu: &Gpu, kernel: Kernel, params: &P, args: &[Arg], n: usize) {
    launch_1d(gpu, kernel, params, args, n.div_ceil(kernel.element.width()));
}
