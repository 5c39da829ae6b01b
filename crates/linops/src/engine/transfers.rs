//! A counter of the traffic between the host and an engine: uploads, downloads and plan builds.
//!
//! Iterative drivers (LSQR, PCG) should keep their operator, vectors and work buffers on the
//! engine and reuse their plans, so that the bulk traffic of a solve does not grow with its
//! iteration count. The counter makes that testable: every upload and download through
//! [`Engine::dispatch`](super::Engine) is counted with its size, split at
//! [`SMALL_TRANSFER_BYTES`] into *small* transfers (the `O(1)` scalars of an algorithm's control
//! flow, e.g. LSQR's `α` and `β`) and *bulk* ones, and every plan built by the engine's front
//! doors is counted too. Counting is a relaxed atomic add per event: no cost worth measuring.

use crate::Engine;
use std::sync::atomic::{AtomicU64, Ordering};

/// Transfers of at most this many bytes (8 `f64`s) are counted as small.
///
/// # Examples
/// ```
/// assert_eq!(linops::SMALL_TRANSFER_BYTES, 64);
/// ```
pub const SMALL_TRANSFER_BYTES: u64 = 64;

/// A snapshot of an engine's transfer counter (see [`Engine::transfers`]); differences of two
/// snapshots count what happened in between.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat};
/// let e = Engine::cpu();
/// let before = e.transfers();
/// let m = e.upload(Mat::<f64>::zeros(100, 1).as_ref()).unwrap();
/// let _ = e.col_norms(&m).unwrap(); // plans one step, downloads one scalar
/// let d = e.transfers().since(&before);
/// assert_eq!((d.bulk_uploads, d.upload_bytes, d.small_downloads, d.plans), (1, 800, 1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferCount {
    /// Uploads of more than [`SMALL_TRANSFER_BYTES`].
    pub bulk_uploads: u64,
    /// Uploads of at most [`SMALL_TRANSFER_BYTES`].
    pub small_uploads: u64,
    /// Bytes uploaded, in the engine's compute precision.
    pub upload_bytes: u64,
    /// Downloads of more than [`SMALL_TRANSFER_BYTES`].
    pub bulk_downloads: u64,
    /// Downloads of at most [`SMALL_TRANSFER_BYTES`].
    pub small_downloads: u64,
    /// Bytes downloaded, in the matrix's precision.
    pub download_bytes: u64,
    /// Plans built (operator applications and the one-step plans of the resident front doors).
    pub plans: u64,
}

impl TransferCount {
    /// What happened between `earlier` and `self` (field by field, saturating at zero).
    ///
    /// # Examples
    /// ```
    /// let a = linops::TransferCount { plans: 3, ..Default::default() };
    /// assert_eq!(a.since(&linops::TransferCount::default()).plans, 3);
    /// ```
    pub fn since(&self, earlier: &TransferCount) -> TransferCount {
        TransferCount {
            bulk_uploads: self.bulk_uploads.saturating_sub(earlier.bulk_uploads),
            small_uploads: self.small_uploads.saturating_sub(earlier.small_uploads),
            upload_bytes: self.upload_bytes.saturating_sub(earlier.upload_bytes),
            bulk_downloads: self.bulk_downloads.saturating_sub(earlier.bulk_downloads),
            small_downloads: self.small_downloads.saturating_sub(earlier.small_downloads),
            download_bytes: self.download_bytes.saturating_sub(earlier.download_bytes),
            plans: self.plans.saturating_sub(earlier.plans),
        }
    }
}

/// The live counter an engine holds.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    bulk_uploads: AtomicU64,
    small_uploads: AtomicU64,
    upload_bytes: AtomicU64,
    bulk_downloads: AtomicU64,
    small_downloads: AtomicU64,
    download_bytes: AtomicU64,
    plans: AtomicU64,
}

fn add(c: &AtomicU64, v: u64) {
    c.fetch_add(v, Ordering::Relaxed);
}

impl Counter {
    pub(crate) fn upload(&self, bytes: u64) {
        let small = bytes <= SMALL_TRANSFER_BYTES;
        add(
            if small {
                &self.small_uploads
            } else {
                &self.bulk_uploads
            },
            1,
        );
        add(&self.upload_bytes, bytes);
    }

    pub(crate) fn download(&self, bytes: u64) {
        let small = bytes <= SMALL_TRANSFER_BYTES;
        add(
            if small {
                &self.small_downloads
            } else {
                &self.bulk_downloads
            },
            1,
        );
        add(&self.download_bytes, bytes);
    }

    pub(crate) fn plan(&self) {
        add(&self.plans, 1);
    }
}

impl Engine {
    /// The transfers and plan builds this engine has made so far (a snapshot; see
    /// [`TransferCount::since`]).
    ///
    /// # Errors
    /// None: counting cannot fail.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// assert_eq!(e.transfers(), linops::TransferCount::default());
    /// ```
    pub fn transfers(&self) -> TransferCount {
        let c = &self.counter;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TransferCount {
            bulk_uploads: get(&c.bulk_uploads),
            small_uploads: get(&c.small_uploads),
            upload_bytes: get(&c.upload_bytes),
            bulk_downloads: get(&c.bulk_downloads),
            small_downloads: get(&c.small_downloads),
            download_bytes: get(&c.download_bytes),
            plans: get(&c.plans),
        }
    }
}
