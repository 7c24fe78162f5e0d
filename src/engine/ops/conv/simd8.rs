//! The conv family on the SIMD-8 kernels (shaders/conv_simd8.wgsl, the `simd8` kernel set):
//! the same products as the portable kernels, with the operands first packed into
//! textures (`ops::pack`) with their zero padding. Every product returns `None` when a
//! packed operand would not fit the adapter's largest texture; the registry then runs the
//! next set's (portable) kernel. Batches too large for one texture go in chunks of images.
//!
//!   correlate  img[N, Ci, H, W], W[Co, Ci, kh, kw], b  ->  feat[N, Co, Hf, Wf]
//!   scatter    feat[N, Co, Hf, Wf], W, b               ->  img[N, Ci, H, W]
//!   filter     feat, img                               ->  dW[Co, Ci, kh, kw]
//!
//! The filter runs on the correlate kernel: dW[f, c, ky, kx] = sum_{n, oy, ox}
//! feat[n, f, oy, ox] img[n, c, s*oy - pt + ky, s*ox - pl + kx] is a correlation whose
//! images are the channels c of img (with the batch as their channels), whose weights are
//! feat (rows f, the batch as channels, the pixels (oy, ox) as taps s apart), and whose
//! output pixels are the kernel taps (ky, kx).

use super::{ConvGeometry, ConvProducts, Op, bias_or_zeros};
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::ops::pack::{self, PackLayout};
use crate::engine::ops::reduce;
use crate::engine::tensor::Tensor;

pub const PRODUCTS: ConvProducts = ConvProducts { correlate, scatter, filter };

const CONV_SIMD8: Family = crate::family!("conv_simd8.wgsl");

/// The entry points of each product, named after the ops they serve (like conv.wgsl).
struct Entries {
    correlate: &'static str,
    scatter: [&'static str; 2], // wide, narrow
    filter: &'static str,
}

fn entries(op: Op) -> Entries {
    match op {
        Op::Conv2d => Entries {
            correlate: "conv2d_forward",
            scatter: ["conv2d_grad_input", "conv2d_grad_input_narrow"],
            filter: "conv2d_grad_weight",
        },
        Op::ConvTranspose2d => Entries {
            correlate: "conv_transpose2d_grad_input",
            scatter: ["conv_transpose2d_forward", "conv_transpose2d_forward_narrow"],
            filter: "conv_transpose2d_grad_weight",
        },
    }
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel::new(CONV_SIMD8, entry)
}

crate::kernel_params! {
    /// shaders/conv_simd8.wgsl `Params`.
    pub struct Simd8Params {
        n: u32, c_img: u32, h_img: u32, w_img: u32, c_feat: u32, h_feat: u32, w_feat: u32,
        kh: u32, kw: u32, stride: u32, pad_top: u32, pad_left: u32,
        img_rows: u32, feat_rows: u32, feat_pad: u32, dilation: u32, out_image: u32, out_row: u32, dst_offset: u32,
    }
}

/// Rows and pixels per subgroup of correlate and scatter (8 lanes x 4 pixels, 32 rows).
const BLOCK: usize = 32;
/// scatter_narrow: rows and pixels per subgroup (8 lanes x 8 pixels).
const NARROW_ROWS: usize = 4;
const NARROW_PIXELS: usize = 64;

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
/// image) fit the adapter's texture height, with room for the texel or two that keeps a
/// texture size off the powers of two (`PackLayout::texture_size`).
fn batch_chunks(gpu: &Gpu, n: usize, rows: usize) -> Vec<(usize, usize)> {
    chunks_of(n, ((gpu.limits.max_texture_dimension_2d as usize - 2) / rows).max(1))
}

/// (first, count) of `n` items taken `per_chunk` at a time.
fn chunks_of(n: usize, per_chunk: usize) -> Vec<(usize, usize)> {
    (0..n).step_by(per_chunk).map(|first| (first, per_chunk.min(n - first))).collect()
}

/// What a dispatch needs besides the geometry: how its operands were packed, and for the
/// correlate the tap spacing and where results go.
#[derive(Default)]
struct Layout {
    img_rows: usize,
    feat_rows: usize,
    feat_pad: usize,
    dilation: usize,
    /// dst elements from one image's results to the next, and from one row's to the next.
    out_image: usize,
    out_row: usize,
}

impl Layout {
    /// The correlate writing feat[N, Co, Hf, Wf] as it is.
    fn correlate(g: &ConvGeometry, img_rows: usize) -> Layout {
        let hw = g.h_feat * g.w_feat;
        Layout { img_rows, dilation: 1, out_image: g.c_feat * hw, out_row: hw, ..Default::default() }
    }
}

fn params(g: &ConvGeometry, images: usize, layout: &Layout, dst_offset: usize) -> Simd8Params {
    Simd8Params {
        n: u32_of(images),
        c_img: u32_of(g.c_img),
        h_img: u32_of(g.h_img),
        w_img: u32_of(g.w_img),
        c_feat: u32_of(g.c_feat),
        h_feat: u32_of(g.h_feat),
        w_feat: u32_of(g.w_feat),
        kh: u32_of(g.kh),
        kw: u32_of(g.kw),
        stride: u32_of(g.stride),
        pad_top: u32_of(g.pad.top),
        pad_left: u32_of(g.pad.left),
        img_rows: u32_of(layout.img_rows),
        feat_rows: u32_of(layout.feat_rows),
        feat_pad: u32_of(layout.feat_pad),
        dilation: u32_of(layout.dilation),
        out_image: u32_of(layout.out_image),
        out_row: u32_of(layout.out_row),
        dst_offset: u32_of(dst_offset),
    }
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
fn correlate(gpu: &Gpu, op: Op, img: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (rows, cols) = image_plane(g);
    let weights = PackLayout::weights(g.weight_shape(), false, g.c_feat.next_multiple_of(BLOCK));
    let chunks = batch_chunks(gpu, g.n, rows);
    let chunk = PackLayout::images(g.img_shape(), 0, chunks[0].1, g.pad.top, g.pad.left, rows, cols);
    let hw = g.h_feat * g.w_feat;
    let grid = groups(gpu, (chunk.dims[0] * hw).div_ceil(BLOCK), g.c_feat.div_ceil(BLOCK), 1)?;
    if !weights.fits(gpu) || !chunk.fits(gpu) {
        return None;
    }
    let out = Tensor::empty(gpu, &g.feat_shape());
    let bias = bias_or_zeros(gpu, bias, g.c_feat);
    let packed_w = pack::pack(gpu, w, &weights);
    let layout = Layout::correlate(g, rows);
    for (first, count) in chunks {
        let packed_img = pack::pack(gpu, img, &PackLayout::images(g.img_shape(), first, count, g.pad.top, g.pad.left, rows, cols));
        let mut grid = grid;
        grid[0] = (count * hw).div_ceil(BLOCK) as u32;
        let args = [arg("dst", &out), arg("bias", &bias), arg("img", &packed_img), arg("weights", &packed_w)];
        gpu.dispatch(kernel(entries(op).correlate), &params(g, count, &layout, first * g.c_feat * hw), &args, grid);
    }
    Some(out)
}

/// img = scatter(feat, W) + bias: conv2d_grad_input (feat = dy, zero bias) and
/// conv_transpose2d_forward (feat = x).
fn scatter(gpu: &Gpu, op: Op, feat: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (pad, rows, cols) = scatter_plane(g);
    let narrow = g.c_img <= NARROW_ROWS;
    let scatter_entries = entries(op).scatter;
    let (entry, row_block, pixel_block) =
        if narrow { (scatter_entries[1], NARROW_ROWS, NARROW_PIXELS) } else { (scatter_entries[0], BLOCK, BLOCK) };
    let weights = PackLayout::weights(g.weight_shape(), true, g.c_img.next_multiple_of(row_block));
    let chunks = batch_chunks(gpu, g.n, rows);
    let chunk = PackLayout::images(g.feat_shape(), 0, chunks[0].1, pad, pad, rows, cols);
    // Pixels of the largest stride phase: ceil(H / s) x ceil(W / s) per image.
    let phase_pixels = |images: usize| images * g.h_img.div_ceil(g.stride) * g.w_img.div_ceil(g.stride);
    let grid = groups(gpu, phase_pixels(chunk.dims[0]).div_ceil(pixel_block), g.c_img.div_ceil(row_block), g.stride * g.stride)?;
    if !weights.fits(gpu) || !chunk.fits(gpu) {
        return None;
    }
    let out = Tensor::empty(gpu, &g.img_shape());
    let bias = bias_or_zeros(gpu, bias, g.c_img);
    let packed_w = pack::pack(gpu, w, &weights);
    let layout = Layout { feat_rows: rows, feat_pad: pad, ..Default::default() };
    for (first, count) in chunks {
        let packed_feat = pack::pack(gpu, feat, &PackLayout::images(g.feat_shape(), first, count, pad, pad, rows, cols));
        let mut grid = grid;
        grid[0] = phase_pixels(count).div_ceil(pixel_block) as u32;
        let args = [arg("dst", &out), arg("bias", &bias), arg("feat", &packed_feat), arg("weights", &packed_w)];
        gpu.dispatch(kernel(entry), &params(g, count, &layout, first * g.c_img * g.h_img * g.w_img), &args, grid);
    }
    Some(out)
}

/// dW = filter(feat, img): conv2d_grad_weight (feat = dy, img = x) and
/// conv_transpose2d_grad_weight (feat = x, img = dy), as a correlation (see the module
/// comment); batches whose packed operands are too wide go in chunks, each writing a
/// partial dW that are then summed.
fn filter(gpu: &Gpu, op: Op, feat: &Tensor, img: &Tensor, g: &ConvGeometry) -> Option<Tensor> {
    if empty(g) {
        return None;
    }
    let (rows, cols) = image_plane(g);
    let hw = g.h_feat * g.w_feat;
    // Both textures hold the batch as channel quads along their rows: hw taps of the
    // feature side, `cols` pixels of the image side.
    let max = gpu.limits.max_texture_dimension_2d as usize;
    let images_per_chunk = 4 * (max.saturating_sub(2 * pack::ROW_TEXELS) / hw.max(cols));
    if images_per_chunk == 0 {
        return None;
    }
    let chunks = chunks_of(g.n, images_per_chunk);
    let most = chunks[0].1;
    let img_chunk = PackLayout::channel_planes(g.img_shape(), 0, most, g.pad.top, g.pad.left, rows, cols);
    let feat_chunk = PackLayout::pixel_taps(g.feat_shape(), 0, most, g.c_feat.next_multiple_of(BLOCK));
    // The correlation the kernel sees: images = channels c, channels = this chunk's images,
    // output pixels = the kernel taps (ky, kx), taps = the feature pixels, s apart.
    let virtual_geometry = |images: usize| ConvGeometry {
        n: g.c_img,
        c_img: images,
        h_img: g.h_img,
        w_img: g.w_img,
        c_feat: g.c_feat,
        h_feat: g.kh,
        w_feat: g.kw,
        kh: g.h_feat,
        kw: g.w_feat,
        stride: 1,
        pad: g.pad,
    };
    let khw = g.kh * g.kw;
    let grid = groups(gpu, (g.c_img * khw).div_ceil(BLOCK), g.c_feat.div_ceil(BLOCK), 1)?;
    if !img_chunk.fits(gpu) || !feat_chunk.fits(gpu) {
        return None;
    }
    let w = g.weight_shape();
    let partials = Tensor::empty(gpu, &[chunks.len(), w[0], w[1], w[2], w[3]]);
    let zeros = Tensor::zeros(gpu, &[g.c_feat]);
    // dW[f, c, ky, kx]: image c's results are kh*kw apart, row f's c_img*kh*kw.
    let layout = Layout { img_rows: rows, dilation: g.stride, out_image: khw, out_row: g.c_img * khw, ..Default::default() };
    for (i, &(first, count)) in chunks.iter().enumerate() {
        let packed_img = pack::pack(gpu, img, &PackLayout::channel_planes(g.img_shape(), first, count, g.pad.top, g.pad.left, rows, cols));
        let packed_feat = pack::pack(gpu, feat, &PackLayout::pixel_taps(g.feat_shape(), first, count, feat_chunk.height));
        // The correlate body: the packed feature side stands in for its weights.
        let args = [arg("dst", &partials), arg("bias", &zeros), arg("img", &packed_img), arg("weights", &packed_feat)];
        let dst_offset = i * w.iter().product::<usize>();
        gpu.dispatch(kernel(entries(op).filter), &params(&virtual_geometry(count), g.c_img, &layout, dst_offset), &args, grid);
    }
    Some(reduce::sum_partials(gpu, &partials, &w))
}
