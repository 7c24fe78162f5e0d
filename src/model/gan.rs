//! The GAN training step: what `train` runs each step and `bench` times.
//!
//! One step = one discriminator update on a real and a generated batch, then `g_steps`
//! generator updates (non-saturating loss), all recorded into one submission.

use super::{Architecture, Discriminator, Generator, Named, trainable};
use crate::engine::gpu::Gpu;
use crate::engine::ops::adam::AdamConfig;
use crate::engine::optim::Adam;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::rng::Rng;

/// The random stream of the weights' initialisation (see `Rng::derived`).
pub const INIT_STREAM: u64 = 1;

/// The model pair with both optimisers: everything a checkpoint holds besides counters.
pub struct GanState {
    pub g: Generator,
    pub d: Discriminator,
    pub adam_g: Adam,
    pub adam_d: Adam,
}

impl GanState {
    pub fn new(gpu: &Gpu, arch: &Architecture, seed: u64, adam: AdamConfig) -> GanState {
        let mut rng = Rng::derived(seed, &[INIT_STREAM]);
        let g = Generator::init(gpu, arch, &mut rng);
        let d = Discriminator::init(gpu, arch, &mut rng);
        let adam_g = Adam::new(gpu, adam, &trainable(&g.named()).iter().collect::<Vec<_>>());
        let adam_d = Adam::new(gpu, adam, &trainable(&d.named()).iter().collect::<Vec<_>>());
        GanState { g, d, adam_g, adam_d }
    }

    /// Model tensors plus `adam.<net>.<param>.m` / `.v` moments.
    pub fn named_with_optimiser(&self) -> Named {
        let mut all = Vec::new();
        for (net, named, adam) in [("g", self.g.named(), &self.adam_g), ("d", self.d.named(), &self.adam_d)] {
            let params = named.iter().filter(|(_, _, t)| *t);
            for ((name, _, _), (m, v)) in params.zip(&adam.moments) {
                let short = name.strip_prefix(&format!("{net}.")).unwrap_or(name);
                all.push((format!("adam.{net}.{short}.m"), m.clone(), false));
                all.push((format!("adam.{net}.{short}.v"), v.clone(), false));
            }
            all.extend(named);
        }
        all
    }
}

/// Uniform(-1, 1) latents, as DCGAN draws them.
pub fn uniform_z(rng: &mut Rng, n: usize, z_dim: usize) -> Vec<f32> {
    rng.uniform_vec(n * z_dim, -1.0, 1.0)
}

/// One training step, recorded but not submitted: a discriminator update (real -> 1,
/// G(z) -> 0, with G frozen so it gets no gradient kernels), then `g_steps` generator
/// updates on the non-saturating loss (D frozen). `ones` / `zeros` are [B, 1] labels.
/// Returns the D loss and the last G loss, still on the GPU.
pub fn train_step(gpu: &Gpu, state: &mut GanState, real: &Tensor, z: &Tensor, ones: &Tensor, zeros: &Tensor, g_steps: usize) -> (Tensor, Tensor) {
    let d_params = trainable(&state.d.named());
    let g_params = trainable(&state.g.named());

    let mut tape = Tape::new(gpu);
    let real_logits = state.d.forward(&mut tape, real, true, false);
    let fake = state.g.forward(&mut tape, z, true, true);
    let fake_logits = state.d.forward(&mut tape, &fake, true, false);
    let loss_real = tape.sigmoid_cross_entropy(&real_logits, ones);
    let loss_fake = tape.sigmoid_cross_entropy(&fake_logits, zeros);
    let d_loss = tape.add(&loss_real, &loss_fake);
    let grads = tape.backward(&d_loss);
    state.adam_d.step(gpu, &d_params.iter().collect::<Vec<_>>(), &grads);
    drop(grads);

    let mut g_loss = None;
    for _ in 0..g_steps.max(1) {
        let mut tape = Tape::new(gpu);
        let fake = state.g.forward(&mut tape, z, true, false);
        let logits = state.d.forward(&mut tape, &fake, true, true);
        let loss = tape.sigmoid_cross_entropy(&logits, ones);
        let grads = tape.backward(&loss);
        state.adam_g.step(gpu, &g_params.iter().collect::<Vec<_>>(), &grads);
        g_loss = Some(loss);
    }
    (d_loss, g_loss.expect("at least one generator step"))
}

