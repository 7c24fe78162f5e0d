//! Tensors into rgba32float textures for the SIMD-8 kernels (shaders/pack.wgsl).
//!
//!   pack  T[a, b, h, w] (any strides)  ->  texture, texel (x_t, y_t) =
//!         T[a, 4q .. 4q + 3, y, x] with x_t = (x + left) * quads + q, y_t = a * rows + y + top
//!
//! The kernels write the texels to a cleared buffer (zero padding for free), which is then
//! copied into the texture: a buffer store is cheaper than a texture store on lavapipe.
//!
//! Images [n, c, h, w] pack with their zero padding (a = n, b = c); conv weights
//! [out, in, kh, kw] pack as one texture row per output row with the taps (ky, kx) as
//! "pixels" of a 1-row plane (a = row, b = the other channel axis, h = 1, w = kh * kw).

use crate::engine::gpu::{Family, Gpu, Kernel, PooledTexture, arg, u32_of};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, PORTABLE, Variant};

/// The family's implementations (one so far: buffer kernels any adapter runs; the SIMD-8
/// conv products are their only user).
pub static VARIANTS: [Variant<Family>; 1] = [Variant { set: &PORTABLE, imp: crate::family!("pack.wgsl") }];

crate::kernel_params! {
    /// shaders/pack.wgsl `Params`.
    pub struct PackParams {
        a: u32, b: u32, h: u32, w: u32, stride_a: u32, stride_b: u32, stride_y: u32, stride_x: u32,
        offset: u32, top: u32, left: u32, rows: u32, quads: u32, width: u32,
    }
}

/// Texels per texture row must fill whole 256-byte rows for the buffer-to-texture copy.
pub const ROW_TEXELS: usize = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize / 16;

/// Where the texels of a packed tensor come from and where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackLayout {
    /// The 4-D view [a, b, h, w] of the source.
    pub dims: [usize; 4],
    /// Element strides of the view's axes.
    pub strides: [usize; 4],
    /// Element of the source where the view starts.
    pub offset: usize,
    /// Zero rows before each plane, and texture rows per plane (top + h + zero rows after).
    pub top: usize,
    pub rows: usize,
    /// Zero pixels before each row, and pixels per texture row (left + w + zeros after).
    pub left: usize,
    pub cols: usize,
    /// Texture rows in all (at least a * rows; the rest are zero).
    pub height: usize,
}

impl PackLayout {
    /// Images `first .. first + count` of an NCHW tensor of `shape`, with zero padding
    /// (top, left) before and enough after to make each plane `rows` x `cols` pixels.
    pub fn images(shape: [usize; 4], first: usize, count: usize, top: usize, left: usize, rows: usize, cols: usize) -> PackLayout {
        let [_, c, h, w] = shape;
        assert!(rows >= top + h && cols >= left + w, "a {h}x{w} image with padding ({top}, {left}) does not fit {rows}x{cols}");
        PackLayout { dims: [count, c, h, w], strides: [c * h * w, h * w, w, 1], offset: first * c * h * w, top, rows, left, cols, height: count * rows }
    }

    /// Images `first .. first + count` of an NCHW tensor of `shape` as one padded plane per
    /// channel, with the images as the channels of its texels: the image side of a weight
    /// gradient computed as a correlation (see `conv::simd8`).
    pub fn channel_planes(shape: [usize; 4], first: usize, count: usize, top: usize, left: usize, rows: usize, cols: usize) -> PackLayout {
        let [_, c, h, w] = shape;
        let images = PackLayout::images(shape, first, count, top, left, rows, cols);
        PackLayout { dims: [c, count, h, w], strides: [h * w, c * h * w, w, 1], height: c * rows, ..images }
    }

    /// Images `first .. first + count` of an NCHW tensor of `shape` as one texture row per
    /// channel whose "taps" are the pixels, with the images as the channels of its texels:
    /// the weights of a weight gradient computed as a correlation; `height` rows.
    pub fn pixel_taps(shape: [usize; 4], first: usize, count: usize, height: usize) -> PackLayout {
        let [_, c, h, w] = shape;
        assert!(height >= c, "{height} texture rows cannot hold {c} channels");
        PackLayout { dims: [c, count, 1, h * w], strides: [h * w, c * h * w, 0, 1], offset: first * c * h * w, top: 0, rows: 1, left: 0, cols: h * w, height }
    }

    /// A conv weight [a, b, kh, kw] as one texture row per `a` (or per `b` when
    /// `transposed`) with quads over the other axis; `height` rows (zeros past the last).
    pub fn weights(shape: [usize; 4], transposed: bool, height: usize) -> PackLayout {
        let [a, b, kh, kw] = shape;
        let khw = kh * kw;
        let (dims, strides) =
            if transposed { ([b, a, 1, khw], [khw, b * khw, 0, 1]) } else { ([a, b, 1, khw], [b * khw, khw, 0, 1]) };
        assert!(height >= dims[0], "{height} texture rows cannot hold {} weight rows", dims[0]);
        PackLayout { dims, strides, offset: 0, top: 0, rows: 1, left: 0, cols: khw, height }
    }

    /// Texels per pixel: ceil(b / 4).
    pub fn quads(&self) -> usize {
        self.dims[1].div_ceil(4)
    }

    /// Texels the kernels address in a row: `cols` pixels of `quads` texels.
    pub fn width(&self) -> usize {
        self.cols * self.quads()
    }

    /// The texture's size: the width rounded up to whole 256-byte rows, and each size moved
    /// off the powers of two (the extra texels are zero). Lavapipe compiles one variant of a
    /// kernel per combination of power-of-two-or-not texture sizes bound to it; keeping every
    /// size off the powers of two keeps that to one variant per kernel.
    pub fn texture_size(&self) -> (usize, usize) {
        let width = self.width().max(1).next_multiple_of(ROW_TEXELS);
        let width = if width.is_power_of_two() { width + ROW_TEXELS } else { width };
        let height = if self.height.is_power_of_two() { self.height + 1 + (self.height == 1) as usize } else { self.height };
        (width, height)
    }

    /// Whether the aligned kernel applies: whole vec4s of x at every row start.
    fn rows_of_vec4(&self) -> bool {
        let [_, _, _, w] = self.dims;
        let [sa, sb, sy, sx] = self.strides;
        sx == 1 && [sa, sb, sy, self.offset, w].iter().all(|v| v % 4 == 0)
    }

    /// Whether the texture fits the adapter's largest 2-D texture, and its texels the
    /// largest buffer it can bind (they are written to a buffer first).
    pub fn fits(&self, gpu: &Gpu) -> bool {
        let max = gpu.limits.max_texture_dimension_2d as usize;
        let (w, h) = self.texture_size();
        w <= max && h <= max && (w * h * 16) as u64 <= gpu.max_binding_bytes()
    }

    fn params(&self) -> PackParams {
        let [a, b, h, w] = self.dims;
        let [sa, sb, sy, sx] = self.strides;
        let (width, _) = self.texture_size();
        PackParams {
            a: u32_of(a),
            b: u32_of(b),
            h: u32_of(h),
            w: u32_of(w),
            stride_a: u32_of(sa),
            stride_b: u32_of(sb),
            stride_y: u32_of(sy),
            stride_x: u32_of(sx),
            offset: u32_of(self.offset),
            top: u32_of(self.top),
            left: u32_of(self.left),
            rows: u32_of(self.rows),
            quads: u32_of(self.quads()),
            width: u32_of(width),
        }
    }
}

/// Pack `src` into a texture from the pool (every texel written, padding included).
pub fn pack(gpu: &Gpu, src: &Tensor, layout: &PackLayout) -> PooledTexture {
    let (width, height) = layout.texture_size();
    let texels = gpu.alloc_packed((width * height * 16) as u64);
    gpu.clear(&texels);
    let [a, _, h, w] = layout.dims;
    let quads = layout.quads();
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let family = variants::pick(gpu, &VARIANTS);
    if layout.rows_of_vec4() && a * quads <= max {
        let groups = [(w / 4).div_ceil(8) as u32, h.div_ceil(8) as u32, (a * quads) as u32];
        gpu.dispatch(Kernel::new(family, "pack_forward_vec4"), &layout.params(), &[arg("dst", &texels), arg("src4", src)], groups);
    } else {
        let groups = [(w * quads).div_ceil(64) as u32, h as u32, a as u32];
        gpu.dispatch(Kernel::new(family, "pack_forward"), &layout.params(), &[arg("dst", &texels), arg("src", src)], groups);
    }
    let texture = gpu.alloc_texture(width, height);
    gpu.copy_to_texture(&texels, &texture);
    texture
}

/// CPU reference: the whole texture's texels as [height][width][4] floats, row-major.
pub mod cpu {
    use super::PackLayout;

    pub fn pack(src: &[f32], l: &PackLayout) -> Vec<f32> {
        let [a, b, h, w] = l.dims;
        let quads = l.quads();
        let (width, height) = l.texture_size();
        let mut out = vec![0.0; height * width * 4];
        for ia in 0..a {
            for ib in 0..b {
                for y in 0..h {
                    for x in 0..w {
                        let s = l.offset + ia * l.strides[0] + ib * l.strides[1] + y * l.strides[2] + x * l.strides[3];
                        let (xt, yt) = ((x + l.left) * quads + ib / 4, ia * l.rows + y + l.top);
                        out[(yt * width + xt) * 4 + ib % 4] = src[s];
                    }
                }
            }
        }
        out
    }
}
