//! The inpainting objective of Yeh et al. (Amos' dcgan-completion): what `complete` runs
//! each iteration and `bench` times.
//!
//! For each row's image y with weights W (the mask M, or the paper's weighted mask):
//!   L(z) = sum_i W_i |G(z)_i - y_i|  +  lambda * prior(D(G(z)))
//! prior is log(1 - D) ("paper") or -log D ("nonsaturating"), written with the logit l as
//! -softplus(l) and softplus(-l). G and D run in eval mode and are frozen, so the backward
//! pass computes gradients for z alone. Each row's loss is its own term of the sum, so its
//! z gets its own gradient whatever the batch.

use super::{Discriminator, Generator};
use crate::engine::ops::elementwise;
use crate::engine::ops::project::L1Ball;
use crate::engine::optim::Adam;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;

/// Side of the blocks the low-resolution mask averages over (64x64 -> 8x8).
pub const LOWRES_BLOCK: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prior {
    /// log(1 - D(G(z))), as in the paper
    #[default]
    Paper,
    /// -log D(G(z)), as in Amos' code
    NonSaturating,
}

/// The loss besides its data: the prior and its weight, whether the contextual term
/// compares LOWRES_BLOCK block means (the lowres mask) instead of weighted pixels, and the
/// stage of G whose activation is optimised (0: z, as in the paper; k > 0: intermediate-layer
/// optimisation, Daras et al. 2021, which runs G from stage k).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub prior: Prior,
    pub lam: f32,
    pub lowres: bool,
    pub stage: usize,
}

/// The per-row loss terms of the current x (z, or the activation of `obj.stage`):
/// contextual [B], lambda-weighted prior [B], and G(x) [B, c, s, s]. Records on `tape`;
/// `target` is y (or its block means for lowres).
pub fn losses(tape: &mut Tape, g: &Generator, d: &Discriminator, x: &Tensor, target: &Tensor, weight: &Tensor, obj: &Objective) -> (Tensor, Tensor, Tensor) {
    let b = x.shape()[0];
    let gz = g.forward_between(tape, x, obj.stage, g.image_stage(), false, true); //  [B, c, s, s]
    let context_items = if obj.lowres {
        let pooled = tape.avg_pool(&gz, LOWRES_BLOCK); //               [B, c, s/8, s/8]
        let diff = tape.sub(&pooled, target);
        tape.abs(&diff)
    } else {
        let diff = tape.sub(&gz, target);
        let abs = tape.abs(&diff);
        tape.mul(&abs, weight)
    };
    let per_row = context_items.numel() / b;
    let context_items = tape.reshape(&context_items, &[b, per_row]);
    let contextual = tape.sum_axis(&context_items, 1); //               [B]
    let logits = d.forward(tape, &gz, false, true); //                  [B, 1]
    let logits = tape.reshape(&logits, &[b]);
    let prior = match obj.prior {
        Prior::Paper => {
            let sp = tape.softplus(&logits); //                         log(1 - D) = -softplus(l)
            tape.scale(&sp, -obj.lam)
        }
        Prior::NonSaturating => {
            let neg = tape.scale(&logits, -1.0); //                     -log D = softplus(-l)
            let sp = tape.softplus(&neg);
            tape.scale(&sp, obj.lam)
        }
    };
    (contextual, prior, gz)
}

/// One iteration, recorded but not submitted: the losses at x and G(x), then (with `adam`,
/// built over `[x]`) an Adam update of x and its projection: z is clipped to [-1, 1]; an
/// intermediate activation is projected onto an L1 ball around its starting value `x0`,
/// non-negative like the ReLU output it is (`ball`, made once per phase).
#[allow(clippy::too_many_arguments)]
pub fn iteration(g: &Generator, d: &Discriminator, x: &Tensor, adam: Option<&mut Adam>, target: &Tensor, weight: &Tensor, obj: &Objective, ball: Option<&L1Ball>, tape: &mut Tape) -> (Tensor, Tensor, Tensor) {
    let (contextual, prior, gz) = losses(tape, g, d, x, target, weight, obj);
    if let Some(adam) = adam {
        let total = tape.add(&contextual, &prior);
        let loss = tape.sum(&total);
        let grads = tape.backward(&loss);
        let gpu = tape.gpu();
        adam.step(gpu, &[x], &grads);
        match ball {
            None => elementwise::clamp(gpu, x, -1.0, 1.0),
            Some(ball) => ball.project(gpu, x),
        }
    }
    (contextual, prior, gz)
}
