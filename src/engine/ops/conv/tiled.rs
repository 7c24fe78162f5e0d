//! The conv products on the tiled kernel sets (shaders/conv_tiled.wgsl): implicit GEMMs
//! whose A and B tiles are gathered into workgroup memory, one set per tile shape
//! (`variants::TILED_SETS`, the shape appended to the shader as constants). `T` indexes
//! that list, so each set has its own `PRODUCTS` and its own compiled pipelines.
//!
//!   correlate  C[c_feat, n*Hf*Wf]  = W[c_feat, c_img*kh*kw] x im2col(img)
//!   scatter    C[c_img, pixels of one stride phase] = W^T x gathered feat, one phase per z
//!   filter     C[c_feat, c_img*kh*kw] = feat x im2col(img)^T over one split of the batch per
//!              z; the partials are summed like the portable set's
//!
//! A product declines (returns `None`) when its grid exceeds the adapter's workgroup count
//! per dimension, or its reduction is deeper than [`MAX_DEPTH`]; the registry then runs the
//! next set.

use std::sync::OnceLock;

use super::{ConvGeometry, ConvProducts, Op, bias_or_zeros};
use crate::engine::gpu::{Family, Gpu, Kernel, arg};
use crate::engine::ops::reduce;
use crate::engine::tensor::Tensor;
use crate::engine::variants::{TILED_SETS, TileShape};

/// The deepest reduction one invocation runs. lavapipe ends a loop nest once its innermost
/// loop has run 65535 times in all, and the innermost loop runs depth x TM / 4 times; the
/// portable kernels split deeper reductions into partial sums.
pub const MAX_DEPTH: usize = 16384;

/// The products of `TILED_SETS[T]`.
pub const fn products<const T: usize>() -> ConvProducts {
    ConvProducts { correlate: correlate::<T>, scatter: scatter::<T>, filter: filter::<T> }
}

fn tile<const T: usize>() -> TileShape {
    TILED_SETS[T].tile.unwrap_or_else(|| unreachable!("TILED_SETS holds tiled sets"))
}

/// conv_tiled.wgsl compiled with the tile of `TILED_SETS[T]`.
fn family<const T: usize>() -> Family {
    crate::family!("conv_tiled.wgsl").with_constants(constants()[T])
}

/// The constants conv_tiled.wgsl is compiled with, one per tiled set (in `TILED_SETS` order).
pub fn constants() -> &'static [&'static str] {
    static CONSTANTS: OnceLock<Vec<&'static str>> = OnceLock::new();
    CONSTANTS.get_or_init(|| {
        TILED_SETS
            .iter()
            .map(|s| {
                let t = s.tile.unwrap_or_else(|| unreachable!("TILED_SETS holds tiled sets"));
                let text = format!("const BM: u32 = {}u;\nconst BN: u32 = {}u;\nconst TM: u32 = {}u;\nconst BK: u32 = {}u;\n", t.bm, t.bn, t.tm, t.bk);
                &*Box::leak(text.into_boxed_str())
            })
            .collect()
    })
}

/// The grid for C[m, n] in tiles, `z` deep; `None` when the adapter allows fewer workgroups.
fn grid<const T: usize>(gpu: &Gpu, m: usize, n: usize, z: usize) -> Option<[u32; 3]> {
    let t = tile::<T>();
    let groups = [n.div_ceil(t.bn as usize), m.div_ceil(t.bm as usize), z];
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    groups.iter().all(|&g| g <= max).then(|| groups.map(|g| g as u32))
}

crate::kernel_params! {
    /// shaders/conv_tiled.wgsl `Params`: conv.wgsl's geometry, and whether A is read as vec4s.
    pub struct TiledParams {
        n: u32, c_img: u32, h_img: u32, w_img: u32, c_feat: u32, h_feat: u32, w_feat: u32,
        kh: u32, kw: u32, sh: u32, sw: u32, pad_top: u32, pad_left: u32,
        images_per_split: u32, a_vec4: u32,
    }
}

/// Launch `entry`; `a_vec4` when A's rows are contiguous along K in whole vec4s.
#[allow(clippy::too_many_arguments)]
fn run<const T: usize>(gpu: &Gpu, entry: &'static str, g: &ConvGeometry, out: &Tensor, in0: &Tensor, in1: &Tensor, bias: &Tensor, a_vec4: bool, groups: [u32; 3]) {
    let c = g.params();
    let params = TiledParams {
        n: c.n, c_img: c.c_img, h_img: c.h_img, w_img: c.w_img, c_feat: c.c_feat, h_feat: c.h_feat, w_feat: c.w_feat,
        kh: c.kh, kw: c.kw, sh: c.sh, sw: c.sw, pad_top: c.pad_top, pad_left: c.pad_left,
        images_per_split: c.images_per_split, a_vec4: a_vec4 as u32,
    };
    let args = [arg("dst", out), arg("in0", in0), arg("in1", in1), arg("bias", bias), arg("in0v", in0), arg("in1v", in1)];
    gpu.dispatch(Kernel::new(family::<T>(), entry), &params, &args, groups);
}

/// in0 = the image side, in1 = W: conv2d_forward (with bias) or conv_transpose2d_grad_input.
fn correlate<const T: usize>(gpu: &Gpu, op: Op, img: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    if g.c_img * g.kh * g.kw > MAX_DEPTH {
        return None;
    }
    let groups = grid::<T>(gpu, g.c_feat, g.n * g.h_feat * g.w_feat, 1)?;
    let entry = match op {
        Op::Conv2d => "conv2d_forward",
        Op::ConvTranspose2d => "conv_transpose2d_grad_input",
    };
    let out = Tensor::empty(gpu, &g.feat_shape());
    // A = W[c_feat, c_img*kh*kw]: its rows start at multiples of 4 when K is one.
    let a_vec4 = (g.c_img * g.kh * g.kw) % 4 == 0;
    run::<T>(gpu, entry, g, &out, img, w, &bias_or_zeros(gpu, b, g.c_feat), a_vec4, groups);
    Some(out)
}

/// in0 = the feature side, in1 = W: conv_transpose2d_forward (with bias) or conv2d_grad_input.
/// One stride phase per workgroup z; phase (0, 0) has the most pixels.
fn scatter<const T: usize>(gpu: &Gpu, op: Op, feat: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    let phase_pixels = g.n * g.h_img.div_ceil(g.stride) * g.w_img.div_ceil(g.stride);
    if g.c_feat * g.kh.div_ceil(g.stride) * g.kw.div_ceil(g.stride) > MAX_DEPTH {
        return None;
    }
    let groups = grid::<T>(gpu, g.c_img, phase_pixels, g.stride * g.stride)?;
    let entry = match op {
        Op::Conv2d => "conv2d_grad_input",
        Op::ConvTranspose2d => "conv_transpose2d_forward",
    };
    let out = Tensor::empty(gpu, &g.img_shape());
    run::<T>(gpu, entry, g, &out, feat, w, &bias_or_zeros(gpu, b, g.c_img), false, groups);
    Some(out)
}

/// dW summed from per-split partials [splits, c_feat, c_img, kh, kw]; in0 = the feature
/// side, in1 = the image side.
fn filter<const T: usize>(gpu: &Gpu, op: Op, feat: &Tensor, img: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if g.images_per_split() * g.h_feat * g.w_feat > MAX_DEPTH {
        return None;
    }
    let splits = g.weight_gradient_splits();
    let groups = grid::<T>(gpu, g.c_feat, g.c_img * g.kh * g.kw, splits)?;
    let entry = match op {
        Op::Conv2d => "conv2d_grad_weight",
        Op::ConvTranspose2d => "conv_transpose2d_grad_weight",
    };
    let w = g.weight_shape();
    let partials = Tensor::empty(gpu, &[splits, w[0], w[1], w[2], w[3]]);
    // A = the feature map's rows (n, pixel): 4 items never straddle two images when a
    // feature map is a multiple of 4 pixels.
    let a_vec4 = (g.h_feat * g.w_feat) % 4 == 0;
    run::<T>(gpu, entry, g, &partials, feat, img, &bias_or_zeros(gpu, None, g.c_feat), a_vec4, groups);
    Some(reduce::sum_partials(gpu, &partials, &w))
}
