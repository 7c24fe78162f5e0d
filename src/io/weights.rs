//! Weights and checkpoints as one `.safetensors` file in PyTorch's layouts (see
//! weights/README.md for the tensor names). `__metadata__` carries `format_version`,
//! `kind` ("weights" or "checkpoint") and `architecture` (a JSON object), plus the
//! training counters in checkpoints. Files are written to a temporary name and renamed,
//! so a crash never leaves a broken or missing file behind.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::engine::gpu::Gpu;
use crate::model::{Architecture, Discriminator, Generator, Named};
use crate::rng::Rng;

pub const FORMAT_VERSION: &str = "1";

/// One tensor on the host: name, shape, values.
pub type HostTensor = (String, Vec<usize>, Vec<f32>);

/// A file's tensors (widened to f32) and metadata.
pub struct TensorFile {
    pub path: PathBuf,
    pub metadata: HashMap<String, String>,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Download every tensor of `named` (for saving).
pub fn snapshot(gpu: &Gpu, named: &Named) -> Vec<HostTensor> {
    named.iter().map(|(name, t, _)| (name.clone(), t.shape().to_vec(), t.to_vec(gpu))).collect()
}

/// Write `tensors` with `metadata` to `path` atomically (temporary file, fsync, rename).
/// With `f16`, values are stored as IEEE half floats.
pub fn write(path: &Path, tensors: &[HostTensor], metadata: HashMap<String, String>, f16: bool) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, data)| {
            if f16 {
                data.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
            } else {
                data.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
        })
        .collect();
    let dtype = if f16 { safetensors::Dtype::F16 } else { safetensors::Dtype::F32 };
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), b).expect("tensor view of matching size");
            (name.clone(), view)
        })
        .collect();
    let serialized = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::new(format!("cannot serialise {}: {e}", path.display())))?;

    let tmp = path.with_extension("safetensors.tmp");
    let write_tmp = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serialized)?;
        f.sync_all()
    };
    write_tmp().map_err(|e| Error::new(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::new(format!("cannot rename {} to {}: {e}", tmp.display(), path.display())))
}

/// The largest `.safetensors` header read (safetensors' own limit is 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// The metadata of a `.safetensors` file, from its header alone: the file's size is
/// checked against the header before any tensor data is read, so a lying header, a
/// device (`/dev/zero`) or a huge unrelated file is refused without reading it whole.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    Ok(read_header(path)?.0)
}

/// (metadata, header length) after checking that the header describes exactly this file.
fn read_header(path: &Path) -> Result<(HashMap<String, String>, u64)> {
    use std::io::Read;
    let corrupt = |why: String| Error::new(format!("{} is not a readable .safetensors file ({why}); it may be truncated or corrupt", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| Error::new(format!("cannot read weights file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::new(format!("{} is not a regular file; pass a .safetensors weights or checkpoint file", path.display())));
    }
    let len = meta.len();
    let mut f = std::fs::File::open(path).map_err(|e| Error::new(format!("cannot read weights file {}: {e}", path.display())))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| corrupt(format!("{len} bytes, too short for a header")))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_BYTES || n > len - 8 {
        return Err(corrupt(format!("its header claims {n} bytes, the file has {len}")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| corrupt(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_slice(&header).map_err(|e| corrupt(format!("header is not JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| corrupt("header is not a JSON object".into()))?;
    let mut end = 0u64;
    let mut metadata = HashMap::new();
    for (key, value) in obj {
        if key == "__metadata__" {
            for (k, v) in value.as_object().into_iter().flatten() {
                metadata.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        let offsets = value.get("data_offsets").and_then(|o| o.as_array()).ok_or_else(|| corrupt(format!("tensor {key} has no data_offsets")))?;
        end = end.max(offsets.get(1).and_then(|v| v.as_u64()).ok_or_else(|| corrupt(format!("tensor {key} has bad data_offsets")))?);
    }
    if 8 + n + end != len {
        return Err(corrupt(format!("its header describes {} bytes, the file has {len}", 8 + n + end)));
    }
    Ok((metadata, n))
}

/// Read a weights or checkpoint file; f16 and bf16 tensors are widened to f32. Values
/// that are not finite (NaN, infinity) are refused: they come from a damaged file or a
/// diverged run and would only produce garbage.
pub fn read(path: &Path) -> Result<TensorFile> {
    read_header(path)?;
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("cannot read weights file {}: {e}", path.display())))?;
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::new(format!("{} is not a readable .safetensors file ({e}); it may be truncated or corrupt", path.display()))
    };
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(&e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| corrupt(&e))?;
    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        let data: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            safetensors::Dtype::F16 => {
                view.data().chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            safetensors::Dtype::BF16 => {
                view.data().chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            other => return Err(Error::new(format!("{}: tensor {name} has dtype {other:?}; only f32, f16 and bf16 are supported", path.display()))),
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::new(format!(
                "{}: tensor {name} holds {} at item {i}; the file is damaged or comes from a diverged run",
                path.display(),
                data[i]
            )));
        }
        tensors.insert(name, (view.shape().to_vec(), data));
    }
    Ok(TensorFile { path: path.to_path_buf(), metadata: header.metadata().clone().unwrap_or_default(), tensors })
}

impl TensorFile {
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            Error::new(format!("{} has no \"{key}\" in its metadata; it was not written by dcgan-inpaint (see weights/README.md)", self.path.display()))
        })
    }

    pub fn meta_u64(&self, key: &str) -> Result<u64> {
        let v = self.meta(key)?;
        v.parse().map_err(|_| Error::new(format!("{}: metadata \"{key}\" is not a number: {v}", self.path.display())))
    }

    /// The architecture recorded in the file.
    pub fn architecture(&self) -> Result<Architecture> {
        let version = self.meta("format_version")?;
        if version != FORMAT_VERSION {
            return Err(Error::new(format!(
                "{} has format version {version}; this program reads version {FORMAT_VERSION}",
                self.path.display()
            )));
        }
        let arch = Architecture::from_json(self.meta("architecture")?)
            .map_err(|e| Error::new(format!("{}: {e}", self.path.display())))?;
        arch.validate().map_err(|e| Error::new(format!("{}: {e}", self.path.display())))?;
        Ok(arch)
    }

    /// Fail unless the file's architecture is `want`, naming every difference.
    pub fn expect_architecture(&self, want: &Architecture) -> Result<()> {
        let found = self.architecture()?;
        if found != *want {
            return Err(Error::new(format!(
                "{} holds a model of another architecture: {}. Pass matching --image-size/--channels/--z-dim/--gf/--df/--kernel, or other weights",
                self.path.display(),
                found.differences(want)
            )));
        }
        Ok(())
    }

    /// Copy the file's values into `named`, checking every name and shape.
    pub fn load_into(&self, gpu: &Gpu, named: &Named) -> Result<()> {
        for (name, tensor, _) in named {
            let Some((shape, data)) = self.tensors.get(name) else {
                return Err(Error::new(format!("{}: tensor {name} is missing (expected shape {:?})", self.path.display(), tensor.shape())));
            };
            if shape != tensor.shape() {
                return Err(Error::new(format!(
                    "{}: tensor {name} has shape {shape:?}, expected {:?}",
                    self.path.display(),
                    tensor.shape()
                )));
            }
            tensor.write(gpu, data);
        }
        Ok(())
    }
}

/// Metadata every file starts with.
pub fn base_metadata(arch: &Architecture, kind: &str) -> HashMap<String, String> {
    HashMap::from([
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("kind".to_string(), kind.to_string()),
        ("architecture".to_string(), arch.to_json()),
    ])
}

/// The generator stored in a weights or checkpoint file.
pub fn load_generator(gpu: &Gpu, path: &Path) -> Result<Generator> {
    let file = read(path)?;
    let g = Generator::init(gpu, &file.architecture()?, &mut Rng::new(0));
    file.load_into(gpu, &g.named())?;
    Ok(g)
}

/// G and D of a weights (or checkpoint) file.
pub fn load_gan(gpu: &Gpu, path: &Path) -> Result<(Generator, Discriminator)> {
    let file = read(path)?;
    let arch = file.architecture()?;
    let g = Generator::init(gpu, &arch, &mut Rng::new(0));
    let d = Discriminator::init(gpu, &arch, &mut Rng::new(0));
    file.load_into(gpu, &g.named())?;
    file.load_into(gpu, &d.named())?;
    Ok((g, d))
}
