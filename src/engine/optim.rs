//! Adam over a list of parameter tensors, with its moment buffers on the GPU.

use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::{self, AdamConfig};
use crate::engine::tape::Gradients;
use crate::engine::tensor::Tensor;

pub struct Adam {
    pub config: AdamConfig,
    /// Steps taken so far (the next update uses `step + 1` for bias correction).
    pub step: u64,
    /// First and second moments, one pair per parameter, in the order given to `new`.
    pub moments: Vec<(Tensor, Tensor)>,
}

impl Adam {
    pub fn new(gpu: &Gpu, config: AdamConfig, params: &[&Tensor]) -> Self {
        let moments = params.iter().map(|p| (Tensor::zeros(gpu, p.shape()), Tensor::zeros(gpu, p.shape()))).collect();
        Adam { config, step: 0, moments }
    }

    /// Update every parameter that has a gradient; `params` in the same order as in `new`.
    pub fn step(&mut self, gpu: &Gpu, params: &[&Tensor], grads: &Gradients) {
        assert_eq!(params.len(), self.moments.len(), "Adam was built for {} parameters", self.moments.len());
        self.step += 1;
        for (p, (m, v)) in params.iter().zip(&self.moments) {
            if let Some(g) = grads.get(p) {
                adam::update(gpu, &self.config, self.step, p, g, m, v);
            }
        }
    }
}
