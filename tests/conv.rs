//! conv2d and conv_transpose2d on every kernel set: GPU against the CPU reference on many
//! seeded random geometries, the "SAME" helper, and finite differences through a composed
//! graph (conv -> batchnorm -> leaky-ReLU -> deconv -> tanh).
//! Tolerance: |gpu - ref| <= 1e-4 |ref| + 1e-5 max|ref| (f32 against f64 sums).

#[macro_use]
mod common;

use common::{assert_close, check_gradients_on, max_abs, on_kernel_set};
use dcgan_inpaint::engine::ops::batchnorm::BatchNorm;
use dcgan_inpaint::engine::ops::conv::{self, ConvGeometry, Padding};
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Gpu, Tensor};

fn close(g: &Gpu, what: &str, got: &Tensor, want: &[f32]) {
    assert_close(&format!("[{} kernels] {what}", g.kernels.name), &got.to_vec(g), want, 1e-4, 1e-5 * max_abs(want));
}

fn random_geometry(rng: &mut Rng) -> ConvGeometry {
    loop {
        let k = 1 + rng.below(5);
        let stride = 1 + rng.below(3);
        let pad = Padding { top: rng.below(4), left: rng.below(4), bottom: rng.below(4), right: rng.below(4) };
        let (h, w) = (1 + rng.below(19), 1 + rng.below(19));
        if h + pad.top + pad.bottom < k || w + pad.left + pad.right < k {
            continue;
        }
        let (n, ci, co) = (1 + rng.below(5), 1 + rng.below(17), 1 + rng.below(17));
        return ConvGeometry::conv2d(&[n, ci, h, w], &[co, ci, k, k], stride, pad);
    }
}

#[test]
fn same_padding_rule() {
    assert_eq!(Padding::same_1d(64, 5, 2), (1, 2));
    assert_eq!(Padding::same_1d(64, 4, 2), (1, 1));
    assert_eq!(Padding::same_1d(5, 3, 1), (1, 1));
    assert_eq!(Padding::same_1d(7, 1, 3), (0, 0));
    // SAME conv halves 64 -> 32, and the SAME transpose doubles 32 -> 64.
    let g = ConvGeometry::conv2d(&[1, 3, 64, 64], &[8, 3, 5, 5], 2, Padding::same(64, 64, 5, 2));
    assert_eq!((g.h_feat, g.w_feat), (32, 32));
    let t = ConvGeometry::conv_transpose2d_same(&[1, 8, 4, 4], &[8, 3, 5, 5], 2);
    assert_eq!(t.img_shape(), [1, 3, 8, 8]);
    assert_eq!(t.pad, Padding { top: 1, left: 1, bottom: 2, right: 2 });
}

kernel_set_tests! {
    fn conv_and_transpose_match_reference_on_random_geometries(g: &Gpu) {
        conv_and_transpose_on_random_geometries(g);
    }
    fn finite_differences_through_conv_batchnorm_leaky_relu_deconv_tanh(g: &Gpu) {
        finite_differences_through_composed(g);
    }
    fn frozen_generator_backward_runs_no_weight_kernels(g: &Gpu) {
        frozen_generator_backward(g);
    }
}

fn conv_and_transpose_on_random_geometries(g: &Gpu) {
    let mut rng = Rng::new(2024);
    // The tiled sets read A as vec4s when its rows are whole vec4s (K = c_img kh kw, or a
    // feature map's pixels, a multiple of 4) and gather it otherwise: both must occur.
    let (mut vec4_rows, mut gathered_rows) = (0, 0);
    for case in 0..60 {
        let geo = random_geometry(&mut rng);
        for k in [geo.c_img * geo.kh * geo.kw, geo.h_feat * geo.w_feat] {
            if k % 4 == 0 { vec4_rows += 1 } else { gathered_rows += 1 }
        }
        let label = format!("case {case}: {geo:?}");
        let img: usize = geo.img_shape().iter().product();
        let feat: usize = geo.feat_shape().iter().product();
        let wn: usize = geo.weight_shape().iter().product();
        let (x, w, dy) = (rng.uniform_vec(img, -1.0, 1.0), rng.uniform_vec(wn, -1.0, 1.0), rng.uniform_vec(feat, -1.0, 1.0));
        let (b_feat, b_img) = (rng.uniform_vec(geo.c_feat, -1.0, 1.0), rng.uniform_vec(geo.c_img, -1.0, 1.0));
        let tx = Tensor::from_slice(g, &geo.img_shape(), &x);
        let tw = Tensor::from_slice(g, &geo.weight_shape(), &w);
        let tf = Tensor::from_slice(g, &geo.feat_shape(), &dy);
        let tbf = Tensor::from_slice(g, &[geo.c_feat], &b_feat);
        let tbi = Tensor::from_slice(g, &[geo.c_img], &b_img);

        // Each product runs on the device's own kernel set (no silent fallback to the
        // portable kernels hides a wrong result), and the registry says so by name.
        let check = |what: &str, product: &dyn Fn() -> Tensor, want: Vec<f32>| {
            let (got, ran) = g.trace_variants(product);
            assert_eq!(ran.len(), 1, "{what} {label}: {ran:?}");
            assert_eq!(ran[0].1, g.kernels.name, "{what} {label}: {} ran on {} kernels", ran[0].0, ran[0].1);
            close(g, &format!("{what} {label}"), &got, &want);
        };
        // conv2d: x (image side) -> y (feature side); tf plays dy.
        check("conv2d forward", &|| conv::conv2d_forward(g, &tx, &tw, Some(&tbf), &geo), conv::cpu::conv2d_forward(&x, &w, Some(&b_feat), &geo));
        check("conv2d grad_input", &|| conv::conv2d_grad_input(g, &tf, &tw, &geo), conv::cpu::conv2d_grad_input(&dy, &w, &geo));
        check("conv2d grad_weight", &|| conv::conv2d_grad_weight(g, &tf, &tx, &geo), conv::cpu::conv2d_grad_weight(&dy, &x, &geo));
        let (fhw, ihw) = (geo.h_feat * geo.w_feat, geo.h_img * geo.w_img);
        close(g, &format!("conv2d grad_bias {label}"), &conv::conv2d_grad_bias(g, &tf, &geo), &conv::cpu::channel_sums(&dy, geo.n, geo.c_feat, fhw));

        // conv_transpose2d: tf is the input (feature side), tx plays dy (image side).
        check("deconv forward", &|| conv::conv_transpose2d_forward(g, &tf, &tw, Some(&tbi), &geo), conv::cpu::conv_transpose2d_forward(&dy, &w, Some(&b_img), &geo));
        check("deconv grad_input", &|| conv::conv_transpose2d_grad_input(g, &tx, &tw, &geo), conv::cpu::conv_transpose2d_grad_input(&x, &w, &geo));
        check("deconv grad_weight", &|| conv::conv_transpose2d_grad_weight(g, &tx, &tf, &geo), conv::cpu::conv_transpose2d_grad_weight(&x, &dy, &geo));
        close(g, &format!("deconv grad_bias {label}"), &conv::conv_transpose2d_grad_bias(g, &tx, &geo), &conv::cpu::channel_sums(&x, geo.n, geo.c_img, ihw));
    }
    assert!(vec4_rows >= 10 && gathered_rows >= 10, "the random geometries must exercise both ways of staging A: {vec4_rows} vec4, {gathered_rows} gathered");
}


/// conv (k3 s2 SAME, 6x6 -> 3x3) -> batchnorm -> leaky-ReLU -> deconv (k4 s2 SAME, back
/// to 6x6) -> tanh -> sum(y * r). Returns the batchnorm output too (see below).
fn composed(gpu: &Gpu, t: &mut dcgan_inpaint::Tape, p: &[Tensor], r: &[f32], train: bool) -> (Tensor, Tensor) {
    let h = p[0].shape()[2];
    let hcv = t.conv2d(&p[0], &p[1], Some(&p[2]), 2, Padding::same(h, h, 3, 2));
    let mut bn = BatchNorm::new(gpu, p[3].numel());
    bn.gamma = p[3].clone();
    bn.beta = p[4].clone();
    bn.running_var = Tensor::from_slice(gpu, &[3], &[0.7, 1.3, 0.9]);
    let hbn = t.batch_norm(&hcv, &bn, train);
    let a = t.leaky_relu(&hbn, 0.2);
    let geo = ConvGeometry::conv_transpose2d_same(a.shape(), p[5].shape(), 2);
    let y = t.conv_transpose2d(&a, &p[5], Some(&p[6]), geo);
    let y = t.tanh(&y);
    let rt = Tensor::from_slice(gpu, y.shape(), r);
    let yr = t.mul(&y, &rt);
    (hbn, t.sum(&yr))
}

fn finite_differences_through_composed(g: &Gpu) {
    let (n, c, h, c_mid, k) = (2, 2, 6, 3, 3);
    // Central differences are meaningless across the leaky-ReLU kink, so take the first
    // seed whose pre-activations all stay 5 steps (5e-3) away from 0 in both modes.
    for seed in 5..105 {
        let mut rng = Rng::new(seed);
        let inputs = [
            (vec![n, c, h, h], rng.uniform_vec(n * c * h * h, -1.0, 1.0)),
            (vec![c_mid, c, k, k], rng.normal_vec(c_mid * c * k * k, 0.0, 0.4)),
            (vec![c_mid], rng.normal_vec(c_mid, 0.0, 0.1)),
            (vec![c_mid], rng.uniform_vec(c_mid, 0.8, 1.2)),
            (vec![c_mid], rng.uniform_vec(c_mid, -0.1, 0.1)),
            (vec![c_mid, 1, 4, 4], rng.normal_vec(c_mid * 16, 0.0, 0.4)),
            (vec![1], vec![0.05]),
        ];
        let r = rng.uniform_vec(n * h * h, -1.0, 1.0);
        let near_kink = [true, false].iter().any(|&train| {
            let p: Vec<Tensor> = inputs.iter().map(|(s, d)| Tensor::from_slice(g, s, d)).collect();
            let (hbn, _) = composed(g, &mut dcgan_inpaint::Tape::new(g), &p, &r, train);
            hbn.to_vec(g).iter().any(|v| v.abs() < 5e-3)
        });
        if near_kink {
            continue;
        }
        for train in [true, false] {
            let name = format!("[{} kernels] conv -> bn(train={train}) -> leaky -> deconv -> tanh (seed {seed})", g.kernels.name);
            check_gradients_on(g, &name, &inputs, |t, p| composed(g, t, p, &r, train).1);
        }
        return;
    }
    panic!("seeds 5..105 all put a pre-activation within 5e-3 of the leaky-ReLU kink");
}

fn frozen_generator_backward(g: &Gpu) {
    let mut rng = Rng::new(9);
    let z = Tensor::from_slice(g, &[2, 4, 3, 3], &rng.uniform_vec(72, -1.0, 1.0)).with_grad(true);
    let w = Tensor::from_slice(g, &[4, 2, 4, 4], &rng.normal_vec(128, 0.0, 0.1));
    let b = Tensor::from_slice(g, &[2], &[0.1, -0.1]);
    let mut bn = BatchNorm::new(g, 4);
    bn.gamma = bn.gamma.with_grad(false);
    bn.beta = bn.beta.with_grad(false);
    let mut tape = dcgan_inpaint::Tape::new(g);
    let h = tape.batch_norm(&z, &bn, false);
    let geo = ConvGeometry::conv_transpose2d_same(h.shape(), w.shape(), 2);
    let y = tape.conv_transpose2d(&h, &w, Some(&b), geo);
    let loss = tape.mean(&y);
    let (grads, kernels) = g.trace(|| tape.backward(&loss));
    assert!(grads.get(&z).is_some());
    let bad: Vec<_> = kernels.iter().filter(|k| k.contains("grad_weight") || k.contains("grad_bias") || k.contains("grad_reduce")).collect();
    assert!(bad.is_empty(), "frozen layers ran {bad:?}");
    assert!(kernels.contains(&"conv_transpose2d_grad_input") && kernels.contains(&"batchnorm_eval_grad_input"), "{kernels:?}");
}


/// Batches whose packed images are taller than the largest texture go in chunks of images
/// (and the weight gradient, whose textures hold the batch along their rows, in chunks of
/// a few images: 4 per texel, max / (h * w) texels).
#[test]
fn simd8_convolutions_split_batches_too_large_for_a_texture() {
    on_kernel_set("simd8", simd8_batch_chunks);
}

fn simd8_batch_chunks(g: &Gpu) {
    let (h, w) = (126, 40); // 128 texture rows per image with the padding
    let n = g.limits.max_texture_dimension_2d as usize / 128 + 3;
    let geo = ConvGeometry::conv2d(&[n, 2, h, w], &[3, 2, 3, 3], 1, Padding::uniform(1));
    let mut rng = Rng::new(41);
    let (img, feat, wn) = (geo.img_shape().iter().product(), geo.feat_shape().iter().product(), geo.weight_shape().iter().product());
    let (x, w, dy) = (rng.uniform_vec(img, -1.0, 1.0), rng.uniform_vec(wn, -1.0, 1.0), rng.uniform_vec(feat, -1.0, 1.0));
    let b = rng.uniform_vec(geo.c_feat, -1.0, 1.0);
    let (tx, tw, tf, tb) = (
        Tensor::from_slice(g, &geo.img_shape(), &x),
        Tensor::from_slice(g, &geo.weight_shape(), &w),
        Tensor::from_slice(g, &geo.feat_shape(), &dy),
        Tensor::from_slice(g, &[geo.c_feat], &b),
    );
    let chunked = |entry: &str, kernels: Vec<&str>| {
        assert!(kernels.iter().filter(|k| k.starts_with(entry)).count() > 1, "{entry} ran in one piece: {kernels:?}");
    };
    let (y, kernels) = g.trace(|| conv::conv2d_forward(g, &tx, &tw, Some(&tb), &geo));
    chunked("conv2d_forward", kernels);
    close(g, "chunked conv2d forward", &y, &conv::cpu::conv2d_forward(&x, &w, Some(&b), &geo));
    let (dx, kernels) = g.trace(|| conv::conv2d_grad_input(g, &tf, &tw, &geo));
    chunked("conv2d_grad_input", kernels);
    close(g, "chunked conv2d grad_input", &dx, &conv::cpu::conv2d_grad_input(&dy, &w, &geo));
    let (dw, kernels) = g.trace(|| conv::conv2d_grad_weight(g, &tf, &tx, &geo));
    chunked("conv2d_grad_weight", kernels);
    close(g, "chunked conv2d grad_weight", &dw, &conv::cpu::conv2d_grad_weight(&dy, &x, &geo));
}
