//! Autotuning: with `--kernels auto` the device enables every kernel set its adapter can
//! run, and the first time a product meets a shape, [`variants::run`](super::variants::run)
//! times each set's implementation on the operands at hand (a warm-up run that also pays the
//! shader compilation, then up to [`TIMED_RUNS`]) and keeps the fastest. The winners are
//! cached on disk, keyed by adapter, driver, backend, the list of sets and the crate
//! version, so a shape is measured once per machine:
//!
//!   $DCGAN_TUNE_CACHE, else $XDG_CACHE_HOME/dcgan-inpaint/kernels.json (Linux),
//!   ~/Library/Caches/dcgan-inpaint/kernels.json (macOS), %LOCALAPPDATA% (Windows)
//!
//! `DCGAN_TUNE_CACHE=off` measures nothing (the registry's order decides, as the tests
//! want); `--retune` measures again. The file is written atomically (a temporary file,
//! then a rename); a corrupt or foreign one is ignored with one warning and replaced.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Timed runs per candidate after its warm-up; the fastest counts. A candidate whose
/// warm-up (which includes compiling its pipelines) or first timed run is slower than
/// [`DROP_FACTOR`] x the best so far stops there: losers cost one or two runs, the winner
/// four.
pub const TIMED_RUNS: usize = 3;
pub const DROP_FACTOR: f64 = 2.0;

const FORMAT: &str = "dcgan-inpaint kernel tuning v1";
/// Measurements longer than this (seconds) are reported one line each.
const SLOW_MEASUREMENT_S: f64 = 2.0;

/// Where the winners are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TuneCache {
    /// The user's cache directory (or `DCGAN_TUNE_CACHE`).
    Default,
    File(PathBuf),
    /// Measure nothing: `auto` takes the registry's order.
    Off,
}

impl TuneCache {
    /// `DCGAN_TUNE_CACHE`: "off", or a file.
    pub fn from_env() -> TuneCache {
        match std::env::var("DCGAN_TUNE_CACHE").ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            Some(v) if v.eq_ignore_ascii_case("off") => TuneCache::Off,
            Some(v) => TuneCache::File(PathBuf::from(v)),
            None => TuneCache::Default,
        }
    }

    /// The file, or `None` when off or no cache directory is known.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            TuneCache::Off => None,
            TuneCache::File(p) => Some(p.clone()),
            TuneCache::Default => user_cache_dir().map(|d| d.join("dcgan-inpaint").join("kernels.json")),
        }
    }
}

fn user_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(target_os = "windows") {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Caches"))
    } else {
        env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
    }
}

/// One product at one shape: each candidate set's best time and the winner.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub set: String,
    /// Milliseconds per candidate (the fastest timed run).
    pub ms: BTreeMap<String, f64>,
}

impl Choice {
    /// The runner-up's time over the winner's (1.25 = the winner is 25% faster), or `None`
    /// with a single candidate.
    pub fn margin(&self) -> Option<f64> {
        let best = *self.ms.get(&self.set)?;
        let second = self.ms.iter().filter(|(s, _)| **s != self.set).map(|(_, &t)| t).min_by(f64::total_cmp)?;
        Some(second / best)
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    format: String,
    /// Device key -> product key -> choice.
    devices: BTreeMap<String, BTreeMap<String, Choice>>,
}

/// What this process measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct TuneStats {
    pub shapes_tuned: usize,
    pub seconds: f64,
}

pub struct Tuner {
    path: Option<PathBuf>,
    device: String,
    retune: bool,
    choices: Mutex<HashMap<String, Choice>>,
    stats: Mutex<TuneStats>,
    /// One measurement at a time, so two threads do not time each other's work.
    measuring: Mutex<()>,
}

/// The key of one adapter and build: winners measured elsewhere do not apply.
pub fn device_key(info: &wgpu::AdapterInfo, sets: &[&str]) -> String {
    format!(
        "{} | {:?} | {} {} | {} | dcgan-inpaint {}",
        info.name,
        info.backend,
        info.driver,
        info.driver_info,
        sets.join(","),
        env!("CARGO_PKG_VERSION")
    )
}

/// The key of one product at one shape.
pub fn product_key(product: &str, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("{product} {}", dims.join("x"))
}

/// Read the cache, or explain in one line why it is ignored.
fn read_cache(path: &Path) -> Result<CacheFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CacheFile { format: FORMAT.into(), ..Default::default() }),
        Err(e) => return Err(format!("cannot read it ({e})")),
    };
    let file: CacheFile = serde_json::from_str(&text).map_err(|e| format!("it is not a tuning cache ({e})"))?;
    if file.format != FORMAT {
        return Err(format!("it was written by another format ('{}')", file.format));
    }
    Ok(file)
}

impl Tuner {
    /// Open the cache at `path` (none: keep winners in memory) for the device `device`.
    pub fn open(path: Option<PathBuf>, device: String, retune: bool) -> Tuner {
        let mut choices = HashMap::new();
        if let Some(p) = &path {
            match read_cache(p) {
                Ok(mut file) if !retune => choices.extend(file.devices.remove(&device).unwrap_or_default()),
                Ok(_) => {}
                Err(why) => eprintln!("warning: ignoring the kernel tuning cache {}: {why}; it will be rewritten", p.display()),
            }
        }
        Tuner { path, device, retune, choices: Mutex::new(choices), stats: Mutex::new(TuneStats::default()), measuring: Mutex::new(()) }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn retune(&self) -> bool {
        self.retune
    }

    /// The winner for `key`, if measured (here or in an earlier process).
    pub fn get(&self, key: &str) -> Option<Choice> {
        self.choices.lock().unwrap().get(key).cloned()
    }

    /// Every choice this device has, by product key.
    pub fn choices(&self) -> BTreeMap<String, Choice> {
        self.choices.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn stats(&self) -> TuneStats {
        *self.stats.lock().unwrap()
    }

    /// Measure the candidates (`time(i)` runs candidate i's warm-up and timed runs, `None`
    /// when it declines the operands), keep and save the winner.
    pub fn measure(&self, key: String, candidates: &[&'static str], mut time: impl FnMut(usize, f64) -> Option<f64>) -> Option<Choice> {
        let _one_at_a_time = self.measuring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = self.get(&key) {
            return Some(c); // another thread measured it meanwhile
        }
        static ANNOUNCED: std::sync::Once = std::sync::Once::new();
        ANNOUNCED.call_once(|| {
            let cache = self.path.as_ref().map(|p| format!("cached in {}", p.display())).unwrap_or_else(|| "kept for this run".into());
            eprintln!("autotune: timing each kernel set at every new product shape on this adapter, once ({cache}; --kernels NAME skips it; on a CPU adapter this can take minutes)");
        });
        let start = Instant::now();
        let mut ms = BTreeMap::new();
        let mut best = f64::INFINITY;
        for (i, name) in candidates.iter().enumerate() {
            if let Some(seconds) = time(i, best) {
                best = best.min(seconds);
                ms.insert(name.to_string(), seconds * 1e3);
            }
        }
        let set = ms.iter().min_by(|a, b| a.1.total_cmp(b.1))?.0.clone();
        let choice = Choice { set, ms };
        // A measurement that took long says so: on a CPU adapter a losing set can take
        // seconds at one shape, and the first step of a run would otherwise sit silent.
        let took = start.elapsed().as_secs_f64();
        if took > SLOW_MEASUREMENT_S {
            let margin = choice.margin().map(|m| format!(", {m:.1}x ahead of the next")).unwrap_or_default();
            eprintln!("autotune: {key}: {} in {took:.1} s of timing{margin}", choice.set);
        }
        self.choices.lock().unwrap().insert(key.clone(), choice.clone());
        {
            let mut stats = self.stats.lock().unwrap();
            stats.shapes_tuned += 1;
            stats.seconds += start.elapsed().as_secs_f64();
        }
        self.save(&key, &choice);
        Some(choice)
    }

    /// Merge `choice` into the file (other devices' entries and other processes' winners
    /// kept) and replace it atomically. A cache that cannot be written costs only time.
    fn save(&self, key: &str, choice: &Choice) {
        let Some(path) = &self.path else { return };
        let mut file = read_cache(path).unwrap_or_else(|_| CacheFile { format: FORMAT.into(), ..Default::default() });
        file.devices.entry(self.device.clone()).or_default().insert(key.to_string(), choice.clone());
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| eprintln!("warning: cannot write the kernel tuning cache {}: {e}; winners are kept for this run only", path.display()));
        }
    }
}

/// Time `f` (which records one candidate's product and says whether it took the operands):
/// a warm-up, then up to [`TIMED_RUNS`] runs each measured by `seconds`; the fastest. A
/// candidate slower than `DROP_FACTOR` x `best_so_far` in its warm-up or first timed run
/// stops there. The warm-up is timed from the end of its recording, which is where the
/// pipelines are compiled, to the end of its run.
pub fn time_candidate(finish: &dyn Fn(), seconds: &dyn Fn(&dyn Fn()) -> f64, best_so_far: f64, f: &dyn Fn() -> bool) -> Option<f64> {
    finish();
    if !f() {
        return None;
    }
    let start = Instant::now();
    finish();
    let warm_up = start.elapsed().as_secs_f64();
    if warm_up > DROP_FACTOR * best_so_far {
        return Some(warm_up);
    }
    let mut best = f64::INFINITY;
    for _ in 0..TIMED_RUNS {
        best = best.min(seconds(&|| {
            f();
        }));
        if best > DROP_FACTOR * best_so_far {
            break;
        }
    }
    Some(best)
}
