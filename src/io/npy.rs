//! Minimal `.npy` reading and writing for float32 C-order arrays: enough for latent
//! vectors (`--z`, `--z-init`, `--save-z`), raw generator output and test fixtures.

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Read a float32 C-order array: (shape, data).
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    if !path.is_file() {
        return Err(Error::new(format!("{} is not a regular file; pass a float32 .npy file", path.display())));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    parse_f32(&bytes).map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

fn parse_f32(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let quoted = format!("'{key}'");
        let at = header.find(&quoted).ok_or(format!("header lacks '{key}'"))?;
        if header[at + quoted.len()..].contains(&quoted) {
            return Err(format!("header names '{key}' twice; it is not a file numpy wrote"));
        }
        Ok(header[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start())
    };
    let descr = field("descr")?;
    if descr.starts_with("'>f4'") {
        return Err("holds big-endian float32; save it little-endian (in numpy: np.save(path, a.astype('<f4')))".into());
    }
    if !descr.starts_with("'<f4'") && !descr.starts_with("'float32'") {
        return Err(format!(
            "holds {} values; float32 is needed (in numpy: np.save(path, a.astype(np.float32)))",
            descr.split(',').next().unwrap_or("?")
        ));
    }
    if field("fortran_order")?.starts_with("True") {
        return Err("is Fortran-ordered; save it C-ordered (np.ascontiguousarray)".into());
    }
    let shape_text = field("shape")?;
    let inner = shape_text.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or("malformed shape")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("malformed shape ({inner})")))
        .collect::<std::result::Result<_, _>>()?;
    // Checked: a lying shape whose product wraps around must not pass the size check.
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|c| c.checked_mul(4).is_some())
        .ok_or_else(|| format!("shape {shape:?} is too large to address"))?;
    let data = &bytes[start + header_len..];
    if data.len() < count * 4 {
        return Err(format!("shape {shape:?} needs {} bytes of data, the file has {} (truncated?)", count * 4, data.len()));
    }
    if data.len() > count * 4 {
        return Err(format!("shape {shape:?} needs {} bytes of data, the file has {} more after them; it is not a file numpy wrote", count * 4, data.len() - count * 4));
    }
    let values: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("holds {} at item {i}; only finite values are accepted", values[i]));
    }
    Ok((shape, values))
}

/// Write a float32 C-order array (format version 1.0).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy: shape {shape:?} does not match {} values", data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(unpadded + 64 + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    crate::io::output::write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for shape in [vec![2usize, 3], vec![5], vec![1, 1, 2, 2], vec![0, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let p = dir.join("a.npy");
            write_f32(&p, &shape, &data).unwrap();
            assert_eq!(read_f32(&p).unwrap(), (shape, data));
        }
        let p = dir.join("a.npy");
        write_f32(&p, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_f32(&p).unwrap_err().to_string();
        assert!(err.contains("a.npy") && err.contains("truncated"), "{err}");
        std::fs::write(&p, b"hello").unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("not a .npy"));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A header whose shape's product wraps around to 0 in a usize is refused, not read.
    #[test]
    fn a_shape_that_overflows_is_refused() {
        let dir = std::env::temp_dir().join(format!("npy-overflow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("wrap.npy");
        write_f32(&p, &[1, 1], &[0.0]).unwrap();
        // Same header length: the longer shape takes the place of padding spaces.
        let bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(6).position(|w| w == b"(1, 1)").expect("the shape in the header");
        let mut lying = bytes[..at].to_vec();
        lying.extend_from_slice(b"(4294967296, 4294967296)");
        lying.extend_from_slice(&bytes[at + 24..]);
        assert_eq!(lying.len(), bytes.len());
        std::fs::write(&p, &lying).unwrap();
        let err = read_f32(&p).unwrap_err().to_string();
        assert!(err.contains("too large to address") && err.contains("wrap.npy"), "{err}");
    }
}
