//! The GAN training step: what `train` runs each step and `bench` times.
//!
//! One step = one discriminator update on a real and a generated batch, then `g_steps`
//! generator updates (non-saturating loss), all recorded into one submission.

use super::{Architecture, Discriminator, Generator, Named, trainable};
use crate::engine::gpu::{Gpu, Scope};
use crate::engine::ops::adam::AdamConfig;
use crate::engine::optim::Adam;
use crate::engine::tape::{Gradients, Tape};
use crate::engine::ops::elementwise;
use crate::engine::tensor::Tensor;
use crate::io::data::Dataset;
use crate::rng::Rng;

/// The random stream of the weights' initialisation (see `Rng::derived`).
pub const INIT_STREAM: u64 = 1;
/// The random streams of each step's z and horizontal flips.
const Z_STREAM: u64 = 2;
const FLIP_STREAM: u64 = 3;

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

/// The discriminator's loss (real -> 1, G(z) -> 0) and its gradients, recorded on `tape`;
/// G is frozen, so it gets no gradient kernels. `ones` / `zeros` are [B, 1] labels.
pub fn d_loss_and_gradients(tape: &mut Tape, g: &Generator, d: &Discriminator, real: &Tensor, z: &Tensor, ones: &Tensor, zeros: &Tensor) -> (Tensor, Gradients) {
    let (loss, grads, _) = d_loss_gradients_and_logits(tape, g, d, real, z, ones, zeros);
    (loss, grads)
}

/// [`d_loss_and_gradients`], and D's logits for the real and the generated batch ([B, 1]
/// each): sigmoid of their means is what D makes of each, D(x) and D(G(z)).
pub fn d_loss_gradients_and_logits(tape: &mut Tape, g: &Generator, d: &Discriminator, real: &Tensor, z: &Tensor, ones: &Tensor, zeros: &Tensor) -> (Tensor, Gradients, (Tensor, Tensor)) {
    let real_logits = d.forward(tape, real, true, false);
    let fake = g.forward(tape, z, true, true);
    let fake_logits = d.forward(tape, &fake, true, false);
    let d_loss = {
        let _scope = Scope::enter("loss");
        let loss_real = tape.sigmoid_cross_entropy(&real_logits, ones);
        let loss_fake = tape.sigmoid_cross_entropy(&fake_logits, zeros);
        tape.add(&loss_real, &loss_fake)
    };
    let grads = tape.backward(&d_loss);
    (d_loss, grads, (real_logits, fake_logits))
}

/// The generator's non-saturating loss (G(z) -> 1) and its gradients, D frozen.
pub fn g_loss_and_gradients(tape: &mut Tape, g: &Generator, d: &Discriminator, z: &Tensor, ones: &Tensor) -> (Tensor, Gradients) {
    let fake = g.forward(tape, z, true, false);
    let logits = d.forward(tape, &fake, true, true);
    let loss = {
        let _scope = Scope::enter("loss");
        tape.sigmoid_cross_entropy(&logits, ones)
    };
    let grads = tape.backward(&loss);
    (loss, grads)
}

/// One training step, recorded but not submitted: a discriminator update, then `g_steps`
/// generator updates. Returns the D loss and the last G loss, still on the GPU.
pub fn train_step(gpu: &Gpu, state: &mut GanState, real: &Tensor, z: &Tensor, ones: &Tensor, zeros: &Tensor, g_steps: usize) -> (Tensor, Tensor) {
    let step = train_step_in_full(gpu, state, real, z, ones, zeros, g_steps, false);
    (step.d_loss, step.g_loss)
}

/// What one step computed, still on the GPU.
pub struct StepOutput {
    pub d_loss: Tensor,
    /// The last G update's loss.
    pub g_loss: Tensor,
    /// D's logits on the real and the generated batch of its update ([B, 1] each).
    pub logits: (Tensor, Tensor),
    /// The gradients D's update and the last G update applied, when asked to keep them
    /// (they hold a model's worth of buffers the next update could otherwise reuse).
    pub grads: Option<(Gradients, Gradients)>,
}

/// [`train_step`], keeping D's logits and, with `keep_gradients`, both updates' gradients.
#[allow(clippy::too_many_arguments)]
pub fn train_step_in_full(gpu: &Gpu, state: &mut GanState, real: &Tensor, z: &Tensor, ones: &Tensor, zeros: &Tensor, g_steps: usize, keep_gradients: bool) -> StepOutput {
    let d_params = trainable(&state.d.named());
    let g_params = trainable(&state.g.named());
    // The scopes label the step's dispatches for a profile (the Lab's kernel view).
    let (d_loss, d_grads, logits) = {
        let _scope = Scope::enter("D step");
        let (d_loss, grads, logits) = d_loss_gradients_and_logits(&mut Tape::new(gpu), &state.g, &state.d, real, z, ones, zeros);
        let _adam = Scope::enter("adam");
        state.adam_d.step(gpu, &d_params.iter().collect::<Vec<_>>(), &grads);
        (d_loss, keep_gradients.then_some(grads), logits)
    };
    let mut g_last = None;
    for _ in 0..g_steps.max(1) {
        let _scope = Scope::enter("G step");
        let (loss, grads) = g_loss_and_gradients(&mut Tape::new(gpu), &state.g, &state.d, z, ones);
        let _adam = Scope::enter("adam");
        state.adam_g.step(gpu, &g_params.iter().collect::<Vec<_>>(), &grads);
        g_last = Some((loss, grads));
    }
    let Some((g_loss, g_grads)) = g_last else { unreachable!("g_steps.max(1) runs at least once") };
    let grads = d_grads.map(|d| (d, g_grads));
    StepOutput { d_loss, g_loss, logits, grads }
}

/// A training run taken one step at a time: the models with their optimisers, the step's
/// buffers and the batch order. Every random draw comes from (seed, what, step), so a run
/// continued from a checkpoint at step k goes on bit for bit like one that never stopped.
/// `train` loops over it; the page's Lab steps it between completion jobs.
pub struct Trainer {
    pub state: GanState,
    pub batch: usize,
    pub g_steps: usize,
    pub seed: u64,
    /// Flip each real image left-right with probability 1/2.
    pub flip: bool,
    /// Steps completed.
    pub steps: u64,
    /// The last step's logits and gradients (see [`StepOutput`]).
    pub last: Option<StepOutput>,
    /// Keep the next step's gradients in `last` (the Lab's norms).
    pub keep_gradients: bool,
    real: Tensor,
    z: Tensor,
    ones: Tensor,
    zeros: Tensor,
    /// The epoch whose shuffled order `order` holds.
    order: Option<(u64, Vec<usize>)>,
}

impl Trainer {
    pub fn new(gpu: &Gpu, arch: &Architecture, batch: usize, g_steps: usize, seed: u64, flip: bool, adam: AdamConfig) -> Trainer {
        let (c, s) = (arch.channels, arch.image_size);
        Trainer {
            state: GanState::new(gpu, arch, seed, adam),
            batch,
            g_steps,
            seed,
            flip,
            steps: 0,
            last: None,
            keep_gradients: false,
            real: Tensor::empty(gpu, &[batch, c, s, s]),
            z: Tensor::empty(gpu, &[batch, arch.z_dim]),
            ones: elementwise::full(gpu, &[batch, 1], 1.0),
            zeros: Tensor::zeros(gpu, &[batch, 1]),
            order: None,
        }
    }

    /// Whole batches in one pass over `data` (at least 1).
    pub fn steps_per_epoch(&self, data: &Dataset) -> u64 {
        ((data.len() / self.batch) as u64).max(1)
    }

    /// Record the next step on the next batch of `data` (not submitted) and count it;
    /// returns the D loss and the last G loss, still on the GPU.
    pub fn record_step(&mut self, gpu: &Gpu, data: &Dataset) -> (Tensor, Tensor) {
        let (b, step) = (self.batch, self.steps);
        self.last = None; // its buffers go back to the pool for this step
        let per_epoch = self.steps_per_epoch(data);
        let epoch = step / per_epoch;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, data.epoch_order(self.seed, epoch)));
        }
        let k = (step % per_epoch) as usize;
        let Some((_, order)) = &self.order else { unreachable!("the order was just made") };
        let indices = &order[k * b..(k + 1) * b];
        let mut flip_rng = Rng::derived(self.seed, &[FLIP_STREAM, step]);
        let flips: Vec<bool> = (0..b).map(|_| self.flip && flip_rng.uniform() < 0.5).collect();
        self.real.write(gpu, &data.batch(indices, &flips));
        let zd = self.z.shape()[1];
        self.z.write(gpu, &uniform_z(&mut Rng::derived(self.seed, &[Z_STREAM, step]), b, zd));
        self.steps += 1;
        let step = train_step_in_full(gpu, &mut self.state, &self.real, &self.z, &self.ones, &self.zeros, self.g_steps, self.keep_gradients);
        let losses = (step.d_loss.clone(), step.g_loss.clone());
        self.last = Some(step);
        losses
    }
}
