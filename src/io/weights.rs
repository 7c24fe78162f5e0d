//! Weights and checkpoints as one `.safetensors` file in PyTorch's layouts (see
//! weights/README.md for the tensor names). `__metadata__` carries `format_version`,
//! `kind` ("weights" or "checkpoint") and `architecture` (a JSON object), plus the
//! training counters in checkpoints. Files are written to a temporary name and renamed,
//! so a crash never leaves a broken or missing file behind.
//!
//! This is the file format only: no GPU and no model. What the tensors mean, and loading
//! them into a model on the GPU, is `model::weights`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const FORMAT_VERSION: &str = "1";

/// One tensor on the host: name, shape, values.
pub type HostTensor = (String, Vec<usize>, Vec<f32>);

/// A file's tensors (widened to f32) and metadata.
pub struct TensorFile {
    pub path: PathBuf,
    pub metadata: HashMap<String, String>,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// The largest magnitude an IEEE half float holds.
const F16_MAX: f32 = 65504.0;

/// Write `tensors` with `metadata` to `path` atomically (temporary file, fsync, rename).
/// With `f16`, values are stored as IEEE half floats; a value beyond their range is refused
/// (it would be stored as infinity, which every reader refuses), naming the tensor.
pub fn write(path: &Path, tensors: &[HostTensor], metadata: HashMap<String, String>, f16: bool) -> Result<()> {
    if f16 {
        for (name, _, data) in tensors {
            if let Some(i) = data.iter().position(|v| v.abs() > F16_MAX) {
                return Err(Error::new(format!(
                    "tensor {name} holds {} at item {i}, beyond the range of 16-bit floats (±{F16_MAX}); export without --f16",
                    data[i]
                )));
            }
        }
    }
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
    crate::io::output::write_atomic(path, &serialized)
}

/// Set `metadata` entries of a `.safetensors` file in place (atomically), its tensors' bytes
/// untouched: the header is rewritten, the data copied as they are.
pub fn set_metadata(path: &Path, entries: &[(&str, String)]) -> Result<()> {
    let (_, header_len) = read_header(path)?;
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("cannot read weights file {}: {e}", path.display())))?;
    let header_end = 8 + header_len as usize;
    let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..header_end])
        .map_err(|e| Error::new(format!("{} is not a readable .safetensors file ({e})", path.display())))?;
    let meta = header.entry("__metadata__").or_insert_with(|| serde_json::Value::Object(Default::default()));
    let Some(meta) = meta.as_object_mut() else {
        return Err(Error::new(format!("{}: its __metadata__ is not an object", path.display())));
    };
    for (key, value) in entries {
        meta.insert(key.to_string(), serde_json::Value::String(value.clone()));
    }
    let mut text = serde_json::to_vec(&header).map_err(|e| Error::new(format!("cannot encode the header of {}: {e}", path.display())))?;
    // The data start 8-aligned, as safetensors writes them.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[header_end..]);
    crate::io::output::write_atomic(path, &out)
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
    let Entries(entries) = serde_json::from_slice(&header).map_err(|e| corrupt(format!("header is not a JSON object: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    if let Some((key, _)) = entries.iter().find(|(key, _)| !seen.insert(key.as_str())) {
        return Err(corrupt(format!("its header names \"{key}\" twice")));
    }
    let mut end = 0u64;
    let mut metadata = HashMap::new();
    for (key, value) in &entries {
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

/// A header's top-level entries in file order, duplicates kept: read into a map, two
/// tensors of one name would silently become the last one.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
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
}
