//! Sigmoid cross-entropy with logits (shaders/loss.wgsl), averaged over all items:
//!
//!   forward     logits[any], targets[same]  ->  loss[1] = mean(max(x,0) - x t + log(1 + e^-|x|))
//!   grad_input  dloss[1]                     ->  dlogits = (sigmoid(x) - t) / n * dloss
//!
//! Targets get no gradient (they are labels).

use super::{launch_1d, reduce};
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

const LOSS: Family = crate::family!("loss.wgsl");
const FORWARD: Kernel = Kernel::new(LOSS, "sigmoid_ce_forward");
const GRAD_INPUT: Kernel = Kernel::new(LOSS, "sigmoid_ce_grad_input");

crate::kernel_params! {
    /// shaders/loss.wgsl `Params`.
    pub struct LossParams { n: u32, scale: f32 }
}

fn mean_scale(n: usize) -> f32 {
    if n == 0 { 0.0 } else { 1.0 / n as f32 }
}

pub fn sigmoid_ce_forward(gpu: &Gpu, logits: &Tensor, targets: &Tensor) -> Tensor {
    assert_eq!(logits.numel(), targets.numel(), "sigmoid CE: {:?} logits vs {:?} targets", logits.shape(), targets.shape());
    let n = logits.numel();
    let items = Tensor::empty(gpu, logits.shape());
    let params = LossParams { n: u32_of(n), scale: 0.0 };
    launch_1d(gpu, FORWARD, &params, &[arg("dst", &items), arg("logits", logits), arg("targets", targets)], n);
    reduce::sum_all(gpu, &items, mean_scale(n))
}

pub fn sigmoid_ce_grad_input(gpu: &Gpu, logits: &Tensor, targets: &Tensor, dloss: &Tensor) -> Tensor {
    let n = logits.numel();
    let dx = Tensor::empty(gpu, logits.shape());
    let params = LossParams { n: u32_of(n), scale: mean_scale(n) };
    let args = [arg("dst", &dx), arg("logits", logits), arg("targets", targets), arg("dloss", dloss)];
    launch_1d(gpu, GRAD_INPUT, &params, &args, n);
    dx
}

/// CPU reference in f64.
pub mod cpu {
    pub fn sigmoid_ce_forward(logits: &[f32], targets: &[f32]) -> f32 {
        let sum: f64 = logits
            .iter()
            .zip(targets)
            .map(|(&x, &t)| {
                let (x, t) = (x as f64, t as f64);
                x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()
            })
            .sum();
        if logits.is_empty() { 0.0 } else { (sum / logits.len() as f64) as f32 }
    }

    pub fn sigmoid_ce_grad_input(logits: &[f32], targets: &[f32], dloss: f32) -> Vec<f32> {
        let n = logits.len() as f64;
        logits
            .iter()
            .zip(targets)
            .map(|(&x, &t)| ((1.0 / (1.0 + (-(x as f64)).exp()) - t as f64) / n * dloss as f64) as f32)
            .collect()
    }
}
