//! Orthonormal Walsh–Hadamard transform of each column (`shaders/fwht.wgsl`,
//! `shaders/fwht_subgroup.wgsl`, shared part `shaders/fwht_block.wgsl`):
//! `y = scale·Pₒᵀ·H_N·Pₓ·x + beta·y` with `N = max(rows(x), rows(y))` a power of two, `Pₓ`
//! zero-padding x to N rows and `Pₒᵀ` keeping the first rows(y) rows; `H_N` is the unnormalized
//! ±1 Sylvester–Hadamard matrix (pass `scale = alpha/√N` for the orthonormal transform).
//!
//! Storage: column-major, contiguous. Algorithm: the workgroup buffer holds `CAP` entries, the
//! largest power of two that the adapter's `max_compute_workgroup_storage_size` holds as f32
//! (capped at [`MAX_CAP`]; 4096 at the portable minimum of 16 KiB), see [`block_capacity`]. For
//! `N ≤ CAP` one workgroup per column does every stage in workgroup memory: one pass, one global
//! read and one write per entry. The stages below the subgroup size run in registers through
//! `subgroupShuffleXor` when the device has `Features::SUBGROUP` (`fwht_local_subgroup`; same
//! operations, so the same bits as the workgroup-memory path). For `N > CAP`, `fwht_local`
//! transforms chunks of `CAP` entries into an N×cols scratch, then each `fwht_strided` pass does
//! up to `log₂(CAP/MIN_LINES)` of the remaining stages (one pass up to `N = CAP²/16`), the last
//! one writing the output. Cost: `N·log₂N` additions per column.
//!
//! The same passes, with loads and stores that apply the SRHT's signs and row selection, are the
//! fused SRHT ([`GpuEncoder::srht`](crate::GpuEncoder::srht)).
//!
//! Lengths `n = m·2^k` (`shaders/fwht_base.wgsl`, [`GpuEncoder::fwht_base`]): when the column fits
//! the workgroup buffer ([`base_capacity`] entries: the adapter's workgroup storage less the
//! `m` sign masks; 4064 at 16 KiB, so every `m·2^k ≤ 4064` incl. 3072, 2560 and 3584) one
//! workgroup per column loads it, transforms its `m` blocks and mixes them across blocks with the
//! `±1` base matrix: one pass. Longer columns take the passes of the long power-of-two transform
//! on the `2^k × (m·cols)` view of x (unscaled, into a scratch), then one mix pass.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuDevice, GpuEncoder, GpuIndices, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Largest workgroup buffer used (entries; 32 KiB of f32): more entries per workgroup only lower
/// the number of resident workgroups.
pub const MAX_CAP: usize = 8192;
/// Fewest consecutive lines one `fwht_strided` workgroup loads (so each of its reads is at least
/// 16 consecutive floats: 64 bytes).
const MIN_LINES: usize = 16;

/// Load modes of `fwht_block.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// x as it is, zero-padded.
    Plain = 0,
    /// `signs[r]·x[r]`, zero-padded.
    Signed = 1,
    /// `x[idx[r]]`, a zero row for an index out of range.
    Gathered = 2,
}

/// Final store modes of `fwht_block.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// `scale·v + beta·y` on the first rows(y) entries.
    Plain = 0,
    /// `scale·(signs[i]·v) + beta·y`.
    Signed = 1,
    /// `scale·v[idx[r]] + beta·y[r]`.
    Gathered = 2,
}
/// Store mode 3: the unscaled block to an N×cols scratch.
const STORE_SCRATCH: u32 = 3;

crate::uniform_struct! {
    /// Uniform block of `fwht.wgsl` and `fwht_subgroup.wgsl` (`FwhtParams`, in `fwht_block.wgsl`).
    struct FwhtParams in "fwht" {
        rows_in: u32,
        rows_out: u32,
        n: u32,
        b: u32,
        cols: u32,
        h: u32,
        groups: u32,
        span: u32,
        load: u32,
        store: u32,
        scale: f32,
        beta: f32,
    }
}

/// Entries of the workgroup buffer of the transform kernels on `dev`: the largest power of two
/// whose f32 entries fit `max_compute_workgroup_storage_size`, at most [`MAX_CAP`]. A transform of
/// length `N ≤ block_capacity` is one pass.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// let cap = linops_gpu::kernels::fwht::block_capacity(&dev);
/// assert!(cap.is_power_of_two() && cap >= 4096);
/// ```
#[must_use]
pub fn block_capacity(dev: &GpuDevice) -> usize {
    let entries = dev.limits().max_compute_workgroup_storage_size as usize / 4;
    // WebGPU guarantees 16 KiB; below that (never on a conforming adapter) stay at 4096 and let
    // pipeline creation report the device.
    let pow = if entries >= 2 {
        1usize << (usize::BITS - 1 - entries.leading_zeros())
    } else {
        4096
    };
    pow.clamp(4096, MAX_CAP)
}

/// One transform: `y = scale·store(H_N·load(x)) + beta·y` (see `fwht_block.wgsl`).
pub(crate) struct Transform<'a> {
    pub(crate) x: &'a GpuMat,
    pub(crate) y: &'a GpuMat,
    /// The SRHT signs (a transform with signs is an SRHT and runs the `srht_*` entry points).
    pub(crate) signs: Option<&'a GpuMat>,
    /// The SRHT row map, when a mode uses it.
    pub(crate) idx: Option<&'a GpuIndices>,
    pub(crate) n: usize,
    pub(crate) load: Load,
    pub(crate) store: Store,
    pub(crate) scale: f32,
    pub(crate) beta: f32,
    /// Use `fwht_local_subgroup` (the device must have `Features::SUBGROUP`).
    pub(crate) subgroups: bool,
}

impl GpuEncoder {
    /// Records `y = scale·Pₒᵀ·H_N·Pₓ·x + beta·y` (see the module docs); y is not read when
    /// `beta == 0`. Uses the subgroup variant when the device has subgroups.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if x and y differ in columns or `max(rows)` is not a power of
    /// two; [`Error::InvalidArgument`] if y is x, a matrix of another device, or a size does not
    /// fit u32 indices; [`Error::DeviceLimit`] if the N×cols scratch of a long transform or the
    /// grid does not fit the device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(4, 1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    /// let y = dev.alloc(4, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.fwht(0.5, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![0.5; 4]);
    /// ```
    pub fn fwht(&mut self, scale: f32, x: &GpuMat, beta: f32, y: &GpuMat) -> Result<()> {
        let subgroups = self.device.subgroup_sizes().is_some();
        self.fwht_using(scale, x, beta, y, subgroups)
    }

    /// [`GpuEncoder::fwht`] with the choice of path made by the caller: `subgroups = true` runs
    /// the stages below the subgroup size in subgroup shuffles, `false` every stage in workgroup
    /// memory (the fallback of devices without subgroups). Both give the same bits.
    ///
    /// # Errors
    /// As [`GpuEncoder::fwht`], and [`Error::Unsupported`] for `subgroups = true` on a device
    /// without `Features::SUBGROUP`.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 1, &[1.0, 2.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.fwht_using(1.0, &x, 0.0, &y, false).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![3.0, -1.0]);
    /// ```
    pub fn fwht_using(
        &mut self,
        scale: f32,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
        subgroups: bool,
    ) -> Result<()> {
        let n = x.rows().max(y.rows());
        if x.cols() != y.cols() || !n.is_power_of_two() {
            return Err(Error::ShapeMismatch {
                context: "fwht".into(),
                expected: "x and y with equal columns and max(rows) a power of two".into(),
                found: format!("x {}x{}, y {}x{}", x.rows(), x.cols(), y.rows(), y.cols()),
            });
        }
        check_distinct("fwht", y, &[x])?;
        self.transform(&Transform {
            x,
            y,
            signs: None,
            idx: None,
            n,
            load: Load::Plain,
            store: Store::Plain,
            scale,
            beta,
            subgroups,
        })
    }

    /// Records the passes of one transform (shapes and modes checked by the caller: every index
    /// the modes read is below the length of the buffer read, see `fwht_block.wgsl`).
    pub(crate) fn transform(&mut self, t: &Transform<'_>) -> Result<()> {
        if t.subgroups && self.device.subgroup_sizes().is_none() {
            return Err(Error::Unsupported(format!(
                "fwht: the subgroup path needs Features::SUBGROUP, which {} lacks",
                self.device.name()
            )));
        }
        let (n, cols) = (t.n, t.x.cols());
        // Every index the shader forms is below cols·N (checked to fit u32) and below the length
        // of the buffer it reads: x[j·rows_in + r] with r < rows_in, y[j·rows_out + i] with
        // i < rows_out, scratch[j·N + i] with i < N.
        to_u32("fwht: columns × transform length", cols.saturating_mul(n))?;
        let cap = block_capacity(&self.device);
        let b = n.min(cap);
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let mut params = FwhtParams {
            rows_in: to_u32("fwht rows", t.x.rows())?,
            rows_out: to_u32("fwht rows", t.y.rows())?,
            n: n as u32,
            b: b as u32,
            cols: to_u32("fwht columns", cols)?,
            h: 0,
            groups: 0,
            span: 0,
            load: t.load as u32,
            store: t.store as u32,
            scale: t.scale,
            beta: t.beta,
        };
        let constants = [("WG", f64::from(WG)), ("CAP", cap as f64)];
        // The SRHT runs the same passes under its own entry-point names (one stem per operation
        // in traces and pipeline labels).
        let srht = t.signs.is_some();
        let (local, strided) = match (srht, t.subgroups) {
            (false, false) => ("fwht_local", "fwht_strided"),
            (false, true) => ("fwht_local_subgroup", "fwht_strided"),
            (true, false) => ("srht_local", "srht_strided"),
            (true, true) => ("srht_local_subgroup", "srht_strided"),
        };
        let signs = t.signs.unwrap_or(t.x);
        let idx = t.idx.map_or(t.x, GpuIndices::storage);
        let groups = (cols * (n / b)) as u64;
        params.groups = groups as u32;
        let grid = self.check_workgroups(local, grid_2d(groups, 1, max))?;
        if b == n {
            let mats = [(0, t.x), (1, t.y), (3, signs), (4, idx)];
            return self.record(
                local,
                &constants,
                &mats,
                bytemuck::bytes_of(&params),
                2,
                grid,
            );
        }
        // Long transform: chunks into a scratch, then strided passes over the remaining stages.
        let mut src = self.device.alloc(n, cols)?;
        params.store = STORE_SCRATCH;
        let mats = [(0, t.x), (1, &src), (3, signs), (4, idx)];
        self.record(
            local,
            &constants,
            &mats,
            bytemuck::bytes_of(&params),
            2,
            grid,
        )?;
        let max_span = cap / MIN_LINES;
        let mut h = b;
        let mut spare: Option<GpuMat> = None;
        params.b = cap as u32;
        params.groups = (cols * (n / cap)) as u32;
        let grid = self.check_workgroups(strided, grid_2d(u64::from(params.groups), 1, max))?;
        while h < n {
            let span = (n / h).min(max_span);
            params.h = h as u32;
            params.span = span as u32;
            let last = h * span == n;
            // The forward SRHT's row gather needs the whole column: its last strided pass writes
            // the scratch, and one gather pass selects the rows.
            let to_scratch = !last || t.store == Store::Gathered;
            params.store = if to_scratch {
                STORE_SCRATCH
            } else {
                t.store as u32
            };
            let dst = match (to_scratch, spare.take()) {
                (false, _) => None,
                (true, Some(m)) => Some(m),
                (true, None) => Some(self.device.alloc(n, cols)?),
            };
            // The strided pass never reads the row map (its layout has no binding 4).
            let mats = [(0, &src), (1, dst.as_ref().unwrap_or(t.y)), (3, signs)];
            self.record(
                strided,
                &constants,
                &mats,
                bytemuck::bytes_of(&params),
                2,
                grid,
            )?;
            if let Some(dst) = dst {
                spare = Some(std::mem::replace(&mut src, dst));
            }
            h *= span;
        }
        if t.store == Store::Gathered {
            let idx = t.idx.ok_or_else(|| {
                Error::InvalidArgument("fwht: a gathered store needs the row map".into())
            })?;
            self.gather(t.scale, idx, &src, t.beta, t.y)?;
        }
        Ok(())
    }
}

crate::uniform_struct! {
    /// Uniform block of `fwht_base.wgsl`.
    struct FwhtBaseParams in "fwht_base" {
        n: u32,
        p: u32,
        m: u32,
        cols: u32,
        tile: u32,
        groups: u32,
        trans: u32,
        transform: u32,
        scale: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Entries of the workgroup buffer of `fwht_base` on `dev`: what `max_compute_workgroup_storage_size`
/// holds as f32 after the 32 sign masks (128 bytes), at most [`MAX_CAP`]. A column of `n` entries
/// is transformed in one pass when `n ≤ base_capacity`.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// assert!(linops_gpu::kernels::fwht::base_capacity(&dev) >= 28 * 128);
/// ```
#[must_use]
pub fn base_capacity(dev: &GpuDevice) -> usize {
    let bytes = dev.limits().max_compute_workgroup_storage_size as usize;
    (bytes.saturating_sub(128) / 4).clamp(1, MAX_CAP)
}

impl GpuEncoder {
    /// Records `y = scale·(op(A) ⊗ S_p)·x + beta·y` for x and y of `n = m·p` rows (`p` a power of
    /// two) with `A` the `m×m` `±1` base matrix (`op(A) = Aᵀ` when `trans`) and `S_p` the
    /// unnormalized Sylvester matrix (pass `scale = alpha/√n` for the orthonormal transform); y
    /// is not read when `beta == 0`. One pass when `n ≤` [`base_capacity`], see the module docs.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `A` is not square with at most 32 rows, x and y differ in
    /// shape or their rows are not `m·2^k`; [`Error::InvalidArgument`] if y is x or A, a
    /// matrix of another device, or a size does not fit u32 indices; [`Error::DeviceLimit`] if
    /// the scratch of a long transform or the grid does not fit the device; [`Error::Backend`]
    /// on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let a = linops_core::op::hadamard_base(12).unwrap();
    /// let a: Vec<f32> = a.data().iter().map(|&v| v as f32).collect();
    /// let a = dev.upload(12, 12, &a).unwrap();
    /// let mut e0 = vec![0.0f32; 24];
    /// e0[0] = 1.0;
    /// let x = dev.upload(24, 1, &e0).unwrap();
    /// let y = dev.alloc(24, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.fwht_base(1.0, &a, false, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// // The first column of A ⊗ S_2: entry a·2 + b is A[a, 0] (1, then −1 below: Paley I).
    /// let col = dev.download(&y).unwrap();
    /// assert_eq!(col[..4], [1.0, 1.0, -1.0, -1.0]);
    /// ```
    pub fn fwht_base(
        &mut self,
        scale: f32,
        a: &GpuMat,
        trans: bool,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        let (m, n, cols) = (a.rows(), x.rows(), x.cols());
        let ok = a.cols() == m
            && (1..=32).contains(&m)
            && (x.rows(), x.cols()) == (y.rows(), y.cols())
            && n.is_multiple_of(m)
            && (n / m).is_power_of_two();
        if !ok {
            return Err(Error::ShapeMismatch {
                context: "fwht_base".into(),
                expected: "A square with at most 32 rows, x and y of equal shape with rows m·2^k"
                    .into(),
                found: format!(
                    "A {}x{}, x {}x{}, y {}x{}",
                    a.rows(),
                    a.cols(),
                    x.rows(),
                    x.cols(),
                    y.rows(),
                    y.cols()
                ),
            });
        }
        check_distinct("fwht_base", y, &[x, a])?;
        // Every index the shader forms is below cols·n (x, y) or m² (A).
        to_u32("fwht_base: columns × length", cols.saturating_mul(n))?;
        let p = n / m;
        let cap = base_capacity(&self.device);
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let one_pass = n <= cap;
        let src;
        let (input, tile) = if one_pass {
            (x, p)
        } else {
            // The blocks' transforms: the long power-of-two path on the p × (m·cols) view.
            let view = |g: &GpuMat| {
                g.reshaped(p, m * cols).ok_or_else(|| {
                    Error::InvalidArgument("fwht_base: a column of m·p entries is m of p".into())
                })
            };
            src = self.device.alloc(n, cols)?;
            self.fwht(1.0, &view(x)?, 0.0, &view(&src)?)?;
            // Largest power of two of entries per block whose m blocks fit the buffer.
            let per = (cap / m).max(1);
            let tile = (1usize << (usize::BITS - 1 - per.leading_zeros())).min(p);
            (&src, tile)
        };
        let groups = (cols * (p / tile)) as u64;
        let params = FwhtBaseParams {
            n: n as u32,
            p: p as u32,
            m: m as u32,
            cols: to_u32("fwht_base columns", cols)?,
            tile: tile as u32,
            groups: to_u32("fwht_base workgroups", groups as usize)?,
            trans: u32::from(trans),
            transform: u32::from(one_pass),
            scale,
            beta,
            _pad0: 0,
            _pad1: 0,
        };
        let grid = self.check_workgroups("fwht_base", grid_2d(groups, 1, max))?;
        self.record(
            "fwht_base",
            &[("WG", f64::from(WG)), ("CAP", cap as f64)],
            &[(0, a), (1, input), (2, y)],
            bytemuck::bytes_of(&params),
            3,
            grid,
        )
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::FwhtBase,
    |kernel, cx, args, out| {
        // The shader applies the unnormalized transform; 1/√n rides on alpha.
        let x = args.mat(1)?;
        let scale = kernel.alpha / (x.rows() as f64).sqrt();
        cx.enc.fwht_base(
            scale as f32,
            args.mat(0)?,
            kernel.trans,
            x,
            kernel.beta as f32,
            out,
        )
    }
);

crate::backend::gpu_kernel!(linops_core::plan::kernel::Fwht, |kernel, cx, args, out| {
    // The shader applies the unnormalized transform; 1/√N rides on alpha.
    let n = args.mat(0)?.rows().max(out.rows());
    let scale = kernel.alpha / (n as f64).sqrt();
    cx.enc
        .fwht(scale as f32, args.mat(0)?, kernel.beta as f32, out)
});
