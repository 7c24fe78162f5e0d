//! Checks every command makes before it writes: an output is never one of the inputs, has
//! the extension of what is written, and never replaces a training checkpoint with
//! something else. Each refusal names the file and the fix.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::weights;

/// Whether two paths name the same existing file (through links and `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Refuse to write `out` (a `what`, e.g. "the sample grid") when it is one of `inputs`,
/// when its extension is not `extension`, or when it holds a training checkpoint that
/// this write would replace (only `train` writes checkpoints).
pub fn check(out: &Path, extension: &str, what: &str, inputs: &[&Path]) -> Result<()> {
    if let Some(input) = inputs.iter().find(|i| same_file(out, i)) {
        return Err(Error::new(format!(
            "{} is an input of this command ({}); write {what} to another file",
            out.display(),
            input.display()
        )));
    }
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.eq_ignore_ascii_case(extension) {
        return Err(Error::new(format!("{what} is a .{extension} file; {} has another extension (use e.g. {})", out.display(), out.with_extension(extension).display())));
    }
    if out.is_dir() {
        return Err(Error::new(format!("{} is a folder; name a .{extension} file for {what}", out.display())));
    }
    if out.exists() && extension == "safetensors" && weights::read_metadata(out).is_ok_and(|m| m.get("kind").is_some_and(|k| k == "checkpoint")) {
        return Err(Error::new(format!(
            "{} holds a training checkpoint (Adam moments, step, seed); it is not replaced by {what}: write to another file",
            out.display()
        )));
    }
    Ok(())
}

/// Refuse an output whose folder does not exist, before long work is done for it.
pub fn check_folder_of(out: &Path) -> Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::new(format!("cannot write {}: the folder {} does not exist", out.display(), parent.display())));
    }
    Ok(())
}

/// Files a `complete` run writes at the top of its output folder, besides one folder per
/// image (recognised by its `loss.csv`).
const RUN_FILES: [&str; 2] = ["summary.png", "metrics.json"];
const LOCK_FILE: &str = ".dcgan-inpaint.lock";

/// An output folder held by one run: a second run into it is refused while the first
/// lives, and results are never mixed. Released (the lock file removed) on drop.
pub struct FolderLock {
    lock: std::path::PathBuf,
}

impl FolderLock {
    /// Create `dir` if needed and take it. A folder that already holds files is refused
    /// unless `overwrite`, which removes the previous run's results (and nothing else).
    pub fn take(dir: &Path, overwrite: bool) -> Result<FolderLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        let lock = dir.join(LOCK_FILE);
        let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&lock);
        if created.is_err() {
            let holder = std::fs::read_to_string(&lock).unwrap_or_default();
            let alive = holder.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists() || !cfg!(target_os = "linux"));
            if alive {
                return Err(Error::new(format!(
                    "another dcgan-inpaint run (pid {}) is writing to {}; wait for it or choose another --out (if no such run exists, delete {})",
                    holder.trim(),
                    dir.display(),
                    lock.display()
                )));
            }
            // The holder is gone (killed): the lock is stale.
            std::fs::write(&lock, "").map_err(|e| Error::new(format!("cannot take {}: {e}", lock.display())))?;
        }
        std::fs::write(&lock, std::process::id().to_string()).map_err(|e| Error::new(format!("cannot write {}: {e}", lock.display())))?;
        let taken = FolderLock { lock };
        let others: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n != LOCK_FILE))
            .collect();
        if others.is_empty() {
            return Ok(taken);
        }
        if !overwrite {
            return Err(Error::new(format!(
                "{} already holds files; pass --overwrite to replace an earlier run's results, or choose another --out",
                dir.display()
            )));
        }
        for p in others {
            let ours = if p.is_dir() { p.join("loss.csv").is_file() } else { p.file_name().is_some_and(|n| RUN_FILES.iter().any(|f| n == *f)) };
            let removed = if !ours { Ok(()) } else if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            removed.map_err(|e| Error::new(format!("cannot remove the earlier result {}: {e}", p.display())))?;
        }
        Ok(taken)
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}
