//! The conv family on the SIMD-8 kernels (shaders/conv_simd8.wgsl, `KernelSet::Simd8`):
//! the same products as the portable kernels, with the operands first packed into
//! textures (`ops::pack`) with their zero padding. Every function returns `None` when a
//! packed operand would not fit the adapter's largest texture; the caller then runs the
//! portable kernel. Batches too tall for one texture go in chunks of images.
//!
//!   correlate  img[N, Ci, H, W], W[Co, Ci, kh, kw], b  ->  feat[N, Co, Hf, Wf]
//!   scatter    feat[N, Co, Hf, Wf], W, b               ->  img[N, Ci, H, W]
//!   filter     feat, img                               ->  dW[Co, Ci, kh, kw]

use super::ConvGeometry;
use crate::gpu::{Binding, Family, Gpu, Kernel, Params};
use crate::ops::pack::{self, PackLayout};
use crate::ops::reduce;
use crate::tensor::Tensor;

/// The entry points of each product, named after the ops they serve (like conv.wgsl).
pub struct Entries {
    correlate: &'static str,
    scatter: [&'static str; 2],  // wide, narrow
    filter: &'static str,
}

pub const CONV2D: Entries = Entries {
    correlate: "conv2d_forward",
    scatter: ["conv2d_grad_input", "conv2d_grad_input_narrow"],
    filter: "conv2d_grad_weight",
};
pub const CONV_TRANSPOSE2D: Entries = Entries {
    correlate: "conv_transpose2d_grad_input",
    scatter: ["conv_transpose2d_forward", "conv_transpose2d_forward_narrow"],
    filter: "conv_transpose2d_grad_weight",
};

fn kernel(entry: &'static str) -> Kernel {
    Kernel::new(Family::ConvSimd8, entry)
}

/// Rows and pixels per subgroup of correlate and scatter (8 lanes x 4 pixels, 32 rows).
const BLOCK: usize = 32;
/// scatter_narrow: rows and pixels per subgroup (8 lanes x 8 pixels).
const NARROW_ROWS: usize = 4;
const NARROW_PIXELS: usize = 64;
/// filter: weight-gradient columns (tap, channel quad) per subgroup, 2 per lane.
const FILTER_COLUMNS: usize = 16;
/// filter: the most pixels one invocation sums (lavapipe ends loop nests after 65535
/// iterations).
const FILTER_PIXELS_PER_SPLIT: usize = 8192;
/// filter: subgroups to aim for, so that every core has work.
const FILTER_MIN_GROUPS: usize = 64;

/// Texture rows and pixel columns per image of the image side packed with the conv padding:
/// every tap of every feature pixel lands inside.
fn image_plane(g: &ConvGeometry) -> (usize, usize) {
    let rows = (g.pad.top + g.h_img).max((g.h_feat - 1) * g.stride + g.kh);
    let cols = (g.pad.left + g.w_img).max((g.w_feat - 1) * g.stride + g.kw);
    (rows, cols)
}

/// The feature side packed for the scatter: `pad` zero rows and columns before it, so
/// that the taps of every image pixel (oy = qy - ty down to qy - (ceil(k / s) - 1)) land
/// inside, and rows/columns after it up to the largest qy, qx. Returns (pad, rows, cols).
fn scatter_plane(g: &ConvGeometry) -> (usize, usize, usize) {
    let pad = g.kh.div_ceil(g.stride).max(g.kw.div_ceil(g.stride)) - 1;
    let last_qy = (g.h_img - 1 + g.pad.top) / g.stride;
    let last_qx = (g.w_img - 1 + g.pad.left) / g.stride;
    (pad, pad + g.h_feat.max(last_qy + 1), pad + g.w_feat.max(last_qx + 1))
}

/// (first image, images) of each batch chunk whose packed planes (`rows` texture rows per
/// image) fit the adapter's texture height.
fn batch_chunks(gpu: &Gpu, n: usize, rows: usize) -> Vec<(usize, usize)> {
    let per_chunk = (gpu.limits.max_texture_dimension_2d as usize / rows).max(1);
    (0..n).step_by(per_chunk).map(|first| (first, per_chunk.min(n - first))).collect()
}

/// Images in the largest chunk.
fn largest_chunk(gpu: &Gpu, n: usize, rows: usize) -> usize {
    batch_chunks(gpu, n, rows).first().map_or(0, |c| c.1)
}

struct Packing {
    img_rows: usize,
    feat_rows: usize,
    feat_pad: usize,
    images_per_split: usize,
}

fn params(g: &ConvGeometry, images: usize, packing: &Packing, dst_offset: usize) -> Params {
    Params::new()
        .size(images)
        .size(g.c_img)
        .size(g.h_img)
        .size(g.w_img)
        .size(g.c_feat)
        .size(g.h_feat)
        .size(g.w_feat)
        .size(g.kh)
        .size(g.kw)
        .size(g.stride)
        .size(g.pad.top)
        .size(g.pad.left)
        .size(packing.img_rows)
        .size(packing.feat_rows)
        .size(packing.feat_pad)
        .size(packing.images_per_split)
        .size(dst_offset)
}

/// The grid, or `None` when it is larger than the adapter allows.
fn groups(gpu: &Gpu, x: usize, y: usize, z: usize) -> Option<[u32; 3]> {
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    (x <= max && y <= max && z <= max).then_some([x as u32, y as u32, z as u32])
}

/// Empty tensors (no images, no channels) are left to the portable kernels, which need no
/// textures for them.
fn empty(g: &ConvGeometry) -> bool {
    g.n == 0 || g.c_img == 0 || g.c_feat == 0
}

/// feat = correlate(img, W) + bias: conv2d_forward (img = x) and conv_transpose2d_grad_input
/// (img = dy, zero bias).
pub fn correlate(gpu: &Gpu, op: &Entries, img: &Tensor, w: &Tensor, bias: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (rows, cols) = image_plane(g);
    let weights = PackLayout::weights(g.weight_shape(), false, g.c_feat.next_multiple_of(BLOCK));
    let chunk = PackLayout::images(g.img_shape(), 0, largest_chunk(gpu, g.n, rows), g.pad.top, g.pad.left, rows, cols);
    let hw = g.h_feat * g.w_feat;
    let grid = groups(gpu, (chunk.dims[0] * hw).div_ceil(BLOCK), g.c_feat.div_ceil(BLOCK), 1)?;
    if !weights.fits(gpu) || !chunk.fits(gpu) {
        return None;
    }
    let out = Tensor::empty(gpu, &g.feat_shape());
    let packed_w = pack::pack(gpu, w, &weights);
    let packing = Packing { img_rows: rows, feat_rows: 0, feat_pad: 0, images_per_split: 0 };
    for (first, count) in batch_chunks(gpu, g.n, rows) {
        let packed_img = pack::pack(gpu, img, &PackLayout::images(g.img_shape(), first, count, g.pad.top, g.pad.left, rows, cols));
        let mut grid = grid;
        grid[0] = (count * hw).div_ceil(BLOCK) as u32;
        let resources = [Binding::from(out.buffer()), bias.buffer().into(), (&packed_img).into(), (&packed_w).into()];
        gpu.dispatch(kernel(op.correlate), params(g, count, &packing, first * g.c_feat * hw), &resources, grid);
    }
    Some(out)
}

/// img = scatter(feat, W) + bias: conv2d_grad_input (feat = dy, zero bias) and
/// conv_transpose2d_forward (feat = x).
pub fn scatter(gpu: &Gpu, op: &Entries, feat: &Tensor, w: &Tensor, bias: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (pad, rows, cols) = scatter_plane(g);
    let narrow = g.c_img <= NARROW_ROWS;
    let (entry, row_block, pixel_block) = if narrow { (op.scatter[1], NARROW_ROWS, NARROW_PIXELS) } else { (op.scatter[0], BLOCK, BLOCK) };
    let weights = PackLayout::weights(g.weight_shape(), true, g.c_img.next_multiple_of(row_block));
    let chunk = PackLayout::images(g.feat_shape(), 0, largest_chunk(gpu, g.n, rows), pad, pad, rows, cols);
    // Pixels of the largest stride phase: ceil(H / s) x ceil(W / s) per image.
    let phase_pixels = |images: usize| images * g.h_img.div_ceil(g.stride) * g.w_img.div_ceil(g.stride);
    let grid = groups(gpu, phase_pixels(chunk.dims[0]).div_ceil(pixel_block), g.c_img.div_ceil(row_block), g.stride * g.stride)?;
    if !weights.fits(gpu) || !chunk.fits(gpu) {
        return None;
    }
    let out = Tensor::empty(gpu, &g.img_shape());
    let packed_w = pack::pack(gpu, w, &weights);
    let packing = Packing { img_rows: 0, feat_rows: rows, feat_pad: pad, images_per_split: 0 };
    for (first, count) in batch_chunks(gpu, g.n, rows) {
        let packed_feat = pack::pack(gpu, feat, &PackLayout::images(g.feat_shape(), first, count, pad, pad, rows, cols));
        let mut grid = grid;
        grid[0] = phase_pixels(count).div_ceil(pixel_block) as u32;
        let resources = [Binding::from(out.buffer()), bias.buffer().into(), (&packed_feat).into(), (&packed_w).into()];
        gpu.dispatch(kernel(entry), params(g, count, &packing, first * g.c_img * g.h_img * g.w_img), &resources, grid);
    }
    Some(out)
}

/// dW = filter(feat, img): conv2d_grad_weight (feat = dy, img = x) and
/// conv_transpose2d_grad_weight (feat = x, img = dy), summed from per-split partials.
pub fn filter(gpu: &Gpu, op: &Entries, feat: &Tensor, img: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (rows, cols) = image_plane(g);
    let hw = g.h_feat * g.w_feat;
    let most = largest_chunk(gpu, g.n, rows.max(g.h_feat));
    let img_chunk = PackLayout::images(g.img_shape(), 0, most, g.pad.top, g.pad.left, rows, cols);
    let feat_chunk = PackLayout::images(g.feat_shape(), 0, most, 0, 0, g.h_feat, g.w_feat);
    let columns = g.kh * g.kw * g.c_img.div_ceil(4);
    let base = [columns.div_ceil(FILTER_COLUMNS), g.c_feat.div_ceil(BLOCK)];
    // Split each chunk's images so that no invocation sums too many pixels and the grid
    // has enough subgroups; every split writes its own partial dW.
    let splits_wanted = FILTER_MIN_GROUPS.div_ceil(base[0] * base[1]).max((most * hw).div_ceil(FILTER_PIXELS_PER_SPLIT));
    let images_per_split = most.div_ceil(splits_wanted.min(most)).min((FILTER_PIXELS_PER_SPLIT / hw).max(1));
    let chunks = batch_chunks(gpu, g.n, rows.max(g.h_feat));
    let splits: Vec<usize> = chunks.iter().map(|&(_, count)| count.div_ceil(images_per_split)).collect();
    groups(gpu, base[0], base[1], splits[0])?;
    if !img_chunk.fits(gpu) || !feat_chunk.fits(gpu) {
        return None;
    }
    let w = g.weight_shape();
    let partials = Tensor::empty(gpu, &[splits.iter().sum(), w[0], w[1], w[2], w[3]]);
    let packing = Packing { img_rows: rows, feat_rows: g.h_feat, feat_pad: 0, images_per_split };
    let mut split_base = 0;
    for (&(first, count), &chunk_splits) in chunks.iter().zip(&splits) {
        let packed_img = pack::pack(gpu, img, &PackLayout::images(g.img_shape(), first, count, g.pad.top, g.pad.left, rows, cols));
        let packed_feat = pack::pack(gpu, feat, &PackLayout::images(g.feat_shape(), first, count, 0, 0, g.h_feat, g.w_feat));
        let resources = [Binding::from(partials.buffer()), (&packed_img).into(), (&packed_feat).into()];
        let dst_offset = split_base * w.iter().product::<usize>();
        gpu.dispatch(kernel(op.filter), params(g, count, &packing, dst_offset), &resources, [base[0] as u32, base[1] as u32, chunk_splits as u32]);
        split_base += chunk_splits;
    }
    Some(reduce::sum_partials(gpu, &partials, &w))
}
