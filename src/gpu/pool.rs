//! Storage buffers reused by size class.
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
    /// `create_buffer` calls made so far.
    pub buffers_created: u64,
    /// Bytes held by the pool, in use or free.
    pub bytes_allocated: u64,
    /// Bytes held by live tensors right now.
    pub bytes_in_use: u64,
    /// The most `bytes_in_use` has been.
    pub peak_bytes_in_use: u64,
}

struct PoolInner {
    free: HashMap<u64, BTreeMap<u64, wgpu::Buffer>>,
    stats: PoolStats,
    next_id: u64,
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
        BufferPool { inner: Arc::new(Mutex::new(PoolInner { free: HashMap::new(), stats: PoolStats::default(), next_id: 0 })) }
    }

    /// A storage buffer of at least `bytes` bytes (contents undefined).
    pub fn alloc(&self, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        let mut inner = self.inner.lock().unwrap();
        inner.stats.bytes_in_use += class;
        inner.stats.peak_bytes_in_use = inner.stats.peak_bytes_in_use.max(inner.stats.bytes_in_use);
        let reused = inner.free.get_mut(&class).and_then(|free| free.pop_first());
        let (id, buffer) = match reused {
            Some(found) => found,
            None => {
                inner.stats.buffers_created += 1;
                inner.stats.bytes_allocated += class;
                let id = inner.next_id;
                inner.next_id += 1;
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

    pub fn stats(&self) -> PoolStats {
        self.inner.lock().unwrap().stats
    }

    /// Start a new peak measurement from the current usage.
    pub fn reset_peak(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.stats.peak_bytes_in_use = inner.stats.bytes_in_use;
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
