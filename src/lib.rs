//! dcgan-inpaint: semantic image inpainting with a DCGAN, on a hand-written wgpu compute
//! engine. The folders are the floors; imports only point down (checked by tests/layers.rs):
//!
//! - `jobs`    one module per command (train, sample, complete, bench, serve); never imports another job
//! - `inpaint` the completion pipeline that complete, quality and serve share: masks, the
//!   z optimisation, blends and classical fills, metrics
//! - `model`   the DCGAN in forward order, the GAN training step, the inpainting objective,
//!   and weights files into and out of the model on the GPU
//! - `engine`  the compute engine: GPU, tensors, kernels (ops), the tape, Adam, kernel variants
//! - `io`      beside engine, on the ground floor: file formats and pictures (weights, .npy,
//!   image folders, PNG/GIF, checked and atomic outputs); no GPU and no model
//! - `error`, `rng`: leaves every floor may use

pub mod engine;
pub mod error;
pub mod inpaint;
pub mod io;
pub mod jobs;
pub mod model;
pub mod rng;

pub use engine::gpu::Gpu;
pub use engine::tape::{Gradients, Tape};
pub use engine::tensor::Tensor;
pub use error::{Error, Result};
