//! Shared test helpers: one GPU per test binary, closeness checks, finite differences.
#![allow(dead_code)]

pub mod server;

use std::sync::OnceLock;

use dcgan_inpaint::engine::gpu::AdapterChoice;
use dcgan_inpaint::engine::tune::TuneCache;
use dcgan_inpaint::{Gpu, Tape, Tensor};

/// The adapter the tests run on (lavapipe in CI), with the kernels it prefers when nothing
/// is measured: `auto` without tuning, so no result depends on a timing (tests/tune.rs
/// covers the tuning). No adapter is a failure, never a skip.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let choice = AdapterChoice { tune_cache: Some(TuneCache::Off), ..AdapterChoice::default() };
        let gpu = Gpu::new(&choice).unwrap_or_else(|e| panic!("the tests need a GPU adapter: {e}"));
        eprintln!("tests run on: {} ({:?}, {:?}), {} kernels", gpu.info.name, gpu.info.backend, gpu.info.device_type, gpu.kernels.name);
        gpu
    })
}

/// The adapter once per kernel set of the registry (`variants::KERNEL_SETS`): a device
/// preferring that set, or why it cannot run it.
fn devices() -> &'static Vec<(&'static str, Result<Gpu, String>)> {
    static DEVICES: OnceLock<Vec<(&'static str, Result<Gpu, String>)>> = OnceLock::new();
    DEVICES.get_or_init(|| {
        dcgan_inpaint::engine::variants::KERNEL_SETS
            .iter()
            .map(|set| {
                let choice = AdapterChoice { kernels: Some(set.name.into()), ..AdapterChoice::default() };
                (set.name, Gpu::new(&choice).map_err(|e| e.to_string()))
            })
            .collect()
    })
}

/// Sets that must run here (`DCGAN_REQUIRE_KERNEL_SETS=simd8,portable` or `all`; .ci/run
/// sets it for the sets its adapter runs): a check on one of them that cannot run fails.
fn required(set: &str) -> bool {
    let list = std::env::var("DCGAN_REQUIRE_KERNEL_SETS").unwrap_or_default();
    set == "portable" || list.split(',').any(|s| s.trim() == set || s.trim() == "all")
}

/// Run `check` on a device preferring `set`. An adapter that cannot run the set is a
/// failure where the set is required, else reported by name as not run.
pub fn on_kernel_set(set: &str, check: impl FnOnce(&Gpu)) {
    let Some((_, device)) = devices().iter().find(|(s, _)| *s == set) else { panic!("no kernel set '{set}' in KERNEL_SETS") };
    match device {
        Ok(gpu) => {
            assert_eq!(gpu.kernels.name, set, "the device runs {} kernels, not {set}", gpu.kernels.name);
            check(gpu)
        }
        Err(why) if required(set) => panic!("kernel set {set} is required here (DCGAN_REQUIRE_KERNEL_SETS) but cannot run: {why}"),
        Err(why) => eprintln!("NOT RUN on kernel set {set}: {why}"),
    }
}

/// `kernel_set_tests! { fn name(gpu: &Gpu) { ... } ... }`: one `#[test]` per kernel set of
/// the registry (`dcgan_inpaint::for_each_kernel_set!`) for each check, named
/// `name::portable`, `name::simd8`, so a failure names the set.
#[macro_export]
macro_rules! kernel_set_tests {
    ($($(#[$meta:meta])* fn $name:ident($gpu:ident: &Gpu) $body:block)*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                fn check($gpu: &dcgan_inpaint::Gpu) $body
                macro_rules! one_test_per_set {
                    ($set:ident) => {
                        #[test]
                        fn $set() {
                            $crate::common::on_kernel_set(stringify!($set), check)
                        }
                    };
                }
                dcgan_inpaint::for_each_kernel_set!(one_test_per_set);
            }
        )*
    };
}

/// A fresh, empty folder for one test, unique to this test binary and process.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dcgan-inpaint-{}-{}-{name}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
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

/// [`check_gradients`] on a given device (for checks run per kernel set).
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
