//! Transposes of `f32` blocks in vector registers, and the copy of a row-major matrix into
//! column-major storage built on them.
//!
//! `avx512` moves 16×16 blocks and `avx` 8×8 ones (the CSR panel path's two layout changes,
//! `crate::spmm`, and [`rows_to_columns`]); each block is read as rows and written as columns
//! in a few shuffles per register, where an element-by-element copy is one load and one store
//! per element and, across a large matrix, a cache line per element.
//!
//! [`rows_to_columns`] is how a row-major input (a C-order NumPy array, a transposed view)
//! reaches the backends, which store matrices by columns: bands of 16 rows (8 without
//! AVX-512F, scalar 8×8 blocks for `f64` and on other CPUs), each read once, left to right, with
//! the 16 (8) columns of each block written as whole lines; the storage is written once, never
//! zeroed first.

use crate::CpuElem;
use faer::{Mat, MatRef};
use std::any::TypeId;

/// The entries of `x` in column-major order (`rows·cols` of them, column after column) when its
/// rows are contiguous (row-major storage: column stride 1), else `None`.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use linops_cpu::transpose::rows_to_columns;
///
/// // A 3×2 matrix stored by rows, seen as the transpose of a column-major 2×3.
/// let t = Mat::<f32>::from_fn(2, 3, |i, j| (10 * j + i) as f32);
/// let x = t.as_ref().transpose(); // x[(i, j)] = 10·i + j
/// assert_eq!(rows_to_columns(x).unwrap(), vec![0.0, 10.0, 20.0, 1.0, 11.0, 21.0]);
/// // Columns contiguous instead: not this function's case.
/// assert!(rows_to_columns(t.as_ref()).is_none());
/// ```
pub fn rows_to_columns<T: CpuElem>(x: MatRef<'_, T>) -> Option<Vec<T>> {
    let len = x.nrows().checked_mul(x.ncols())?;
    x.transpose().try_as_col_major()?;
    let mut data: Vec<T> = Vec::with_capacity(len);
    let dst = data.spare_capacity_mut().as_mut_ptr().cast::<T>();
    // SAFETY: the rows of `x` are contiguous (checked above) and `dst` holds `rows·cols`
    // elements, columns `rows` apart.
    unsafe { transpose_into(x, dst, x.nrows()) };
    // SAFETY: `transpose_into` wrote every `(i, j)`, at `i + j·rows < len`.
    unsafe { data.set_len(len) };
    Some(data)
}

/// [`rows_to_columns`] into a matrix of the CPU backend's own storage: the kept storage of a
/// dropped matrix of that shape when [`crate::recycle`] has one (no page faults), else a new
/// one; `None` unless the rows of `x` are contiguous. One pass over `x`, one over the result.
///
/// # Examples
/// ```
/// use faer::Mat;
/// let t = Mat::<f64>::from_fn(2, 3, |i, j| (10 * j + i) as f64);
/// let m = linops_cpu::transpose::rows_to_mat(t.as_ref().transpose()).unwrap();
/// assert_eq!(m, t.transpose().to_owned());
/// ```
pub fn rows_to_mat<T: CpuElem>(x: MatRef<'_, T>) -> Option<Mat<T>> {
    let (rows, cols) = (x.nrows(), x.ncols());
    x.transpose().try_as_col_major()?;
    rows.checked_mul(cols)?;
    let mut m =
        crate::recycle::take_kept::<T>(rows, cols).unwrap_or_else(|| Mat::zeros(rows, cols));
    let ld = if cols > 1 {
        m.col_stride() as usize
    } else {
        rows
    };
    // SAFETY: the rows of `x` are contiguous (checked above); `m` is `rows×cols` with unit row
    // stride and columns `ld ≥ rows` apart, and does not overlap `x` (it is owned).
    unsafe { transpose_into(x, m.as_ptr_mut(), ld) };
    Some(m)
}

/// Writes entry `(i, j)` of `x` to `dst + i + j·ld`.
///
/// # Safety
/// The rows of `x` are contiguous (column stride 1); `dst` is valid for writing every `i + j·ld`
/// (`ld ≥ rows`) and overlaps no entry of `x`.
pub(crate) unsafe fn transpose_into<T: CpuElem>(x: MatRef<'_, T>, dst: *mut T, ld: usize) {
    let (rows, cols) = (x.nrows(), x.ncols());
    if rows == 0 || cols == 0 {
        return;
    }
    let t = x
        .transpose()
        .try_as_col_major()
        .expect("the caller's contract: contiguous rows");
    let src = t.as_ptr();
    let stride = t.col_stride();
    // Row `i` starts `i·stride` elements from `src` (possibly negative for a reversed view).
    let row = |i: usize| src.wrapping_offset(i as isize * stride);
    // Rows below `done` are written.
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        use std::arch::is_x86_feature_detected as has;
        let (s, d) = (src.cast::<f32>(), dst.cast::<f32>());
        if has!("avx512f") {
            // SAFETY: the CPU has AVX-512F; `s` is the matrix's storage (rows of `cols`
            // elements `stride` apart) and `d` holds every `i + j·ld` (the contract).
            done = unsafe { bands_avx512(s, stride, d, (rows, cols), ld) };
        } else if has!("avx") {
            // SAFETY: as above, with AVX.
            done = unsafe { bands_avx(s, stride, d, (rows, cols), ld) };
        }
    }
    // The rest (every row without the vector paths) in 8×8 blocks: 8 rows read, 8 columns
    // written, a few cache lines each.
    const TILE: usize = 8;
    for i0 in (done..rows).step_by(TILE) {
        let i1 = (i0 + TILE).min(rows);
        for j0 in (0..cols).step_by(TILE) {
            let j1 = (j0 + TILE).min(cols);
            for i in i0..i1 {
                let r = row(i);
                for j in j0..j1 {
                    // SAFETY: `(i, j)` is inside `x` (so `r + j` is its entry) and `i + j·ld`
                    // is inside `dst` (the contract).
                    unsafe { dst.add(i + j * ld).write(*r.add(j)) };
                }
            }
        }
    }
}

/// A `B×B` block transpose of `f32` in vector registers: `*dst[j].add(i) = *src[i].add(j)`.
#[cfg(target_arch = "x86_64")]
trait BlockT<const B: usize> {
    /// # Safety
    /// As the transpose it calls ([`avx512::transpose16`], [`avx::transpose8`]), and the caller
    /// is compiled for its instructions.
    unsafe fn transpose(src: [*const f32; B], dst: [*mut f32; B]);
}

/// [`avx512::transpose16`].
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl BlockT<16> for Avx512 {
    #[inline(always)]
    unsafe fn transpose(src: [*const f32; 16], dst: [*mut f32; 16]) {
        // SAFETY: the caller's contract.
        unsafe { avx512::transpose16(src, dst) }
    }
}

/// [`avx::transpose8`].
#[cfg(target_arch = "x86_64")]
struct Avx;

#[cfg(target_arch = "x86_64")]
impl BlockT<8> for Avx {
    #[inline(always)]
    unsafe fn transpose(src: [*const f32; 8], dst: [*mut f32; 8]) {
        // SAFETY: the caller's contract.
        unsafe { avx::transpose8(src, dst) }
    }
}

/// The bands of `B` rows of [`transpose_into`] for `f32`: `B×B` blocks through `K`, the last
/// columns (under `B`) element by element; entry `(i, j)` to `dst + i + j·ld`. Returns how many
/// rows it wrote (the whole bands).
///
/// # Safety
/// The caller is compiled for `K`'s instructions and the CPU has them; row `i < rows` of the
/// matrix is the `cols` elements from `src + i·stride`; `dst` is valid for writing every
/// `i + j·ld` (`ld ≥ rows`) and overlaps no row.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn bands<const B: usize, K: BlockT<B>>(
    src: *const f32,
    stride: isize,
    dst: *mut f32,
    (rows, cols): (usize, usize),
    ld: usize,
) -> usize {
    let bands = rows / B * B;
    let cb = cols / B * B;
    for i0 in (0..bands).step_by(B) {
        let mut from = [src; B];
        for (r, f) in from.iter_mut().enumerate() {
            *f = src.wrapping_offset((i0 + r) as isize * stride);
        }
        for j0 in (0..cb).step_by(B) {
            let mut a = from;
            let mut b = [dst; B];
            for k in 0..B {
                a[k] = a[k].wrapping_add(j0);
                b[k] = dst.wrapping_add((j0 + k) * ld + i0);
            }
            // SAFETY: rows i0..i0+B ≤ rows, elements j0..j0+B ≤ cols of each; the destinations
            // are elements i0..i0+B of columns j0..j0+B of the output, and the caller has `K`'s
            // instructions (the contract).
            unsafe { K::transpose(a, b) };
        }
        for (r, f) in from.iter().enumerate() {
            for j in cb..cols {
                // SAFETY: as above, for the entry (i0 + r, j).
                unsafe { dst.add(i0 + r + j * ld).write(*f.add(j)) };
            }
        }
    }
    bands
}

/// [`bands`] of 16 rows in AVX-512 registers.
///
/// # Safety
/// The CPU has AVX-512F; the rest of [`bands`]' contract.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn bands_avx512(
    src: *const f32,
    stride: isize,
    dst: *mut f32,
    shape: (usize, usize),
    ld: usize,
) -> usize {
    // SAFETY: this function is compiled for AVX-512F; the rest is the caller's contract.
    unsafe { bands::<16, Avx512>(src, stride, dst, shape, ld) }
}

/// [`bands`] of 8 rows in AVX registers.
///
/// # Safety
/// The CPU has AVX; the rest of [`bands`]' contract.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn bands_avx(
    src: *const f32,
    stride: isize,
    dst: *mut f32,
    shape: (usize, usize),
    ld: usize,
) -> usize {
    // SAFETY: as above, with AVX.
    unsafe { bands::<8, Avx>(src, stride, dst, shape, ld) }
}

/// 16×16 transposes of f32 in AVX-512 registers: a whole 64-byte line of `X`, of the panel and
/// of the output moved at a time (the 8×8 blocks of [`avx`] read and wrote half lines, which
/// the columns 16 KiB apart evicted from L1 between the halves).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_shuffle_f32x4, _mm512_shuffle_ps, _mm512_storeu_ps, _mm512_stream_ps,
        _mm512_unpackhi_ps, _mm512_unpacklo_ps,
    };

    /// `*dst[j].add(i) = *src[i].add(j)` for `i, j < 16`.
    ///
    /// # Safety
    /// The caller is compiled for AVX-512F (these helpers are inlined into it: their own
    /// `target_feature` would stop the inlining, and a closure or call in between would pass
    /// every vector through memory); each `src[i]` is valid for reading 16 `f32`, each `dst[j]` for
    /// writing 16, and no destination overlaps a source.
    #[inline(always)]
    pub(crate) unsafe fn transpose16(src: [*const f32; 16], dst: [*mut f32; 16]) {
        // SAFETY: the caller's contract.
        let c = unsafe { columns(src) };
        for (d, c) in dst.into_iter().zip(c) {
            // SAFETY: `d` is valid for writing 16 elements (the caller's contract).
            unsafe { _mm512_storeu_ps(d, c) };
        }
    }

    /// `*dst[j].add(i) = alpha·v + beta·*dst[j].add(i)` with `v = *src[i].add(j)` for
    /// `i, j < 16` (a multiplication, then a multiplication and an addition: the element-wise
    /// rounding of the CSR kernels' output scaling; `dst` is not read when `beta = 0`), with streaming stores
    /// when `stream`.
    ///
    /// # Safety
    /// The caller is compiled for AVX-512F (these helpers are inlined into it: their own
    /// `target_feature` would stop the inlining, and a closure or call in between would pass
    /// every vector through memory); each `src[i]` is valid for reading 16 `f32`, each `dst[j]` for
    /// reading and writing 16 (and 64-byte aligned with `stream`), and no destination overlaps
    /// a source.
    #[inline(always)]
    pub(crate) unsafe fn transpose16_scaled(
        src: [*const f32; 16],
        dst: [*mut f32; 16],
        (alpha, beta): (f32, f32),
        stream: bool,
    ) {
        // SAFETY: the caller's contract: AVX-512F, and each `d` valid for reading and writing
        // 16 elements, aligned when streamed.
        unsafe {
            let c = columns(src);
            let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
            for (d, c) in dst.into_iter().zip(c) {
                let a = _mm512_mul_ps(va, c);
                if stream {
                    _mm512_stream_ps(d, a);
                } else if beta == 0.0 {
                    _mm512_storeu_ps(d, a);
                } else {
                    _mm512_storeu_ps(d, _mm512_add_ps(a, _mm512_mul_ps(vb, _mm512_loadu_ps(d))));
                }
            }
        }
    }

    /// The 16 columns of the 16×16 block whose rows start at `src`.
    ///
    /// # Safety
    /// The caller is compiled for AVX-512F (these helpers are inlined into it: their own
    /// `target_feature` would stop the inlining, and a closure or call in between would pass
    /// every vector through memory); each `src[i]` is valid for reading 16 `f32`.
    #[inline(always)]
    unsafe fn columns(src: [*const f32; 16]) -> [__m512; 16] {
        // SAFETY: the caller's contract (AVX-512F, `src` valid for reading).
        unsafe {
            // A loop, not `array::map`: a closure is not compiled for AVX-512 and was not inlined.
            let mut r = [_mm512_setzero_ps(); 16];
            for (r, s) in r.iter_mut().zip(src) {
                *r = _mm512_loadu_ps(s);
            }
            // Pairs of rows interleaved: in 128-bit lane l, t[2i] holds rows 2i, 2i+1 of columns
            // 4l, 4l+1 and t[2i+1] of columns 4l+2, 4l+3.
            let mut t = r;
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            // Quadruples: in lane l of u[4g + e], rows 4g..4g+4 of column 4l + e.
            let mut u = t;
            for g in 0..4 {
                let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                u[4 * g] = _mm512_shuffle_ps::<0x44>(a0, b0);
                u[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(a0, b0);
                u[4 * g + 2] = _mm512_shuffle_ps::<0x44>(a1, b1);
                u[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(a1, b1);
            }
            // Lanes gathered across the groups: v[e] = (u[e].0, u[e].2, u[4+e].0, u[4+e].2),
            // v[4+e] = (u[e].1, u[e].3, u[4+e].1, u[4+e].3), and v[8+e], v[12+e] from u[8+e],
            // u[12+e] alike.
            let mut v = u;
            for e in 0..4 {
                v[e] = _mm512_shuffle_f32x4::<0x88>(u[e], u[4 + e]);
                v[4 + e] = _mm512_shuffle_f32x4::<0xDD>(u[e], u[4 + e]);
                v[8 + e] = _mm512_shuffle_f32x4::<0x88>(u[8 + e], u[12 + e]);
                v[12 + e] = _mm512_shuffle_f32x4::<0xDD>(u[8 + e], u[12 + e]);
            }
            // Column 4l + e: lane l of u[e], u[4+e], u[8+e], u[12+e].
            let mut c = v;
            for e in 0..4 {
                c[e] = _mm512_shuffle_f32x4::<0x88>(v[e], v[8 + e]);
                c[8 + e] = _mm512_shuffle_f32x4::<0xDD>(v[e], v[8 + e]);
                c[4 + e] = _mm512_shuffle_f32x4::<0x88>(v[4 + e], v[12 + e]);
                c[12 + e] = _mm512_shuffle_f32x4::<0xDD>(v[4 + e], v[12 + e]);
            }
            c
        }
    }
}

/// 8×8 transposes of f32 in AVX registers for the two layout changes of the panel path (`X` into
/// the panel, the row tile into the output), which as scalar code (or the scatters and gathers
/// the compiler made of it) took about as long as the multiply-adds: the whole blocks on AVX2
/// CPUs, and the 8-column remainders after the 16×16 blocks of [`avx512`].
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_permute2f128_ps,
        _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps,
        _mm256_unpacklo_ps,
    };

    /// `*dst[j].add(i) = *src[i].add(j)` for `i, j < 8`.
    ///
    /// # Safety
    /// The CPU has AVX; each `src[i]` is valid for reading 8 `f32`, each `dst[j]` for writing 8,
    /// and no destination overlaps a source.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(crate) unsafe fn transpose8(src: [*const f32; 8], dst: [*mut f32; 8]) {
        // SAFETY: the caller's contract.
        let c = unsafe { columns(src) };
        for (d, c) in dst.into_iter().zip(c) {
            // SAFETY: `d` is valid for writing 8 elements (the caller's contract).
            unsafe { _mm256_storeu_ps(d, c) };
        }
    }

    /// `*dst[j].add(i) = alpha·v + beta·*dst[j].add(i)` with `v = *src[i].add(j)` for
    /// `i, j < 8` (a multiplication, then a multiplication and an addition: the element-wise
    /// rounding of the CSR kernels' output scaling; `dst` is not read when `beta = 0`).
    ///
    /// # Safety
    /// The CPU has AVX; each `src[i]` is valid for reading 8 `f32`, each `dst[j]` for reading
    /// and writing 8, and no destination overlaps a source.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(crate) unsafe fn transpose8_scaled(
        src: [*const f32; 8],
        dst: [*mut f32; 8],
        alpha: f32,
        beta: f32,
    ) {
        // SAFETY: the caller's contract.
        let c = unsafe { columns(src) };
        let (va, vb) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
        for (d, c) in dst.into_iter().zip(c) {
            let a = _mm256_mul_ps(va, c);
            // SAFETY: `d` is valid for reading and writing 8 elements (the caller's contract).
            unsafe {
                if beta == 0.0 {
                    _mm256_storeu_ps(d, a);
                } else {
                    _mm256_storeu_ps(d, _mm256_add_ps(a, _mm256_mul_ps(vb, _mm256_loadu_ps(d))));
                }
            }
        }
    }

    /// The 8 columns of the 8×8 block whose rows start at `src`.
    ///
    /// # Safety
    /// The CPU has AVX; each `src[i]` is valid for reading 8 `f32`.
    #[inline]
    #[target_feature(enable = "avx")]
    unsafe fn columns(src: [*const f32; 8]) -> [__m256; 8] {
        let mut r = [_mm256_setzero_ps(); 8];
        for (r, s) in r.iter_mut().zip(src) {
            // SAFETY: `s` is valid for reading 8 elements (the caller's contract).
            *r = unsafe { _mm256_loadu_ps(s) };
        }
        // Pairs of rows interleaved, then quadruples: in 128-bit lane `l` of `s[4g + e]`, the
        // rows 4g..4g+4 of column 4l + e.
        let mut t = r;
        for i in 0..4 {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut s = t;
        for g in 0..2 {
            let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            s[4 * g] = _mm256_shuffle_ps::<0x44>(a0, b0);
            s[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(a0, b0);
            s[4 * g + 2] = _mm256_shuffle_ps::<0x44>(a1, b1);
            s[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(a1, b1);
        }
        // Column e: the low lanes of s[e] and s[4 + e]; column 4 + e: their high lanes.
        let mut c = r;
        for e in 0..4 {
            c[e] = _mm256_permute2f128_ps::<0x20>(s[e], s[4 + e]);
            c[4 + e] = _mm256_permute2f128_ps::<0x31>(s[e], s[4 + e]);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// Shapes around the block sizes (8, 16): whole blocks, remainders of rows and of columns,
    /// single rows and columns.
    const SHAPES: [(usize, usize); 9] = [
        (1, 1),
        (1, 19),
        (19, 1),
        (8, 8),
        (16, 16),
        (17, 33),
        (33, 17),
        (48, 40),
        (130, 140),
    ];

    /// A `rows×cols` matrix stored by rows with `pad` spare elements after each row, as a view.
    fn row_major<T: CpuElem>(rows: usize, cols: usize, pad: usize) -> Mat<T> {
        // The transpose of `cols + pad` rows: entry `(i, j)` of the view is `1000·i + j`.
        Mat::from_fn(cols + pad, rows, |j, i| T::from_f64((1000 * i + j) as f64))
    }

    fn want<T: CpuElem>(rows: usize, cols: usize) -> Vec<T> {
        (0..rows * cols)
            .map(|e| T::from_f64((1000 * (e % rows) + e / rows) as f64))
            .collect()
    }

    #[test]
    fn rows_to_columns_gives_every_entry_in_column_order() {
        for (rows, cols) in SHAPES {
            for pad in [0, 5] {
                let m = row_major::<f32>(rows, cols, pad);
                let x = m.as_ref().subrows(0, cols).transpose();
                assert_eq!(
                    rows_to_columns(x).unwrap(),
                    want::<f32>(rows, cols),
                    "f32 {rows}x{cols}"
                );
                let m = row_major::<f64>(rows, cols, pad);
                let x = m.as_ref().subrows(0, cols).transpose();
                assert_eq!(
                    rows_to_columns(x).unwrap(),
                    want::<f64>(rows, cols),
                    "f64 {rows}x{cols}"
                );
            }
            // Rows in reverse order (a negative stride between rows).
            let m = row_major::<f32>(rows, cols, 0);
            let x = m.as_ref().transpose().reverse_rows();
            let mut w = want::<f32>(rows, cols);
            for c in w.chunks_exact_mut(rows) {
                c.reverse();
            }
            assert_eq!(rows_to_columns(x).unwrap(), w, "reversed {rows}x{cols}");
        }
        let m = Mat::<f32>::zeros(4, 3);
        assert!(rows_to_columns(m.as_ref()).is_none(), "columns contiguous");
    }

    /// `rows_to_mat` equals the view's own copy (faer pads the columns of an owned matrix, so
    /// the destination's columns are further apart than its rows), on new storage and on kept
    /// storage of the shape that holds NaN from a previous use (every entry overwritten).
    #[test]
    fn rows_to_mat_fills_padded_and_kept_storage() {
        let _pool = crate::recycle::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (rows, cols) in SHAPES.into_iter().chain([(600, 300)]) {
            let m = row_major::<f32>(rows, cols, 3);
            let x = m.as_ref().subrows(0, cols).transpose();
            assert_eq!(rows_to_mat(x).unwrap(), x.to_owned(), "f32 {rows}x{cols}");
            let m = row_major::<f64>(rows, cols, 0);
            let x = m.as_ref().subrows(0, cols).transpose();
            assert_eq!(rows_to_mat(x).unwrap(), x.to_owned(), "f64 {rows}x{cols}");
        }
        let (rows, cols) = (600, 300); // 720 KB of f32: kept by the pool
        let poisoned = Mat::<f32>::from_fn(rows, cols, |_, _| f32::NAN);
        let at = poisoned.as_ptr();
        crate::recycle::recycle(poisoned);
        let m = row_major::<f32>(rows, cols, 1);
        let x = m.as_ref().subrows(0, cols).transpose();
        let got = rows_to_mat(x).unwrap();
        assert_eq!(got.as_ptr(), at, "the kept storage was taken");
        assert_eq!(got, x.to_owned());
        assert!(rows_to_mat(Mat::<f32>::zeros(4, 3).as_ref()).is_none());
    }

    /// Each vector path directly (the dispatch takes the widest, so the AVX one is otherwise
    /// untested on AVX-512 CPUs); the rows below the whole bands stay for the caller.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_vector_band_path_transposes_its_rows() {
        use std::arch::is_x86_feature_detected as has;
        for (rows, cols) in SHAPES {
            let m = row_major::<f32>(rows, cols, 3);
            let x = m.as_ref().subrows(0, cols).transpose();
            let t = x.transpose().try_as_col_major().unwrap();
            let w = want::<f32>(rows, cols);
            type Bands = unsafe fn(*const f32, isize, *mut f32, (usize, usize), usize) -> usize;
            let mut paths: Vec<(&str, Bands, usize)> = Vec::new();
            if has!("avx512f") {
                paths.push(("avx512", bands_avx512, 16));
            }
            if has!("avx") {
                paths.push(("avx", bands_avx, 8));
            }
            for (name, f, b) in paths {
                let mut out = vec![f32::NAN; rows * cols];
                // SAFETY: the CPU has the path's features (checked above); the view's rows are
                // `t.col_stride()` apart and `out` holds `rows·cols`.
                let done = unsafe {
                    f(
                        t.as_ptr(),
                        t.col_stride(),
                        out.as_mut_ptr(),
                        (rows, cols),
                        rows,
                    )
                };
                assert_eq!(done, rows / b * b, "{name} {rows}x{cols}: rows done");
                for j in 0..cols {
                    for i in 0..rows {
                        let (g, e) = (out[i + j * rows], w[i + j * rows]);
                        if i < done {
                            assert_eq!(g, e, "{name} {rows}x{cols}: ({i}, {j})");
                        } else {
                            assert!(
                                g.is_nan(),
                                "{name} {rows}x{cols}: wrote row {i} past the bands"
                            );
                        }
                    }
                }
            }
        }
    }
}
