//! The GPU layer: one device, one queue, and a recorder that turns kernel calls into a
//! single command buffer per step.
//!
//!   context.rs    adapter discovery and device creation
//!   pipelines.rs  shader families, element-type variants of one source, each entry point
//!                 compiled once, its bindings and parameter struct read off the WGSL by naga
//!   pool.rs       buffers by size class, textures by size (a step allocates nothing after
//!                 its first run)
//!   recorder.rs   `dispatch` with named bindings and typed parameters, into one encoder
//!   transfer.rs   uploads and downloads
//!   profile.rs    trace, per-kernel profile, timestamp timing
//!
//! Kernels are *recorded*, not run: `dispatch` appends to an open compute pass, and the
//! work reaches the GPU only at `flush` (explicitly, or when the host needs data back).

pub mod context;
pub mod pipelines;
pub mod pool;
mod profile;
mod recorder;
mod transfer;

use std::collections::HashMap;
use std::sync::Mutex;

pub use context::AdapterChoice;
pub use pipelines::{Element, Family, Kernel, ResourceKind};
pub use pool::{BufferPool, PoolStats, PooledBuffer, PooledTexture};
pub use profile::{DispatchProfile, KernelProfile, Scope};

use super::tune::{self, TuneCache, Tuner};
use super::variants::{self, KernelSet, PORTABLE};
use crate::error::{Error, Result};
use pipelines::PipelineCache;

/// Work items per workgroup of the 1-D kernels (`@workgroup_size(64)` in WGSL).
pub const WORKGROUP_1D: u32 = 64;

/// A scalar type a WGSL parameter struct can hold.
pub trait WgslScalar: bytemuck::Pod {
    const WGSL: &'static str;
}
impl WgslScalar for u32 {
    const WGSL: &'static str = "u32";
}
impl WgslScalar for i32 {
    const WGSL: &'static str = "i32";
}
impl WgslScalar for f32 {
    const WGSL: &'static str = "f32";
}

/// The parameters of a kernel: a `#[repr(C)]` struct laid out like the WGSL `Params`
/// struct at binding 0. Its members (name, byte offset, WGSL type) are checked against
/// naga's reflection of the shader when a pipeline first meets the type, so a swapped or
/// missing field is an error naming both sides. Declare one with [`kernel_params!`].
pub trait KernelParams: bytemuck::Pod {
    const MEMBERS: &'static [(&'static str, usize, &'static str)];
}

/// Declare a kernel's parameter struct: `kernel_params! { pub struct P { n: u32, alpha: f32 } }`
/// gives a `#[repr(C)]`, `Pod` struct with public fields and its [`KernelParams`] layout.
#[macro_export]
macro_rules! kernel_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }
        impl $crate::engine::gpu::KernelParams for $name {
            const MEMBERS: &'static [(&'static str, usize, &'static str)] = &[
                $((stringify!($field), std::mem::offset_of!($name, $field), <$ty as $crate::engine::gpu::WgslScalar>::WGSL)),*
            ];
        }
    };
}

/// A size for a WGSL `u32`. Tensor sizes are checked against the adapter's limits when
/// they are allocated (a buffer of more than 4 GiB cannot be bound anywhere), so a size
/// that reaches a kernel fits; a larger one is a bug, not user input.
pub fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| unreachable!("size {v} reached a kernel; allocation limits should have refused it"))
}

/// What a kernel binds after its parameters.
#[derive(Clone, Copy)]
pub enum Binding<'a> {
    Buffer(&'a PooledBuffer),
    Texture(&'a PooledTexture),
}

impl<'a> From<&'a PooledBuffer> for Binding<'a> {
    fn from(b: &'a PooledBuffer) -> Self {
        Binding::Buffer(b)
    }
}

impl<'a> From<&'a PooledTexture> for Binding<'a> {
    fn from(t: &'a PooledTexture) -> Self {
        Binding::Texture(t)
    }
}

/// A resource for the WGSL global called `name` (`var<storage> dst`, `var img: texture...`).
#[derive(Clone, Copy)]
pub struct Arg<'a> {
    pub name: &'static str,
    pub binding: Binding<'a>,
}

/// `arg("dst", &out)`: bind `resource` to the shader's global `name`.
pub fn arg<'a>(name: &'static str, resource: impl Into<Binding<'a>>) -> Arg<'a> {
    Arg { name, binding: resource.into() }
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    pub submissions: u64,
    pub dispatches: u64,
    pub bind_groups_created: u64,
    /// Map-read buffers made for downloads (reused by size class afterwards).
    pub staging_buffers_created: u64,
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The kernel set this device prefers (see `variants`); `portable` runs the rest.
    pub kernels: &'static KernelSet,
    /// With `--kernels auto` (unless tuning is off): every set this adapter runs, and the
    /// tuner that picks among them per product and shape.
    tuning: Option<(Vec<&'static KernelSet>, Tuner)>,
    pipelines: PipelineCache,
    pool: BufferPool,
    recorder: Mutex<recorder::Recorder>,
    bind_groups: Mutex<HashMap<recorder::BindGroupKey, wgpu::BindGroup>>,
    /// Free map-read buffers by size class, so reading a loss every step allocates nothing.
    staging: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    stats: Mutex<GpuStats>,
    /// While [`Gpu::trace`] or [`Gpu::profile`] runs: what it has recorded.
    trace: Mutex<Option<profile::Trace>>,
}

impl variants::Runs for Gpu {
    /// Every set the adapter runs when tuning; else its own set, and `portable`.
    fn enables(&self, set: &KernelSet) -> bool {
        match &self.tuning {
            Some((sets, _)) => sets.contains(&set),
            None => set == self.kernels || set == &PORTABLE,
        }
    }

    fn note_variant(&self, product: &'static str, set: &'static str) {
        self.record_variant(product, set);
    }

    fn tuner(&self) -> Option<&Tuner> {
        self.tuning.as_ref().map(|(_, t)| t)
    }

    fn can_measure(&self) -> bool {
        !self.is_tracing_or_timing()
    }

    fn wait_idle(&self) {
        self.finish();
    }

    fn seconds(&self, record: &dyn Fn()) -> f64 {
        self.time(record).unwrap_or_else(|| {
            self.finish();
            let start = std::time::Instant::now();
            record();
            self.finish();
            start.elapsed().as_secs_f64()
        })
    }
}

impl Gpu {
    /// Open the adapter `choice` selects (see [`context::select`]).
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let (_instance, adapter) = context::select(choice)?;
        let resolved = choice.resolved();
        let kernels = variants::choose(&adapter, resolved.kernels.as_deref())?;
        let auto = resolved.kernels.as_deref().is_none_or(|k| k.trim().is_empty() || k.trim().eq_ignore_ascii_case("auto"));
        let tuning = match resolved.tune_cache.unwrap_or(TuneCache::Default) {
            TuneCache::Off => None,
            _ if !auto => None,
            cache => {
                let sets = variants::runnable(&adapter);
                let names: Vec<&str> = sets.iter().map(|s| s.name).collect();
                let device = tune::device_key(&adapter.get_info(), &names);
                Some((sets, Tuner::open(cache.path(), device, resolved.retune)))
            }
        };
        let (device, queue) = context::open_device(&adapter)?;
        let limits = device.limits();
        let recorder = recorder::Recorder::new(&device, limits.min_uniform_buffer_offset_alignment as usize);
        Ok(Gpu {
            info: adapter.get_info(),
            features: device.features(),
            kernels,
            tuning,
            limits,
            pipelines: PipelineCache::default(),
            pool: BufferPool::new(),
            recorder: Mutex::new(recorder),
            bind_groups: Mutex::new(HashMap::new()),
            staging: Mutex::new(HashMap::new()),
            stats: Mutex::new(GpuStats::default()),
            trace: Mutex::new(None),
            device,
            queue,
        })
    }

    /// The best adapter, honouring `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`.
    pub fn default_adapter() -> Result<Gpu> {
        Gpu::new(&AdapterChoice::default())
    }

    /// The tuner, when this device measures its kernel sets (`--kernels auto`).
    pub fn tuning(&self) -> Option<&Tuner> {
        self.tuning.as_ref().map(|(_, t)| t)
    }

    /// The sets this device chooses among: all the adapter runs when tuning, else its own
    /// and `portable`.
    pub fn enabled_sets(&self) -> Vec<&'static KernelSet> {
        variants::KERNEL_SETS.iter().copied().filter(|s| variants::Runs::enables(self, s)).collect()
    }

    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    pub fn stats(&self) -> GpuStats {
        *self.stats.lock().unwrap()
    }

    /// The largest buffer a kernel can bind on this adapter.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// `Ok` when a tensor of `bytes` fits this adapter's largest storage binding, else an
    /// error saying what `what` (e.g. "a [64, 512, 8, 8] activation") needs and `fix`.
    pub fn check_fits(&self, bytes: u64, what: &str, fix: &str) -> Result<()> {
        let max = self.max_binding_bytes();
        if pool::size_class(bytes) <= max {
            return Ok(());
        }
        Err(Error::new(format!(
            "{what} needs {:.1} MiB, more than the {:.1} MiB this adapter ('{}') can bind in one buffer; {fix}",
            bytes as f64 / 1048576.0,
            max as f64 / 1048576.0,
            self.info.name
        )))
    }

    /// A storage buffer for `bytes` bytes from the pool. Callers check sizes that come from
    /// user input first (`check_fits`, `Architecture::check_fits`), so this only catches bugs.
    pub fn alloc(&self, bytes: u64) -> PooledBuffer {
        if let Err(e) = self.check_fits(bytes, "a tensor", "this is a bug: the size should have been checked") {
            unreachable!("{e}");
        }
        self.pool.alloc(&self.device, bytes)
    }

    /// `alloc` for the staging buffer of packed operands, which its kernel sized and checked
    /// (`PackLayout::fits`); not counted as a tensor (see `PoolStats::largest_buffer`).
    pub fn alloc_packed(&self, bytes: u64) -> PooledBuffer {
        if let Err(e) = self.check_fits(bytes, "packed operands", "this is a bug: PackLayout::fits should have refused them") {
            unreachable!("{e}");
        }
        self.pool.alloc_staging(&self.device, bytes)
    }

    /// An rgba32float texture of `width` x `height` texels from the pool (the kernels that
    /// use textures check `PackLayout::fits` first and otherwise run another set).
    pub fn alloc_texture(&self, width: usize, height: usize) -> PooledTexture {
        let max = self.limits.max_texture_dimension_2d as usize;
        if width > max || height > max {
            unreachable!("a {width}x{height} texture exceeds this adapter's {max}x{max}; PackLayout::fits should have refused it");
        }
        self.pool.alloc_texture(&self.device, width as u32, height as u32)
    }

    /// Grid for a 1-D kernel over `n` items: rows of at most 65535 workgroups, since WGSL
    /// kernels recover the flat index as `gid.x + gid.y * num_workgroups.x * 64`.
    pub fn grid_1d(&self, n: usize) -> [u32; 3] {
        let groups = n.div_ceil(WORKGROUP_1D as usize);
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        if groups <= max { [groups as u32, 1, 1] } else { [max as u32, groups.div_ceil(max) as u32, 1] }
    }
}
