//! Storage buffers reused by size class, and the textures some kernel variants read their
//! operands from (see `KernelSet::Simd8`), reused by exact size.
//!
//! Reuse is stream-ordered, like PyTorch's CUDA caching allocator: a buffer freed while
//! commands that read it are still only recorded can be handed to the next tensor at once,
//! because every kernel goes into the same queue in recording order. The one thing that
//! could overtake recorded work, `queue.write_buffer`, is only used after a flush (see
//! `Gpu::upload`). After the first iteration of a loop, its tensors find their buffers
//! here and the loop allocates nothing. Free buffers are handed out lowest id first, so a
//! loop that repeats the same ops gets the same buffers in the same places every time,
//! and the bind groups made for them in the first iteration are found again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Counters a test or benchmark can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// `create_buffer` and `create_texture` calls made so far.
    pub buffers_created: u64,
    /// Bytes held by the pool, in use or free.
    pub bytes_allocated: u64,
    /// Bytes held by live tensors right now.
    pub bytes_in_use: u64,
    /// The most `bytes_in_use` has been.
    pub peak_bytes_in_use: u64,
    /// The largest tensor buffer asked for (bytes): what the size checks made before any
    /// work (`Architecture::check_fits`) must cover. Staging buffers of packed operands are
    /// not counted: their kernels size them and decline what does not fit (`PackLayout::fits`).
    pub largest_buffer: u64,
}

struct PoolInner {
    free: HashMap<u64, BTreeMap<u64, wgpu::Buffer>>,
    free_textures: HashMap<(u32, u32), BTreeMap<u64, (wgpu::Texture, wgpu::TextureView)>>,
    stats: PoolStats,
    /// One id space for buffers and textures: bind groups are keyed by these ids.
    next_id: u64,
}

impl PoolInner {
    fn take(&mut self, bytes: u64) {
        self.stats.bytes_in_use += bytes;
        self.stats.peak_bytes_in_use = self.stats.peak_bytes_in_use.max(self.stats.bytes_in_use);
    }

    fn new_id(&mut self, bytes: u64) -> u64 {
        self.stats.buffers_created += 1;
        self.stats.bytes_allocated += bytes;
        self.next_id += 1;
        self.next_id - 1
    }
}

/// A pooled buffer; dropping it gives the buffer back to the pool.
pub struct PooledBuffer {
    /// Unique per buffer for the life of the process: the bind-group cache keys on it.
    pub id: u64,
    pub buffer: wgpu::Buffer,
    /// Bytes the caller asked for (the buffer itself may be larger).
    pub len: u64,
    class: u64,
    pool: Arc<Mutex<PoolInner>>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let mut inner = self.pool.lock().unwrap();
        inner.stats.bytes_in_use -= self.class;
        inner.free.entry(self.class).or_default().insert(self.id, self.buffer.clone());
    }
}

pub use crate::engine::variants::TEXTURE_FORMAT;

fn texture_bytes(width: u32, height: u32) -> u64 {
    width as u64 * height as u64 * 16
}

/// A pooled texture; dropping it gives the texture back to the pool.
pub struct PooledTexture {
    /// From the same id space as buffer ids.
    pub id: u64,
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub width: u32,
    pub height: u32,
    pool: Arc<Mutex<PoolInner>>,
}

impl Drop for PooledTexture {
    fn drop(&mut self) {
        let mut inner = self.pool.lock().unwrap();
        inner.stats.bytes_in_use -= texture_bytes(self.width, self.height);
        let entry = (self.texture.clone(), self.view.clone());
        inner.free_textures.entry((self.width, self.height)).or_default().insert(self.id, entry);
    }
}

#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<Mutex<PoolInner>>,
}

/// Round up to one of four classes per power of two (at most 25% waste), 256 bytes minimum.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let step = (bytes.next_power_of_two() / 8).max(64);
    bytes.div_ceil(step) * step
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

impl BufferPool {
    pub fn new() -> Self {
        let inner = PoolInner { free: HashMap::new(), free_textures: HashMap::new(), stats: PoolStats::default(), next_id: 0 };
        BufferPool { inner: Arc::new(Mutex::new(inner)) }
    }

    /// A storage buffer of at least `bytes` bytes (contents undefined) for a tensor.
    pub fn alloc(&self, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        {
            let mut inner = self.inner.lock().unwrap();
            inner.stats.largest_buffer = inner.stats.largest_buffer.max(bytes);
        }
        self.alloc_staging(device, bytes)
    }

    /// A storage buffer of at least `bytes` bytes for packed operands (see `largest_buffer`).
    pub fn alloc_staging(&self, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        let mut inner = self.inner.lock().unwrap();
        inner.take(class);
        let reused = inner.free.get_mut(&class).and_then(|free| free.pop_first());
        let (id, buffer) = match reused {
            Some(found) => found,
            None => {
                let id = inner.new_id(class);
                let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tensor"),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (id, buffer)
            }
        };
        PooledBuffer { id, buffer, len: bytes, class, pool: self.inner.clone() }
    }

    /// An rgba32float texture of exactly `width` x `height` texels (contents undefined),
    /// filled by copies and read by kernels as a read-only storage texture.
    pub fn alloc_texture(&self, device: &wgpu::Device, width: u32, height: u32) -> PooledTexture {
        let bytes = texture_bytes(width, height);
        let mut inner = self.inner.lock().unwrap();
        inner.take(bytes);
        let reused = inner.free_textures.get_mut(&(width, height)).and_then(|free| free.pop_first());
        let (id, (texture, view)) = match reused {
            Some(found) => found,
            None => {
                let id = inner.new_id(bytes);
                let texture = device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("packed operand"),
                    size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: TEXTURE_FORMAT,
                    usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
                    view_formats: &[],
                });
                let view = texture.create_view(&Default::default());
                (id, (texture, view))
            }
        };
        PooledTexture { id, texture, view, width, height, pool: self.inner.clone() }
    }

    pub fn stats(&self) -> PoolStats {
        self.inner.lock().unwrap().stats
    }

    /// Start a new peak measurement from the current usage (and of the largest buffer).
    pub fn reset_peak(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.stats.peak_bytes_in_use = inner.stats.bytes_in_use;
        inner.stats.largest_buffer = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_waste_at_most_a_quarter() {
        for bytes in [1u64, 255, 256, 257, 1000, 4096, 4097, 100_000, 12_345_678] {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(c <= (bytes.max(256) as f64 * 1.25) as u64 + 64, "{bytes} -> {c}");
            assert_eq!(c % 4, 0);
        }
    }
}
