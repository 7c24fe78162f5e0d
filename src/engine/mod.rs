//! The compute engine, bottom to top:
//!
//! - `gpu`       adapter and device, pipeline cache (naga reflection), buffer pool, recorder
//! - `variants`  the kernel sets (portable, simd8, tiled*) and which adapters run each
//! - `tune`      `--kernels auto`: each product's set per shape, measured and cached
//! - `tensor`    shape + dtype + pooled storage
//! - `ops`       one module per op family: named bindings, typed params, forward and
//!   backward side by side, the CPU reference; a family with several kernel sets lists
//!   its implementations in one registry
//! - `tape`      autograd: ops record in forward order, backward walks them back
//! - `optim`     Adam over parameter lists (for weights and for z alike)

pub mod gpu;
pub mod ops;
pub mod optim;
pub mod tape;
pub mod tensor;
pub mod tune;
pub mod variants;
