//! A tensor is a shape and an element type over a pooled storage buffer on the GPU.
//!
//! Cloning a tensor is cheap and shares the storage; the buffer returns to the pool when
//! the last clone is dropped. Each tensor has an `id` of its own (a reshaped view gets a
//! new id over the same storage), which the tape uses to file gradients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::gpu::{Binding, Gpu, PooledBuffer};
use crate::error::Result;

/// The element type of a tensor's storage. Everything is f32 today; f16 storage (and the
/// kernels' f16 element prelude) will enter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    #[default]
    F32,
}

impl DType {
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
pub struct Tensor {
    id: u64,
    shape: Vec<usize>,
    dtype: DType,
    storage: Arc<PooledBuffer>,
    /// Gradients flow to this tensor: a trainable parameter, the latent z being optimised,
    /// or anything computed from one of those.
    requires_grad: bool,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor#{}{:?}{}", self.id, self.shape, if self.requires_grad { " (grad)" } else { "" })
    }
}

impl Tensor {
    /// Uninitialised contents (whatever the recycled buffer held).
    pub fn empty(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let numel: usize = shape.iter().product();
        Tensor::from_storage(Arc::new(gpu.alloc((numel * DType::F32.size_bytes()) as u64)), shape.to_vec())
    }

    /// All zeros (recorded as a clear, so it is ordered with the kernels around it).
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let t = Tensor::empty(gpu, shape);
        gpu.clear(t.buffer());
        t
    }

    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
        let numel: usize = shape.iter().product();
        assert_eq!(numel, data.len(), "shape {shape:?} holds {numel} values, data has {}", data.len());
        let t = Tensor::empty(gpu, shape);
        gpu.upload(t.buffer(), bytemuck::cast_slice(data));
        t
    }

    fn from_storage(storage: Arc<PooledBuffer>, shape: Vec<usize>) -> Tensor {
        Tensor { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), shape, dtype: DType::F32, storage, requires_grad: false }
    }

    /// Overwrite the contents from the host (e.g. the next data batch).
    pub fn write(&self, gpu: &Gpu, data: &[f32]) {
        assert_eq!(self.numel(), data.len(), "writing {} values into {:?}", data.len(), self.shape);
        gpu.upload(self.buffer(), bytemuck::cast_slice(data));
    }

    /// Copy back to the host; waits for all recorded work. An error when the device is
    /// lost: jobs use this, so a lost device is a message, not a panic.
    pub fn try_to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let bytes = gpu.download(self.buffer(), (self.numel() * self.dtype.size_bytes()) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// [`Tensor::try_to_vec`] of several tensors with one wait (see [`Gpu::download_many`]).
    pub fn read_many(gpu: &Gpu, tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        let buffers: Vec<(&PooledBuffer, u64)> = tensors.iter().map(|t| (t.buffer(), (t.numel() * t.dtype.size_bytes()) as u64)).collect();
        Ok(gpu.download_many(&buffers)?.iter().map(|bytes| bytemuck::pod_collect_to_vec(bytes)).collect())
    }

    /// [`Tensor::try_to_vec`] for tests and benchmarks, where a lost device ends the run.
    pub fn to_vec(&self, gpu: &Gpu) -> Vec<f32> {
        self.try_to_vec(gpu).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Mark as trainable (or frozen, with `false`).
    pub fn with_grad(mut self, requires_grad: bool) -> Tensor {
        self.requires_grad = requires_grad;
        self
    }

    /// A view with another shape over the same storage and a new id. On a tape use
    /// `Tape::reshape`, which also routes the gradient back.
    pub fn view(&self, shape: &[usize]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), self.numel(), "cannot view {:?} as {shape:?}", self.shape);
        let mut t = Tensor::from_storage(self.storage.clone(), shape.to_vec());
        t.requires_grad = self.requires_grad;
        t
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }
    pub fn buffer(&self) -> &PooledBuffer {
        &self.storage
    }
}

impl<'a> From<&'a Tensor> for Binding<'a> {
    fn from(t: &'a Tensor) -> Self {
        Binding::Buffer(t.buffer())
    }
}
