//! GPU kernels against their CPU references, on awkward sizes: 0, 1, non-multiples of the
//! 64-wide workgroups and 32x32 matmul tiles, and one size large enough to need a 2-D grid.

#[macro_use]
mod common;

use common::{assert_close, gpu};
use dcgan_inpaint::{Gpu, Tensor};
use dcgan_inpaint::engine::ops::activation::{self, Activation};
use dcgan_inpaint::engine::ops::adam::{self, AdamConfig};
use dcgan_inpaint::engine::ops::{elementwise, linear, loss, pool, reduce};
use dcgan_inpaint::rng::Rng;

const SIZES: [usize; 8] = [0, 1, 7, 63, 64, 65, 1000, 70_001];

fn t(data: &[f32]) -> Tensor {
    Tensor::from_slice(gpu(), &[data.len()], data)
}

#[test]
fn elementwise_matches_reference() {
    let g = gpu();
    let mut rng = Rng::new(1);
    for n in SIZES {
        let (a, b) = (rng.uniform_vec(n, -2.0, 2.0), rng.uniform_vec(n, -2.0, 2.0));
        let (ta, tb) = (t(&a), t(&b));
        assert_close(&format!("add n={n}"), &elementwise::add(g, &ta, &tb).to_vec(g), &elementwise::cpu::add(&a, &b), 1e-6, 0.0);
        assert_close(&format!("mul n={n}"), &elementwise::mul(g, &ta, &tb).to_vec(g), &elementwise::cpu::mul(&a, &b), 1e-6, 0.0);
        assert_close(&format!("sub n={n}"), &elementwise::sub(g, &ta, &tb).to_vec(g), &elementwise::cpu::sub(&a, &b), 1e-6, 0.0);
        let tc = t(&a);
        elementwise::clamp(g, &tc, -0.5, 0.75);
        let mut want = a.clone();
        elementwise::cpu::clamp(&mut want, -0.5, 0.75);
        assert_close(&format!("clamp n={n}"), &tc.to_vec(g), &want, 0.0, 0.0);
        assert_close(&format!("scale n={n}"), &elementwise::scale(g, &ta, -0.3).to_vec(g), &elementwise::cpu::scale(&a, -0.3), 1e-6, 0.0);
        elementwise::axpy(g, &ta, 0.7, &tb);
        let mut want = a.clone();
        elementwise::cpu::axpy(&mut want, 0.7, &b);
        assert_close(&format!("axpy n={n}"), &ta.to_vec(g), &want, 1e-6, 1e-7);
        elementwise::fill(g, &ta, 3.5);
        let mut want = a.clone();
        elementwise::cpu::fill(&mut want, 3.5);
        assert_close(&format!("fill n={n}"), &ta.to_vec(g), &want, 0.0, 0.0);
    }
}

#[test]
fn one_dimensional_grid_covers_more_than_65535_workgroups() {
    let g = gpu();
    let n = 65_535 * 64 + 100; // needs a second row of workgroups
    assert!(g.grid_1d(n)[1] > 1);
    let a: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    let out = elementwise::scale(g, &t(&a), 2.0).to_vec(g);
    assert_close("scale over a 2-D grid", &out, &elementwise::cpu::scale(&a, 2.0), 0.0, 0.0);
}

#[test]
fn zeros_and_full() {
    let g = gpu();
    let z = Tensor::zeros(g, &[3, 5]);
    assert_eq!(z.to_vec(g), vec![0.0; 15]);
    let f = elementwise::full(g, &[2, 2], -1.25);
    assert_eq!(f.to_vec(g), vec![-1.25; 4]);
}

#[test]
fn activations_match_reference() {
    let g = gpu();
    let mut rng = Rng::new(2);
    let acts = [
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Abs,
        Activation::Softplus,
    ];
    for n in [1usize, 63, 1000] {
        let mut x = rng.uniform_vec(n, -4.0, 4.0);
        // Extreme inputs must not overflow into NaN.
        x[0] = if n > 1 { 90.0 } else { -90.0 };
        if n > 2 {
            x[1] = -90.0;
            x[2] = 0.0;
        }
        let dy = rng.uniform_vec(n, -1.0, 1.0);
        for act in acts {
            let (tx, tdy) = (t(&x), t(&dy));
            let ty = activation::forward(g, act, &tx);
            let y = ty.to_vec(g);
            assert_close(&format!("{act:?} forward n={n}"), &y, &activation::cpu::forward(act, &x), 1e-5, 1e-6);
            let dx = activation::grad_input(g, act, &tx, &ty, &tdy).to_vec(g);
            assert_close(&format!("{act:?} grad n={n}"), &dx, &activation::cpu::grad_input(act, &x, &dy), 1e-4, 1e-6);
        }
    }
}

kernel_set_tests! {
    fn linear_matches_reference(g: &Gpu) {
        linear_on(g);
    }
}

fn linear_on(g: &Gpu) {
    let mut rng = Rng::new(3);
    // (M, N, K): tiles are 32x32, so cover below, at and above tile edges, and empties.
    let shapes = [(1, 1, 1), (3, 5, 7), (33, 17, 65), (64, 100, 31), (32, 32, 32), (70, 129, 300), (0, 4, 3), (5, 0, 3), (4, 6, 0)];
    for (m, n, k) in shapes {
        let x = rng.uniform_vec(m * k, -1.0, 1.0);
        let w = rng.uniform_vec(n * k, -1.0, 1.0);
        let b = rng.uniform_vec(n, -1.0, 1.0);
        let dy = rng.uniform_vec(m * n, -1.0, 1.0);
        let (tx, tw, tb) = (Tensor::from_slice(g, &[m, k], &x), Tensor::from_slice(g, &[n, k], &w), Tensor::from_slice(g, &[n], &b));
        let tdy = Tensor::from_slice(g, &[m, n], &dy);
        let tol = 1e-5 * (k.max(m).max(n) as f32).sqrt();
        let label = format!("[{} kernels] M={m} N={n} K={k}", g.kernels.name);

        let y = linear::forward(g, &tx, &tw, Some(&tb));
        assert_eq!(y.shape(), &[m, n]);
        assert_close(&format!("linear forward {label}"), &y.to_vec(g), &linear::cpu::forward(&x, &w, Some(&b), m, n, k), 1e-4, tol);
        let y = linear::forward(g, &tx, &tw, None).to_vec(g);
        assert_close(&format!("linear forward (no bias) {label}"), &y, &linear::cpu::forward(&x, &w, None, m, n, k), 1e-4, tol);
        let dx = linear::grad_input(g, &tdy, &tw).to_vec(g);
        assert_close(&format!("linear grad_input {label}"), &dx, &linear::cpu::grad_input(&dy, &w, m, n, k), 1e-4, tol);
        let dw = linear::grad_weight(g, &tdy, &tx).to_vec(g);
        assert_close(&format!("linear grad_weight {label}"), &dw, &linear::cpu::grad_weight(&dy, &x, m, n, k), 1e-4, tol);
        let db = linear::grad_bias(g, &tdy).to_vec(g);
        assert_close(&format!("linear grad_bias {label}"), &db, &linear::cpu::grad_bias(&dy, m, n), 1e-4, tol);
    }
}

#[test]
fn sums_match_reference() {
    let g = gpu();
    let mut rng = Rng::new(4);
    for shape in [vec![2, 3, 4], vec![1, 1], vec![5], vec![3, 70, 1], vec![0, 3], vec![17, 300]] {
        let n: usize = shape.iter().product();
        let x = rng.uniform_vec(n, -1.0, 1.0);
        let tx = Tensor::from_slice(g, &shape, &x);
        let atol = 1e-6 * (n as f32 + 1.0);
        for axis in 0..shape.len() {
            let label = format!("shape {shape:?} axis {axis}");
            let y = reduce::sum_axis(g, &tx, axis, 0.5);
            assert_close(&format!("sum_axis {label}"), &y.to_vec(g), &reduce::cpu::sum_axis(&x, &shape, axis, 0.5), 1e-5, atol);
            let dy = rng.uniform_vec(y.numel(), -1.0, 1.0);
            let dx = reduce::sum_axis_grad_input(g, &Tensor::from_slice(g, y.shape(), &dy), &shape, axis, 0.5);
            assert_close(&format!("sum_axis grad {label}"), &dx.to_vec(g), &reduce::cpu::sum_axis_grad_input(&dy, &shape, axis, 0.5), 0.0, 0.0);
        }
    }
    for n in [0usize, 1, 255, 256, 257, 65_537, 300_000] {
        let x = rng.uniform_vec(n, -1.0, 1.0);
        let sum_abs: f32 = x.iter().map(|v| v.abs()).sum();
        let got = reduce::sum_all(g, &t(&x), 1.0).to_vec(g);
        assert_close(&format!("sum_all n={n}"), &got, &[reduce::cpu::sum_all(&x, 1.0)], 0.0, 1e-6 * (sum_abs + 1.0));
        let mean = reduce::sum_all(g, &t(&x), 1.0 / n.max(1) as f32).to_vec(g);
        assert_close(&format!("mean n={n}"), &mean, &[reduce::cpu::sum_all(&x, 1.0 / n.max(1) as f32)], 1e-5, 1e-7);
        let dx = reduce::sum_all_grad_input(g, &t(&[2.0]), &[n], 0.25).to_vec(g);
        assert_close(&format!("sum_all grad n={n}"), &dx, &vec![0.5; n], 0.0, 0.0);
    }
}

#[test]
fn sigmoid_cross_entropy_matches_reference() {
    let g = gpu();
    let mut rng = Rng::new(5);
    for n in [1usize, 64, 1001] {
        let mut x = rng.uniform_vec(n, -6.0, 6.0);
        x[0] = 60.0; // exp(60) would overflow a naive formula in f32? it must not matter here
        if n > 1 {
            x[1] = -60.0;
        }
        let targets: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { 1.0 } else { rng.range(0.0, 1.0) }).collect();
        let (tx, tt) = (t(&x), t(&targets));
        let l = loss::sigmoid_ce_forward(g, &tx, &tt).to_vec(g);
        assert_close(&format!("sigmoid CE n={n}"), &l, &[loss::cpu::sigmoid_ce_forward(&x, &targets)], 1e-5, 1e-6);
        let dx = loss::sigmoid_ce_grad_input(g, &tx, &tt, &t(&[1.5])).to_vec(g);
        let want = loss::cpu::sigmoid_ce_grad_input(&x, &targets, 1.5);
        assert_close(&format!("sigmoid CE grad n={n}"), &dx, &want, 1e-5, 1e-7);
    }
}

#[test]
fn adam_matches_reference_over_several_steps() {
    let g = gpu();
    let mut rng = Rng::new(6);
    let cfg = AdamConfig { lr: 0.01, beta1: 0.5, beta2: 0.999, eps: 1e-8 };
    for n in [1usize, 65, 1000] {
        let mut p = rng.normal_vec(n, 0.0, 1.0);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let p0 = p.clone();
        let (tp, tm, tv) = (t(&p), t(&m), t(&v));
        for step in 1..=5 {
            let grad = rng.uniform_vec(n, -1.0, 1.0);
            adam::update(g, &cfg, step, &tp, &t(&grad), &tm, &tv);
            adam::cpu::update(&cfg, step, &mut p, &grad, &mut m, &mut v);
        }
        assert_close(&format!("adam param n={n}"), &tp.to_vec(g), &p, 1e-5, 1e-6);
        assert_close(&format!("adam m n={n}"), &tm.to_vec(g), &m, 1e-5, 1e-7);
        assert_close(&format!("adam v n={n}"), &tv.to_vec(g), &v, 1e-5, 1e-8);
        // Every step moves every parameter (|update| ~ lr), so a kernel that skipped items fails.
        assert!(p.iter().zip(&p0).all(|(a, b)| a != b), "adam n={n}: some parameters never moved");
    }
}

#[test]
fn avg_pool_matches_reference() {
    let g = gpu();
    let mut rng = Rng::new(7);
    for (shape, f) in [([2, 3, 16, 16], 8), ([1, 1, 8, 8], 8), ([3, 2, 6, 9], 3), ([1, 1, 5, 5], 1)] {
        let n: usize = shape.iter().product();
        let x = rng.uniform_vec(n, -1.0, 1.0);
        let y = pool::avg_pool_forward(g, &Tensor::from_slice(g, &shape, &x), f);
        assert_close(&format!("avg_pool {shape:?} f={f}"), &y.to_vec(g), &pool::cpu::avg_pool_forward(&x, &shape, f), 1e-5, 1e-7);
        let dy = rng.uniform_vec(y.numel(), -1.0, 1.0);
        let dx = pool::avg_pool_grad_input(g, &Tensor::from_slice(g, y.shape(), &dy), &shape, f);
        assert_close(&format!("avg_pool grad {shape:?} f={f}"), &dx.to_vec(g), &pool::cpu::avg_pool_grad_input(&dy, &shape, f), 1e-6, 0.0);
    }
}

#[test]
fn l1_ball_projection_matches_reference() {
    use dcgan_inpaint::engine::ops::project;
    let g = gpu();
    let mut rng = Rng::new(11);
    // Rows of awkward lengths; budgets from "already inside" (no change) to tiny.
    for (rows, n) in [(1, 1), (3, 7), (2, 65), (5, 1000), (2, 16_384)] {
        let x0: Vec<f32> = rng.uniform_vec(rows * n, -1.0, 1.0).iter().map(|v| v.max(0.0)).collect();
        let x: Vec<f32> = x0.iter().zip(rng.uniform_vec(rows * n, -0.5, 0.5)).map(|(a, b)| a + b).collect();
        let inside: Vec<f64> = (0..rows).map(|r| (r * n..(r + 1) * n).map(|i| ((x[i] - x0[i]).max(-x0[i])).abs() as f64).sum()).collect();
        let budgets: Vec<f32> = inside.iter().enumerate().map(|(r, l1)| (l1 * [2.0, 0.5, 0.05, 0.001, 0.2][r % 5]) as f32).collect();
        let tx = Tensor::from_slice(g, &[rows, n], &x);
        let ball = project::L1Ball::new(g, Tensor::from_slice(g, &[rows, n], &x0), &budgets);
        ball.project(g, &tx);
        let got = tx.to_vec(g);
        let mut want = x.clone();
        project::cpu::l1_ball_nonneg(&mut want, &x0, &budgets);
        assert_close(&format!("l1 ball {rows}x{n}"), &got, &want, 1e-4, 1e-6);
        for r in 0..rows {
            let l1: f64 = (r * n..(r + 1) * n).map(|i| (got[i] - x0[i]).abs() as f64).sum();
            assert!(l1 <= budgets[r] as f64 * 1.0001 + 1e-6, "row {r} of {rows}x{n}: |d|_1 {l1} over the budget {}", budgets[r]);
            assert!(got[r * n..(r + 1) * n].iter().all(|&v| v >= 0.0), "row {r}: a value went negative");
            if budgets[r] as f64 > inside[r] {
                // Inside the ball only the orthant clamps.
                let clamped: Vec<f32> = x[r * n..(r + 1) * n].iter().map(|v| v.max(0.0)).collect();
                assert_close(&format!("l1 ball {rows}x{n} row {r} inside"), &got[r * n..(r + 1) * n], &clamped, 1e-6, 0.0);
            }
        }
    }
}
