//! Column blocks of a sketch `S` (`d×m`) and the partial sketches `S[:, r .. r + b]·A_k` of a
//! row block `A_k` at row offset `r`: what a Dask worker computes for its block.
//!
//! **Mathematics.** `S·A = Σ_k S[:, r_k .. r_k + b_k]·A_k` over the row blocks of `A`. Every
//! family here generates column `j` of `S` from the Philox state and `j` alone
//! (`linops::stream`, `linops::op::SparseSign` module docs), so the columns `c0 .. c0 + cols`
//! are the same family with the state `rng.skip_columns(c0)` and `cols` columns — bit for bit
//! the columns of the whole `S`. The very sparse projection keeps the whole sketch's density
//! (`1/√m` by default) and hence its scale. The SRHT mixes all rows (a Hadamard transform), so
//! it has no column blocks and is refused.
//!
//! **Cost.** Generating the block: `d·cols` entries (dense) or `nnz·cols` (sparse sign); the
//! product: `2·d·b·n` (dense) or `2·nnz·b·n` flops.
//!
//! **Reproducible sums (sparse families).** Every nonzero of the sparse sign and very sparse
//! sketches is `±scale`, so the contributions to column `c` of `S·A` are `±scale·a_rc`. With a
//! bound `M_c = max_r |a_rc|` known to every worker (a Dask max-reduction, or one pass on one
//! machine), each contribution is rounded once to the grid `g_c = 2^(e_c + L + 1 − 53)`, where
//! `2^e_c ≥ scale·M_c` and `L = max(1, ⌈log₂ m⌉)` (one fold of Demmel & Nguyen's pre-rounding,
//! "Parallel reproducible summation", IEEE TC 2015). A rounded contribution is an integer
//! multiple `k·g_c` with `|k| ≤ 2^(52−L)`, so any sum of at most `m` of them is a multiple of
//! `g_c` below `2^53·g_c` in magnitude: exact in `f64`, hence independent of the order and the
//! tree in which partial sketches are added. The sums are kept as integers `k` (exact) and
//! scaled by `g_c` once at the end. Each contribution moves by at most `g_c/2 + u·scale·M_c`
//! (`u = 2⁻⁵³`; the product `a_rc·(scale/g_c)` rounds once before the grid), and
//! `g_c/2 < 4·m·u·scale·M_c`; with `N_i` nonzeros in row `i` of `S`,
//! `|Δ_ic| < 5·N_i·m·u·scale·M_c`, against `N_i·u·Σ_r |s_ir·a_rc| ≤ N_i²·u·scale·M_c` for
//! ordinary summation in the worst case (`m/N_i ≈ d/nnz` times larger bound; in practice the
//! rounding errors are random and partly cancel, as in ordinary summation).

use crate::convert::{mat_to_numpy, to_vec, view};
use crate::engine::pick;
use crate::errors::IntoPy;
use crate::op::PyOp;
use linops::faer::{Mat, MatRef};
use linops::op::{SparseSign, VerySparseProjection};
use linops::stream::{SketchFamily, SketchSpec};
use linops::{DType, Op, RngState};
use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Columns `c0 .. c0 + cols` of the `d×m` sketch `kind` from `seed`.
#[allow(clippy::too_many_arguments)]
fn columns(
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    c0: usize,
    cols: usize,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<linops::Result<Op>> {
    if c0.checked_add(cols).is_none_or(|end| end > m) {
        return Err(PyValueError::new_err(format!(
            "sketch columns {c0}..{} leave the {d}x{m} sketch",
            c0.saturating_add(cols)
        )));
    }
    let rng = RngState::new(seed);
    Ok(match kind {
        "gaussian" | "rademacher" => {
            let family = if kind == "gaussian" {
                SketchFamily::Gaussian
            } else {
                SketchFamily::Rademacher
            };
            SketchSpec::new(family, d, m, rng).and_then(|s| s.column_block(c0, cols))
        }
        "sparse_sign" => Op::sparse_sign(d, cols, nnz, rng.skip_columns(c0 as u64)),
        "very_sparse" => {
            let rho = density.unwrap_or(1.0 / (m as f64).sqrt());
            linops::op::VerySparseProjection::with_density(
                d,
                cols,
                rho,
                rng.skip_columns(c0 as u64),
            )
            .map(Op::leaf)
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'gaussian', 'rademacher', 'sparse_sign' or 'very_sparse' (the \
                 families whose columns can be generated alone), got {other:?}"
            )));
        }
    })
}

/// The columns `c0 .. c0 + cols` of the `d×m` sketch `kind` as an operator (`d×cols`).
#[pyfunction]
#[pyo3(signature = (kind, d, m, seed, c0, cols, *, nnz=8, density=None))]
#[allow(clippy::too_many_arguments)]
pub fn sketch_columns(
    py: Python<'_>,
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    c0: usize,
    cols: usize,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<PyOp> {
    let op = py.detach(|| columns(kind, d, m, seed, c0, cols, nnz, density))?;
    Ok(PyOp { op: op.py()? })
}

/// `S[:, row_offset .. row_offset + b]·block` (`d×n`, float64) for the `b×n` row block of `A`
/// at `row_offset`, `S` the `d×m` sketch `kind` from `seed`.
#[pyfunction]
#[pyo3(signature = (kind, d, m, seed, row_offset, block, *, nnz=8, density=None, backend="cpu"))]
#[allow(clippy::too_many_arguments)]
pub fn sketch_block<'py>(
    py: Python<'py>,
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    row_offset: usize,
    block: PyReadonlyArray2<'py, f64>,
    nnz: usize,
    density: Option<f64>,
    backend: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let v = view(&block, "block")?;
    let b = v.nrows();
    let s = py.detach(|| columns(kind, d, m, seed, row_offset, b, nnz, density))?;
    let s = s.py()?;
    let e = pick(py, backend, DType::F64)?;
    let y = py.detach(|| e.apply(&s, v)).py()?;
    Ok(mat_to_numpy(py, &y))
}

/// Per column of a sketch, its nonzeros as `(row, ±1)`.
type Pattern = Vec<Vec<(usize, f64)>>;

/// The sparse pattern of columns `c0 .. c0 + cols` of the `d×m` sparse sketch `kind`: the
/// common magnitude of its nonzeros and, per column, `(row, ±1)`.
#[allow(clippy::too_many_arguments)]
fn sparse_pattern(
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    c0: usize,
    cols: usize,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<(f64, Pattern)> {
    let rng = RngState::new(seed).skip_columns(c0 as u64);
    let pattern = match kind {
        "sparse_sign" => SparseSign::new(d, cols, nnz, rng).and_then(|s| {
            let columns = (0..cols)
                .map(|j| s.column(j))
                .collect::<linops::Result<_>>()?;
            Ok((s.scale(), columns))
        }),
        "very_sparse" => {
            let rho = density.unwrap_or(1.0 / (m as f64).sqrt());
            VerySparseProjection::with_density(d, cols, rho, rng).and_then(|s| {
                let columns = (0..cols)
                    .map(|j| s.column(j))
                    .collect::<linops::Result<_>>()?;
                Ok((s.scale(), columns))
            })
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "reproducible sketches are for the sparse families 'sparse_sign' and \
                 'very_sparse' (every nonzero ±scale), got kind {other:?}"
            )));
        }
    };
    pattern.py()
}

/// The smallest `e` with `x ≤ 2^e`, for finite `x > 0` (`-1022` for subnormal `x`).
fn exponent_above(x: f64) -> i32 {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return -1022;
    }
    biased - 1023 + i32::from(bits & ((1u64 << 52) - 1) != 0)
}

/// `2^e` for `-1022 ≤ e ≤ 1023` (a normal number, exact).
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The per-column grids of the reproducible sum (module docs): `(t, g)` with `g_c` the grid and
/// `t_c = scale/g_c`, so a contribution `±scale·a_rc` rounds to `±round(a_rc·t_c)·g_c`.
fn grids(max_abs: &[f64], scale: f64, m: usize) -> PyResult<(Vec<f64>, Vec<f64>)> {
    // L = max(1, ⌈log₂ m⌉): at least 1 keeps |a·t| ≤ 2^51, where the rounding below is exact.
    let l = (usize::BITS - m.saturating_sub(1).leading_zeros()).max(1) as i32;
    let es = exponent_above(scale);
    let mut t = Vec::with_capacity(max_abs.len());
    let mut g = Vec::with_capacity(max_abs.len());
    for (c, &mc) in max_abs.iter().enumerate() {
        if !(mc.is_finite() && mc >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "max_abs[{c}] = {mc}: a reproducible sketch needs finite data (column {c} of A \
                 holds a NaN or an infinity)"
            )));
        }
        if mc == 0.0 {
            t.push(0.0);
            g.push(1.0);
            continue;
        }
        let e = exponent_above(mc) + es;
        if e + l + 1 > 1023 {
            return Err(PyValueError::new_err(format!(
                "column {c} of A: max |a| = {mc:e} times the sketch scale {scale} summed over m = \
                 {m} rows can exceed the float64 range; a reproducible sketch of it is refused \
                 (scale A down)"
            )));
        }
        // A coarser grid than needed keeps every sum exact; the floor keeps g_c normal and
        // t_c = scale/g_c ≤ 2^1000 finite (it only coarsens columns with max |a| < 2^-900).
        let eg = (e + l + 1 - 53).max(-1022).max(es - 1000);
        g.push(pow2(eg));
        t.push(scale * pow2(-eg));
    }
    Ok((t, g))
}

/// The reproducible partial sketch `Σ_r S[:, r]·block[r, :]` (module docs) over the block's rows,
/// `pattern[r]` the nonzeros `(i, ±1)` of the sketch's column for block row `r`.
fn reproducible_product(
    d: usize,
    pattern: &[Vec<(usize, f64)>],
    block: MatRef<'_, f64>,
    max_abs: &[f64],
    t: &[f64],
    g: &[f64],
) -> Result<Mat<f64>, String> {
    // 1.5·2^52: (y + MAGIC) − MAGIC rounds y to the nearest integer (ties to even) for
    // |y| ≤ 2^51, in the default rounding mode, without a libm call.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let n = block.ncols();
    let mut acc = vec![0.0f64; d * n];
    let mut y = vec![0.0f64; n];
    for (r, nonzeros) in pattern.iter().enumerate() {
        let row = block.row(r);
        for c in 0..n {
            let a = row[c];
            if a.is_nan() || a.abs() > max_abs[c] {
                return Err(format!(
                    "block[{r}, {c}] = {a} exceeds the column bound max_abs[{c}] = {}",
                    max_abs[c]
                ));
            }
            y[c] = (a * t[c] + MAGIC) - MAGIC;
        }
        for &(i, sign) in nonzeros {
            let dst = &mut acc[i * n..(i + 1) * n];
            if sign > 0.0 {
                dst.iter_mut().zip(&y).for_each(|(s, v)| *s += v);
            } else {
                dst.iter_mut().zip(&y).for_each(|(s, v)| *s -= v);
            }
        }
    }
    Ok(Mat::from_fn(d, n, |i, c| acc[i * n + c] * g[c]))
}

/// The reproducible partial sketch `S[:, row_offset .. row_offset + b]·block` (`d×n`, float64)
/// of the sparse sketch `kind` (`"sparse_sign"` or `"very_sparse"`), rounded on the grids of the
/// column bounds `max_abs` (`max_r |A[r, c]|` over the whole `m×n` matrix `A`; module docs), so
/// that partial sketches add up exactly, in any order, to the single-machine sketch. Without
/// `max_abs` the block must be the whole matrix (`row_offset = 0`, `b = m`) and the bounds are
/// computed from it.
#[pyfunction]
#[pyo3(signature = (kind, d, m, seed, row_offset, block, max_abs=None, *, nnz=8, density=None))]
#[allow(clippy::too_many_arguments)]
pub fn reproducible_sketch_block<'py>(
    py: Python<'py>,
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    row_offset: usize,
    block: PyReadonlyArray2<'py, f64>,
    max_abs: Option<PyReadonlyArray1<'py, f64>>,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let v = view(&block, "block")?;
    let (b, n) = (v.nrows(), v.ncols());
    if row_offset.checked_add(b).is_none_or(|end| end > m) {
        return Err(PyValueError::new_err(format!(
            "block rows {row_offset}..{} leave the m = {m} rows of A",
            row_offset.saturating_add(b)
        )));
    }
    let bounds = match max_abs {
        Some(mx) => {
            let mx = to_vec(&mx, "max_abs")?;
            if mx.len() != n {
                return Err(PyValueError::new_err(format!(
                    "max_abs has {} entries but the block has n = {n} columns",
                    mx.len()
                )));
            }
            mx
        }
        None if row_offset == 0 && b == m => py.detach(|| {
            let mut mx = vec![0.0f64; n];
            for c in 0..n {
                for r in 0..b {
                    // A NaN sticks (f64::max would drop it): grids() refuses it by column.
                    let a = v[(r, c)].abs();
                    if a > mx[c] || a.is_nan() {
                        mx[c] = a;
                    }
                }
            }
            mx
        }),
        None => {
            return Err(PyValueError::new_err(format!(
                "max_abs (max |A[r, c]| over all m = {m} rows) is required for a block of {b} \
                 rows at row offset {row_offset}: every block must round on the same grid"
            )));
        }
    };
    let y = py.detach(|| -> PyResult<Mat<f64>> {
        let (scale, pattern) = sparse_pattern(kind, d, m, seed, row_offset, b, nnz, density)?;
        let (t, g) = grids(&bounds, scale, m)?;
        reproducible_product(d, &pattern, v, &bounds, &t, &g).map_err(PyValueError::new_err)
    })?;
    Ok(mat_to_numpy(py, &y))
}
