//! Activations (shaders/activation.wgsl): forward y = f(x) and backward dx = dy * f'(x),
//! any shape, elementwise.

use super::launch_elements;
use crate::engine::gpu::{Element, Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Relu,
    /// Negative slope (DCGAN's discriminator uses 0.2).
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
    /// |x| (the L1 contextual loss of completion)
    Abs,
    /// log(1 + e^x) (the perceptual prior of completion)
    Softplus,
}

const ACTIVATION: Family = crate::family!("activation.wgsl");

crate::kernel_params! {
    /// shaders/activation.wgsl `Params`.
    pub struct ActivationParams { n: u32, slope: f32 }
}

impl Activation {
    fn kernels(self) -> (Kernel, Kernel) {
        let k = |e| Kernel::new(ACTIVATION, e).with_element(Element::Vec4F32);
        match self {
            Activation::Relu => (k("relu_forward"), k("relu_grad_input")),
            Activation::LeakyRelu(_) => (k("leaky_relu_forward"), k("leaky_relu_grad_input")),
            Activation::Tanh => (k("tanh_forward"), k("tanh_grad_input")),
            Activation::Sigmoid => (k("sigmoid_forward"), k("sigmoid_grad_input")),
            Activation::Abs => (k("abs_forward"), k("abs_grad_input")),
            Activation::Softplus => (k("softplus_forward"), k("softplus_grad_input")),
        }
    }

    fn slope(self) -> f32 {
        if let Activation::LeakyRelu(s) = self { s } else { 0.0 }
    }

    /// Tanh and sigmoid differentiate from their output, the ReLUs from their input.
    fn backward_uses_output(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }
}

/// y = f(x)
pub fn forward(gpu: &Gpu, act: Activation, x: &Tensor) -> Tensor {
    let y = Tensor::empty(gpu, x.shape());
    let params = ActivationParams { n: u32_of(x.numel()), slope: act.slope() };
    launch_elements(gpu, act.kernels().0, &params, &[arg("dst", &y), arg("src", x)], x.numel());
    y
}

/// dx = dy * f'(x); `x` and `y` are the forward's input and output.
pub fn grad_input(gpu: &Gpu, act: Activation, x: &Tensor, y: &Tensor, dy: &Tensor) -> Tensor {
    let dx = Tensor::empty(gpu, x.shape());
    let saved = if act.backward_uses_output() { y } else { x };
    let params = ActivationParams { n: u32_of(x.numel()), slope: act.slope() };
    launch_elements(gpu, act.kernels().1, &params, &[arg("dst", &dx), arg("src", saved), arg("dy", dy)], x.numel());
    dx
}

/// CPU reference, in f64.
pub mod cpu {
    use super::Activation;

    pub fn f(act: Activation, x: f64) -> f64 {
        match act {
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(s) => if x > 0.0 { x } else { s as f64 * x },
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Abs => x.abs(),
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        }
    }

    pub fn df(act: Activation, x: f64) -> f64 {
        match act {
            Activation::Relu => if x > 0.0 { 1.0 } else { 0.0 },
            Activation::LeakyRelu(s) => if x > 0.0 { 1.0 } else { s as f64 },
            Activation::Tanh => 1.0 - x.tanh().powi(2),
            Activation::Sigmoid => { let y = f(act, x); y * (1.0 - y) }
            Activation::Abs => if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 },
            Activation::Softplus => f(Activation::Sigmoid, x),
        }
    }

    pub fn forward(act: Activation, x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| f(act, v as f64) as f32).collect()
    }

    pub fn grad_input(act: Activation, x: &[f32], dy: &[f32]) -> Vec<f32> {
        x.iter().zip(dy).map(|(&v, &g)| (df(act, v as f64) * g as f64) as f32).collect()
    }
}
