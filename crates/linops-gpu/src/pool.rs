//! Device matrices ([`GpuMat`]) and the buffer pool they come from.
//!
//! A [`GpuMat`] is a rows × cols f32 matrix stored column-major in one storage buffer
//! (element (i, j) at `i + j * rows`). Buffers are bucketed by a rounded size class (at most 25 %
//! larger than asked: sizes are rounded up to a quarter of their leading power of two); dropping a
//! matrix returns its buffer to its bucket and the next allocation of that class reuses it.
//! A recorded but not yet submitted [`GpuEncoder`](crate::GpuEncoder) keeps the buffers it binds
//! alive, so a matrix dropped before `submit` is not recycled under the encoder's feet.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use linops_core::{Error, Result};

use crate::device::GpuDevice;

/// Most bytes the pool keeps cached before it frees returned buffers instead.
const MAX_CACHED_BYTES: u64 = 1 << 30;

/// Counters of the buffer pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers created fresh on the device.
    pub allocations: u64,
    /// Allocations served by a cached buffer.
    pub reuses: u64,
    /// Buffers now cached (free) in the pool.
    pub cached_buffers: u64,
    /// Bytes now cached (free) in the pool.
    pub cached_bytes: u64,
    /// Bytes of device buffers the pool has created and not yet freed (in use plus cached).
    pub live_bytes: u64,
    /// The largest `live_bytes` since the device was opened or
    /// [`GpuDevice::reset_peak_bytes`] was last called.
    pub peak_bytes: u64,
}

#[derive(Default)]
struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
    /// Device bytes the pool should stay under (0: none): before it creates a buffer past it,
    /// it frees its cached buffers.
    budget: u64,
}

/// Free buffers by size class, plus counters.
pub(crate) struct BufferPool {
    state: Mutex<PoolState>,
}

/// Size class of a request of `bytes` bytes: rounded up to a quarter of its leading power of two,
/// and at least 256 bytes.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let lead = 1u64 << (63 - bytes.leading_zeros());
    let step = (lead / 4).max(4);
    bytes.div_ceil(step) * step
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(PoolState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // A poisoned pool only means a panic elsewhere; its data is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.lock().stats
    }

    pub(crate) fn trim(&self) {
        let mut s = self.lock();
        s.free.clear();
        s.stats.live_bytes -= s.stats.cached_bytes;
        s.stats.cached_buffers = 0;
        s.stats.cached_bytes = 0;
    }

    /// Frees the cached buffers when creating `class` more bytes would pass the budget.
    fn make_room(&self, class: u64) {
        let over = {
            let s = self.lock();
            s.budget > 0 && s.stats.live_bytes + class > s.budget
        };
        if over {
            self.trim();
        }
    }

    fn take(&self, class: u64) -> Option<wgpu::Buffer> {
        let mut s = self.lock();
        let buf = s.free.get_mut(&class).and_then(Vec::pop)?;
        s.stats.reuses += 1;
        s.stats.cached_buffers -= 1;
        s.stats.cached_bytes -= class;
        Some(buf)
    }

    fn give_back(&self, class: u64, buffer: wgpu::Buffer) {
        let mut s = self.lock();
        let over_budget = s.budget > 0 && s.stats.live_bytes > s.budget;
        if s.stats.cached_bytes + class > MAX_CACHED_BYTES || over_budget {
            s.stats.live_bytes -= class;
            return; // dropping `buffer` frees it
        }
        s.free.entry(class).or_default().push(buffer);
        s.stats.cached_buffers += 1;
        s.stats.cached_bytes += class;
    }

    fn count_allocation(&self, class: u64) {
        let mut s = self.lock();
        s.stats.allocations += 1;
        s.stats.live_bytes += class;
        s.stats.peak_bytes = s.stats.peak_bytes.max(s.stats.live_bytes);
    }
}

/// A download whose copy has been submitted ([`GpuDevice::start_download`]).
pub struct PendingDownload {
    staging: wgpu::Buffer,
    index: wgpu::SubmissionIndex,
    rx: std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

impl fmt::Debug for PendingDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PendingDownload({} bytes)", self.staging.size())
    }
}

/// A buffer on loan from the pool; returns itself on drop.
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    class: u64,
    pool: Arc<BufferPool>,
}

impl PooledBuffer {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        // Invariant: `buffer` is Some until drop.
        self.buffer
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled buffer used after drop"))
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.pool.give_back(self.class, b);
        }
    }
}

/// A rows × cols f32 matrix on the GPU, column-major and contiguous (ld = rows).
pub struct GpuMat {
    rows: usize,
    cols: usize,
    pub(crate) storage: Arc<PooledBuffer>,
    pub(crate) device_id: u64,
}

impl fmt::Debug for GpuMat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuMat({}x{})", self.rows, self.cols)
    }
}

impl GpuMat {
    /// Number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[must_use]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of elements, rows · cols (never zero).
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Always false: a `GpuMat` has at least one element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes of the matrix (not of the possibly larger pooled buffer behind it).
    #[must_use]
    pub fn byte_len(&self) -> u64 {
        self.len() as u64 * 4
    }

    /// The binding of exactly this matrix's bytes.
    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.storage.buffer(),
            offset: 0,
            size: std::num::NonZeroU64::new(self.byte_len()),
        })
    }

    /// The same storage viewed as a `rows×cols` column-major matrix (`rows·cols` must equal
    /// `len()`): a reshape without a copy, as a column of `m·p` entries is `m` columns of `p`.
    pub(crate) fn reshaped(&self, rows: usize, cols: usize) -> Option<GpuMat> {
        (rows > 0 && rows.checked_mul(cols) == Some(self.len())).then(|| GpuMat {
            rows,
            cols,
            storage: Arc::clone(&self.storage),
            device_id: self.device_id,
        })
    }

    /// Whether `self` and `other` share storage.
    pub(crate) fn same_storage(&self, other: &GpuMat) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
}

/// A vector of `u32` indices on the device: an index parameter of a plan (a permutation, the
/// row pointers and column indices of a CSR matrix), bound as `array<u32>` by the kernels that
/// read indices (`gather`, `spmm`). A type of its own, so an index vector is never bound where
/// `f32` values are read, nor the reverse.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// let idx = dev.upload_indices(&[2, 0, 1]).unwrap();
/// assert_eq!(idx.len(), 3);
/// ```
#[derive(Debug)]
pub struct GpuIndices {
    /// The indices' storage (4-byte elements, `len×1`).
    storage: GpuMat,
}

impl GpuIndices {
    /// Number of indices (never zero).
    #[must_use]
    pub fn len(&self) -> usize {
        self.storage.rows
    }

    /// Always false: an index vector has at least one entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The storage, for binding.
    pub(crate) fn storage(&self) -> &GpuMat {
        &self.storage
    }
}

impl GpuDevice {
    /// Byte size of a rows × cols f32 matrix after checking it is non-empty and fits one binding.
    pub(crate) fn matrix_bytes(&self, what: &str, rows: usize, cols: usize) -> Result<u64> {
        self.buffer_bytes(what, rows, cols, "f32 matrix")
    }

    /// Byte size of a rows × cols buffer of 4-byte elements (`kind` names them in errors) after
    /// checking it is non-empty and fits one binding.
    fn buffer_bytes(&self, what: &str, rows: usize, cols: usize, kind: &str) -> Result<u64> {
        if rows == 0 || cols == 0 {
            return Err(Error::EmptyDimension {
                context: what.to_string(),
                rows,
                cols,
            });
        }
        let (limit_bytes, limit_name) = self.binding_limit();
        let bytes = (rows as u64)
            .checked_mul(cols as u64)
            .and_then(|n| n.checked_mul(4))
            .unwrap_or(u64::MAX);
        if bytes > limit_bytes {
            return Err(Error::DeviceLimit {
                what: format!("{what} ({rows}x{cols} {kind})"),
                requested: bytes,
                limit_name: limit_name.to_string(),
                limit: limit_bytes,
            });
        }
        // Element indices are u32 in the shaders.
        if bytes / 4 > u64::from(u32::MAX) {
            return Err(Error::DeviceLimit {
                what: format!("{what} ({rows}x{cols} {kind})"),
                requested: bytes / 4,
                limit_name: "u32 element index".into(),
                limit: u64::from(u32::MAX),
            });
        }
        Ok(bytes)
    }

    /// A rows × cols matrix with unspecified contents (a reused buffer keeps old values).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] if rows or cols is 0; [`Error::DeviceLimit`] if the matrix is
    /// larger than [`max_binding_bytes`](Self::max_binding_bytes); [`Error::Backend`] if the
    /// device cannot allocate it.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let m = dev.alloc(3, 2).unwrap();
    /// assert_eq!((m.rows(), m.cols()), (3, 2));
    /// ```
    pub fn alloc(&self, rows: usize, cols: usize) -> Result<GpuMat> {
        let bytes = self.matrix_bytes("alloc", rows, cols)?;
        self.alloc_bytes(rows, cols, bytes)
    }

    /// A rows × cols buffer of 4-byte elements of `bytes` bytes (checked by the caller).
    fn alloc_bytes(&self, rows: usize, cols: usize, bytes: u64) -> Result<GpuMat> {
        let mut class = size_class(bytes);
        if class > self.max_binding_bytes() {
            class = bytes.div_ceil(4) * 4;
        }
        let buffer = match self.pool.take(class) {
            Some(b) => b,
            None => {
                self.pool.make_room(class);
                let b = self.scoped("alloc", || {
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("linops matrix"),
                        size: class,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })?;
                self.pool.count_allocation(class);
                b
            }
        };
        Ok(GpuMat {
            rows,
            cols,
            storage: Arc::new(PooledBuffer {
                buffer: Some(buffer),
                class,
                pool: Arc::clone(&self.pool),
            }),
            device_id: self.id,
        })
    }

    /// A rows × cols matrix holding `data` (column-major, `data.len() == rows * cols`).
    ///
    /// # Errors
    /// As [`alloc`](Self::alloc), plus [`Error::ShapeMismatch`] if `data` has the wrong length.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let m = dev.upload(2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(dev.download(&m).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    /// ```
    pub fn upload(&self, rows: usize, cols: usize, data: &[f32]) -> Result<GpuMat> {
        let expected = rows.checked_mul(cols);
        if expected != Some(data.len()) {
            return Err(Error::ShapeMismatch {
                context: "upload".into(),
                expected: format!("{rows}x{cols} = {:?} values", expected),
                found: format!("{} values", data.len()),
            });
        }
        let m = self.alloc(rows, cols)?;
        self.scoped("upload", || {
            self.queue
                .write_buffer(m.storage.buffer(), 0, bytemuck::cast_slice(data));
        })?;
        Ok(m)
    }

    /// An index vector holding `data` (for the kernels that read indices: `gather`, `spmm`).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `data`; [`Error::DeviceLimit`] when `4·len` exceeds
    /// [`max_binding_bytes`](Self::max_binding_bytes) (the real limit of an index array on this
    /// device); [`Error::Backend`] if the device cannot allocate it.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// assert!(dev.upload_indices(&[]).is_err());
    /// assert_eq!(dev.upload_indices(&[7, 7]).unwrap().len(), 2);
    /// ```
    pub fn upload_indices(&self, data: &[u32]) -> Result<GpuIndices> {
        let bytes = self.buffer_bytes("upload_indices", data.len(), 1, "u32 index vector")?;
        let storage = self.alloc_bytes(data.len(), 1, bytes)?;
        self.scoped("upload_indices", || {
            self.queue
                .write_buffer(storage.storage.buffer(), 0, bytemuck::cast_slice(data));
        })?;
        Ok(GpuIndices { storage })
    }

    /// A rows × cols matrix of zeros.
    ///
    /// # Errors
    /// As [`alloc`](Self::alloc).
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let z = dev.zeros(2, 3).unwrap();
    /// assert_eq!(dev.download(&z).unwrap(), vec![0.0; 6]);
    /// ```
    pub fn zeros(&self, rows: usize, cols: usize) -> Result<GpuMat> {
        let m = self.alloc(rows, cols)?;
        self.scoped("zeros", || {
            let mut enc = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("linops zeros"),
                });
            enc.clear_buffer(m.storage.buffer(), 0, Some(m.byte_len()));
            self.queue.submit([enc.finish()]);
        })?;
        Ok(m)
    }

    /// Copies `m` back to the host (column-major), waiting for all submitted work first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `m` belongs to another device; [`Error::Backend`] if the
    /// copy or the mapping fails.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let m = dev.upload(1, 3, &[1.0, 2.0, 3.0]).unwrap();
    /// assert_eq!(dev.download(&m).unwrap(), vec![1.0, 2.0, 3.0]);
    /// ```
    pub fn download(&self, m: &GpuMat) -> Result<Vec<f32>> {
        self.check_owned("download", m)?;
        let bytes = m.byte_len();
        let staging = self.scoped("download", || {
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("linops readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("linops download"),
                });
            enc.copy_buffer_to_buffer(m.storage.buffer(), 0, &staging, 0, bytes);
            self.queue.submit([enc.finish()]);
            staging
        })?;
        let data = self.read_mapped(&staging, "download")?;
        Ok(bytemuck::pod_collect_to_vec::<u8, f32>(&data))
    }

    /// Starts copying `m` back to the host: the copy is submitted behind the work already
    /// queued, and nothing waits. [`finish_download`](Self::finish_download) waits for that copy
    /// only, not for work submitted after it, so the device can run the next step while the host
    /// reads this one.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `m` belongs to another device; [`Error::Backend`] if the
    /// copy cannot be recorded.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let m = dev.upload(1, 2, &[1.0, 2.0]).unwrap();
    /// let pending = dev.start_download(&m).unwrap();
    /// assert_eq!(dev.finish_download(pending).unwrap(), vec![1.0, 2.0]);
    /// ```
    pub fn start_download(&self, m: &GpuMat) -> Result<PendingDownload> {
        self.check_owned("download", m)?;
        let bytes = m.byte_len();
        let (staging, index) = self.scoped("download", || {
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("linops readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("linops download"),
                });
            enc.copy_buffer_to_buffer(m.storage.buffer(), 0, &staging, 0, bytes);
            let index = self.queue.submit([enc.finish()]);
            (staging, index)
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        Ok(PendingDownload { staging, index, rx })
    }

    /// Waits for the copy of [`start_download`](Self::start_download) (and what was queued
    /// before it) and returns the matrix's values, column-major.
    ///
    /// # Errors
    /// [`Error::Backend`] if the wait or the mapping fails.
    ///
    /// # Examples
    /// See [`start_download`](Self::start_download).
    pub fn finish_download(&self, p: PendingDownload) -> Result<Vec<f32>> {
        let what = "download";
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(p.index),
                timeout: None,
            })
            .map_err(|e| Error::Backend(format!("{what}: poll failed: {e}")))?;
        match p.rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Backend(format!("{what}: map failed: {e}"))),
            Err(_) => return Err(Error::Backend(format!("{what}: map callback never ran"))),
        }
        let bytes = {
            let view = p
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::Backend(format!("{what}: mapped range: {e}")))?;
            view.to_vec()
        };
        p.staging.unmap();
        self.take_uncaptured(what)?;
        Ok(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes))
    }

    /// Keeps the pool's device buffers under `bytes` where it can (`None`: no budget): before
    /// it creates a buffer past it, it frees its cached ones, and it frees returned buffers
    /// instead of caching them while over it. The planner's streaming
    /// (`Engine::set_max_device_bytes`) sizes its panels to fit; this keeps the cache from
    /// holding freed panels on top.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// dev.set_pool_budget(Some(1 << 20));
    /// dev.set_pool_budget(None);
    /// ```
    pub fn set_pool_budget(&self, bytes: Option<u64>) {
        self.pool.lock().budget = bytes.unwrap_or(0);
    }

    /// Restarts [`PoolStats::peak_bytes`] from the bytes live now.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// dev.reset_peak_bytes();
    /// assert_eq!(dev.pool_stats().peak_bytes, dev.pool_stats().live_bytes);
    /// ```
    pub fn reset_peak_bytes(&self) {
        let mut s = self.pool.lock();
        s.stats.peak_bytes = s.stats.live_bytes;
    }

    /// Maps a MAP_READ buffer (after waiting for the queue) and copies its bytes out.
    pub(crate) fn read_mapped(&self, staging: &wgpu::Buffer, what: &str) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait_idle(what)?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Backend(format!("{what}: map failed: {e}"))),
            Err(_) => return Err(Error::Backend(format!("{what}: map callback never ran"))),
        }
        let bytes = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Backend(format!("{what}: mapped range: {e}")))?;
            view.to_vec()
        };
        staging.unmap();
        self.take_uncaptured(what)?;
        Ok(bytes)
    }

    /// Checks that `m` was allocated on this device.
    pub(crate) fn check_owned(&self, what: &str, m: &GpuMat) -> Result<()> {
        if m.device_id != self.id {
            return Err(Error::InvalidArgument(format!(
                "{what}: matrix belongs to another GpuDevice"
            )));
        }
        Ok(())
    }
}
