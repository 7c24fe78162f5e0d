//! The Adam update (shaders/adam.wgsl), one dispatch per parameter tensor, in place on
//! the parameter and its two moment buffers. The optimiser state lives in `optim.rs`.

use super::launch_elements;
use crate::engine::gpu::{Element, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

const UPDATE: Kernel = Kernel::new(crate::family!("adam.wgsl"), "adam_update").with_element(Element::Vec4F32);

crate::kernel_params! {
    /// shaders/adam.wgsl `Params`.
    pub struct AdamParams { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, bias1: f32, bias2: f32 }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

/// The largest learning rate accepted.
pub const MAX_LR: f32 = 1.0;

impl AdamConfig {
    /// DCGAN's settings (Radford et al.): lr 2e-4, beta1 0.5.
    pub fn dcgan() -> Self {
        AdamConfig { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 }
    }

    /// Refuse settings Adam cannot run with: a learning rate outside (0, 1] (Adam moves each
    /// value by about lr a step: past 1 every update overshoots whatever it optimises, be
    /// it weights or a z in [-1, 1]), betas outside [0, 1), eps not > 0.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str, v: f32, range: &str| Err(crate::Error::new(format!("--{what} must be {range}, got {v}")));
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            return bad("lr", self.lr, "a number in (0, 1]");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", self.eps, "a finite number > 0");
        }
        Ok(())
    }

    /// Bias corrections 1 - beta^step for step >= 1, computed in f64 on the host.
    fn bias_corrections(&self, step: u64) -> (f32, f32) {
        let t = step as i32;
        ((1.0 - (self.beta1 as f64).powi(t)) as f32, (1.0 - (self.beta2 as f64).powi(t)) as f32)
    }
}

/// One Adam step (`step` counts from 1) on `param` with gradient `grad`.
pub fn update(gpu: &Gpu, cfg: &AdamConfig, step: u64, param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor) {
    assert!(step >= 1, "Adam steps count from 1");
    let n = param.numel();
    assert!(grad.numel() == n && m.numel() == n && v.numel() == n, "Adam: mismatched sizes for {:?}", param.shape());
    let (bias1, bias2) = cfg.bias_corrections(step);
    let params = AdamParams { n: u32_of(n), lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, bias1, bias2 };
    launch_elements(gpu, UPDATE, &params, &[arg("param", param), arg("m", m), arg("v", v), arg("grad", grad)], n);
}

/// CPU reference in f64.
pub mod cpu {
    use super::AdamConfig;

    pub fn update(cfg: &AdamConfig, step: u64, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
        let bias1 = 1.0 - b1.powi(step as i32);
        let bias2 = 1.0 - b2.powi(step as i32);
        for i in 0..param.len() {
            let g = grad[i] as f64;
            let mi = b1 * m[i] as f64 + (1.0 - b1) * g;
            let vi = b2 * v[i] as f64 + (1.0 - b2) * g * g;
            m[i] = mi as f32;
            v[i] = vi as f32;
            param[i] = (param[i] as f64 - cfg.lr as f64 * (mi / bias1) / ((vi / bias2).sqrt() + cfg.eps as f64)) as f32;
        }
    }
}
