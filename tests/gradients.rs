//! The tape's gradients against central finite differences: every op with a backward on
//! its own (as sum(op(inputs) * r) with a fixed random r), then a small composed network.

#[macro_use]
mod common;

use common::{check_gradients, check_gradients_on, gpu};
use dcgan_inpaint::engine::ops::activation::Activation;
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Tape, Tensor};

/// Random data kept at least 0.05 away from 0, so no ReLU kink lies within the step h.
fn away_from_zero(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| { let v = rng.range(0.05, 1.0); if rng.uniform() < 0.5 { -v } else { v } }).collect()
}

/// loss = sum(y * r) for a fixed r: its gradient w.r.t. y is r, a generic upstream gradient.
fn project(tape: &mut Tape, y: &Tensor, seed: u64) -> Tensor {
    let r = Rng::new(seed).uniform_vec(y.numel(), -1.0, 1.0);
    let r = Tensor::from_slice(tape.gpu(), y.shape(), &r);
    let yr = tape.mul(y, &r);
    tape.sum(&yr)
}

#[test]
fn elementwise_ops() {
    let mut rng = Rng::new(10);
    let (a, b) = (rng.uniform_vec(7, -1.0, 1.0), rng.uniform_vec(7, -1.0, 1.0));
    let inputs = [(vec![7], a), (vec![7], b)];
    check_gradients("add", &inputs, |t, x| { let y = t.add(&x[0], &x[1]); project(t, &y, 1) });
    check_gradients("mul", &inputs, |t, x| { let y = t.mul(&x[0], &x[1]); project(t, &y, 2) });
    check_gradients("sub", &inputs, |t, x| { let y = t.sub(&x[0], &x[1]); project(t, &y, 11) });
    check_gradients("scale", &inputs[..1], |t, x| { let y = t.scale(&x[0], -1.7); project(t, &y, 3) });
    check_gradients("same tensor twice", &inputs[..1], |t, x| { let y = t.mul(&x[0], &x[0]); project(t, &y, 4) });
    check_gradients("reshape", &inputs[..1], |t, x| {
        let y = t.reshape(&x[0], &[7, 1]);
        project(t, &y, 5)
    });
}

#[test]
fn activations() {
    let mut rng = Rng::new(11);
    let x = away_from_zero(&mut rng, 12);
    for act in [
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Abs,
        Activation::Softplus,
    ] {
        check_gradients(&format!("{act:?}"), &[(vec![3, 4], x.clone())], |t, x| {
            let y = t.activation(&x[0], act);
            project(t, &y, 6)
        });
    }
}

#[test]
fn average_pooling() {
    let x = Rng::new(15).uniform_vec(2 * 2 * 4 * 6, -1.0, 1.0);
    check_gradients("avg_pool", &[(vec![2, 2, 4, 6], x)], |t, x| {
        let y = t.avg_pool(&x[0], 2);
        project(t, &y, 12)
    });
}

kernel_set_tests! {
    fn linear_with_and_without_bias(g: &Gpu) {
        let mut rng = Rng::new(12);
        let (m, n, k) = (3, 4, 5);
        let inputs = [
            (vec![m, k], rng.uniform_vec(m * k, -1.0, 1.0)),
            (vec![n, k], rng.uniform_vec(n * k, -1.0, 1.0)),
            (vec![n], rng.uniform_vec(n, -1.0, 1.0)),
        ];
        let name = |what: &str| format!("[{} kernels] {what}", g.kernels.name);
        check_gradients_on(g, &name("linear"), &inputs, |t, x| { let y = t.linear(&x[0], &x[1], Some(&x[2])); project(t, &y, 7) });
        check_gradients_on(g, &name("linear no bias"), &inputs[..2], |t, x| { let y = t.linear(&x[0], &x[1], None); project(t, &y, 8) });
    }
}

#[test]
fn reductions_and_loss() {
    let mut rng = Rng::new(13);
    let x = (vec![2, 3, 4], rng.uniform_vec(24, -1.0, 1.0));
    check_gradients("sum", std::slice::from_ref(&x), |t, x| { let y = t.mul(&x[0], &x[0]); t.sum(&y) });
    check_gradients("mean", std::slice::from_ref(&x), |t, x| { let y = t.mul(&x[0], &x[0]); t.mean(&y) });
    for axis in 0..3 {
        check_gradients(&format!("sum_axis {axis}"), std::slice::from_ref(&x), |t, x| {
            let y = t.sum_axis(&x[0], axis);
            project(t, &y, 9)
        });
    }
    let targets: Vec<f32> = (0..24).map(|i| (i % 2) as f32).collect();
    check_gradients("sigmoid cross-entropy", &[(vec![24], rng.uniform_vec(24, -3.0, 3.0))], |t, x| {
        let targets = Tensor::from_slice(gpu(), &[24], &targets);
        t.sigmoid_cross_entropy(&x[0], &targets)
    });
}

#[test]
fn composed_network() {
    // linear -> leaky-ReLU -> linear -> sigmoid cross-entropy, gradients to every input.
    let mut rng = Rng::new(14);
    let (batch, input, hidden) = (4, 5, 6);
    let inputs = [
        (vec![batch, input], rng.uniform_vec(batch * input, -1.0, 1.0)),
        (vec![hidden, input], rng.normal_vec(hidden * input, 0.0, 0.5)),
        (vec![hidden], rng.normal_vec(hidden, 0.0, 0.5)),
        (vec![1, hidden], rng.normal_vec(hidden, 0.0, 0.5)),
        (vec![1], vec![0.1]),
    ];
    let labels = [1.0, 0.0, 1.0, 1.0];
    check_gradients("linear -> leaky-ReLU -> linear -> sigmoid CE", &inputs, |t, p| {
        let h = t.linear(&p[0], &p[1], Some(&p[2]));
        let a = t.leaky_relu(&h, 0.2);
        let logits = t.linear(&a, &p[3], Some(&p[4]));
        let targets = Tensor::from_slice(gpu(), &[batch, 1], &labels);
        t.sigmoid_cross_entropy(&logits, &targets)
    });
}

/// Intermediate-layer optimisation runs G from a stage's activation: running it in two
/// pieces equals running it whole, and the gradient with respect to the activation (what
/// ILO optimises) matches finite differences through the remaining layers, BN in eval mode.
#[test]
fn intermediate_layer_gradients_match_finite_differences() {
    let g = gpu();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/tiny.safetensors");
    let (generator, _) = dcgan_inpaint::model::weights::load_gan(g, &root).expect("the tiny model");
    let mut rng = Rng::new(31);
    let z = Tensor::from_slice(g, &[2, 8], &rng.uniform_vec(16, -1.0, 1.0));
    let whole = generator.forward(&mut Tape::new(g), &z, false, true).to_vec(g);
    let end = generator.image_stage();
    for stage in 1..end {
        let h = generator.forward_between(&mut Tape::new(g), &z, 0, stage, false, true);
        let pieces = generator.forward_between(&mut Tape::new(g), &h, stage, end, false, true).to_vec(g);
        common::assert_close(&format!("G in two pieces at stage {stage}"), &pieces, &whole, 1e-5, 1e-6);
        // Away from the ReLU kink at 0 (finite differences straddle it otherwise).
        let values: Vec<f32> = h.to_vec(g).iter().map(|v| if v.abs() < 0.05 { v + 0.1 } else { *v }).collect();
        let shape = h.shape().to_vec();
        check_gradients(&format!("loss through G from stage {stage}"), &[(shape, values)], |t, x| {
            let y = generator.forward_between(t, &x[0], stage, end, false, true);
            project(t, &y, 40 + stage as u64)
        });
    }
}
