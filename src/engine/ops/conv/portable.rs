//! The conv products on the portable kernels (shaders/conv.wgsl): storage buffers only,
//! each invocation a 4x4 register block (4 channels x 4 pixels or weights), 64 invocations
//! a workgroup along the pixel axis, no workgroup memory or barriers. They take any
//! operands, so they are every device's fallback.

use super::{CONV, ConvGeometry, ConvProducts, Op, REDUCTION_CHUNK, bias_or_zeros};
use crate::engine::gpu::{Arg, Gpu, Kernel, arg};
use crate::engine::ops::reduce;
use crate::engine::tensor::Tensor;

pub const PRODUCTS: ConvProducts = ConvProducts { correlate, scatter, filter };

/// Blocks of 4 channels x 4 columns, 64 invocations per workgroup along the columns.
fn grid(rows: usize, cols: usize) -> [u32; 3] {
    [cols.div_ceil(256) as u32, rows.div_ceil(4) as u32, 1]
}

fn pixels(shape: [usize; 4]) -> usize {
    shape[0] * shape[2] * shape[3]
}

/// Grid of the scatter kernels: one invocation per block of 4 image pixels that share a
/// row and a phase modulo the stride (see `scatter_pixels` in conv.wgsl).
fn scatter_grid(g: &ConvGeometry) -> [u32; 3] {
    let rows_per_phase = g.h_img.div_ceil(g.stride);
    let blocks_per_row = g.w_img.div_ceil(g.stride).div_ceil(4);
    let blocks = g.stride * g.stride * g.n * rows_per_phase * blocks_per_row;
    [blocks.div_ceil(64) as u32, g.c_img.div_ceil(4) as u32, 1]
}

fn run(gpu: &Gpu, entry: &'static str, g: &ConvGeometry, out_shape: [usize; 4], args: &[Arg], groups: [u32; 3]) -> Tensor {
    let out = Tensor::empty(gpu, &out_shape);
    let mut all = vec![arg("dst", &out)];
    all.extend_from_slice(args);
    gpu.dispatch(Kernel::new(CONV, entry), &g.params(), &all, groups);
    out
}

/// in0 = the image side, in1 = W: conv2d_forward (with bias) or conv_transpose2d_grad_input.
fn correlate(gpu: &Gpu, op: Op, img: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    let groups = grid(g.c_feat, pixels(g.feat_shape()));
    Some(match op {
        Op::Conv2d => {
            let bias = bias_or_zeros(gpu, b, g.c_feat);
            run(gpu, "conv2d_forward", g, g.feat_shape(), &[arg("in0", img), arg("in1", w), arg("bias", &bias)], groups)
        }
        Op::ConvTranspose2d => run(gpu, "conv_transpose2d_grad_input", g, g.feat_shape(), &[arg("in0", img), arg("in1", w)], groups),
    })
}

/// in0 = the feature side, in1 = W: conv_transpose2d_forward (with bias) or conv2d_grad_input.
fn scatter(gpu: &Gpu, op: Op, feat: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    let groups = scatter_grid(g);
    Some(match op {
        Op::Conv2d => run(gpu, "conv2d_grad_input", g, g.img_shape(), &[arg("in0", feat), arg("in1", w)], groups),
        Op::ConvTranspose2d => {
            let bias = bias_or_zeros(gpu, b, g.c_img);
            run(gpu, "conv_transpose2d_forward", g, g.img_shape(), &[arg("in0", feat), arg("in1", w), arg("bias", &bias)], groups)
        }
    })
}

/// dW summed from per-split partials [splits, c_feat, c_img, kh, kw]; in0 = the feature
/// side, in1 = the image side.
fn filter(gpu: &Gpu, op: Op, feat: &Tensor, img: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if g.h_feat * g.w_feat > 8 * REDUCTION_CHUNK {
        unreachable!("a {}x{} feature map is larger than one weight-gradient split supports", g.h_feat, g.w_feat);
    }
    let entry = match op {
        Op::Conv2d => "conv2d_grad_weight",
        Op::ConvTranspose2d => "conv_transpose2d_grad_weight",
    };
    let splits = g.weight_gradient_splits();
    let w = g.weight_shape();
    let partials = Tensor::empty(gpu, &[splits, w[0], w[1], w[2], w[3]]);
    let mut groups = grid(g.c_feat, g.c_img * g.kh * g.kw);
    groups[2] = splits as u32;
    gpu.dispatch(Kernel::new(CONV, entry), &g.params(), &[arg("dst", &partials), arg("in0", feat), arg("in1", img)], groups);
    Some(reduce::sum_partials(gpu, &partials, &w))
}
