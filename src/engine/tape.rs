//! The autograd tape.
//!
//! Ops run (are recorded on the GPU) as they are called and, when any input needs a
//! gradient, also append a node to the tape. `backward(loss)` walks the nodes in reverse,
//! one match arm per op, and computes only the input gradients that are needed: a frozen
//! parameter (`requires_grad == false`) gets no gradient kernel at all. Nothing is read
//! back to the host; forward, backward and the optimiser step end up in one submission.

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::gpu::{Gpu, Scope};
use crate::engine::ops::activation::{self, Activation};
use crate::engine::ops::batchnorm::{self, BatchNorm};
use crate::engine::ops::conv::{self, ConvGeometry};
use crate::engine::ops::{elementwise, linear, loss, pool, reduce};
use crate::engine::tensor::Tensor;

enum Op {
    Reshape { x: Tensor },
    Add { a: Tensor, b: Tensor },
    Sub { a: Tensor, b: Tensor },
    AvgPool { x: Tensor, f: usize },
    Mul { a: Tensor, b: Tensor },
    Scale { x: Tensor, alpha: f32 },
    Activation { x: Tensor, act: Activation },
    Linear { x: Tensor, w: Tensor, b: Option<Tensor> },
    Conv2d { x: Tensor, w: Tensor, b: Option<Tensor>, geometry: ConvGeometry },
    ConvTranspose2d { x: Tensor, w: Tensor, b: Option<Tensor>, geometry: ConvGeometry },
    /// `stats` are the (mean, invstd) the forward normalised with.
    BatchNorm { x: Tensor, bn: BatchNorm, stats: Tensor, train: bool },
    SumAll { x: Tensor, scale: f32 },
    SumAxis { x: Tensor, axis: usize, scale: f32 },
    SigmoidCe { logits: Tensor, targets: Tensor },
}

struct Node {
    out: Tensor,
    op: Op,
    /// The profiler scope it was recorded in (its layer): its gradient kernels get it too.
    scope: Option<Arc<str>>,
}

/// Gradients by tensor id, as returned by [`Tape::backward`].
#[derive(Default)]
pub struct Gradients {
    by_id: HashMap<u64, Tensor>,
}

impl Gradients {
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.by_id.get(&t.id())
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Add `g` to the gradient of `t`. Out of place, because one gradient tensor may be
    /// shared by several inputs (add passes dy to both sides).
    fn accumulate(&mut self, gpu: &Gpu, t: &Tensor, g: Tensor) {
        let g = if g.shape() == t.shape() { g } else { g.view(t.shape()) };
        let sum = match self.by_id.remove(&t.id()) {
            Some(prev) => elementwise::add(gpu, &prev, &g),
            None => g,
        };
        self.by_id.insert(t.id(), sum);
    }
}

pub struct Tape<'g> {
    gpu: &'g Gpu,
    nodes: Vec<Node>,
}

impl<'g> Tape<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Tape { gpu, nodes: Vec::new() }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Number of ops recorded (only those on a path that needs gradients).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Bytes of the op outputs the tape keeps for the backward pass (the activations).
    pub fn saved_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.out.numel() * 4).sum()
    }

    fn record(&mut self, out: Tensor, op: Op) -> Tensor {
        let needs_grad = match &op {
            Op::Reshape { x } | Op::Scale { x, .. } | Op::Activation { x, .. } => x.requires_grad(),
            Op::SumAll { x, .. } | Op::SumAxis { x, .. } => x.requires_grad(),
            Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } => a.requires_grad() || b.requires_grad(),
            Op::AvgPool { x, .. } => x.requires_grad(),
            Op::Linear { x, w, b } | Op::Conv2d { x, w, b, .. } | Op::ConvTranspose2d { x, w, b, .. } => {
                x.requires_grad() || w.requires_grad() || b.as_ref().is_some_and(|b| b.requires_grad())
            }
            Op::BatchNorm { x, bn, .. } => x.requires_grad() || bn.gamma.requires_grad() || bn.beta.requires_grad(),
            Op::SigmoidCe { logits, .. } => logits.requires_grad(),
        };
        let out = out.with_grad(needs_grad);
        if needs_grad {
            self.nodes.push(Node { out: out.clone(), op, scope: Scope::current() });
        }
        out
    }

    // ---- ops, in the order a network uses them -------------------------------------

    /// The same storage under another shape (C order), e.g. linear output -> [N, C, H, W].
    pub fn reshape(&mut self, x: &Tensor, shape: &[usize]) -> Tensor {
        let y = x.view(shape);
        self.record(y, Op::Reshape { x: x.clone() })
    }

    /// y[M, N] = x[M, K] W[N, K]^T + b[N]
    pub fn linear(&mut self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        let y = linear::forward(self.gpu, x, w, b);
        self.record(y, Op::Linear { x: x.clone(), w: w.clone(), b: b.cloned() })
    }

    /// y = conv2d(x, w) + b with `stride` and (possibly asymmetric) zero padding.
    pub fn conv2d(&mut self, x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: conv::Padding) -> Tensor {
        let geometry = ConvGeometry::conv2d(x.shape(), w.shape(), stride, pad);
        let y = conv::conv2d_forward(self.gpu, x, w, b, &geometry);
        self.record(y, Op::Conv2d { x: x.clone(), w: w.clone(), b: b.cloned(), geometry })
    }

    /// y = conv_transpose2d(x, w) + b for a geometry from `ConvGeometry::conv_transpose2d*`.
    pub fn conv_transpose2d(&mut self, x: &Tensor, w: &Tensor, b: Option<&Tensor>, geometry: ConvGeometry) -> Tensor {
        let y = conv::conv_transpose2d_forward(self.gpu, x, w, b, &geometry);
        self.record(y, Op::ConvTranspose2d { x: x.clone(), w: w.clone(), b: b.cloned(), geometry })
    }

    /// Batch normalisation; `train` uses and updates batch statistics, eval the running ones.
    pub fn batch_norm(&mut self, x: &Tensor, bn: &BatchNorm, train: bool) -> Tensor {
        let (y, stats) = batchnorm::forward(self.gpu, x, bn, train);
        self.record(y, Op::BatchNorm { x: x.clone(), bn: bn.clone(), stats, train })
    }

    pub fn activation(&mut self, x: &Tensor, act: Activation) -> Tensor {
        let y = activation::forward(self.gpu, act, x);
        self.record(y, Op::Activation { x: x.clone(), act })
    }

    pub fn relu(&mut self, x: &Tensor) -> Tensor {
        self.activation(x, Activation::Relu)
    }

    pub fn leaky_relu(&mut self, x: &Tensor, slope: f32) -> Tensor {
        self.activation(x, Activation::LeakyRelu(slope))
    }

    pub fn tanh(&mut self, x: &Tensor) -> Tensor {
        self.activation(x, Activation::Tanh)
    }

    pub fn add(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        let y = elementwise::add(self.gpu, a, b);
        self.record(y, Op::Add { a: a.clone(), b: b.clone() })
    }

    pub fn sub(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        let y = elementwise::sub(self.gpu, a, b);
        self.record(y, Op::Sub { a: a.clone(), b: b.clone() })
    }

    pub fn abs(&mut self, x: &Tensor) -> Tensor {
        self.activation(x, Activation::Abs)
    }

    pub fn softplus(&mut self, x: &Tensor) -> Tensor {
        self.activation(x, Activation::Softplus)
    }

    /// Means of non-overlapping f x f blocks of an NCHW tensor.
    pub fn avg_pool(&mut self, x: &Tensor, f: usize) -> Tensor {
        let y = pool::avg_pool_forward(self.gpu, x, f);
        self.record(y, Op::AvgPool { x: x.clone(), f })
    }

    pub fn mul(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        let y = elementwise::mul(self.gpu, a, b);
        self.record(y, Op::Mul { a: a.clone(), b: b.clone() })
    }

    pub fn scale(&mut self, x: &Tensor, alpha: f32) -> Tensor {
        let y = elementwise::scale(self.gpu, x, alpha);
        self.record(y, Op::Scale { x: x.clone(), alpha })
    }

    /// Sum of all items, shape [1].
    pub fn sum(&mut self, x: &Tensor) -> Tensor {
        let y = reduce::sum_all(self.gpu, x, 1.0);
        self.record(y, Op::SumAll { x: x.clone(), scale: 1.0 })
    }

    /// Mean of all items, shape [1].
    pub fn mean(&mut self, x: &Tensor) -> Tensor {
        let scale = 1.0 / x.numel().max(1) as f32;
        let y = reduce::sum_all(self.gpu, x, scale);
        self.record(y, Op::SumAll { x: x.clone(), scale })
    }

    /// Sum over one axis, which is removed from the shape.
    pub fn sum_axis(&mut self, x: &Tensor, axis: usize) -> Tensor {
        let y = reduce::sum_axis(self.gpu, x, axis, 1.0);
        self.record(y, Op::SumAxis { x: x.clone(), axis, scale: 1.0 })
    }

    /// Mean sigmoid cross-entropy of `logits` against `targets` (no gradient to targets).
    pub fn sigmoid_cross_entropy(&mut self, logits: &Tensor, targets: &Tensor) -> Tensor {
        let y = loss::sigmoid_ce_forward(self.gpu, logits, targets);
        self.record(y, Op::SigmoidCe { logits: logits.clone(), targets: targets.clone() })
    }

    // ---- backward ----------------------------------------------------------------

    /// Gradients of the scalar `loss` with respect to every tensor that requires them.
    /// Clears the tape.
    pub fn backward(&mut self, loss: &Tensor) -> Gradients {
        assert_eq!(loss.numel(), 1, "backward needs a scalar loss, got shape {:?}", loss.shape());
        let gpu = self.gpu;
        let mut grads = Gradients::default();
        if !loss.requires_grad() {
            self.nodes.clear();
            return grads;
        }
        grads.by_id.insert(loss.id(), elementwise::full(gpu, loss.shape(), 1.0));
        let nodes: Vec<Node> = self.nodes.drain(..).rev().collect();
        Scope::backward(|| {
            for node in nodes {
                let _scope = Scope::restore(node.scope.clone());
                Self::backward_node(gpu, &mut grads, node);
            }
        });
        grads
    }

    /// One node of `backward`: the gradients of its inputs from its output's.
    fn backward_node(gpu: &Gpu, grads: &mut Gradients, Node { out, op, .. }: Node) {
        // A node's output is never a leaf, so its gradient can go once it is used.
        let Some(dy) = grads.by_id.remove(&out.id()) else { return };
        match op {
            Op::Reshape { x } => grads.accumulate(gpu, &x, dy.view(x.shape())),
            Op::Add { a, b } => {
                if a.requires_grad() {
                    grads.accumulate(gpu, &a, dy.clone());
                }
                if b.requires_grad() {
                    grads.accumulate(gpu, &b, dy);
                }
            }
            Op::Sub { a, b } => {
                if a.requires_grad() {
                    grads.accumulate(gpu, &a, dy.clone());
                }
                if b.requires_grad() {
                    grads.accumulate(gpu, &b, elementwise::scale(gpu, &dy, -1.0));
                }
            }
            Op::AvgPool { x, f } => grads.accumulate(gpu, &x, pool::avg_pool_grad_input(gpu, &dy, x.shape(), f)),
            Op::Mul { a, b } => {
                if a.requires_grad() {
                    grads.accumulate(gpu, &a, elementwise::mul(gpu, &dy, &b));
                }
                if b.requires_grad() {
                    grads.accumulate(gpu, &b, elementwise::mul(gpu, &dy, &a));
                }
            }
            Op::Scale { x, alpha } => grads.accumulate(gpu, &x, elementwise::scale(gpu, &dy, alpha)),
            Op::Activation { x, act } => {
                grads.accumulate(gpu, &x, activation::grad_input(gpu, act, &x, &out, &dy));
            }
            Op::Linear { x, w, b } => {
                if x.requires_grad() {
                    grads.accumulate(gpu, &x, linear::grad_input(gpu, &dy, &w));
                }
                if w.requires_grad() {
                    grads.accumulate(gpu, &w, linear::grad_weight(gpu, &dy, &x));
                }
                if let Some(b) = b.filter(|b| b.requires_grad()) {
                    grads.accumulate(gpu, &b, linear::grad_bias(gpu, &dy));
                }
            }
            Op::Conv2d { x, w, b, geometry: g } => {
                if x.requires_grad() {
                    grads.accumulate(gpu, &x, conv::conv2d_grad_input(gpu, &dy, &w, &g));
                }
                if w.requires_grad() {
                    grads.accumulate(gpu, &w, conv::conv2d_grad_weight(gpu, &dy, &x, &g));
                }
                if let Some(b) = b.filter(|b| b.requires_grad()) {
                    grads.accumulate(gpu, &b, conv::conv2d_grad_bias(gpu, &dy, &g));
                }
            }
            Op::ConvTranspose2d { x, w, b, geometry: g } => {
                if x.requires_grad() {
                    grads.accumulate(gpu, &x, conv::conv_transpose2d_grad_input(gpu, &dy, &w, &g));
                }
                if w.requires_grad() {
                    grads.accumulate(gpu, &w, conv::conv_transpose2d_grad_weight(gpu, &dy, &x, &g));
                }
                if let Some(b) = b.filter(|b| b.requires_grad()) {
                    grads.accumulate(gpu, &b, conv::conv_transpose2d_grad_bias(gpu, &dy, &g));
                }
            }
            Op::BatchNorm { x, bn, stats, train } => {
                let params_need = bn.gamma.requires_grad() || bn.beta.requires_grad();
                // Training-mode dx needs the channel sums too; eval-mode dx does not.
                let sums = (params_need || (train && x.requires_grad()))
                    .then(|| batchnorm::grad_reduce(gpu, &dy, &x, &stats, &bn));
                if x.requires_grad() {
                    let dx = match &sums {
                        Some((dgamma, dbeta)) if train => batchnorm::grad_input(gpu, &dy, &x, &stats, &bn, dgamma, dbeta),
                        _ => batchnorm::eval_grad_input(gpu, &dy, &stats, &bn),
                    };
                    grads.accumulate(gpu, &x, dx);
                }
                if let Some((dgamma, dbeta)) = sums {
                    if bn.gamma.requires_grad() {
                        grads.accumulate(gpu, &bn.gamma, dgamma);
                    }
                    if bn.beta.requires_grad() {
                        grads.accumulate(gpu, &bn.beta, dbeta);
                    }
                }
            }
            Op::SumAll { x, scale } => {
                grads.accumulate(gpu, &x, reduce::sum_all_grad_input(gpu, &dy, x.shape(), scale));
            }
            Op::SumAxis { x, axis, scale } => {
                grads.accumulate(gpu, &x, reduce::sum_axis_grad_input(gpu, &dy, x.shape(), axis, scale));
            }
            Op::SigmoidCe { logits, targets } => {
                grads.accumulate(gpu, &logits, loss::sigmoid_ce_grad_input(gpu, &logits, &targets, &dy));
            }
        }
    }
}
