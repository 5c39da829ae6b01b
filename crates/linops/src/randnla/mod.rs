//! Randomized numerical linear algebra drivers on any [`crate::Op`] and either backend: the heavy
//! products run on the [`crate::Engine`], small cores in f64 on the host (faer). One file per
//! driver; each module states its mathematics, error bound and cost. `docs/accuracy.md` says which
//! to choose.

mod host_la;
pub mod lstsq;
pub mod streaming;
pub mod trace;
