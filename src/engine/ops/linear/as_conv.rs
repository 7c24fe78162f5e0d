//! The linear products on the sets whose conv kernels beat a plain GEMM at a linear
//! layer's shapes (simd8, the tiled sets): a linear layer with M rows, N outputs and K
//! inputs is a 1x1 convolution of M one-pixel images with K channels, run on the conv
//! family's row for the same set. Where that row declines (a texture or grid too large),
//! this row declines too and the portable GEMM runs. `S` indexes [`SETS`].

use super::LinearProducts;
use crate::engine::gpu::Gpu;
use crate::engine::ops::conv::{self, ConvGeometry, ConvProducts, Op, Padding};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, KernelSet, SIMD8, TILED32, TILED64, TILED128};

/// The sets whose linear products are their conv products.
pub static SETS: [&KernelSet; 4] = [&SIMD8, &TILED64, &TILED128, &TILED32];

/// The linear products of `SETS[S]`.
pub const fn products<const S: usize>() -> LinearProducts {
    LinearProducts { forward: forward::<S>, grad_input: grad_input::<S>, grad_weight: grad_weight::<S> }
}

fn conv_products<const S: usize>() -> &'static ConvProducts {
    variants::implementation(SETS[S], &conv::VARIANTS).unwrap_or_else(|| unreachable!("the conv family has a row for every set in SETS"))
}

fn as_conv([m, n, k]: [usize; 3]) -> ConvGeometry {
    ConvGeometry::conv2d(&[m, k, 1, 1], &[n, k, 1, 1], 1, Padding::default())
}

fn forward<const S: usize>(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let y = (conv_products::<S>().correlate)(gpu, Op::Conv2d, &x.view(&g.img_shape()), &w.view(&g.weight_shape()), b, &g)?;
    Some(y.view(&[mnk[0], mnk[1]]))
}

fn grad_input<const S: usize>(gpu: &Gpu, dy: &Tensor, w: &Tensor, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let dx = (conv_products::<S>().scatter)(gpu, Op::Conv2d, &dy.view(&g.feat_shape()), &w.view(&g.weight_shape()), None, &g)?;
    Some(dx.view(&[mnk[0], mnk[2]]))
}

fn grad_weight<const S: usize>(gpu: &Gpu, dy: &Tensor, x: &Tensor, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let dw = (conv_products::<S>().filter)(gpu, Op::Conv2d, &dy.view(&g.feat_shape()), &x.view(&g.img_shape()), &g)?;
    Some(dw.view(&[mnk[1], mnk[2]]))
}
