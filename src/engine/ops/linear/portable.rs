//! The linear products as a tiled GEMM on storage buffers (shaders/matmul.wgsl): each
//! invocation computes 4x4 outputs, each 8x8 workgroup a 32x32 tile; the reduction is split
//! into chunks whose partial products are summed (lavapipe ends long loops).

use super::LinearProducts;
use crate::engine::gpu::{Arg, Family, Gpu, Kernel, arg, u32_of};
use crate::engine::ops::reduce;
use crate::engine::tensor::Tensor;

pub const PRODUCTS: LinearProducts = LinearProducts { forward, grad_input, grad_weight };

const MATMUL: Family = crate::family!("matmul.wgsl");

/// Each invocation computes 4x4 outputs, each 8x8 workgroup a 32x32 tile.
const TILE: usize = 32;
/// Reduction length per split (see matmul.wgsl).
const DEPTH_CHUNK: usize = 1024;

crate::kernel_params! {
    /// shaders/matmul.wgsl `Params`.
    pub struct MatmulParams { rows: u32, cols: u32, depth: u32, depth_chunk: u32 }
}

/// Splits of a reduction of length `depth`, each writing one partial product.
fn splits(depth: usize) -> usize {
    depth.div_ceil(DEPTH_CHUNK).max(1)
}

/// The most floats one buffer of the three products and the bias gradient of a linear
/// layer over (m, n, k) holds besides operands and results: their per-split partials.
pub fn scratch_items([m, n, k]: [usize; 3]) -> usize {
    let product = |a: usize, b: usize, c: usize| a.saturating_mul(b).saturating_mul(c);
    [product(splits(k), m, n), product(splits(n), m, k), product(splits(m), n, k), product(splits(m), n, 1)].into_iter().max().unwrap_or(0)
}

/// C[rows, cols] = (product selected by `entry`) with reduction length `depth`, as the sum
/// of per-split partial products.
fn gemm(gpu: &Gpu, entry: &'static str, rows: usize, cols: usize, depth: usize, inputs: &[Arg]) -> Tensor {
    let splits = splits(depth);
    let partials = Tensor::empty(gpu, &[splits, rows, cols]);
    let mut args = vec![arg("c", &partials)];
    args.extend_from_slice(inputs);
    let params = MatmulParams { rows: u32_of(rows), cols: u32_of(cols), depth: u32_of(depth), depth_chunk: u32_of(DEPTH_CHUNK) };
    let groups = [cols.div_ceil(TILE) as u32, rows.div_ceil(TILE) as u32, splits as u32];
    gpu.dispatch(Kernel::new(MATMUL, entry), &params, &args, groups);
    reduce::sum_partials(gpu, &partials, &[rows, cols])
}

fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>, [m, n, k]: [usize; 3]) -> Option<Tensor> {
    Some(match b {
        Some(b) => gemm(gpu, "linear_forward", m, n, k, &[arg("a", x), arg("b", w), arg("bias", b)]),
        None => gemm(gpu, "linear_forward_nobias", m, n, k, &[arg("a", x), arg("b", w)]),
    })
}

fn grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor, [m, n, k]: [usize; 3]) -> Option<Tensor> {
    Some(gemm(gpu, "linear_grad_input", m, k, n, &[arg("a", dy), arg("b", w)]))
}

fn grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor, [m, n, k]: [usize; 3]) -> Option<Tensor> {
    Some(gemm(gpu, "linear_grad_weight", n, k, m, &[arg("a", dy), arg("b", x)]))
}

/// db[N] = sum over the M rows of dy, in splits of DEPTH_CHUNK rows.
pub fn grad_bias(gpu: &Gpu, dy: &Tensor, m: usize, n: usize) -> Tensor {
    let splits = splits(m);
    let partials = Tensor::empty(gpu, &[splits, n]);
    let params = MatmulParams { rows: u32_of(m), cols: u32_of(n), depth: 0, depth_chunk: u32_of(DEPTH_CHUNK) };
    gpu.dispatch(Kernel::new(MATMUL, "linear_grad_bias"), &params, &[arg("c", &partials), arg("a", dy)], [n.div_ceil(64) as u32, splits as u32, 1]);
    reduce::sum_partials(gpu, &partials, &[n])
}
