//! Shared test helpers: one GPU per test binary, closeness checks, finite differences.
#![allow(dead_code)]

use std::sync::OnceLock;

use dcgan_inpaint::gpu::AdapterChoice;
use dcgan_inpaint::{Gpu, Tape, Tensor};

/// The adapter the tests run on (lavapipe in CI), with the kernels it would choose. No
/// adapter is a failure, never a skip.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::default_adapter().unwrap_or_else(|e| panic!("the tests need a GPU adapter: {e}"));
        eprintln!("tests run on: {} ({:?}, {:?}), {} kernels", gpu.info.name, gpu.info.backend, gpu.info.device_type, gpu.kernels.name());
        gpu
    })
}

/// The same adapter once per kernel set it can run (portable everywhere, simd8 on
/// lavapipe): tests of ops with several kernel variants check every variant.
pub fn gpus() -> &'static [Gpu] {
    static GPUS: OnceLock<Vec<Gpu>> = OnceLock::new();
    GPUS.get_or_init(|| {
        let gpus = Gpu::each_kernel_set(&AdapterChoice::default()).unwrap_or_else(|e| panic!("the tests need a GPU adapter: {e}"));
        let names: Vec<_> = gpus.iter().map(|g| g.kernels.name()).collect();
        eprintln!("kernel variants tested on {}: {}", gpus[0].info.name, names.join(", "));
        gpus
    })
}

/// Every |got - want| <= atol + rtol * |want|, else a message naming the worst item.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (atol + rtol * w.abs());
        if !(excess <= 0.0) && worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!("{what}: item {i} is {} but the reference is {} (rtol {rtol}, atol {atol})", got[i], want[i]);
    }
}

/// Largest absolute value (the natural scale for an absolute tolerance).
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Compare the tape's gradients of a scalar function against central differences.
/// `f` builds the loss from the inputs on a tape; every input gets a gradient checked.
pub fn check_gradients(name: &str, inputs: &[(Vec<usize>, Vec<f32>)], f: impl Fn(&mut Tape, &[Tensor]) -> Tensor) {
    check_gradients_on(gpu(), name, inputs, f)
}

/// [`check_gradients`] on a given device (one of [`gpus`]).
pub fn check_gradients_on(gpu: &Gpu, name: &str, inputs: &[(Vec<usize>, Vec<f32>)], f: impl Fn(&mut Tape, &[Tensor]) -> Tensor) {
    let h = 1e-3f32;
    let tensors: Vec<Tensor> =
        inputs.iter().map(|(shape, data)| Tensor::from_slice(gpu, shape, data).with_grad(true)).collect();
    let mut tape = Tape::new(gpu);
    let loss = f(&mut tape, &tensors);
    let loss_value = loss.to_vec(gpu)[0].abs();
    let grads = tape.backward(&loss);
    let eval = |data: &[Vec<f32>]| -> f64 {
        let ts: Vec<Tensor> = inputs.iter().zip(data).map(|((s, _), d)| Tensor::from_slice(gpu, s, d)).collect();
        let mut tape = Tape::new(gpu);
        let l = f(&mut tape, &ts);
        assert!(tape.is_empty(), "{name}: nothing needs gradients, yet the tape recorded ops");
        l.to_vec(gpu)[0] as f64
    };
    for (i, t) in tensors.iter().enumerate() {
        let analytic = grads.get(t).unwrap_or_else(|| panic!("{name}: input {i} got no gradient")).to_vec(gpu);
        let mut data: Vec<Vec<f32>> = inputs.iter().map(|(_, d)| d.clone()).collect();
        let mut numeric = Vec::with_capacity(analytic.len());
        for j in 0..data[i].len() {
            let x = data[i][j];
            data[i][j] = x + h;
            let plus = eval(&data);
            data[i][j] = x - h;
            let minus = eval(&data);
            data[i][j] = x;
            numeric.push(((plus - minus) / (2.0 * h as f64)) as f32);
        }
        // A difference quotient cannot resolve changes below the f32 rounding of the loss
        // itself: a few ulps of |loss|, divided by the step.
        let rounding_floor = 4.0 * f32::EPSILON * loss_value.max(1.0) / h;
        let atol = 2e-3 * max_abs(&numeric) + rounding_floor.max(2e-4);
        assert_close(&format!("{name}: d loss / d input {i} (tape vs finite differences)"), &analytic, &numeric, 2e-2, atol);
    }
}
