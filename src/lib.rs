//! dcgan-inpaint: semantic image inpainting with a DCGAN, on a hand-written wgpu compute
//! engine. Layers, top to bottom (each file uses only what stands below it):
//!
//! - `optim`            Adam over parameter lists
//! - `tape`             autograd: ops record in forward order, backward walks them back
//! - `ops::*`           one file per kernel family: GPU binding + CPU reference
//! - `tensor`           shape + pooled storage buffer
//! - `gpu::*`           adapter/device, pipeline cache, buffer pool, command recording

pub mod bench;
pub mod complete;
pub mod data;
pub mod error;
pub mod gpu;
pub mod npy;
pub mod ops;
pub mod model;
pub mod optim;
pub mod picture;
pub mod rng;
pub mod sample;
pub mod tape;
pub mod tensor;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
pub use gpu::Gpu;
pub use tape::{Gradients, Tape};
pub use tensor::Tensor;
