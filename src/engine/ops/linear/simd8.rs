//! The linear products on the simd8 set: a linear layer with M rows, N outputs and K inputs
//! is a 1x1 convolution of M one-pixel images with K channels, and the conv family's simd8
//! products (texture operands) are several times faster on lavapipe than a buffer GEMM.
//! They come from the conv registry's simd8 row; where its textures do not fit, this row
//! declines and the portable GEMM runs.

use super::LinearProducts;
use crate::engine::gpu::Gpu;
use crate::engine::ops::conv::{self, ConvGeometry, ConvProducts, Op, Padding};
use crate::engine::tensor::Tensor;
use crate::engine::variants::{self, SIMD8};

pub const PRODUCTS: LinearProducts = LinearProducts { forward, grad_input, grad_weight };

fn products() -> &'static ConvProducts {
    variants::implementation(&SIMD8, &conv::VARIANTS).unwrap_or_else(|| unreachable!("the conv family has a simd8 row"))
}

fn as_conv([m, n, k]: [usize; 3]) -> ConvGeometry {
    ConvGeometry::conv2d(&[m, k, 1, 1], &[n, k, 1, 1], 1, Padding::default())
}

fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let y = (products().correlate)(gpu, Op::Conv2d, &x.view(&g.img_shape()), &w.view(&g.weight_shape()), b, &g)?;
    Some(y.view(&[mnk[0], mnk[1]]))
}

fn grad_input(gpu: &Gpu, dy: &Tensor, w: &Tensor, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let dx = (products().scatter)(gpu, Op::Conv2d, &dy.view(&g.feat_shape()), &w.view(&g.weight_shape()), None, &g)?;
    Some(dx.view(&[mnk[0], mnk[2]]))
}

fn grad_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor, mnk: [usize; 3]) -> Option<Tensor> {
    let g = as_conv(mnk);
    let dw = (products().filter)(gpu, Op::Conv2d, &dy.view(&g.feat_shape()), &x.view(&g.img_shape()), &g)?;
    Some(dw.view(&[mnk[1], mnk[2]]))
}
