//! 2-D convolution and transposed convolution (shaders/conv.wgsl), NCHW.
//!
//! One [`ConvGeometry`] describes both ops: the *image* side is the conv's input (and the
//! transposed conv's output), the *feature* side the conv's output (the transposed conv's
//! input). The transposed conv is exactly the adjoint of the conv with the same geometry,
//! so "SAME" deconv doubles the size at stride 2 like TensorFlow's
//! `conv2d_transpose(padding='SAME')`.
//!
//!   conv2d            x[N, Ci, H, W], W[Co, Ci, kh, kw], b[Co]  ->  y[N, Co, Hf, Wf]
//!     grad_input      dy -> dx[N, Ci, H, W]       grad_weight  dy, x -> dW[Co, Ci, kh, kw]
//!     grad_bias       dy -> db[Co]
//!   conv_transpose2d  x[N, Ci, Hf, Wf], W[Ci, Co, kh, kw], b[Co]  ->  y[N, Co, H, W]
//!     grad_input      dy -> dx[N, Ci, Hf, Wf]     grad_weight  dy, x -> dW[Ci, Co, kh, kw]
//!     grad_bias       dy -> db[Co]
//!
//! Three products serve both ops (the transposed conv is the conv's adjoint):
//!
//!   correlate  image -> feature   conv2d_forward,     conv_transpose2d_grad_input
//!   scatter    feature -> image   conv2d_grad_input,  conv_transpose2d_forward
//!   filter     dW from both       conv2d_grad_weight, conv_transpose2d_grad_weight
//!
//! Each kernel set implements the three in its own module ([`portable`]: shaders/conv.wgsl,
//! [`simd8`]: shaders/conv_simd8.wgsl, [`tiled`]: shaders/conv_tiled.wgsl for the three
//! tile shapes), listed in [`VARIANTS`]; all are checked against the same CPU reference,
//! [`cpu`]. The bias gradients are plain reductions (portable only).

pub mod portable;
pub mod simd8;
pub mod tiled;

use super::reduce;
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, PORTABLE, SIMD8, TILED_SETS, Variant};

/// Which op a product serves: the same body runs with the roles of its operands swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Conv2d,
    ConvTranspose2d,
}

/// feat = correlate(img, W) + bias; `None` when the set cannot take these operands.
pub type Correlate = fn(&Gpu, Op, &Tensor, &Tensor, Option<&Tensor>, &ConvGeometry) -> Option<Tensor>;
/// img = scatter(feat, W) + bias.
pub type Scatter = fn(&Gpu, Op, &Tensor, &Tensor, Option<&Tensor>, &ConvGeometry) -> Option<Tensor>;
/// dW = filter(feat, img).
pub type Filter = fn(&Gpu, Op, &Tensor, &Tensor, &ConvGeometry) -> Option<Tensor>;

/// One kernel set's implementation of the three products.
pub struct ConvProducts {
    pub correlate: Correlate,
    pub scatter: Scatter,
    pub filter: Filter,
}

/// The conv family's implementations, most preferred first; `portable` takes everything.
pub static VARIANTS: [Variant<ConvProducts>; 5] = [
    Variant { set: &SIMD8, imp: simd8::PRODUCTS },
    Variant { set: TILED_SETS[0], imp: tiled::products::<0>() },
    Variant { set: TILED_SETS[1], imp: tiled::products::<1>() },
    Variant { set: TILED_SETS[2], imp: tiled::products::<2>() },
    Variant { set: &PORTABLE, imp: portable::PRODUCTS },
];

const CONV: Family = crate::family!("conv.wgsl");

/// Loop iterations one invocation may spend on a weight- or bias-gradient reduction before
/// the work is split (lavapipe ends loop nests after 65535 iterations).
const REDUCTION_CHUNK: usize = 4096;

crate::kernel_params! {
    /// shaders/conv.wgsl `Params`.
    pub struct ConvParams {
        n: u32, c_img: u32, h_img: u32, w_img: u32, c_feat: u32, h_feat: u32, w_feat: u32,
        kh: u32, kw: u32, sh: u32, sw: u32, pad_top: u32, pad_left: u32,
        images_per_split: u32, items_per_chunk: u32,
    }
}

/// Zero padding added around the image, which may differ per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Padding {
    pub fn uniform(p: usize) -> Padding {
        Padding { top: p, left: p, bottom: p, right: p }
    }

    /// TensorFlow's "SAME" rule for one axis of an image of `size`:
    /// total = max((ceil(size / s) - 1) * s + k - size, 0), before = total / 2, after = the rest.
    /// (k=5, s=2 on 64: before 1, after 2; k=4, s=2: 1 and 1.)
    pub fn same_1d(size: usize, k: usize, s: usize) -> (usize, usize) {
        let total = ((size.div_ceil(s) - 1) * s + k).saturating_sub(size);
        (total / 2, total - total / 2)
    }

    /// "SAME" padding for an image of `h` x `w`, square kernel `k`, stride `s`.
    pub fn same(h: usize, w: usize, k: usize, s: usize) -> Padding {
        let (top, bottom) = Padding::same_1d(h, k, s);
        let (left, right) = Padding::same_1d(w, k, s);
        Padding { top, left, bottom, right }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub n: usize,
    pub c_img: usize,
    pub h_img: usize,
    pub w_img: usize,
    pub c_feat: usize,
    pub h_feat: usize,
    pub w_feat: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: Padding,
}

fn dims4(shape: &[usize], what: &str) -> [usize; 4] {
    shape.try_into().unwrap_or_else(|_| panic!("{what} must be 4-D (NCHW or [out, in, kh, kw]), got {shape:?}"))
}

/// Output size of a convolution along one axis, or `None` when the kernel does not fit.
fn conv_out(size: usize, before: usize, after: usize, k: usize, s: usize) -> Option<usize> {
    (size + before + after).checked_sub(k).map(|span| span / s + 1)
}

impl ConvGeometry {
    /// Geometry of conv2d on `x` [N, Ci, H, W] with weight [Co, Ci, kh, kw].
    pub fn conv2d(x_shape: &[usize], w_shape: &[usize], stride: usize, pad: Padding) -> ConvGeometry {
        let [n, c_img, h_img, w_img] = dims4(x_shape, "conv2d input");
        let [c_feat, ci, kh, kw] = dims4(w_shape, "conv2d weight");
        assert_eq!(ci, c_img, "conv2d: input has {c_img} channels, weight {w_shape:?} expects {ci}");
        assert!(stride >= 1, "conv2d: stride must be at least 1");
        let h_feat = conv_out(h_img, pad.top, pad.bottom, kh, stride);
        let w_feat = conv_out(w_img, pad.left, pad.right, kw, stride);
        let (Some(h_feat), Some(w_feat)) = (h_feat, w_feat) else {
            panic!("conv2d: a {kh}x{kw} kernel does not fit a {h_img}x{w_img} input padded by {pad:?}")
        };
        ConvGeometry { n, c_img, h_img, w_img, c_feat, h_feat, w_feat, kh, kw, stride, pad }
    }

    /// Geometry of conv_transpose2d on `x` [N, Ci, Hf, Wf] with weight [Ci, Co, kh, kw],
    /// producing `out_hw`: the adjoint of conv2d from `out_hw` down to x's size, which
    /// must hold (several output sizes map to one input size at stride > 1).
    pub fn conv_transpose2d(x_shape: &[usize], w_shape: &[usize], stride: usize, pad: Padding, out_hw: (usize, usize)) -> ConvGeometry {
        let [n, c_feat, h_feat, w_feat] = dims4(x_shape, "conv_transpose2d input");
        let [ci, c_img, kh, kw] = dims4(w_shape, "conv_transpose2d weight");
        assert_eq!(ci, c_feat, "conv_transpose2d: input has {c_feat} channels, weight {w_shape:?} expects {ci}");
        let g = ConvGeometry::conv2d(&[n, c_img, out_hw.0, out_hw.1], &[c_feat, c_img, kh, kw], stride, pad);
        assert_eq!(
            (g.h_feat, g.w_feat),
            (h_feat, w_feat),
            "conv_transpose2d: output {out_hw:?} with stride {stride} and {pad:?} corresponds to a {}x{} input, got {h_feat}x{w_feat}",
            g.h_feat,
            g.w_feat
        );
        g
    }

    /// TensorFlow-style "SAME" transposed conv: output = input * stride.
    pub fn conv_transpose2d_same(x_shape: &[usize], w_shape: &[usize], stride: usize) -> ConvGeometry {
        let [_, _, h, w] = dims4(x_shape, "conv_transpose2d input");
        let [_, _, k, _] = dims4(w_shape, "conv_transpose2d weight");
        let out = (h * stride, w * stride);
        ConvGeometry::conv_transpose2d(x_shape, w_shape, stride, Padding::same(out.0, out.1, k, stride), out)
    }

    pub fn img_shape(&self) -> [usize; 4] {
        [self.n, self.c_img, self.h_img, self.w_img]
    }
    pub fn feat_shape(&self) -> [usize; 4] {
        [self.n, self.c_feat, self.h_feat, self.w_feat]
    }
    /// [c_feat, c_img, kh, kw]: conv2d's [out, in, ..] and conv_transpose2d's [in, out, ..].
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.c_feat, self.c_img, self.kh, self.kw]
    }
    /// Everything that decides a product's cost: its autotuning key (`tune`).
    pub fn key(&self) -> [usize; 14] {
        let p = self.pad;
        [self.n, self.c_img, self.h_img, self.w_img, self.c_feat, self.h_feat, self.w_feat, self.kh, self.kw, self.stride, p.top, p.left, p.bottom, p.right]
    }

    /// Multiply-accumulates of one product (forward or either gradient).
    pub fn macs(&self) -> usize {
        self.n * self.c_feat * self.h_feat * self.w_feat * self.c_img * self.kh * self.kw
    }

    /// Images per split of the weight gradient (at least one image per split).
    pub(crate) fn images_per_split(&self) -> usize {
        (REDUCTION_CHUNK / (self.h_feat * self.w_feat).max(1)).max(1)
    }

    /// Splits of the portable weight gradient, each writing one partial weight.
    pub(crate) fn weight_gradient_splits(&self) -> usize {
        self.n.div_ceil(self.images_per_split()).max(1)
    }

    /// The most floats one buffer of this product's work holds besides its operands and
    /// results: the weight gradient's per-split partials (the simd8 set's chunks are never
    /// more than the portable splits), or the bias gradient's. Checked against the adapter
    /// before any work (`Architecture::check_fits`).
    pub fn scratch_items(&self) -> usize {
        let weight: usize = self.weight_shape().iter().product();
        let bias_chunks = self.n.saturating_mul(self.h_feat * self.w_feat).div_ceil(REDUCTION_CHUNK).max(1);
        self.weight_gradient_splits().saturating_mul(weight).max(bias_chunks.saturating_mul(self.c_feat.max(self.c_img)))
    }

    pub(crate) fn params(&self) -> ConvParams {
        ConvParams {
            n: u32_of(self.n),
            c_img: u32_of(self.c_img),
            h_img: u32_of(self.h_img),
            w_img: u32_of(self.w_img),
            c_feat: u32_of(self.c_feat),
            h_feat: u32_of(self.h_feat),
            w_feat: u32_of(self.w_feat),
            kh: u32_of(self.kh),
            kw: u32_of(self.kw),
            sh: u32_of(self.stride),
            sw: u32_of(self.stride),
            pad_top: u32_of(self.pad.top),
            pad_left: u32_of(self.pad.left),
            images_per_split: u32_of(self.images_per_split()),
            items_per_chunk: u32_of(REDUCTION_CHUNK),
        }
    }
}

fn check(t: &Tensor, want: [usize; 4], what: &str) {
    assert_eq!(t.shape(), want, "{what}: expected shape {want:?}, got {:?}", t.shape());
}

fn check_bias(b: Option<&Tensor>, channels: usize) {
    if let Some(b) = b {
        assert_eq!(b.numel(), channels, "bias has {} items, expected {channels}", b.numel());
    }
}

/// The bias, or zeros for the products whose kernels bind one but have none.
fn bias_or_zeros(gpu: &Gpu, b: Option<&Tensor>, channels: usize) -> Tensor {
    b.cloned().unwrap_or_else(|| Tensor::zeros(gpu, &[channels]))
}

fn correlate(gpu: &Gpu, product: &'static str, op: Op, img: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Tensor {
    variants::run(gpu, product, &g.key(), g.macs(), &VARIANTS, |v| (v.correlate)(gpu, op, img, w, b, g))
}

fn scatter(gpu: &Gpu, product: &'static str, op: Op, feat: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Tensor {
    variants::run(gpu, product, &g.key(), g.macs(), &VARIANTS, |v| (v.scatter)(gpu, op, feat, w, b, g))
}

fn filter(gpu: &Gpu, product: &'static str, op: Op, feat: &Tensor, img: &Tensor, g: &ConvGeometry) -> Tensor {
    variants::run(gpu, product, &g.key(), g.macs(), &VARIANTS, |v| (v.filter)(gpu, op, feat, img, g))
}

// ---- conv2d ----

pub fn conv2d_forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Tensor {
    check(x, g.img_shape(), "conv2d input");
    check(w, g.weight_shape(), "conv2d weight");
    check_bias(b, g.c_feat);
    correlate(gpu, "conv2d_forward", Op::Conv2d, x, w, b, g)
}

pub fn conv2d_grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor, g: &ConvGeometry) -> Tensor {
    check(dy, g.feat_shape(), "conv2d dy");
    scatter(gpu, "conv2d_grad_input", Op::Conv2d, dy, w, None, g)
}

pub fn conv2d_grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor, g: &ConvGeometry) -> Tensor {
    check(dy, g.feat_shape(), "conv2d dy");
    filter(gpu, "conv2d_grad_weight", Op::Conv2d, dy, x, g)
}

pub fn conv2d_grad_bias(gpu: &Gpu, dy: &Tensor, g: &ConvGeometry) -> Tensor {
    bias_grad(gpu, "conv2d_grad_bias", g, dy, g.c_feat, g.h_feat * g.w_feat)
}

/// db summed from per-chunk partials [chunks, channels].
fn bias_grad(gpu: &Gpu, entry: &'static str, g: &ConvGeometry, dy: &Tensor, channels: usize, hw: usize) -> Tensor {
    let chunks = (g.n * hw).div_ceil(REDUCTION_CHUNK).max(1);
    let partials = Tensor::empty(gpu, &[chunks, channels]);
    let groups = [channels.div_ceil(64) as u32, chunks as u32, 1];
    gpu.dispatch(Kernel::new(CONV, entry), &g.params(), &[arg("dst", &partials), arg("in0", dy)], groups);
    reduce::sum_partials(gpu, &partials, &[channels])
}

// ---- conv_transpose2d (the adjoint: the same products, roles swapped) ----

pub fn conv_transpose2d_forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeometry) -> Tensor {
    check(x, g.feat_shape(), "conv_transpose2d input");
    check(w, g.weight_shape(), "conv_transpose2d weight");
    check_bias(b, g.c_img);
    scatter(gpu, "conv_transpose2d_forward", Op::ConvTranspose2d, x, w, b, g)
}

pub fn conv_transpose2d_grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor, g: &ConvGeometry) -> Tensor {
    check(dy, g.img_shape(), "conv_transpose2d dy");
    correlate(gpu, "conv_transpose2d_grad_input", Op::ConvTranspose2d, dy, w, None, g)
}

pub fn conv_transpose2d_grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor, g: &ConvGeometry) -> Tensor {
    check(dy, g.img_shape(), "conv_transpose2d dy");
    filter(gpu, "conv_transpose2d_grad_weight", Op::ConvTranspose2d, x, dy, g)
}

pub fn conv_transpose2d_grad_bias(gpu: &Gpu, dy: &Tensor, g: &ConvGeometry) -> Tensor {
    bias_grad(gpu, "conv_transpose2d_grad_bias", g, dy, g.c_img, g.h_img * g.w_img)
}

/// CPU reference: direct loops in f64 over every (output, tap) pair of the geometry. The
/// GPU kernels compute the same sums in other orders (gathers, stride-phase blocks, splits);
/// the PyTorch fixtures check the geometry itself independently.
pub mod cpu {
    use super::ConvGeometry;

    /// Image-side row/column for feature position `o`, kernel tap `k`, or None if padding.
    fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
        (o * stride + k).checked_sub(pad).filter(|&i| i < size)
    }

    fn img_idx(g: &ConvGeometry, n: usize, c: usize, y: usize, x: usize) -> usize {
        ((n * g.c_img + c) * g.h_img + y) * g.w_img + x
    }
    fn feat_idx(g: &ConvGeometry, n: usize, f: usize, y: usize, x: usize) -> usize {
        ((n * g.c_feat + f) * g.h_feat + y) * g.w_feat + x
    }
    fn w_idx(g: &ConvGeometry, f: usize, c: usize, ky: usize, kx: usize) -> usize {
        ((f * g.c_img + c) * g.kh + ky) * g.kw + kx
    }

    /// Visit every (n, f, oy, ox, c, ky, kx, iy, ix) that contributes.
    fn for_each_tap(g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize, usize, usize)) {
        for n in 0..g.n {
            for fc in 0..g.c_feat {
                for oy in 0..g.h_feat {
                    for ox in 0..g.w_feat {
                        for c in 0..g.c_img {
                            for ky in 0..g.kh {
                                let Some(iy) = tap(oy, ky, g.stride, g.pad.top, g.h_img) else { continue };
                                for kx in 0..g.kw {
                                    let Some(ix) = tap(ox, kx, g.stride, g.pad.left, g.w_img) else { continue };
                                    f(n, fc, oy, ox, c, ky, kx, iy, ix);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn to_f32(v: Vec<f64>) -> Vec<f32> {
        v.into_iter().map(|x| x as f32).collect()
    }

    pub fn conv2d_forward(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
        let hw = g.h_feat * g.w_feat;
        let mut y: Vec<f64> = (0..g.n * g.c_feat * hw).map(|k| b.map_or(0.0, |b| b[(k / hw) % g.c_feat] as f64)).collect();
        for_each_tap(g, |n, f, oy, ox, c, ky, kx, iy, ix| {
            y[feat_idx(g, n, f, oy, ox)] += w[w_idx(g, f, c, ky, kx)] as f64 * x[img_idx(g, n, c, iy, ix)] as f64;
        });
        to_f32(y)
    }

    pub fn conv2d_grad_input(dy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut dx = vec![0.0f64; g.img_shape().iter().product()];
        for_each_tap(g, |n, f, oy, ox, c, ky, kx, iy, ix| {
            dx[img_idx(g, n, c, iy, ix)] += w[w_idx(g, f, c, ky, kx)] as f64 * dy[feat_idx(g, n, f, oy, ox)] as f64;
        });
        to_f32(dx)
    }

    pub fn conv2d_grad_weight(dy: &[f32], x: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut dw = vec![0.0f64; g.weight_shape().iter().product()];
        for_each_tap(g, |n, f, oy, ox, c, ky, kx, iy, ix| {
            dw[w_idx(g, f, c, ky, kx)] += dy[feat_idx(g, n, f, oy, ox)] as f64 * x[img_idx(g, n, c, iy, ix)] as f64;
        });
        to_f32(dw)
    }

    /// Sum of `t` [N, C, hw] over N and pixels, per channel.
    pub fn channel_sums(t: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
        (0..c).map(|ch| (0..n).flat_map(|i| t[(i * c + ch) * hw..][..hw].iter()).map(|&v| v as f64).sum::<f64>() as f32).collect()
    }

    /// Transposed conv from its own definition, a scatter from each input pixel:
    /// y[n, o, iy*s - pt + ky, ix*s - pl + kx] += x[n, i, iy, ix] W[i, o, ky, kx]
    /// (x on the feature side, y on the image side; `for_each_tap` names the feature side
    /// (n, i, iy, ix) and the image side (o, yy, xx)).
    pub fn conv_transpose2d_forward(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
        let hw = g.h_img * g.w_img;
        let mut y: Vec<f64> = (0..g.n * g.c_img * hw).map(|k| b.map_or(0.0, |b| b[(k / hw) % g.c_img] as f64)).collect();
        for_each_tap(g, |n, i, iy, ix, o, ky, kx, yy, xx| {
            y[img_idx(g, n, o, yy, xx)] += x[feat_idx(g, n, i, iy, ix)] as f64 * w[w_idx(g, i, o, ky, kx)] as f64;
        });
        to_f32(y)
    }

    /// dx[n, i, iy, ix] = sum_{o, ky, kx} W[i, o, ky, kx] dy[n, o, iy*s - pt + ky, ix*s - pl + kx]
    pub fn conv_transpose2d_grad_input(dy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut dx = vec![0.0f64; g.feat_shape().iter().product()];
        for_each_tap(g, |n, i, iy, ix, o, ky, kx, yy, xx| {
            dx[feat_idx(g, n, i, iy, ix)] += w[w_idx(g, i, o, ky, kx)] as f64 * dy[img_idx(g, n, o, yy, xx)] as f64;
        });
        to_f32(dx)
    }

    /// dW[i, o, ky, kx] = sum_{n, iy, ix} x[n, i, iy, ix] dy[n, o, iy*s - pt + ky, ix*s - pl + kx]
    pub fn conv_transpose2d_grad_weight(dy: &[f32], x: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut dw = vec![0.0f64; g.weight_shape().iter().product()];
        for_each_tap(g, |n, i, iy, ix, o, ky, kx, yy, xx| {
            dw[w_idx(g, i, o, ky, kx)] += x[feat_idx(g, n, i, iy, ix)] as f64 * dy[img_idx(g, n, o, yy, xx)] as f64;
        });
        to_f32(dw)
    }
}
