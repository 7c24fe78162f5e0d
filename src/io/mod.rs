//! Files and pictures, on the ground floor beside the engine: no GPU and no model here
//! (`model::weights` loads a weights file into a model), so every format and every check
//! of a path can be tested without an adapter.

pub mod data;
pub mod npy;
pub mod output;
pub mod picture;
pub mod weights;
