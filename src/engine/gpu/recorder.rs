//! Recording: kernels go into one command encoder, their parameters into one uniform arena
//! (bound with a dynamic offset, so recording allocates no GPU memory and bind groups can
//! be reused), and a whole step reaches the GPU as one submission.

use super::pipelines::Pipeline;
use super::{Arg, Binding, Gpu, Kernel, KernelParams, ResourceKind};

/// Bytes of parameters one submission can carry before the recorder flushes on its own.
const PARAMS_ARENA_BYTES: u64 = 1 << 20;
/// Bind groups are reused while the same buffers meet the same kernel again; past this
/// many the cache starts afresh so it cannot grow without bound.
const BIND_GROUP_CACHE_MAX: usize = 8192;
/// Resources one kernel binds at most (besides its parameters).
const MAX_RESOURCES: usize = 8;
/// Compute passes one [`Gpu::time`] call can time (two timestamps each).
pub(super) const TIMED_PASSES_MAX: u32 = 256;

pub(super) type BindGroupKey = (u32, [u64; MAX_RESOURCES]);

pub(super) struct Recorder {
    pub encoder: Option<wgpu::CommandEncoder>,
    pub pass: Option<wgpu::ComputePass<'static>>,
    params_arena: wgpu::Buffer,
    params_align: usize,
    params: Vec<u8>,
    /// While [`Gpu::time`] runs: the query set and how many passes wrote into it.
    pub timing: Option<(wgpu::QuerySet, u32)>,
}

impl Recorder {
    pub fn new(device: &wgpu::Device, params_align: usize) -> Recorder {
        let params_arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: PARAMS_ARENA_BYTES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Recorder { encoder: None, pass: None, params_arena, params_align, params: Vec::new(), timing: None }
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

/// `args` in the order of `pipeline`'s bindings, matched by name; a missing, unknown or
/// repeated name, or a buffer where the shader has a texture, is a bug named here.
fn resources_by_binding<'a>(kernel: Kernel, pipeline: &Pipeline, args: &[Arg<'a>]) -> Vec<Binding<'a>> {
    let layout = &pipeline.layout;
    // Only the error messages need the list of names.
    let names = || layout.resources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>();
    for a in args {
        if !layout.resources.iter().any(|r| r.name == a.name) {
            panic!("kernel `{}` has no binding `{}`; its bindings are {:?}", kernel.entry, a.name, names());
        }
    }
    layout
        .resources
        .iter()
        .map(|r| {
            let mut matching = args.iter().filter(|a| a.name == r.name);
            let Some(a) = matching.next() else {
                panic!("kernel `{}`: no resource given for binding `{}` (it binds {:?})", kernel.entry, r.name, names())
            };
            assert!(matching.next().is_none(), "kernel `{}`: `{}` given twice", kernel.entry, r.name);
            assert!(a.binding.fits(r.kind), "kernel `{}`: `{}` is a {:?}", kernel.entry, r.name, r.kind);
            a.binding
        })
        .collect()
}

impl Gpu {
    /// Record one kernel launch: `params` for the WGSL `Params` struct, `args` for its
    /// storage buffers and textures by name, `groups` the grid.
    pub fn dispatch<P: KernelParams>(&self, kernel: Kernel, params: &P, args: &[Arg], groups: [u32; 3]) {
        let pipeline = self.pipelines.get(&self.device, kernel);
        pipeline.check_params::<P>(kernel);
        let resources = resources_by_binding(kernel, &pipeline, args);
        if groups.contains(&0) {
            return; // nothing to do (an empty tensor)
        }
        let timed = self.trace_dispatch(kernel);
        let bind_group = self.bind_group(&pipeline, &resources);
        let start = timed.then(|| {
            self.finish();
            std::time::Instant::now()
        });
        self.record_dispatch(&pipeline, &bind_group, bytemuck::bytes_of(params), groups);
        if let Some(start) = start {
            self.finish();
            self.trace_seconds(start.elapsed().as_secs_f64());
        }
    }

    fn record_dispatch(&self, pipeline: &Pipeline, bind_group: &wgpu::BindGroup, params: &[u8], groups: [u32; 3]) {
        let mut rec = self.recorder.lock().unwrap();
        let align = rec.params_align;
        if (rec.params.len().next_multiple_of(align) + params.len()) as u64 > PARAMS_ARENA_BYTES {
            self.submit(&mut rec);
        }
        let offset = rec.params.len().next_multiple_of(align);
        rec.params.resize(offset, 0);
        rec.params.extend_from_slice(params);
        let pass = self.open_pass(&mut rec);
        pass.set_pipeline(&pipeline.pipeline);
        let dynamic: &[u32] = if pipeline.layout.params_size > 0 { &[offset as u32] } else { &[] };
        pass.set_bind_group(0, bind_group, dynamic);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.stats.lock().unwrap().dispatches += 1;
    }

    fn bind_group(&self, pipeline: &Pipeline, resources: &[Binding]) -> wgpu::BindGroup {
        assert!(resources.len() <= MAX_RESOURCES, "kernels bind at most {MAX_RESOURCES} resources");
        let mut key = (pipeline.id, [u64::MAX; MAX_RESOURCES]);
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
        let rec = self.recorder.lock().unwrap();
        let mut entries = Vec::with_capacity(resources.len() + 1);
        if pipeline.layout.params_size > 0 {
            entries.push(wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &rec.params_arena,
                    offset: 0,
                    size: wgpu::BufferSize::new(pipeline.layout.params_size as u64),
                }),
            });
        }
        for (r, b) in pipeline.layout.resources.iter().zip(resources) {
            entries.push(wgpu::BindGroupEntry { binding: r.binding, resource: b.resource() });
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

    pub(super) fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
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
        rec.pass.as_mut().expect("the pass was just opened")
    }

    /// Record a zero fill (cheaper than a kernel).
    pub fn clear(&self, buffer: &super::PooledBuffer) {
        let bytes = buffer.len.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        if bytes == 0 {
            return;
        }
        let mut rec = self.recorder.lock().unwrap();
        self.encoder(&mut rec).clear_buffer(&buffer.buffer, 0, Some(bytes));
    }

    /// Record a copy of `src` into `dst` (both at least `bytes` long).
    pub fn copy(&self, src: &super::PooledBuffer, dst: &super::PooledBuffer, bytes: u64) {
        let mut rec = self.recorder.lock().unwrap();
        self.encoder(&mut rec).copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, bytes);
    }

    /// Record a copy of `src` (texels, row after row) into the whole of `texture`.
    pub fn copy_to_texture(&self, src: &super::PooledBuffer, texture: &super::PooledTexture) {
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

    /// Submit everything recorded so far as one command buffer (no-op when empty).
    pub fn flush(&self) {
        let mut rec = self.recorder.lock().unwrap();
        self.submit(&mut rec);
    }

    pub(super) fn submit(&self, rec: &mut Recorder) {
        rec.pass = None;
        let Some(encoder) = rec.encoder.take() else { return };
        if !rec.params.is_empty() {
            self.queue.write_buffer(&rec.params_arena, 0, &rec.params);
            rec.params.clear();
        }
        self.queue.submit([encoder.finish()]);
        self.stats.lock().unwrap().submissions += 1;
    }

    /// Submit everything recorded and wait until the device has run it; an error when the
    /// device is lost.
    pub fn try_finish(&self) -> crate::Result<()> {
        self.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| crate::Error::new(format!("the GPU device '{}' stopped answering: {e}", self.info.name)))
    }

    /// [`Gpu::try_finish`] for tests and benchmarks, where a lost device ends the run.
    pub fn finish(&self) {
        if let Err(e) = self.try_finish() {
            panic!("{e}");
        }
    }
}
