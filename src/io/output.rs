//! Everything a command writes goes through here: checks made before the work starts (an
//! output is never one of the inputs, has the extension of what is written, never replaces
//! a training checkpoint, and its folder exists and takes files), atomic writes (a
//! temporary file beside the target, fsync, rename; the temporary removed on failure), and
//! the output folders of `complete` and `train`: one run at a time (a lock), and a record of
//! what the run wrote (`RUN_RECORD`), so `--overwrite` removes an earlier run's results and
//! nothing else, and folders of results are never read back as inputs or training data.
//! Each refusal names the file and the fix.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::weights;

/// Whether two paths name the same existing file (through links and `..`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Refuse to write `out` (a `what`, e.g. "the sample grid") when it is one of `inputs`,
/// when its extension is not `extension`, when it exists and is not a regular file, when it
/// holds a training checkpoint that this write would replace (only `train` writes
/// checkpoints), or when its folder does not exist or does not take files. Made before the
/// work, so an hour of it is never lost to a bad output path.
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
    if out.exists() && !out.is_file() {
        return Err(Error::new(format!("{} exists and is not a regular file (a device or a pipe?); name another file for {what}", out.display())));
    }
    if out.exists() && extension == "safetensors" && weights::read_metadata(out).is_ok_and(|m| m.get("kind").is_some_and(|k| k == "checkpoint")) {
        return Err(Error::new(format!(
            "{} holds a training checkpoint (Adam moments, step, seed); it is not replaced by {what}: write to another file",
            out.display()
        )));
    }
    check_folder_of(out)?;
    // The folder must take a file: try the temporary name the write will use.
    let tmp = tmp_path(out);
    std::fs::File::create(&tmp).map_err(|e| Error::new(format!("cannot write {}: {e}", out.display())))?;
    let _ = std::fs::remove_file(&tmp);
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

/// The temporary file a write of `path` goes through: beside it (so the rename stays on
/// one file system), named with this process's id (so two writers never share it).
fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// A file being written atomically: it appears under its name, complete, only on
/// `commit`; dropped without a commit (an error, a full disk), the temporary is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let tmp = tmp_path(path);
        let file = std::fs::File::create(&tmp).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, file: Some(std::io::BufWriter::new(file)) })
    }

    /// Flush, fsync and rename into place.
    pub fn commit(mut self) -> Result<()> {
        let path = self.path.clone();
        let failed = |e: std::io::Error| Error::new(format!("cannot write {}: {e}", path.display()));
        let file = self.file.take().expect("committed once");
        let file = file.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(failed)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    f.commit()
}

/// Read a text file a user names (a log, a table), refusing what is not a regular file (a
/// pipe would block, a device never end) and anything larger than `max_bytes`.
pub fn read_text(path: &Path, what: &str, max_bytes: u64) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::new(format!("cannot read {what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::new(format!("{} is not a regular file (a device or a pipe?); name the {what} file itself", path.display())));
    }
    if meta.len() > max_bytes {
        return Err(Error::new(format!("{} is {} MiB, more than a {what} can be ({} MiB); is it the right file?", path.display(), meta.len() >> 20, max_bytes >> 20)));
    }
    std::fs::read_to_string(path).map_err(|e| Error::new(format!("cannot read {what} {}: {e}", path.display())))
}

/// The record a run leaves in its output folder: which command wrote it and the files it
/// wrote (relative paths). A folder that holds one is a folder of results: it is never
/// walked for inputs or training data, and `--overwrite` removes what it lists, nothing else.
pub const RUN_RECORD: &str = ".dcgan-inpaint-run.json";
const LOCK_FILE: &str = ".dcgan-inpaint.lock";

/// The files a run writes in its folder, relative to it: some at the top, and in each of
/// its item folders (one per image) any of the same few names. Kept in this form so a run
/// over 20,000 images records 20,000 folder names, not 160,000 paths.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, Debug)]
pub struct RunFiles {
    pub files: Vec<String>,
    #[serde(default)]
    pub dirs: Vec<String>,
    #[serde(default)]
    pub dir_files: Vec<String>,
}

impl RunFiles {
    pub fn top(files: Vec<String>) -> RunFiles {
        RunFiles { files, ..RunFiles::default() }
    }

    /// Every file, as a relative path.
    pub fn each(&self) -> impl Iterator<Item = String> + '_ {
        self.files.iter().cloned().chain(self.dirs.iter().flat_map(move |d| self.dir_files.iter().map(move |f| format!("{d}/{f}"))))
    }

    /// A lookup of which relative paths these are.
    fn index(&self) -> impl Fn(&str) -> bool + '_ {
        let files: HashSet<&str> = self.files.iter().map(String::as_str).collect();
        let dirs: HashSet<&str> = self.dirs.iter().map(String::as_str).collect();
        let names: HashSet<&str> = self.dir_files.iter().map(String::as_str).collect();
        move |rel: &str| files.contains(rel) || rel.split_once('/').is_some_and(|(d, f)| dirs.contains(d) && names.contains(f))
    }

    fn merge(&mut self, other: &RunFiles) {
        for (mine, theirs) in [(&mut self.files, &other.files), (&mut self.dirs, &other.dirs), (&mut self.dir_files, &other.dir_files)] {
            mine.extend(theirs.iter().cloned());
            mine.sort();
            mine.dedup();
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct RunRecord {
    command: String,
    #[serde(flatten)]
    files: RunFiles,
}

/// Whether `dir` holds the results of an earlier run (its record, or a live lock).
pub fn is_results_folder(dir: &Path) -> bool {
    dir.join(RUN_RECORD).is_file() || dir.join(LOCK_FILE).is_file()
}

/// An output folder held by one run: a second run into it is refused while the first
/// lives, and results are never mixed. Released (the lock file removed) on drop.
pub struct FolderLock {
    dir: PathBuf,
    lock: PathBuf,
}

impl FolderLock {
    /// Create `dir` if needed and take it for `command`, which will write `files`. A
    /// folder that already holds files is refused unless `overwrite`; then only the files
    /// an earlier run recorded are removed, and a file this run would write that no run
    /// recorded (the user's own), or one of `inputs`, is refused. The record of `files` is
    /// written before any of them, so a run that fails half-way is still replaced cleanly by
    /// the next `--overwrite`. `resume` keeps an earlier run of the same command instead:
    /// its files stay, and the record lists theirs and this run's.
    pub fn take(dir: &Path, command: &str, files: &RunFiles, overwrite: bool, resume: bool, inputs: &[&Path]) -> Result<FolderLock> {
        if overwrite && resume {
            return Err(Error::new("--resume keeps an earlier run's results and --overwrite removes them: pass one of them"));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(Error::new(format!("--out {} is a file; --out names a folder for the results", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create the output folder {}: {e}", dir.display())))?;
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
        let taken = FolderLock { dir: dir.to_path_buf(), lock };
        let others = std::fs::read_dir(dir)
            .map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .any(|p| p.file_name().is_some_and(|n| n != LOCK_FILE && n != RUN_RECORD));
        if others && resume {
            let mut all = taken.earlier_run_of(command, files)?;
            all.merge(files);
            taken.record(command, &all)?;
            return Ok(taken);
        }
        if others {
            if !overwrite {
                return Err(Error::new(format!(
                    "{} already holds files; pass --overwrite to replace an earlier run's results, --resume to finish one, or choose another --out",
                    dir.display()
                )));
            }
            taken.remove_earlier_results(files, inputs)?;
        }
        taken.record(command, files)?;
        Ok(taken)
    }

    fn earlier(&self) -> RunRecord {
        std::fs::read_to_string(self.dir.join(RUN_RECORD)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
    }

    /// A file this run would write that exists and no earlier run recorded: the user's.
    fn refuse_users_files(&self, files: &RunFiles, recorded: &RunFiles, what: &str) -> Result<()> {
        let is_recorded = recorded.index();
        for file in files.each() {
            let path = self.dir.join(&file);
            if path.exists() && !is_recorded(&file) {
                return Err(Error::new(format!("{} exists and no earlier dcgan-inpaint run wrote it; {what}: move it away or choose another --out", path.display())));
            }
        }
        Ok(())
    }

    /// `--resume`: the files an earlier run of `command` recorded here, after checking that
    /// this run writes no file of the user's.
    fn earlier_run_of(&self, command: &str, files: &RunFiles) -> Result<RunFiles> {
        let earlier = self.earlier();
        if earlier.command != command {
            return Err(Error::new(format!("{} holds no earlier `{command}` run to resume (no record of one): choose another --out, or --overwrite", self.dir.display())));
        }
        self.refuse_users_files(files, &earlier.files, "--resume never replaces a file of yours")?;
        Ok(earlier.files)
    }

    /// `--overwrite`: remove what the earlier run recorded, after checking that this
    /// removes no input and that this run overwrites no file of the user's.
    fn remove_earlier_results(&self, files: &RunFiles, inputs: &[&Path]) -> Result<()> {
        let earlier = self.earlier().files;
        let inputs: HashMap<PathBuf, &Path> = inputs.iter().filter_map(|i| std::fs::canonicalize(i).ok().map(|c| (c, *i))).collect();
        // Only plain relative names: a damaged record never reaches outside the folder.
        let plain = |p: &Path| p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        let recorded: Vec<PathBuf> = earlier.each().map(PathBuf::from).filter(|p| plain(p)).map(|p| self.dir.join(p)).filter(|p| p.exists()).collect();
        for path in &recorded {
            if let Some(input) = std::fs::canonicalize(path).ok().and_then(|c| inputs.get(&c)) {
                return Err(Error::new(format!(
                    "{} is an earlier result in {} and an input of this run ({}); --overwrite would delete it: choose another --out",
                    path.display(),
                    self.dir.display(),
                    input.display()
                )));
            }
        }
        self.refuse_users_files(files, &earlier, "--overwrite only replaces a run's own results")?;
        for path in &recorded {
            if path.is_file() {
                std::fs::remove_file(path).map_err(|e| Error::new(format!("cannot remove the earlier result {}: {e}", path.display())))?;
            }
        }
        // Folders the earlier run made for its files go too, once empty.
        for path in &recorded {
            let mut parent = path.parent();
            while let Some(p) = parent.filter(|p| *p != self.dir && p.starts_with(&self.dir)) {
                if std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
        }
        Ok(())
    }

    fn record(&self, command: &str, files: &RunFiles) -> Result<()> {
        let record = RunRecord { command: command.to_string(), files: files.clone() };
        let json = serde_json::to_string(&record).map_err(|e| Error::new(format!("cannot encode the run record: {e}")))?;
        write_atomic(&self.dir.join(RUN_RECORD), json.as_bytes())
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// Mark `dir` as a folder of `command`'s results (without a lock): training output, which
/// `--resume` reuses, is marked so that it is never walked as training data or inputs.
pub fn mark_results_folder(dir: &Path, command: &str) -> Result<()> {
    let path = dir.join(RUN_RECORD);
    if path.is_file() {
        return Ok(());
    }
    let json = serde_json::to_string_pretty(&RunRecord { command: command.to_string(), files: RunFiles::default() }).unwrap_or_default();
    write_atomic(&path, json.as_bytes())
}
