//! The encoder E that starts the inversion (Zhu et al. 2020, In-Domain GAN Inversion: an
//! encoder gives the starting z, then optimisation refines it). E is a D-like stack that
//! reads the known pixels and the mask and answers a latent:
//!   x[B, c+1, s, s] = (y * M, M) -> stages x (conv k, stride 2, "SAME": size halves, width
//!     doubles from df -> BN except after the first -> leaky-ReLU 0.2)
//!     -> flatten -> linear -> z_dim -> tanh                          => z[B, z_dim] in (-1, 1)
//! It is trained with G frozen (`train-encoder`) so that G(E(y * M, M)) matches y.

use super::{Architecture, Layer, Named, conv_stack_forward, conv_stack_init, push_bn, push_layer, use_layer};
use crate::engine::gpu::Gpu;
use crate::engine::ops::batchnorm::BatchNorm;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;
use crate::rng::Rng;

pub struct Encoder {
    pub arch: Architecture,
    /// conv0..stages-1: weight [out, in, k, k]; conv0 reads c + 1 channels
    pub convs: Vec<Layer>,
    /// bn1..stages-1, after each conv but the first
    pub bns: Vec<BatchNorm>,
    /// flatten -> z: weight [z_dim, top*16]
    pub fc: Layer,
}

/// The name every encoder tensor starts with in a weights file.
pub const PREFIX: &str = "e.";

impl Encoder {
    pub fn init(gpu: &Gpu, arch: &Architecture, rng: &mut Rng) -> Encoder {
        let (convs, bns) = conv_stack_init(gpu, arch, arch.channels + 1, rng);
        let fc = Layer::init(gpu, rng, &[arch.z_dim, arch.d_top_channels() * 16], arch.z_dim);
        Encoder { arch: *arch, convs, bns, fc }
    }

    /// The encoder's input for images `y` [B, c, s, s] with masks `m` [B, s, s] (1 = known):
    /// [B, c + 1, s, s], the known pixels (0 in the hole) then the mask.
    pub fn input(y: &[f32], m: &[f32], batch: usize, c: usize, s: usize) -> Vec<f32> {
        let plane = s * s;
        let mut x = Vec::with_capacity(batch * (c + 1) * plane);
        for b in 0..batch {
            let mask = &m[b * plane..(b + 1) * plane];
            for ch in 0..c {
                let image = &y[(b * c + ch) * plane..(b * c + ch + 1) * plane];
                x.extend(image.iter().zip(mask).map(|(v, k)| v * k));
            }
            x.extend_from_slice(mask);
        }
        x
    }

    /// x [B, c+1, s, s] -> z [B, z_dim]. `train`: batch statistics in BN (and running-stat
    /// updates); `frozen`: no gradients to E's parameters.
    pub fn forward(&self, tape: &mut Tape, x: &Tensor, train: bool, frozen: bool) -> Tensor {
        let h = conv_stack_forward(tape, x, &self.convs, &self.bns, &self.arch, "e", train, frozen, None); // [B, top*16]
        let fc = use_layer(&self.fc, frozen);
        let z = tape.linear(&h, &fc.weight, Some(&fc.bias)); //                  [B, z_dim]
        tape.tanh(&z)
    }

    /// Every tensor of the encoder with its file name (`e.conv0.weight`, ...).
    pub fn named(&self) -> Named {
        let mut out = Vec::new();
        for (i, l) in self.convs.iter().enumerate() {
            push_layer(&mut out, &format!("e.conv{i}"), l);
        }
        for (i, bn) in self.bns.iter().enumerate() {
            push_bn(&mut out, &format!("e.bn{}", i + 1), bn);
        }
        push_layer(&mut out, "e.fc", &self.fc);
        out
    }
}
