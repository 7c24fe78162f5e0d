//! Reductions longer than 65535 items. Mesa's llvmpipe (lavapipe) silently ends any loop
//! nest after 65535 iterations, so a kernel that sums a long axis in one invocation returns
//! wrong numbers there (found in a real training run: batchnorm over 64 x 32 x 32 items).
//! Every reducing kernel must split its work; these cases are longer than the limit.

#[macro_use]
mod common;

use common::{assert_close, gpu, max_abs};
use dcgan_inpaint::{Gpu, Tensor};
use dcgan_inpaint::engine::ops::batchnorm::{self, BatchNorm};
use dcgan_inpaint::engine::ops::conv::{self, ConvGeometry, Padding};
use dcgan_inpaint::engine::ops::{linear, reduce};
use dcgan_inpaint::rng::Rng;

const LONG: usize = 70_000;

fn close(what: &str, got: &Tensor, want: &[f32]) {
    close_on(gpu(), what, got, want)
}

fn close_on(g: &Gpu, what: &str, got: &Tensor, want: &[f32]) {
    assert_close(&format!("[{} kernels] {what}", g.kernels.name), &got.to_vec(g), want, 1e-4, 1e-5 * max_abs(want));
}

#[test]
fn sum_axis_over_a_long_axis() {
    let g = gpu();
    let x = Rng::new(1).uniform_vec(2 * LONG * 3, -1.0, 1.0);
    let shape = [2, LONG, 3];
    let got = reduce::sum_axis(g, &Tensor::from_slice(g, &shape, &x), 1, 1.0);
    assert_close("sum over 70000", &got.to_vec(g), &reduce::cpu::sum_axis(&x, &shape, 1, 1.0), 1e-4, 1e-3);
}

#[test]
fn batchnorm_statistics_and_gradients_over_many_items() {
    let g = gpu();
    let mut rng = Rng::new(2);
    let shape = [70, 2, 32, 32]; // 71680 items per channel
    let n: usize = shape.iter().product();
    let x = rng.uniform_vec(n, 2.0, 4.0); // a mean far from 0 tests the variance's numerics
    let dy = rng.uniform_vec(n, -1.0, 1.0);
    let bn = BatchNorm::new(g, 2);
    let tx = Tensor::from_slice(g, &shape, &x);
    let (y, stats) = batchnorm::forward(g, &tx, &bn, true);
    let want = batchnorm::cpu::forward(&x, &shape, &[1.0; 2], &[0.0; 2], &[0.0; 2], &[1.0; 2], 0.1, 1e-5, true);
    close("bn forward", &y, &want.y);
    close("bn running var", &bn.running_var, &want.running_var);
    let tdy = Tensor::from_slice(g, &shape, &dy);
    let (dgamma, dbeta) = batchnorm::grad_reduce(g, &tdy, &tx, &stats, &bn);
    let (dx_want, dgamma_want, dbeta_want) = batchnorm::cpu::backward(&dy, &x, &shape, &[1.0; 2], &want.mean, &want.invstd, true);
    assert_close("bn dgamma", &dgamma.to_vec(g), &dgamma_want, 1e-3, 1e-2);
    assert_close("bn dbeta", &dbeta.to_vec(g), &dbeta_want, 1e-3, 1e-2);
    let dx = batchnorm::grad_input(g, &tdy, &tx, &stats, &bn, &dgamma, &dbeta);
    close("bn dx", &dx, &dx_want);
}

kernel_set_tests! {
    fn conv_weight_and_bias_gradients_over_a_large_batch(g: &Gpu) {
        conv_gradients_over_a_large_batch(g);
    }
}

fn conv_gradients_over_a_large_batch(g: &Gpu) {
    let mut rng = Rng::new(3);
    let geo = ConvGeometry::conv2d(&[70, 1, 64, 64], &[2, 1, 2, 2], 2, Padding::default()); // 70 x 32 x 32 positions
    let x = rng.uniform_vec(geo.img_shape().iter().product(), -1.0, 1.0);
    let dy = rng.uniform_vec(geo.feat_shape().iter().product(), -1.0, 1.0);
    let (tx, tdy) = (Tensor::from_slice(g, &geo.img_shape(), &x), Tensor::from_slice(g, &geo.feat_shape(), &dy));
    let tol = |want: &[f32]| 1e-4 * max_abs(want) + 1e-3;
    let check = |what: &str, got: Tensor, want: &[f32]| {
        assert_close(&format!("[{} kernels] {what}", g.kernels.name), &got.to_vec(g), want, 1e-4, tol(want));
    };
    check("conv2d grad_weight", conv::conv2d_grad_weight(g, &tdy, &tx, &geo), &conv::cpu::conv2d_grad_weight(&dy, &x, &geo));
    check("conv2d grad_bias", conv::conv2d_grad_bias(g, &tdy, &geo), &conv::cpu::channel_sums(&dy, 70, 2, 32 * 32));
    // The transposed conv of the same geometry: input on the feature side.
    check("deconv grad_weight", conv::conv_transpose2d_grad_weight(g, &tx, &tdy, &geo), &conv::cpu::conv_transpose2d_grad_weight(&x, &dy, &geo));
    check("deconv grad_bias", conv::conv_transpose2d_grad_bias(g, &tx, &geo), &conv::cpu::channel_sums(&x, 70, 1, 64 * 64));
}

kernel_set_tests! {
    fn linear_products_with_a_long_reduction(g: &Gpu) {
        linear_products_long(g);
    }
}

fn linear_products_long(g: &Gpu) {
    let mut rng = Rng::new(4);
    // forward and grad_input reduce over K = 70000, grad_weight and grad_bias over M = 70000.
    let (m, n, k) = (2, 3, LONG);
    let (x, w, b) = (rng.uniform_vec(m * k, -1.0, 1.0), rng.uniform_vec(n * k, -1.0, 1.0), rng.uniform_vec(n, -1.0, 1.0));
    let (tx, tw, tb) = (Tensor::from_slice(g, &[m, k], &x), Tensor::from_slice(g, &[n, k], &w), Tensor::from_slice(g, &[n], &b));
    close_on(g, "linear forward, K = 70000", &linear::forward(g, &tx, &tw, Some(&tb)), &linear::cpu::forward(&x, &w, Some(&b), m, n, k));
    let (m, n, k) = (LONG, 3, 2);
    let (x, dy) = (rng.uniform_vec(m * k, -1.0, 1.0), rng.uniform_vec(m * n, -1.0, 1.0));
    let (tx, tdy) = (Tensor::from_slice(g, &[m, k], &x), Tensor::from_slice(g, &[m, n], &dy));
    close_on(g, "linear grad_weight, M = 70000", &linear::grad_weight(g, &tdy, &tx), &linear::cpu::grad_weight(&dy, &x, m, n, k));
    close_on(g, "linear grad_bias, M = 70000", &linear::grad_bias(g, &tdy), &linear::cpu::grad_bias(&dy, m, n));
}
