//! Device-resident matrix handles.
//!
//! A [`Matrix`] lives on the backend of the engine that made it (host memory for the CPU engine, a
//! GPU buffer for the GPU engine), so a chain of applies never round-trips through the host.

use faer::Mat;
use linops_core::DType;

/// A matrix resident on an engine's backend.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat};
/// let e = Engine::cpu();
/// let m = e.upload(Mat::<f32>::zeros(3, 2).as_ref()).unwrap();
/// assert_eq!(m.shape(), (3, 2));
/// assert_eq!(m.dtype(), linops::DType::F32);
/// ```
#[derive(Debug)]
pub struct Matrix {
    pub(crate) data: MatData,
}

/// Storage of a [`Matrix`] (internal; not nameable outside the crate).
#[derive(Debug)]
pub enum MatData {
    /// f32 on the CPU.
    Cpu32(Mat<f32>),
    /// f64 on the CPU.
    Cpu64(Mat<f64>),
    /// f32 on the GPU.
    #[cfg(feature = "gpu")]
    Gpu(linops_gpu::GpuMat),
}

/// A CPU matrix's storage goes back to the CPU backend's pool of recycled outputs
/// (`linops_cpu::recycle`: large matrices only, bounded), so the next plan output of the same
/// shape does not fault in fresh pages; GPU buffers return to the device's pool on their own.
impl Drop for Matrix {
    fn drop(&mut self) {
        match &mut self.data {
            MatData::Cpu32(m) => linops_cpu::recycle::recycle(std::mem::replace(m, Mat::new())),
            MatData::Cpu64(m) => linops_cpu::recycle::recycle(std::mem::replace(m, Mat::new())),
            #[cfg(feature = "gpu")]
            MatData::Gpu(_) => {}
        }
    }
}

impl Matrix {
    /// A CPU matrix of `T` (its storage moves in, no copy).
    pub(crate) fn from_cpu<T: crate::Scalar>(m: Mat<T>) -> Matrix {
        let any: Box<dyn std::any::Any> = Box::new(m);
        let data = match T::DTYPE {
            DType::F32 => MatData::Cpu32(*any.downcast::<Mat<f32>>().expect("f32 is `T`")),
            _ => MatData::Cpu64(*any.downcast::<Mat<f64>>().expect("f64 is `T`")),
        };
        Matrix { data }
    }

    /// The matrix itself when it holds `T` on the CPU (its storage moves out, no copy); the
    /// matrix back otherwise.
    pub(crate) fn into_cpu<T: crate::Scalar>(mut self) -> Result<Mat<T>, Matrix> {
        let taken: Box<dyn std::any::Any> = match &mut self.data {
            MatData::Cpu32(m) if T::DTYPE == DType::F32 => {
                Box::new(std::mem::replace(m, Mat::new()))
            }
            MatData::Cpu64(m) if T::DTYPE == DType::F64 => {
                Box::new(std::mem::replace(m, Mat::new()))
            }
            _ => return Err(self),
        };
        // `self` now holds an empty matrix: dropping it recycles nothing.
        Ok(*taken
            .downcast::<Mat<T>>()
            .expect("the dtype names the element type"))
    }

    /// `(rows, cols)`.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::zeros(1, 4).as_ref()).unwrap();
    /// assert_eq!(m.shape(), (1, 4));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match &self.data {
            MatData::Cpu32(m) => (m.nrows(), m.ncols()),
            MatData::Cpu64(m) => (m.nrows(), m.ncols()),
            #[cfg(feature = "gpu")]
            MatData::Gpu(m) => (m.rows(), m.cols()),
        }
    }

    /// The element type the matrix is stored in.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::zeros(1, 1).as_ref()).unwrap();
    /// assert_eq!(m.dtype(), linops::DType::F64);
    /// ```
    pub fn dtype(&self) -> DType {
        match &self.data {
            MatData::Cpu32(_) => DType::F32,
            MatData::Cpu64(_) => DType::F64,
            #[cfg(feature = "gpu")]
            MatData::Gpu(_) => DType::F32,
        }
    }

    /// Where the matrix lives: `"cpu"` or `"gpu"`.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// assert_eq!(e.upload(linops::faer::Mat::<f32>::zeros(1, 1).as_ref()).unwrap().location(), "cpu");
    /// ```
    pub fn location(&self) -> &'static str {
        match &self.data {
            MatData::Cpu32(_) | MatData::Cpu64(_) => "cpu",
            #[cfg(feature = "gpu")]
            MatData::Gpu(_) => "gpu",
        }
    }
}
