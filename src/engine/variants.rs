//! Kernel sets and the variant registry.
//!
//! A *kernel set* is a family of kernel implementations written for one kind of adapter
//! (`portable`: storage buffers only, any adapter; `simd8`: texture operands and 8-lane
//! subgroup shuffles for lavapipe; `tiled32` / `tiled64` / `tiled128`: implicit GEMMs with
//! workgroup-memory tiles for GPUs, one set per tile shape). [`KERNEL_SETS`] lists them in
//! the order the device prefers them when nothing is measured; that one table makes the
//! `--kernels` names, `info`, the auto choice and the error texts. With `--kernels auto`
//! the device enables every set its adapter can run and `tune` picks one per product and
//! shape by timing them there.
//!
//! Each op family declares its implementations in one place, a `&[Variant<F>]` in
//! preference order (like burn's `TunableSet`): `F` is whatever the family needs to run a
//! product (a shader family, or a table of functions). [`run`] tries the rows whose set the
//! device enables (its chosen set, and `portable`, which every adapter runs) in order; a row
//! may decline operands it cannot take (a texture too large) and the next row runs them.
//! The recorder notes which set ran each product, so tests assert it by name.
//!
//! Adding a kernel set: one row here, one module per family it implements
//! (`ops/<family>/<set>.rs`) with its row in that family's list, and its shader file.

use super::tune::{self, Tuner};
use crate::error::{Error, Result};

/// Texel format of the packed operands the simd8 kernels read: four f32 channels, 16 bytes
/// a texel (the pool makes its textures in it).
pub const TEXTURE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;

/// What `run` and `pick` need of a device (the GPU implements it; the registry does not
/// depend on the GPU layer).
pub trait Runs {
    /// Whether this device runs `set`'s implementations.
    fn enables(&self, set: &KernelSet) -> bool;
    /// Called by `run`: `product` ran on `set`.
    fn note_variant(&self, product: &'static str, set: &'static str);
    /// The tuner when the device measures its sets (`--kernels auto`).
    fn tuner(&self) -> Option<&Tuner>;
    /// Whether a new measurement may run now: not while a trace or a timing is under way
    /// (it would disturb both); cached winners are used all the same.
    fn can_measure(&self) -> bool;
    /// Run everything recorded and wait for it.
    fn wait_idle(&self);
    /// Seconds the device takes to run what `record` records (timestamps where they can
    /// be trusted, else the host's clock around a wait).
    fn seconds(&self, record: &dyn Fn()) -> f64;
}

/// One kernel set: its name, what it is for, and which adapters can run it.
#[derive(Debug)]
pub struct KernelSet {
    pub name: &'static str,
    pub about: &'static str,
    /// Why `adapter` cannot run this set, or `None` when it can.
    pub unsupported: fn(&wgpu::Adapter) -> Option<String>,
    /// Whether `auto` picks this set on an adapter that can run it.
    pub auto_picks: fn(&wgpu::AdapterInfo) -> bool,
    /// The tile shape of a tiled set (shaders/conv_tiled.wgsl), `None` for the others.
    pub tile: Option<TileShape>,
}

/// The tile of C one workgroup of a tiled set computes: `bm` x `bn` outputs, `tm` x 4 per
/// invocation, staged `bk` deep in workgroup memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileShape {
    pub bm: u32,
    pub bn: u32,
    pub tm: u32,
    pub bk: u32,
}

impl TileShape {
    /// Invocations per workgroup.
    pub const fn invocations(&self) -> u32 {
        (self.bm / self.tm) * (self.bn / 4)
    }
    /// Bytes of workgroup memory: the A and B tiles.
    pub const fn workgroup_bytes(&self) -> u32 {
        4 * self.bk * (self.bm + self.bn)
    }
}

/// Why a tiled set with tile `t` cannot run on `adapter`, or `None` when it can.
fn tiled_unsupported(adapter: &wgpu::Adapter, t: TileShape) -> Option<String> {
    let limits = adapter.limits();
    if limits.max_compute_invocations_per_workgroup < t.invocations() || limits.max_compute_workgroup_size_x < t.invocations() {
        return Some(format!("its workgroups hold at most {} invocations, the tile needs {}", limits.max_compute_invocations_per_workgroup, t.invocations()));
    }
    if limits.max_compute_workgroup_storage_size < t.workgroup_bytes() {
        return Some(format!("it has {} bytes of workgroup memory, the tile needs {}", limits.max_compute_workgroup_storage_size, t.workgroup_bytes()));
    }
    None
}

fn is_gpu(info: &wgpu::AdapterInfo) -> bool {
    matches!(info.device_type, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
}

impl PartialEq for KernelSet {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for KernelSet {}

/// Storage buffers only (4x4 register blocks, no barriers): runs on every adapter, and is
/// the fallback of every family.
pub static PORTABLE: KernelSet = KernelSet {
    name: "portable",
    about: "storage buffers only, 4x4 register blocks; any adapter, and every family's fallback",
    unsupported: |_| None,
    auto_picks: |_| true,
    tile: None,
};

/// Texture operands and 8-lane subgroup shuffles (shaders/conv_simd8.wgsl). On lavapipe
/// every invocation is one lane of an 8-wide SIMD register and each storage-buffer load a
/// loop over the lanes (about 26 cycles per float), while a read-only storage-texture load
/// fetches an rgba32float texel for all 8 lanes at once (about 11 cycles per 4 floats) and
/// a shuffle from a fixed lane is a register move.
pub static SIMD8: KernelSet = KernelSet {
    name: "simd8",
    about: "texture operands and 8-lane subgroup shuffles; CPU adapters with 8-lane subgroups (lavapipe on AVX2)",
    unsupported: simd8_unsupported,
    auto_picks: |info| info.device_type == wgpu::DeviceType::Cpu,
    tile: None,
};

const TILE32: TileShape = TileShape { bm: 32, bn: 32, tm: 4, bk: 16 };
const TILE64: TileShape = TileShape { bm: 64, bn: 64, tm: 4, bk: 16 };
const TILE128: TileShape = TileShape { bm: 128, bn: 64, tm: 8, bk: 16 };

/// Implicit GEMM, 64x64 tiles of 256 invocations with 4x4 register blocks
/// (shaders/conv_tiled.wgsl): the GPU default before anything is measured.
pub static TILED64: KernelSet = KernelSet {
    name: "tiled64",
    about: "implicit GEMM, 64x64 workgroup tiles in workgroup memory, 4x4 per invocation; GPUs",
    unsupported: |a| tiled_unsupported(a, TILE64),
    auto_picks: is_gpu,
    tile: Some(TILE64),
};

/// 128x64 tiles, 8x4 per invocation: for the wide layers of large GPUs.
pub static TILED128: KernelSet = KernelSet {
    name: "tiled128",
    about: "implicit GEMM, 128x64 workgroup tiles, 8x4 per invocation; large GPUs, wide layers",
    unsupported: |a| tiled_unsupported(a, TILE128),
    auto_picks: |_| false,
    tile: Some(TILE128),
};

/// 32x32 tiles of 64 invocations: narrow layers and small batches.
pub static TILED32: KernelSet = KernelSet {
    name: "tiled32",
    about: "implicit GEMM, 32x32 workgroup tiles of 64 invocations, 4x4 each; narrow layers, small GPUs",
    unsupported: |a| tiled_unsupported(a, TILE32),
    auto_picks: |_| false,
    tile: Some(TILE32),
};

/// Every kernel set, in the order the device prefers them when nothing has been measured.
pub static KERNEL_SETS: [&KernelSet; 5] = [&SIMD8, &TILED64, &TILED128, &TILED32, &PORTABLE];

/// The tiled sets, for the families that implement them with one generic module.
pub static TILED_SETS: [&KernelSet; 3] = [&TILED64, &TILED128, &TILED32];

/// The kernel sets' names at compile time, for code that makes one item per set (the tests'
/// `kernel_set_tests!`): `for_each_kernel_set!(m)` expands to `m!(simd8); m!(tiled64); ...`,
/// in `KERNEL_SETS` order (tests/engine.rs checks that the two agree).
#[macro_export]
macro_rules! for_each_kernel_set {
    ($m:ident) => {
        $m!(simd8);
        $m!(tiled64);
        $m!(tiled128);
        $m!(tiled32);
        $m!(portable);
    };
}

/// Why the SIMD-8 kernels cannot run on `adapter`, or `None` when they can.
fn simd8_unsupported(adapter: &wgpu::Adapter) -> Option<String> {
    let info = adapter.get_info();
    if !adapter.features().contains(wgpu::Features::SUBGROUP) {
        return Some("the adapter has no subgroup operations".into());
    }
    if (info.subgroup_min_size, info.subgroup_max_size) != (8, 8) {
        return Some(format!("its subgroups are {}..{} lanes, not exactly 8", info.subgroup_min_size, info.subgroup_max_size));
    }
    // The packed operands are copied in and read as read-only storage textures.
    let flags = adapter.get_texture_format_features(TEXTURE_FORMAT).flags;
    if !flags.contains(wgpu::TextureFormatFeatureFlags::STORAGE_READ_ONLY) {
        return Some("rgba32float storage textures cannot be read there".into());
    }
    None
}

/// Every set `adapter` can run, in registry order.
pub fn runnable(adapter: &wgpu::Adapter) -> Vec<&'static KernelSet> {
    KERNEL_SETS.iter().copied().filter(|s| (s.unsupported)(adapter).is_none()).collect()
}

/// The names `--kernels` takes.
pub fn names() -> String {
    let mut names = vec!["auto"];
    names.extend(KERNEL_SETS.iter().map(|s| s.name));
    names.join(", ")
}

/// The help of `--kernels`: every set with what it is for.
pub fn help() -> String {
    let sets: Vec<String> = KERNEL_SETS.iter().map(|s| format!("{} ({})", s.name, s.about)).collect();
    format!(
        "Kernel set: auto (every set the adapter can run, timed per product and shape on first use and the winner cached; see --retune), or one of: {}. Overrides DCGAN_KERNELS",
        sets.join("; ")
    )
}

/// The set called `name`.
pub fn by_name(name: &str) -> Option<&'static KernelSet> {
    KERNEL_SETS.iter().copied().find(|s| s.name.eq_ignore_ascii_case(name.trim()))
}

/// The set `requested` names (from `--kernels` or `DCGAN_KERNELS`), or for `auto` / none
/// the first set in the registry that picks itself for this adapter and can run there.
pub fn choose(adapter: &wgpu::Adapter, requested: Option<&str>) -> Result<&'static KernelSet> {
    let info = adapter.get_info();
    match requested.map(str::trim) {
        None | Some("") => auto(adapter, &info),
        Some(name) if name.eq_ignore_ascii_case("auto") => auto(adapter, &info),
        Some(name) => {
            let set = by_name(name).ok_or_else(|| {
                Error::new(format!("unknown kernel set '{name}' (from --kernels or DCGAN_KERNELS); use one of: {}", names()))
            })?;
            match (set.unsupported)(adapter) {
                None => Ok(set),
                Some(why) => Err(Error::new(format!(
                    "the {} kernels (from --kernels or DCGAN_KERNELS) cannot run on '{}': {why}; use --kernels {} or auto",
                    set.name, info.name, PORTABLE.name
                ))),
            }
        }
    }
}

fn auto(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo) -> Result<&'static KernelSet> {
    Ok(KERNEL_SETS.iter().copied().find(|s| (s.auto_picks)(info) && (s.unsupported)(adapter).is_none()).unwrap_or(&PORTABLE))
}

/// One implementation of an op family on one kernel set.
pub struct Variant<F: 'static> {
    pub set: &'static KernelSet,
    pub imp: F,
}

/// The product a thread is running, for the profiler to put on each of its dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductRun {
    pub product: &'static str,
    pub set: &'static str,
    /// Multiply-accumulates of the whole product (its dispatches together).
    pub macs: u64,
    /// Which call of `run` this is on its thread, so dispatches of one product group.
    pub call: u64,
}

thread_local! {
    static CURRENT: std::cell::Cell<Option<ProductRun>> = const { std::cell::Cell::new(None) };
    static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The product this thread is running, if any (dispatches outside products have none).
pub fn current_product() -> Option<ProductRun> {
    CURRENT.with(|c| c.get())
}

/// `call` with `current_product` saying it runs `product` on `set`.
fn within<R>(product: &'static str, set: &'static str, macs: u64, call: impl FnOnce() -> R) -> R {
    let id = CALLS.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let outer = CURRENT.with(|c| c.replace(Some(ProductRun { product, set, macs, call: id })));
    let r = call();
    CURRENT.with(|c| c.set(outer));
    r
}

/// Run `product` at `shape` (the dimensions that decide its cost; `macs` its
/// multiply-accumulates). A tuning device runs the
/// row that measured fastest at this shape, measuring every enabled row the first time;
/// otherwise, or where that row declines, the first row of `variants` that `gpu` enables
/// and that accepts the operands (`call` returns `Some`). The recorder notes which set ran
/// it. The family's portable row must accept everything, so a product always runs.
pub fn run<F, R>(gpu: &impl Runs, product: &'static str, shape: &[usize], macs: usize, variants: &'static [Variant<F>], call: impl Fn(&F) -> Option<R>) -> R {
    if let Some(tuner) = gpu.tuner() {
        let enabled: Vec<&Variant<F>> = variants.iter().filter(|v| gpu.enables(v.set)).collect();
        if enabled.len() > 1 {
            let key = tune::product_key(product, shape);
            let choice = tuner.get(&key).or_else(|| {
                if !gpu.can_measure() {
                    return None;
                }
                let names: Vec<&'static str> = enabled.iter().map(|v| v.set.name).collect();
                tuner.measure(key, &names, |i, best| {
                    tune::time_candidate(&|| gpu.wait_idle(), &|f| gpu.seconds(f), best, &|| call(&enabled[i].imp).is_some())
                })
            });
            if let Some(v) = choice.and_then(|c| enabled.iter().find(|v| v.set.name == c.set).copied()) {
                if let Some(r) = within(product, v.set.name, macs as u64, || call(&v.imp)) {
                    gpu.note_variant(product, v.set.name);
                    return r;
                }
            }
        }
    }
    for v in variants.iter().filter(|v| gpu.enables(v.set)) {
        if let Some(r) = within(product, v.set.name, macs as u64, || call(&v.imp)) {
            gpu.note_variant(product, v.set.name);
            return r;
        }
    }
    unreachable!("{product}: no implementation took the operands; the family's portable row must take all")
}

/// The first row of `variants` that `gpu` enables (for families whose sets differ only in
/// the shader file they run).
pub fn pick<F: Copy>(gpu: &impl Runs, variants: &'static [Variant<F>]) -> F {
    match variants.iter().find(|v| gpu.enables(v.set)) {
        Some(v) => v.imp,
        None => unreachable!("a family without a portable row"),
    }
}

/// The implementation `variants` lists for `set`, if it has one (a family may build on
/// another family's row for the same set, as linear does on conv's).
pub fn implementation<F>(set: &KernelSet, variants: &'static [Variant<F>]) -> Option<&'static F> {
    variants.iter().find(|v| v.set == set).map(|v| &v.imp)
}
