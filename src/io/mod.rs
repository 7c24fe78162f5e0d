//! Files and pictures: no kernels here. `weights` and `data` use the model's
//! `Architecture` and the engine's tensors to load and save; nothing here imports a job.

pub mod data;
pub mod npy;
pub mod output;
pub mod picture;
pub mod weights;
