//! The model's side of a weights or checkpoint file (`io::weights` is the format): the
//! architecture recorded in its metadata, and its tensors into and out of a model on the GPU,
//! with every name, shape and value checked before a kernel sees it.

use std::collections::HashMap;
use std::path::Path;

use super::encoder::{self, Encoder};
use super::{Architecture, Discriminator, Generator, Named};
use crate::engine::gpu::Gpu;
use crate::error::{Error, Result};
use crate::io::weights::{FORMAT_VERSION, HostTensor, TensorFile, read};
use crate::rng::Rng;

/// Download every tensor of `named` (for saving).
pub fn snapshot(gpu: &Gpu, named: &Named) -> Result<Vec<HostTensor>> {
    named.iter().map(|(name, t, _)| Ok((name.clone(), t.shape().to_vec(), t.try_to_vec(gpu)?))).collect()
}

/// Metadata every file starts with.
pub fn base_metadata(arch: &Architecture, kind: &str) -> HashMap<String, String> {
    HashMap::from([
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("kind".to_string(), kind.to_string()),
        ("architecture".to_string(), arch.to_json()),
    ])
}

/// Copy G and D (with BN running statistics) out of a checkpoint into a weights file.
pub fn export_checkpoint(checkpoint: &Path, out: &Path, f16: bool) -> Result<()> {
    let file = crate::io::weights::read(checkpoint)?;
    let arch = architecture(&file)?;
    let mut tensors: Vec<HostTensor> = file
        .tensors
        .iter()
        .filter(|(name, _)| name.starts_with("g.") || name.starts_with("d."))
        .map(|(name, (shape, data))| (name.clone(), shape.clone(), data.clone()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    if tensors.is_empty() {
        return Err(Error::new(format!("{} holds no g.* / d.* tensors", checkpoint.display())));
    }
    let mut meta = base_metadata(&arch, "weights");
    if let Ok(step) = file.meta("step") {
        meta.insert("trained_steps".into(), step.to_string());
    }
    crate::io::weights::write(out, &tensors, meta, f16)
}

/// The `train_config` a checkpoint records (what `train --resume` compares with its flags):
/// `train` and the Lab's Save write the same.
pub fn train_config_json(data: &str, exclude: &[String], flip: bool, batch: usize, g_steps: usize, adam: &crate::engine::ops::adam::AdamConfig) -> serde_json::Value {
    serde_json::json!({
        "data": data, "exclude": exclude, "flip": flip,
        "batch": batch, "g_steps": g_steps, "lr": adam.lr, "beta1": adam.beta1,
        "beta2": adam.beta2, "eps": adam.eps,
    })
}

/// The architecture recorded in `file`.
pub fn architecture(file: &TensorFile) -> Result<Architecture> {
    let version = file.meta("format_version")?;
    if version != FORMAT_VERSION {
        return Err(Error::new(format!("{} has format version {version}; this program reads version {FORMAT_VERSION}", file.path.display())));
    }
    let arch = Architecture::from_json(file.meta("architecture")?).map_err(|e| Error::new(format!("{}: {e}", file.path.display())))?;
    arch.validate().map_err(|e| Error::new(format!("{}: {e}", file.path.display())))?;
    Ok(arch)
}

/// Fail unless `file`'s architecture is `want`, naming every difference.
pub fn expect_architecture(file: &TensorFile, want: &Architecture) -> Result<()> {
    let found = architecture(file)?;
    if found != *want {
        return Err(Error::new(format!(
            "{} holds a model of another architecture: {}. Pass matching --image-size/--channels/--z-dim/--gf/--df/--kernel, or other weights",
            file.path.display(),
            found.differences(want)
        )));
    }
    Ok(())
}

/// Copy `file`'s values into `named`, checking every name and shape, and that batchnorm
/// running variances are not negative (the square root of a negative variance is NaN: every
/// image would come out as the same flat texture).
pub fn load_into(file: &TensorFile, gpu: &Gpu, named: &Named) -> Result<()> {
    for (name, tensor, _) in named {
        let Some((shape, data)) = file.tensors.get(name) else {
            return Err(Error::new(format!("{}: tensor {name} is missing (expected shape {:?})", file.path.display(), tensor.shape())));
        };
        if shape != tensor.shape() {
            return Err(Error::new(format!("{}: tensor {name} has shape {shape:?}, expected {:?}", file.path.display(), tensor.shape())));
        }
        if name.ends_with(".running_var")
            && let Some(i) = data.iter().position(|v| *v < 0.0)
        {
            return Err(Error::new(format!(
                "{}: tensor {name} holds the variance {} at item {i}; a variance is never negative, so the file is damaged",
                file.path.display(),
                data[i]
            )));
        }
        tensor.write(gpu, data);
    }
    Ok(())
}

/// The architecture of `file`, once it is known to fit `gpu` (a model whose weights the
/// adapter cannot hold is refused before anything is allocated).
fn fitting_architecture(gpu: &Gpu, file: &TensorFile) -> Result<Architecture> {
    let arch = architecture(file)?;
    arch.check_fits(gpu, 1, "", "its weights need an adapter that binds larger buffers").map_err(|e| Error::new(format!("{}: {e}", file.path.display())))?;
    Ok(arch)
}

/// The generator stored in a weights or checkpoint file.
pub fn load_generator(gpu: &Gpu, path: &Path) -> Result<Generator> {
    let file = read(path)?;
    let g = Generator::init(gpu, &fitting_architecture(gpu, &file)?, &mut Rng::new(0));
    load_into(&file, gpu, &g.named())?;
    Ok(g)
}

/// G and D of a weights (or checkpoint) file.
pub fn load_gan(gpu: &Gpu, path: &Path) -> Result<(Generator, Discriminator)> {
    let file = read(path)?;
    let arch = fitting_architecture(gpu, &file)?;
    let g = Generator::init(gpu, &arch, &mut Rng::new(0));
    let d = Discriminator::init(gpu, &arch, &mut Rng::new(0));
    load_into(&file, gpu, &g.named())?;
    load_into(&file, gpu, &d.named())?;
    Ok((g, d))
}

/// The metadata key of the 99th percentile of the generator's fits on pictures it knows
/// (written by `calibrate`).
pub const FIT_P99: &str = "fit_p99";

/// The fit past which a picture looks unlike what the model in `path` knows, if calibrated.
pub fn fit_p99(path: &Path) -> Option<f32> {
    crate::io::weights::read_metadata(path).ok()?.get(FIT_P99)?.parse().ok().filter(|v: &f32| v.is_finite() && *v > 0.0)
}

/// The metadata key describing how the encoder was trained (`train-encoder`).
pub const ENCODER_META: &str = "encoder";

/// The encoder stored beside G and D (`train-encoder`), if the file holds one: its tensors
/// get the same checks as the generator's (names, shapes, finite values, variances).
pub fn load_encoder(gpu: &Gpu, path: &Path) -> Result<Option<Encoder>> {
    let file = read(path)?;
    if !file.tensors.keys().any(|k| k.starts_with(encoder::PREFIX)) {
        return Ok(None);
    }
    let arch = fitting_architecture(gpu, &file)?;
    let e = Encoder::init(gpu, &arch, &mut Rng::new(0));
    load_into(&file, gpu, &e.named())?;
    Ok(Some(e))
}
