//! Host <-> device copies. Downloads reuse map-read staging buffers by size class, so
//! reading a loss every step allocates nothing.

use super::{Gpu, PooledBuffer, PooledTexture, pool};
use crate::error::{Error, Result};

impl Gpu {
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

    /// Read `bytes` bytes of `buffer` back to the host, waiting for all recorded work; an
    /// error when the device is lost on the way.
    pub fn download(&self, buffer: &PooledBuffer, bytes: u64) -> Result<Vec<u8>> {
        Ok(self.download_many(&[(buffer, bytes)])?.pop().unwrap_or_default())
    }

    /// [`Gpu::download`] of several buffers with one submission and one wait: reading N
    /// small results (losses, norms, a layer's maps) costs one round trip, not N.
    pub fn download_many(&self, buffers: &[(&PooledBuffer, u64)]) -> Result<Vec<Vec<u8>>> {
        let mut staged = Vec::with_capacity(buffers.len());
        {
            let mut rec = self.recorder.lock().unwrap();
            for &(buffer, bytes) in buffers {
                if bytes == 0 {
                    staged.push(None);
                    continue;
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
                self.encoder(&mut rec).copy_buffer_to_buffer(&buffer.buffer, 0, &staging, 0, padded);
                staged.push(Some((staging, class, padded, bytes)));
            }
            self.submit(&mut rec);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        for (k, (staging, _, padded, _)) in staged.iter().enumerate().filter_map(|(k, s)| s.as_ref().map(|s| (k, s))) {
            let tx = tx.clone();
            staging.map_async(wgpu::MapMode::Read, ..*padded, move |r| {
                let _ = tx.send((k, r));
            });
        }
        drop(tx);
        self.try_finish()?;
        let lost = |why: String| Error::new(format!("could not read results back from '{}': {why}", self.info.name));
        for _ in staged.iter().flatten() {
            let (_, mapped) = rx.recv().map_err(|e| lost(e.to_string()))?;
            mapped.map_err(|e| lost(e.to_string()))?;
        }
        let mut out = Vec::with_capacity(staged.len());
        for s in staged {
            let Some((staging, class, padded, bytes)) = s else {
                out.push(Vec::new());
                continue;
            };
            let data = staging.get_mapped_range(..padded).map_err(|e| lost(e.to_string()))?[..bytes as usize].to_vec();
            staging.unmap();
            self.staging.lock().unwrap().entry(class).or_default().push(staging);
            out.push(data);
        }
        Ok(out)
    }

    /// Read a texture back as [height][width][4] f32, row-major (for tests).
    pub fn download_texture(&self, texture: &PooledTexture) -> Result<Vec<f32>> {
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
        let bytes = self.download(&staging, padded_row * texture.height as u64)?;
        Ok(bytes.chunks(padded_row as usize).flat_map(|row| bytemuck::pod_collect_to_vec::<u8, f32>(&row[..row_bytes as usize])).collect())
    }
}
