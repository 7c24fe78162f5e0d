//! Tensors into rgba32float textures for the SIMD-8 kernels (shaders/pack.wgsl).
//!
//!   pack  T[a, b, h, w] (any strides)  ->  texture, texel (x_t, y_t) =
//!         T[a, 4q .. 4q + 3, y, x] with x_t = (x + left) * quads + q, y_t = a * rows + y + top
//!
//! Images [n, c, h, w] pack with their zero padding (a = n, b = c); conv weights
//! [out, in, kh, kw] pack as one texture row per output row with the taps (ky, kx) as
//! "pixels" of a 1-row plane (a = row, b = the other channel axis, h = 1, w = kh * kw).

use super::launch_1d;
use crate::gpu::{Binding, Family, Gpu, Kernel, Params, PooledTexture};
use crate::tensor::Tensor;

const PACK: Kernel = Kernel::new(Family::Pack, "pack_forward");

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

    /// The texture's size: width x height, each grown by a texel or two when it is a power
    /// of two (the extra texels are zero). Lavapipe compiles one variant of a kernel per
    /// combination of power-of-two-or-not texture sizes bound to it; keeping every size off
    /// the powers of two keeps that to one variant per kernel.
    pub fn texture_size(&self) -> (usize, usize) {
        let off_powers = |d: usize| if d.is_power_of_two() { d + 1 + (d == 1) as usize } else { d };
        (off_powers(self.width()), off_powers(self.height))
    }

    /// Whether the texture fits the adapter's largest 2-D texture.
    pub fn fits(&self, gpu: &Gpu) -> bool {
        let max = gpu.limits.max_texture_dimension_2d as usize;
        let (w, h) = self.texture_size();
        w <= max && h <= max
    }

    fn params(&self) -> Params {
        let [a, b, h, w] = self.dims;
        let [sa, sb, sy, sx] = self.strides;
        let (width, height) = self.texture_size();
        Params::new()
            .size(a)
            .size(b)
            .size(h)
            .size(w)
            .size(sa)
            .size(sb)
            .size(sy)
            .size(sx)
            .size(self.offset)
            .size(self.top)
            .size(self.left)
            .size(self.rows)
            .size(self.quads())
            .size(width)
            .size(height)
    }
}

/// Pack `src` into a texture from the pool (every texel written, padding included).
pub fn pack(gpu: &Gpu, src: &Tensor, layout: &PackLayout) -> PooledTexture {
    let (width, height) = layout.texture_size();
    let texture = gpu.alloc_texture(width, height);
    launch_1d(gpu, PACK, layout.params(), &[Binding::from(&texture), src.buffer().into()], width * height);
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
