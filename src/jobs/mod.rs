//! One module per command. A job uses `inpaint`, `model`, `io` and `engine`, never another job.

pub mod bench;
pub mod calibrate;
pub mod complete;
pub mod sample;
pub mod serve;
pub mod train;
pub mod train_encoder;
