//! The GPU layer: one device, one queue, and a recorder that turns kernel calls into a
//! single command buffer per step.
//!
//! Kernels are *recorded*, not run: `dispatch` appends to an open compute pass, and the
//! work reaches the GPU only at `flush` (explicitly, or when the host needs data back).
//! Each dispatch's parameters go into a per-submission arena and are bound with a dynamic
//! offset, so recording allocates no GPU memory and bind groups can be reused.

pub mod context;
pub mod pipelines;
pub mod pool;

use std::collections::HashMap;
use std::sync::Mutex;

pub use context::{AdapterChoice, KernelSet};
pub use pipelines::{Family, Kernel, ResourceKind};
pub use pool::{BufferPool, PoolStats, PooledBuffer, PooledTexture};

use crate::error::Result;
use pipelines::PipelineCache;

/// Parameters of one dispatch: 32-bit words in the order of the WGSL `Params` struct.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params {
    words: [u32; 32],
    len: usize,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.words[self.len] = v;
        self.len += 1;
        self
    }
    /// Sizes are `usize` in Rust and `u32` in WGSL; anything larger cannot be indexed there.
    pub fn size(self, v: usize) -> Self {
        self.u32(u32::try_from(v).expect("tensor dimension exceeds u32"))
    }
    pub fn f32(self, v: f32) -> Self {
        self.u32(v.to_bits())
    }
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words[..self.len])
    }
}

/// Bytes of parameters one submission can carry before the recorder flushes on its own.
const PARAMS_ARENA_BYTES: u64 = 1 << 20;
/// Bind groups are reused while the same buffers meet the same kernel again; past this
/// many the cache starts afresh so it cannot grow without bound.
const BIND_GROUP_CACHE_MAX: usize = 8192;
/// Work items per workgroup of the 1-D kernels (`@workgroup_size(64)` in WGSL).
pub const WORKGROUP_1D: u32 = 64;

type BindGroupKey = (u32, [u64; 8]);

/// The dispatches of one thread while [`Gpu::trace`] or [`Gpu::profile`] runs.
struct Trace {
    thread: std::thread::ThreadId,
    entries: Vec<&'static str>,
    /// Profiling: each dispatch runs alone and its wall time is kept here.
    seconds: Option<Vec<f64>>,
}

/// Time per entry point, from [`Gpu::profile`].
#[derive(Debug, Clone, PartialEq)]
pub struct KernelProfile {
    pub entry: &'static str,
    pub dispatches: usize,
    pub seconds: f64,
}

/// What a kernel binds after its parameters, in ascending binding order.
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

impl Binding<'_> {
    fn id(&self) -> u64 {
        match self {
            Binding::Buffer(b) => b.id,
            Binding::Texture(t) => t.id,
        }
    }

    fn fits(&self, kind: ResourceKind) -> bool {
        matches!((self, kind), (Binding::Buffer(_), ResourceKind::Buffer { .. }) | (Binding::Texture(_), ResourceKind::Texture { .. }))
    }

    fn resource(&self) -> wgpu::BindingResource<'_> {
        match self {
            Binding::Buffer(b) => b.buffer.as_entire_binding(),
            Binding::Texture(t) => wgpu::BindingResource::TextureView(&t.view),
        }
    }
}

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    params: Vec<u8>,
    dispatches: u64,
    /// While [`Gpu::time`] runs: the query set and how many passes wrote into it.
    timing: Option<(wgpu::QuerySet, u32)>,
}

/// Compute passes one [`Gpu::time`] call can time (two timestamps each).
const TIMED_PASSES_MAX: u32 = 256;

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
    /// The kernel variants this device runs (see [`KernelSet`]).
    pub kernels: KernelSet,
    pipelines: PipelineCache,
    pool: BufferPool,
    params_arena: wgpu::Buffer,
    params_align: usize,
    recorder: Mutex<Recorder>,
    bind_groups: Mutex<HashMap<BindGroupKey, wgpu::BindGroup>>,
    /// Free map-read buffers by size class, so reading a loss every step allocates nothing.
    staging: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    stats: Mutex<GpuStats>,
    /// While [`Gpu::trace`] or [`Gpu::profile`] runs: what it has recorded.
    trace: Mutex<Option<Trace>>,
}

impl Gpu {
    /// Open the adapter `choice` selects (see [`context::select`]).
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let (_instance, adapter) = context::select(choice)?;
        let kernels = KernelSet::choose(&adapter, choice)?;
        let (device, queue) = context::open_device(&adapter)?;
        let limits = device.limits();
        let params_arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: PARAMS_ARENA_BYTES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            info: adapter.get_info(),
            features: device.features(),
            kernels,
            params_align: limits.min_uniform_buffer_offset_alignment as usize,
            limits,
            device,
            queue,
            pipelines: PipelineCache::default(),
            pool: BufferPool::new(),
            params_arena,
            recorder: Mutex::new(Recorder { encoder: None, pass: None, params: Vec::new(), dispatches: 0, timing: None }),
            bind_groups: Mutex::new(HashMap::new()),
            staging: Mutex::new(HashMap::new()),
            stats: Mutex::new(GpuStats::default()),
            trace: Mutex::new(None),
        })
    }

    /// The best adapter, honouring `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`.
    pub fn default_adapter() -> Result<Gpu> {
        Gpu::new(&AdapterChoice::default())
    }

    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    pub fn stats(&self) -> GpuStats {
        *self.stats.lock().unwrap()
    }

    /// One device per kernel set the chosen adapter can run (for tests that check every
    /// variant against the same reference).
    pub fn each_kernel_set(choice: &AdapterChoice) -> Result<Vec<Gpu>> {
        let (_instance, adapter) = context::select(choice)?;
        KernelSet::available(&adapter)
            .into_iter()
            .map(|set| Gpu::new(&AdapterChoice { kernels: Some(set.name().into()), ..choice.clone() }))
            .collect()
    }

    /// An rgba32float texture of `width` x `height` texels from the pool.
    pub fn alloc_texture(&self, width: usize, height: usize) -> PooledTexture {
        let max = self.limits.max_texture_dimension_2d as usize;
        assert!(width <= max && height <= max, "a {width}x{height} texture exceeds this adapter's {max}x{max}");
        self.pool.alloc_texture(&self.device, width as u32, height as u32)
    }

    /// A storage buffer for `bytes` bytes from the pool; fails if the adapter cannot bind it.
    pub fn alloc(&self, bytes: u64) -> PooledBuffer {
        let max = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        assert!(
            pool::size_class(bytes) <= max,
            "a tensor of {bytes} bytes exceeds this adapter's largest storage binding ({max} bytes); use a smaller batch"
        );
        self.pool.alloc(&self.device, bytes)
    }

    /// Record one kernel launch. `resources` (buffers, or textures where the kernel has
    /// storage textures) go to the entry point's bindings after the parameters in
    /// ascending binding order; `groups` is the grid.
    pub fn dispatch<'a, R: Into<Binding<'a>> + Copy>(&self, kernel: Kernel, params: Params, resources: &[R], groups: [u32; 3]) {
        let resources: Vec<Binding> = resources.iter().map(|&r| r.into()).collect();
        let pipeline = self.pipelines.get(&self.device, kernel);
        let layout = &pipeline.layout;
        assert_eq!(
            layout.resources.len(),
            resources.len(),
            "kernel `{}` binds {} buffers and textures, caller passed {}",
            kernel.entry,
            layout.resources.len(),
            resources.len()
        );
        for (i, (&(binding, kind), r)) in layout.resources.iter().zip(&resources).enumerate() {
            assert!(r.fits(kind), "kernel `{}`: resource {i} goes to binding {binding}, a {kind:?}", kernel.entry);
        }
        assert_eq!(
            layout.params_size as usize,
            params.len * 4,
            "kernel `{}`: WGSL Params is {} bytes, caller packed {}",
            kernel.entry,
            layout.params_size,
            params.len * 4
        );
        if groups.contains(&0) {
            return; // nothing to do (an empty tensor)
        }
        let timed = match self.trace.lock().unwrap().as_mut() {
            Some(trace) if trace.thread == std::thread::current().id() => {
                trace.entries.push(kernel.entry);
                trace.seconds.is_some()
            }
            _ => false,
        };
        let bind_group = self.bind_group(&pipeline, &resources);
        let start = timed.then(|| {
            self.finish();
            std::time::Instant::now()
        });
        self.record_dispatch(&pipeline, &bind_group, params, groups);
        if let Some(start) = start {
            self.finish();
            let elapsed = start.elapsed().as_secs_f64();
            if let Some(Trace { seconds: Some(seconds), .. }) = self.trace.lock().unwrap().as_mut() {
                seconds.push(elapsed);
            }
        }
    }

    fn record_dispatch(&self, pipeline: &pipelines::Pipeline, bind_group: &wgpu::BindGroup, params: Params, groups: [u32; 3]) {
        let layout = &pipeline.layout;
        let mut rec = self.recorder.lock().unwrap();
        let offset = rec.params.len().next_multiple_of(self.params_align);
        if (offset + 256) as u64 > PARAMS_ARENA_BYTES {
            self.submit(&mut rec);
        }
        let offset = rec.params.len().next_multiple_of(self.params_align);
        rec.params.resize(offset, 0);
        rec.params.extend_from_slice(params.bytes());
        let pass = self.open_pass(&mut rec);
        pass.set_pipeline(&pipeline.pipeline);
        let dynamic: &[u32] = if layout.params_size > 0 { &[offset as u32] } else { &[] };
        pass.set_bind_group(0, bind_group, dynamic);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        rec.dispatches += 1;
        self.stats.lock().unwrap().dispatches += 1;
    }

    /// Grid for a 1-D kernel over `n` items: rows of at most 65535 workgroups, since WGSL
    /// kernels recover the flat index as `gid.x + gid.y * num_workgroups.x * 64`.
    pub fn grid_1d(&self, n: usize) -> [u32; 3] {
        let groups = n.div_ceil(WORKGROUP_1D as usize);
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            [max as u32, groups.div_ceil(max) as u32, 1]
        }
    }

    fn bind_group(&self, pipeline: &pipelines::Pipeline, resources: &[Binding]) -> wgpu::BindGroup {
        assert!(resources.len() <= 8, "kernels bind at most 8 resources");
        let mut key = (pipeline.id, [u64::MAX; 8]);
        for (slot, r) in key.1.iter_mut().zip(resources) {
            *slot = r.id();
        }
        let mut cache = self.bind_groups.lock().unwrap();
        if let Some(bg) = cache.get(&key) {
            return bg.clone();
        }
        if cache.len() >= BIND_GROUP_CACHE_MAX {
            cache.clear();
        }
        let mut entries = Vec::with_capacity(resources.len() + 1);
        if pipeline.layout.params_size > 0 {
            entries.push(wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &self.params_arena,
                    offset: 0,
                    size: wgpu::BufferSize::new(pipeline.layout.params_size as u64),
                }),
            });
        }
        for (&(binding, _), r) in pipeline.layout.resources.iter().zip(resources) {
            entries.push(wgpu::BindGroupEntry { binding, resource: r.resource() });
        }
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.bind_group_layout,
            entries: &entries,
        });
        self.stats.lock().unwrap().bind_groups_created += 1;
        cache.insert(key, bg.clone());
        bg
    }

    fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
        rec.pass = None; // a copy cannot be recorded while a pass is open
        rec.encoder.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()))
    }

    fn open_pass<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::ComputePass<'static> {
        if rec.pass.is_none() {
            let encoder = rec.encoder.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
            let timestamp_writes = match &mut rec.timing {
                Some((query_set, passes)) => {
                    assert!(*passes < TIMED_PASSES_MAX, "Gpu::time: more than {TIMED_PASSES_MAX} passes");
                    *passes += 1;
                    Some(wgpu::ComputePassTimestampWrites {
                        query_set,
                        beginning_of_pass_write_index: Some(2 * *passes - 2),
                        end_of_pass_write_index: Some(2 * *passes - 1),
                    })
                }
                None => None,
            };
            let desc = wgpu::ComputePassDescriptor { label: None, timestamp_writes };
            rec.pass = Some(encoder.begin_compute_pass(&desc).forget_lifetime());
        }
        rec.pass.as_mut().unwrap()
    }

    /// Whether [`Gpu::time`] measures with timestamp queries. Not on CPU adapters: there
    /// the device is the host, and lavapipe's timestamps stop following compute work once
    /// a storage texture has been written (a 22 ms matmul then reads 0.07 ms).
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY) && self.info.device_type != wgpu::DeviceType::Cpu
    }

    /// Seconds the GPU spent in the compute passes that `record` records, measured with
    /// timestamp queries; `None` where there are none to trust (see [`Gpu::has_timestamps`];
    /// time on the host instead). Work recorded before is submitted first and not counted.
    pub fn time(&self, record: impl FnOnce()) -> Option<f64> {
        if !self.has_timestamps() {
            return None;
        }
        self.flush();
        let query_set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timing"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * TIMED_PASSES_MAX,
        });
        self.recorder.lock().unwrap().timing = Some((query_set, 0));
        record();
        let bytes = 16 * TIMED_PASSES_MAX as u64;
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let passes = {
            let mut rec = self.recorder.lock().unwrap();
            let (query_set, passes) = rec.timing.take().unwrap();
            if passes > 0 {
                let encoder = self.encoder(&mut rec);
                encoder.resolve_query_set(&query_set, 0..2 * passes, &resolved, 0);
                encoder.copy_buffer_to_buffer(&resolved, 0, &readback, 0, bytes);
            }
            self.submit(&mut rec);
            passes
        };
        if passes == 0 {
            return Some(0.0);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("GPU device lost while timing");
        rx.recv().expect("map callback dropped").expect("could not map the timestamps");
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&readback.get_mapped_range(..).expect("mapped range"));
        let period_ns = self.queue.get_timestamp_period() as f64;
        let total: u64 = ticks.chunks(2).take(passes as usize).map(|t| t[1].saturating_sub(t[0])).sum();
        Some(total as f64 * period_ns * 1e-9)
    }

    /// Record a zero fill (cheaper than a kernel).
    pub fn clear(&self, buffer: &PooledBuffer) {
        let bytes = buffer.len.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        if bytes == 0 {
            return;
        }
        let mut rec = self.recorder.lock().unwrap();
        self.encoder(&mut rec).clear_buffer(&buffer.buffer, 0, Some(bytes));
    }

    /// Record a copy of `src` into `dst` (both at least `bytes` long).
    pub fn copy(&self, src: &PooledBuffer, dst: &PooledBuffer, bytes: u64) {
        let mut rec = self.recorder.lock().unwrap();
        self.encoder(&mut rec).copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, bytes);
    }

    /// Record a copy of `src` (texels, row after row) into the whole of `texture`.
    pub fn copy_to_texture(&self, src: &PooledBuffer, texture: &PooledTexture) {
        let mut rec = self.recorder.lock().unwrap();
        self.encoder(&mut rec).copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &src.buffer,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(texture.width * 16), rows_per_image: None },
            },
            texture.texture.as_image_copy(),
            wgpu::Extent3d { width: texture.width, height: texture.height, depth_or_array_layers: 1 },
        );
    }

    /// Copy host data into `buffer`. Everything recorded so far is submitted first,
    /// because `queue.write_buffer` lands before the *next* submission and would otherwise
    /// overtake recorded work that still reads a recycled buffer.
    pub fn upload(&self, buffer: &PooledBuffer, data: &[u8]) {
        self.flush();
        if !data.is_empty() {
            let padded = data.len().next_multiple_of(4);
            if padded == data.len() {
                self.queue.write_buffer(&buffer.buffer, 0, data);
            } else {
                let mut v = data.to_vec();
                v.resize(padded, 0);
                self.queue.write_buffer(&buffer.buffer, 0, &v);
            }
        }
    }

    /// Submit everything recorded so far as one command buffer (no-op when empty).
    pub fn flush(&self) {
        let mut rec = self.recorder.lock().unwrap();
        self.submit(&mut rec);
    }

    fn submit(&self, rec: &mut Recorder) {
        rec.pass = None;
        let Some(encoder) = rec.encoder.take() else { return };
        if !rec.params.is_empty() {
            self.queue.write_buffer(&self.params_arena, 0, &rec.params);
            rec.params.clear();
        }
        self.queue.submit([encoder.finish()]);
        rec.dispatches = 0;
        self.stats.lock().unwrap().submissions += 1;
    }

    /// Read `bytes` bytes of `buffer` back to the host, waiting for all recorded work.
    pub fn download(&self, buffer: &PooledBuffer, bytes: u64) -> Vec<u8> {
        if bytes == 0 {
            return Vec::new();
        }
        let padded = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let class = pool::size_class(padded);
        let reused = self.staging.lock().unwrap().get_mut(&class).and_then(Vec::pop);
        let staging = reused.unwrap_or_else(|| {
            self.stats.lock().unwrap().staging_buffers_created += 1;
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("download"),
                size: class,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        {
            let mut rec = self.recorder.lock().unwrap();
            self.encoder(&mut rec).copy_buffer_to_buffer(&buffer.buffer, 0, &staging, 0, padded);
            self.submit(&mut rec);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, ..padded, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("GPU device lost while waiting for results");
        rx.recv().expect("map callback dropped").expect("could not map the download buffer");
        let data = staging.get_mapped_range(..padded).expect("mapped range")[..bytes as usize].to_vec();
        staging.unmap();
        self.staging.lock().unwrap().entry(class).or_default().push(staging);
        data
    }

    /// Read a texture back as [height][width][4] f32, row-major (for tests).
    pub fn download_texture(&self, texture: &PooledTexture) -> Vec<f32> {
        let row_bytes = texture.width as u64 * 16;
        let padded_row = row_bytes.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64);
        let staging = self.alloc(padded_row * texture.height as u64);
        {
            let mut rec = self.recorder.lock().unwrap();
            self.encoder(&mut rec).copy_texture_to_buffer(
                texture.texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &staging.buffer,
                    layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded_row as u32), rows_per_image: None },
                },
                wgpu::Extent3d { width: texture.width, height: texture.height, depth_or_array_layers: 1 },
            );
        }
        let bytes = self.download(&staging, padded_row * texture.height as u64);
        bytes.chunks(padded_row as usize).flat_map(|row| bytemuck::pod_collect_to_vec::<u8, f32>(&row[..row_bytes as usize])).collect()
    }

    /// Submit everything recorded and wait until the device has run it.
    pub fn finish(&self) {
        self.flush();
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("GPU device lost");
    }

    /// Run `f` and return the entry points it dispatched on this thread, in order.
    pub fn trace<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<&'static str>) {
        *self.trace.lock().unwrap() = Some(Trace { thread: std::thread::current().id(), entries: Vec::new(), seconds: None });
        let r = f();
        let trace = self.trace.lock().unwrap().take().map(|t| t.entries).unwrap_or_default();
        (r, trace)
    }

    /// Run `f` with every dispatch submitted on its own and waited for, and return the wall
    /// time per entry point, most first. Slower than running `f` as it is (one submission
    /// per dispatch), but it shows where a step's time goes on any adapter.
    pub fn profile<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<KernelProfile>) {
        self.finish();
        *self.trace.lock().unwrap() = Some(Trace { thread: std::thread::current().id(), entries: Vec::new(), seconds: Some(Vec::new()) });
        let r = f();
        self.finish();
        let trace = self.trace.lock().unwrap().take().expect("profile: the trace vanished");
        let mut by_entry: Vec<KernelProfile> = Vec::new();
        for (entry, s) in trace.entries.iter().zip(trace.seconds.unwrap_or_default()) {
            match by_entry.iter_mut().find(|k| k.entry == *entry) {
                Some(k) => {
                    k.dispatches += 1;
                    k.seconds += s;
                }
                None => by_entry.push(KernelProfile { entry, dispatches: 1, seconds: s }),
            }
        }
        by_entry.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        (r, by_entry)
    }

    /// Number of distinct kernels compiled so far.
    pub fn pipelines_compiled(&self) -> usize {
        self.pipelines.len()
    }
}
