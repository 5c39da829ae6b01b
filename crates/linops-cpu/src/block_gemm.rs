//! `block_gemm` on the CPU: the batched block GEMM of the block-diagonal, Monarch and butterfly
//! factors.
//!
//! Mathematics: `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for each block `t < b`, where `X_t`/`Y_t` are
//! row views of `X`/`Y` placed by [`BlockLayout`] and `W = [W_0 … W_{b−1}]` holds the blocks side
//! by side; `op(W_t)` is `m×k`.
//!
//! Two register-tiled kernels do the work; both keep a tile of `op(W_t)·X_t` in vector
//! accumulators over the whole reduction (`k` terms) and write `alpha·tile + beta·Y` once, and
//! both read the permuted rows of a [`BlockLayout::Strided`] side in place (the perfect shuffle is
//! index arithmetic, never a pass over memory):
//!
//! - **rows** (`Y` contiguous, any `X` layout, `m` a multiple of `LANES`): the vector lanes are
//!   `LANES` consecutive rows `i` of one block's output; a tile is up to `TILE_R` such vectors
//!   (64 rows in f32) × `TILE_C` columns, and step `κ` of the reduction adds `op(W_t)[i.., κ]`
//!   (one contiguous column of the block) times the broadcast scalar `X_t[κ, j]` (read with the
//!   layout's row stride). `W` is used in place when it is not transposed; transposed, it is
//!   first packed into `Ap[(t·k + κ)·m + i] = op(W_t)[i, κ]`. Groups of blocks whose weights
//!   fit in L2 go in the outer loop, then tiles of columns, then the group's blocks: each
//!   column of `X` and `Y` is then read and written in sequential runs the hardware
//!   prefetchers follow, and each tile prefetches the next tile's `X` in software.
//! - **lanes** (`X` and `Y` strided, the second factor of a Monarch): the vector lanes are
//!   `LANES` consecutive *blocks* `l`, whose rows are adjacent in memory in the strided layout
//!   (`X_l[κ, j]` at row `l + κ·b`, `Y_l[i, j]` at row `l + i·b`), so every load and store of
//!   `X` and `Y` is a contiguous vector; the weights are packed (split over the workers) into
//!   `Wp[((g·m + i)·k + κ)·LANES + λ] = op(W_l)[i, κ]`, `l = g·LANES + λ` (zero lanes past
//!   `b`). A tile is `TILE_R` output rows × `TILE_C` columns of one group of blocks; step `κ`
//!   multiplies the packed weight vectors by the `X` vectors lane by lane.
//!
//! Packed weights are kept with the weights' converted parameter on the backend
//! ([`crate::CpuBackend::derived`]): an operator's first apply packs them, later applies reuse
//! them. Weights that are not a parameter (a plan temporary) are packed for each call.
//!
//! The faer path runs the rest: row counts that are not a multiple of `LANES`, transposed
//! weights below `TILE_MIN_COLS` columns, strided layouts below `LANES_MIN_COLS_KEPT` columns
//! (`LANES_MIN_COLS` when the packing is for one call only, where it does not pay below), and
//! the mixed layouts no operator produces. Each block is one faer `matmul` on contiguous
//! operands (a strided side gathered into or scattered from a block-ordered panel scratch
//! first).
//!
//! Numerics: each output element of the kernels is `alpha·(Σ_κ op(W_t)[i, κ]·X_t[κ, j])` summed
//! in the order `κ = 0, 1, …` (fused multiply-adds where the CPU has FMA, as in faer's own
//! matmul, so the bits depend on the instruction set), then `+ beta·Y` (not read when
//! `beta = 0`): the same operations wherever the element lands in a tile or a worker's part, so
//! the result does not depend on the thread count. Error, elementwise:
//! `|ΔY| ≤ γ_{k+2}·(|alpha|·|op(W_t)|·|X_t| + |beta·Y_t|)`.
//!
//! Parallelism: the batch columns are split over the backend's `Par` by
//! [`crate::par::for_each_part`] (at least [`MIN_COLS_PER_THREAD`] per part, parts aligned to
//! tiles); every part runs all blocks on its own columns, so outputs never overlap. Cost:
//! `2·b·m·k·B` FLOPs for `B` columns; `X` read once and `Y` written once; the weights (`b·m·k`)
//! read once per part from L2/L3, plus one packing pass over them when packed (at the first
//! apply only, when kept).

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::BlockLayout;
use linops_core::plan::kernel::BlockGemm;

/// Fewest columns of a part when the columns are split between workers.
const MIN_COLS_PER_THREAD: usize = 16;

/// Columns of one panel of the faer path: every block visits a panel before the next panel
/// starts. Wide enough that each block's matmul (`m×k·k×64`) amortizes faer's per-call overhead,
/// narrow enough that a gathered panel (`n×64`) stays in a core's L2 cache.
const PANEL_COLS: usize = 64;

/// Elements of one vector of the tile kernels (an AVX-512 register of f32; two of f64).
const LANES: usize = 16;

/// Vectors of rows (rows kernel) or output rows (lanes kernel) per tile.
const TILE_R: usize = 4;

/// Columns per tile: `TILE_R·TILE_C` = 24 accumulator vectors, which leaves registers for the
/// `TILE_R` weight vectors and one operand of `X` (32 vector registers with AVX-512).
const TILE_C: usize = 6;

/// Column alignment of both kernels' parts. `crate::par::for_each_part` adds the remainder
/// of the columns to the last part, so the alignment sets the balance: aligned to `TILE_C`,
/// 64 columns on 2 workers split 18 + 18 + 28 (one worker runs 46 of them) and 1024 columns
/// 7 × 132 with 232 in the last part; aligned to 8, they split 4 × 16 and 8 × 128. Parts of
/// 16 columns end in a 4-column tile. (The lanes kernel kept `TILE_C` until 2026-12-03:
/// Monarch n = 4096, alternated, batch 64 0.29–0.33 → 0.21–0.23 ms, batch 1024 3.9 → 3.5 ms,
/// with its 4-column tile added.)
const PART_ALIGN: usize = 8;

/// Bytes of weights in one group of blocks of the rows kernel, which every column tile passes
/// through before the next group starts: the group stays in a core's L2 cache (1 MiB on the
/// Zen 5 dev box this was tuned on) next to the streaming `X` and `Y`.
const GROUP_BYTES: usize = 256 << 10;

/// Fewest columns for which a packing pass over the transposed weights of the rows kernel
/// (`b·m·k` elements) pays: narrower transposed applies run the faer path.
const TILE_MIN_COLS: usize = 8;

/// Fewest columns for the lanes kernel when its weights are packed for this call alone (no
/// backend to keep them, [`block_gemm`]'s `kept`): the packing is a scattered `b·m·k`-element
/// transpose, measured slower than the faer path at 64 columns (n = 4096 Monarch, 1.6–2.0 ms
/// against 1.25–1.3), faster at 1024 (40–48 ms against 61–62), 2 threads, load ≈ 9.
const LANES_MIN_COLS: usize = 128;

/// Fewest columns for the lanes kernel when its packed weights are kept with the parameter
/// (packed at the first apply only). n = 4096 Monarch at 64 columns, 2 threads, 2026-12-03:
/// the packing took 40% of an apply that packed every time (0.95–1.16 ms), the lanes kernel
/// itself about as long as the first factor's rows kernel.
const LANES_MIN_COLS_KEPT: usize = MIN_COLS_PER_THREAD;

/// What [`crate::CpuBackend::derived`] keeps for a block GEMM's weights: the packing (`tag`)
/// for `g`'s block count and transposition.
fn kept_what(tag: u64, g: BlockGemm) -> u64 {
    (tag << 56) | (u64::from(g.trans) << 48) | g.blocks as u64
}

/// `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for every block; shapes were checked by the planner
/// (`Kernel::cost`), and are asserted again here before any raw view is built. `kept` (the
/// backend and `W`'s converted parameter) keeps the packed weights of the lanes kernel and of
/// the transposed rows kernel with the parameter ([`crate::CpuBackend::derived`]), so a
/// repeated apply does not pack them again; without it they are packed for this call.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_gemm<T: CpuElem>(
    g: BlockGemm,
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: T,
    beta: T,
    par: Par,
    kept: Option<(&crate::CpuBackend<T>, &std::sync::Arc<Mat<T>>)>,
) {
    let bc = w.ncols() / g.blocks;
    let (m, k) = if g.trans {
        (bc, w.nrows())
    } else {
        (w.nrows(), bc)
    };
    assert!(
        w.ncols() == g.blocks * bc
            && x.nrows() == g.blocks * k
            && out.nrows() == g.blocks * m
            && x.ncols() == out.ncols(),
        "block_gemm: shapes not checked by the planner"
    );
    let dims = Dims {
        b: g.blocks,
        m,
        k,
        bc,
    };
    let cols = out.ncols();
    let unit = |rs: isize, cs: isize| rs == 1 && cs >= 0;
    let strides_ok = unit(x.row_stride(), x.col_stride())
        && unit(out.row_stride(), out.col_stride())
        && w.row_stride() == 1
        && w.col_stride() >= 0;
    let grain = Grain {
        min: MIN_COLS_PER_THREAD,
        align: PART_ALIGN,
    };
    match (g.x_layout, g.y_layout) {
        _ if !strides_ok || m == 0 || k == 0 || cols == 0 => {}
        (_, BlockLayout::Contiguous) if m % LANES != 0 => {}
        (_, BlockLayout::Contiguous) if !g.trans => {
            // The weights in place: block t's column κ is W's column t·bc + κ.
            let ld = w.col_stride() as usize;
            let a = Weights {
                ptr: w.as_ptr(),
                lda: ld,
                block: bc * ld,
            };
            rows_parts(g, dims, a, x, out.as_mut(), (alpha, beta), par, grain);
            return;
        }
        (_, BlockLayout::Contiguous) if cols >= TILE_MIN_COLS => {
            let ap = match kept {
                Some((be, param)) => be.derived(param, kept_what(1, g), || pack_rows(g, dims, w)),
                None => std::sync::Arc::new(pack_rows(g, dims, w)),
            };
            let a = Weights {
                ptr: ap.as_ptr(),
                lda: m,
                block: k * m,
            };
            rows_parts(g, dims, a, x, out.as_mut(), (alpha, beta), par, grain);
            return;
        }
        (BlockLayout::Strided, BlockLayout::Strided)
            if cols >= LANES_MIN_COLS || (kept.is_some() && cols >= LANES_MIN_COLS_KEPT) =>
        {
            let wp = match kept {
                Some((be, param)) => {
                    be.derived(param, kept_what(2, g), || pack_lanes(g, dims, w, par))
                }
                None => std::sync::Arc::new(pack_lanes(g, dims, w, par)),
            };
            let parts = |c0: usize, part: MatMut<'_, T>| {
                let xp = x.subcols(c0, part.ncols());
                lanes_dispatch(dims, &wp, xp, part, alpha, beta);
            };
            for_each_part(par, out.as_mut(), grain, &parts);
            return;
        }
        _ => {}
    }
    for_each_part(
        par,
        out.as_mut(),
        Grain::min(MIN_COLS_PER_THREAD),
        &|c0, part: MatMut<'_, T>| {
            let xp = x.subcols(c0, part.ncols());
            columns(g, (m, k, bc), w, xp, part, alpha, beta);
        },
    );
}

/// The shape of a block GEMM: `b` blocks, `op(W_t)` of `m×k`, `bc` columns of `W` per block.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    m: usize,
    k: usize,
    bc: usize,
}

/// Where the rows kernel finds `op(W_t)[i, κ]`: at `ptr + t·block + κ·lda + i`, readable for
/// every `i` below `m` rounded up to [`LANES`].
#[derive(Clone, Copy)]
struct Weights<T> {
    ptr: *const T,
    lda: usize,
    block: usize,
}

impl<T: Copy> Weights<T> {
    /// The element `off` places after `ptr`.
    ///
    /// # Safety
    /// `ptr + off` lies inside the weights.
    #[inline(always)]
    unsafe fn read(&self, off: usize) -> T {
        // SAFETY: the caller's contract.
        unsafe { *self.ptr.add(off) }
    }
}

// SAFETY: `Weights` is a read-only view of weights that outlive the parallel call that shares
// it (the borrowed `W` or a packed copy owned by the caller), like a `&[T]`.
unsafe impl<T: Sync> Sync for Weights<T> {}
unsafe impl<T: Sync> Send for Weights<T> {}

/// The rows kernel over the columns, split into parts over the workers.
#[allow(clippy::too_many_arguments)]
fn rows_parts<T: CpuElem>(
    g: BlockGemm,
    dims: Dims,
    a: Weights<T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    (alpha, beta): (T, T),
    par: Par,
    grain: Grain,
) {
    let (xstep, xrs) = g.x_layout.step_and_stride(dims.b, dims.k);
    let parts = |c0: usize, part: MatMut<'_, T>| {
        let xp = x.subcols(c0, part.ncols());
        rows_dispatch(dims, a, (xstep, xrs), xp, part, alpha, beta);
    };
    for_each_part(par, out, grain, &parts);
}

/// `Ap[(t·k + κ)·m + i] = op(W_t)[i, κ]`: the rows kernel's weights when `W` is transposed.
fn pack_rows<T: CpuElem>(g: BlockGemm, d: Dims, w: MatRef<'_, T>) -> Vec<T> {
    let mut ap = vec![T::from_f64(0.0); d.b * d.k * d.m];
    for (tk, dst) in ap.chunks_exact_mut(d.m).enumerate() {
        let (t, kk) = (tk / d.k, tk % d.k);
        for (i, v) in dst.iter_mut().enumerate() {
            *v = if g.trans {
                w[(kk, t * d.bc + i)]
            } else {
                w[(i, t * d.bc + kk)]
            };
        }
    }
    ap
}

/// `Wp[((g·m + i)·k + κ)·LANES + λ] = op(W_l)[i, κ]` for block `l = g·LANES + λ` (zero for
/// `l ≥ b`): the lanes kernel's weights, each group `g` of `LANES` blocks one contiguous run,
/// packed by the workers of `par` (whole rows `(g, i)` each). Every step `κ` reads the
/// `κ`-th column of all the blocks over the part's rows `i` (a few KiB, in L1) and writes whole
/// vectors.
fn pack_lanes<T: CpuElem>(g: BlockGemm, d: Dims, w: MatRef<'_, T>, par: Par) -> Vec<T> {
    let row = d.k * LANES;
    let groups = d.b.div_ceil(LANES);
    let mut wp = vec![T::from_f64(0.0); groups * d.m * row];
    let (wptr, ld) = (w.as_ptr(), w.col_stride() as usize);
    let wptr = Weights {
        ptr: wptr,
        lda: ld,
        block: d.bc * ld,
    };
    let fill = |first: usize, part: &mut [T]| {
        let r0 = first / row;
        for kk in 0..d.k {
            for (rr, dst) in part.chunks_exact_mut(row).enumerate() {
                let (gg, i) = ((r0 + rr) / d.m, (r0 + rr) % d.m);
                let lanes = (d.b - gg * LANES).min(LANES);
                let dst = &mut dst[kk * LANES..kk * LANES + lanes];
                // Element (i, κ) of block l: W[i, l·bc + κ], or W[κ, l·bc + i] transposed.
                let at = if g.trans {
                    kk + i * wptr.lda
                } else {
                    i + kk * wptr.lda
                };
                for (lane, v) in dst.iter_mut().enumerate() {
                    let l = gg * LANES + lane;
                    // SAFETY: i < m, κ < k and l < b: inside W (shapes asserted in
                    // `block_gemm`; W's row stride is 1 and its column stride `lda`).
                    *v = unsafe { wptr.read(l * wptr.block + at) };
                }
            }
        }
    };
    let grain = Grain {
        min: row * LANES,
        align: row,
    };
    for_each_part(par, wp.as_mut_slice(), grain, &fill);
    wp
}

/// A vector of [`LANES`] elements.
type V<T> = [T; LANES];

/// The vector at `p` (any alignment).
///
/// # Safety
/// `p..p + LANES` is readable.
#[inline(always)]
unsafe fn load<T: Copy>(p: *const T) -> V<T> {
    // SAFETY: the caller's contract.
    unsafe { p.cast::<V<T>>().read_unaligned() }
}

/// The first `n ≤ LANES` elements at `p`, zeros after.
///
/// # Safety
/// `p..p + n` is readable.
#[inline(never)]
#[cold]
unsafe fn load_partial<T: CpuElem>(p: *const T, n: usize) -> V<T> {
    let mut v = [T::from_f64(0.0); LANES];
    // SAFETY: the caller's contract; `v` has room for `n ≤ LANES` elements.
    unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n.min(LANES)) };
    v
}

/// `y = alpha·acc + beta·y` for the first `n < LANES` elements at `p` (`y` not read when
/// `beta = 0`), out of line: indexing a vector by a run-time count inside a kernel would keep
/// its accumulators in memory rather than in registers.
///
/// # Safety
/// `p..p + n` is writable and not aliased.
#[inline(never)]
#[cold]
unsafe fn store_partial<T: CpuElem>(p: *mut T, acc: &V<T>, n: usize, alpha: T, beta: T) {
    let zero = T::from_f64(0.0);
    for (i, &a) in acc.iter().take(n).enumerate() {
        // SAFETY: `i < n`, the caller's contract.
        unsafe {
            let q = p.add(i);
            *q = if beta == zero {
                alpha * a
            } else {
                alpha * a + beta * *q
            };
        }
    }
}

/// A tile's stores: vector `(c, r)` at `y[c] + r·ys` (`alpha·acc + beta·y`, `y` not read when `beta = 0`; `n` lanes each). The branches
/// are outside the loops, whose bodies are then small enough to unroll completely: a loop
/// that is not unrolled indexes `acc` at run time and so keeps it in memory.
///
/// # Safety
/// `y[c] + r·ys .. + n` is writable and not aliased, for every `(c, r)`.
#[inline(always)]
// Index loops over the constant tile shape: they unroll to constant indices, which is what keeps
// `acc` in registers (checked in the generated code); iterator chains give no such guarantee.
#[allow(clippy::needless_range_loop)]
unsafe fn store_tile<T: CpuElem, const R: usize, const C: usize>(
    (y, ys): ([*mut T; C], usize),
    acc: &[[V<T>; R]; C],
    n: usize,
    alpha: T,
    beta: T,
) {
    let zero = T::from_f64(0.0);
    if n != LANES {
        for c in 0..C {
            for r in 0..R {
                // SAFETY: the caller's contract.
                unsafe { store_partial(y[c].add(r * ys), &acc[c][r], n, alpha, beta) };
            }
        }
    } else if beta == zero {
        for c in 0..C {
            for r in 0..R {
                let v: V<T> = std::array::from_fn(|l| alpha * acc[c][r][l]);
                // SAFETY: the caller's contract.
                unsafe { y[c].add(r * ys).cast::<V<T>>().write_unaligned(v) };
            }
        }
    } else {
        for c in 0..C {
            for r in 0..R {
                let p = y[c].wrapping_add(r * ys);
                // SAFETY: the caller's contract.
                let old = unsafe { load(p) };
                let v: V<T> = std::array::from_fn(|l| alpha * acc[c][r][l] + beta * old[l]);
                // SAFETY: the caller's contract.
                unsafe { p.cast::<V<T>>().write_unaligned(v) };
            }
        }
    }
}

/// `acc += a ⊙ b`, lane by lane: one fused multiply-add per lane when `FMA` (the variants
/// compiled with FMA instructions), else a multiplication and an addition.
#[inline(always)]
fn mul_add<T: CpuElem, const FMA: bool>(acc: &mut V<T>, a: &V<T>, b: &V<T>) {
    for l in 0..LANES {
        acc[l] = if FMA {
            fused(a[l], b[l], acc[l])
        } else {
            acc[l] + a[l] * b[l]
        };
    }
}

/// `a·b + c` rounded once (`mul_add` of `f32`/`f64`; the type test is resolved at compile time).
#[inline(always)]
fn fused<T: CpuElem>(a: T, b: T, c: T) -> T {
    use std::any::TypeId;
    use std::mem::transmute_copy as cast;
    // SAFETY (each cast): `T` is exactly the type it is cast to or from (the `TypeId` test).
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        let (a, b, c): (f32, f32, f32) = unsafe { (cast(&a), cast(&b), cast(&c)) };
        unsafe { cast(&a.mul_add(b, c)) }
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        let (a, b, c): (f64, f64, f64) = unsafe { (cast(&a), cast(&b), cast(&c)) };
        unsafe { cast(&a.mul_add(b, c)) }
    } else {
        a * b + c
    }
}

/// Prefetches the cache line holding `p` into L1 (a hint: any address is allowed).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Calls `$f::<T, FMA>(args…)` compiled for AVX-512 + FMA or AVX2 + FMA when the CPU has them
/// (with `FMA = true`), else for the baseline (`FMA = false`). Like
/// [`crate::simd::simd_dispatch`], but with FMA enabled in the wide variants: the tile kernels
/// are bound by multiply-adds, and a fused one is one instruction and one rounding (so the bits
/// depend on the instruction set, as faer's own matmul does; never on the thread count).
macro_rules! fma_dispatch {
    ($f:ident($($a:ident: $t:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn avx512<T: CpuElem>($($a: $t),*) {
                $f::<T, true>($($a),*);
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: CpuElem>($($a: $t),*) {
                $f::<T, true>($($a),*);
            }
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F and FMA (checked just above).
                unsafe { avx512::<T>($($a),*) };
                return;
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above, for AVX2 and FMA.
                unsafe { avx2::<T>($($a),*) };
                return;
            }
        }
        $f::<T, false>($($a),*);
    }};
}

/// One rows-kernel tile: `R` vectors of rows × `C` columns of one block. `op(W_t)[i, κ]` at
/// `a + κ·lda + i`, `X_t[κ, c]` at `x[c] + κ·xrs`, `Y_t[i, c]` at `y[c] + i`.
///
/// # Safety
/// Those elements are readable for `κ < k`, `i < R·LANES` and writable for `i < R·LANES`
/// (`Y`), and `Y` aliases nothing else.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_tile<T: CpuElem, const R: usize, const C: usize, const FMA: bool>(
    k: usize,
    (a, lda): (*const T, usize),
    (x, xrs): ([*const T; C], usize),
    y: [*mut T; C],
    alpha: T,
    beta: T,
) {
    let zero = T::from_f64(0.0);
    let mut acc = [[[zero; LANES]; R]; C];
    for kk in 0..k {
        // SAFETY: `κ < k` and `i < R·LANES`: readable (the contract).
        let av: [V<T>; R] = std::array::from_fn(|r| unsafe { load(a.add(kk * lda + r * LANES)) });
        for c in 0..C {
            // SAFETY: as above.
            let xv = [unsafe { *x[c].add(kk * xrs) }; LANES];
            for r in 0..R {
                mul_add::<T, FMA>(&mut acc[c][r], &av[r], &xv);
            }
        }
    }
    // SAFETY: all `R·LANES` rows are writable (the contract).
    unsafe { store_tile((y, LANES), &acc, LANES, alpha, beta) };
}

/// The rows kernel on one part of the columns (module docs): groups of blocks whose weights
/// fit [`GROUP_BYTES`] outer, then tiles of columns, then the group's blocks, then strips of
/// `TILE_R·LANES` rows.
///
/// With the blocks inside the column tiles, each column of `X` (and of `Y`) is read (written)
/// in one sequential run per group, `group·k` (`group·m`) elements long, which the hardware
/// prefetchers follow; the next block's `X` rows of the tile are prefetched in software, one
/// tile ahead. Tiles are `TILE_C` columns wide, then 4, 2 or 1 at the part's end. Blocks
/// outside the column tiles instead read `k` elements per column and page,
/// never prefetched by the hardware, and keep every tile's columns, a power-of-two stride
/// apart, in the same few L1 sets (n = 4096, 64 blocks, 1024 columns: ~1.15× the CPU time).
#[inline(always)]
fn rows_part<T: CpuElem, const FMA: bool>(
    d: Dims,
    a: Weights<T>,
    (xstep, xrs): (usize, usize),
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let cols = out.ncols();
    let (ldx, ldy) = (x.col_stride() as usize, out.col_stride() as usize);
    let (xp, yp) = (x.as_ptr(), out.as_mut().as_ptr_mut());
    let block_bytes = (d.m * d.k * std::mem::size_of::<T>()).max(1);
    let group = (GROUP_BYTES / block_bytes).clamp(1, d.b);
    let line = 64 / std::mem::size_of::<T>();
    for g0 in (0..d.b).step_by(group) {
        let g1 = (g0 + group).min(d.b);
        let mut j = 0;
        while j < cols {
            let c = match cols - j {
                n if n >= TILE_C => TILE_C,
                n if n >= 4 => 4,
                n if n >= 2 => 2,
                _ => 1,
            };
            for t in g0..g1 {
                if xrs == 1 {
                    // The next tile's `X`: the next block's rows of these columns, or the
                    // group's first block in the next columns.
                    let (row, c0, nc) = if t + 1 < g1 {
                        ((t + 1) * xstep, j, c)
                    } else {
                        (g0 * xstep, j + c, TILE_C.min(cols - j - c))
                    };
                    for cc in 0..nc {
                        let col = xp.wrapping_add((c0 + cc) * ldx + row);
                        for q in (0..d.k).step_by(line) {
                            prefetch(col.wrapping_add(q));
                        }
                    }
                }
                for i0 in (0..d.m).step_by(TILE_R * LANES) {
                    let rows = (d.m - i0).min(TILE_R * LANES);
                    // SAFETY (every pointer below): block t's weights, rows and columns lie
                    // inside `W` (or the packed copy), `X` and this part of `out` by the shapes
                    // asserted in `block_gemm`; distinct (t, i, j) address distinct elements of
                    // `out`.
                    let a_t = unsafe { a.ptr.add(t * a.block + i0) };
                    let x_t = unsafe { xp.add(t * xstep) };
                    let y_t = unsafe { yp.add(t * d.m + i0) };
                    let tile = Tile {
                        k: d.k,
                        a: (a_t, a.lda),
                        x: (x_t, xrs, ldx),
                        y: (y_t, 1, ldy),
                        rows,
                        alpha,
                        beta,
                    };
                    match (rows.div_ceil(LANES), c) {
                        (1, TILE_C) => tile.rows_at::<1, TILE_C, FMA>(j),
                        (1, 4) => tile.rows_at::<1, 4, FMA>(j),
                        (1, 2) => tile.rows_at::<1, 2, FMA>(j),
                        (1, _) => tile.rows_at::<1, 1, FMA>(j),
                        (2, TILE_C) => tile.rows_at::<2, TILE_C, FMA>(j),
                        (2, 4) => tile.rows_at::<2, 4, FMA>(j),
                        (2, 2) => tile.rows_at::<2, 2, FMA>(j),
                        (2, _) => tile.rows_at::<2, 1, FMA>(j),
                        (3, TILE_C) => tile.rows_at::<3, TILE_C, FMA>(j),
                        (3, 4) => tile.rows_at::<3, 4, FMA>(j),
                        (3, 2) => tile.rows_at::<3, 2, FMA>(j),
                        (3, _) => tile.rows_at::<3, 1, FMA>(j),
                        (_, TILE_C) => tile.rows_at::<4, TILE_C, FMA>(j),
                        (_, 4) => tile.rows_at::<4, 4, FMA>(j),
                        (_, 2) => tile.rows_at::<4, 2, FMA>(j),
                        (_, _) => tile.rows_at::<4, 1, FMA>(j),
                    }
                }
            }
            j += c;
        }
    }
}

/// The pointers, strides and scalars of one strip of tiles.
struct Tile<T> {
    k: usize,
    /// Weights and the stride between their reduction steps `κ`.
    a: (*const T, usize),
    /// `X`: first element, stride between reduction steps, stride between columns.
    x: (*const T, usize, usize),
    /// `Y`: first element, stride between output rows (lanes kernel), between columns.
    y: (*mut T, usize, usize),
    /// Lanes stored (lanes kernel; the rows kernel always stores whole vectors).
    rows: usize,
    alpha: T,
    beta: T,
}

impl<T: CpuElem> Tile<T> {
    /// One rows-kernel tile at columns `j..j + C`.
    #[inline(always)]
    fn rows_at<const R: usize, const C: usize, const FMA: bool>(&self, j: usize) {
        let ((xp, xrs, ldx), (yp, _, ldy)) = (self.x, self.y);
        // SAFETY: columns j..j + C are inside the part (callers); see `rows_part`.
        let x = std::array::from_fn(|c| unsafe { xp.add((j + c) * ldx) });
        let y = std::array::from_fn(|c| unsafe { yp.add((j + c) * ldy) });
        // SAFETY: see `rows_part`.
        unsafe { rows_tile::<T, R, C, FMA>(self.k, self.a, (x, xrs), y, self.alpha, self.beta) };
    }
}

/// [`rows_part`] through `fma_dispatch`.
fn rows_dispatch<T: CpuElem>(
    d: Dims,
    a: Weights<T>,
    xs: (usize, usize),
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    fma_dispatch!(rows_part(d: Dims, a: Weights<T>, xs: (usize, usize), x: MatRef<'_, T>, out: MatMut<'_, T>, alpha: T, beta: T))
}

/// One lanes-kernel tile: `R` output rows × `C` columns of the `LANES` blocks `l0..` (the first
/// `lanes` stored; `FULL` when `lanes = LANES`). Packed weights `op(W_l)[i0 + r, κ]` at
/// `w + (r·k + κ)·LANES + (l − l0)`, `X_l[κ, c]` at `x + c·ldx + κ·xrs + (l − l0)`,
/// `Y_l[i0 + r, c]` at `y[c] + r·yrs + (l − l0)`.
///
/// # Safety
/// Those elements are readable (weights: all `LANES` lanes; `X`: the first `lanes`) and
/// writable (`Y`: the first `lanes`), and `Y` aliases nothing else.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)] // see `store_tile`
unsafe fn lanes_tile<
    T: CpuElem,
    const R: usize,
    const C: usize,
    const FULL: bool,
    const FMA: bool,
>(
    k: usize,
    w: *const T,
    (x, xrs, ldx): (*const T, usize, usize),
    (y, yrs): ([*mut T; C], usize),
    lanes: usize,
    alpha: T,
    beta: T,
) {
    let zero = T::from_f64(0.0);
    let mut acc = [[[zero; LANES]; R]; C];
    let wr = k * LANES;
    let (mut wq, mut xq) = (w, x);
    for _ in 0..k {
        // SAFETY: the contract (`wq`, `xq` at step κ of the weights and of column 0).
        let wv: [V<T>; R] = std::array::from_fn(|r| unsafe { load(wq.add(r * wr)) });
        for c in 0..C {
            // SAFETY: the contract.
            let xv = unsafe {
                if FULL {
                    load(xq.add(c * ldx))
                } else {
                    load_partial(xq.add(c * ldx), lanes)
                }
            };
            for r in 0..R {
                mul_add::<T, FMA>(&mut acc[c][r], &wv[r], &xv);
            }
        }
        wq = wq.wrapping_add(LANES);
        xq = xq.wrapping_add(xrs);
    }
    let n = if FULL { LANES } else { lanes };
    // SAFETY: the contract.
    unsafe { store_tile((y, yrs), &acc, n, alpha, beta) };
}

/// The lanes kernel on one part of the columns (module docs): groups of `LANES` blocks outer,
/// then tiles of columns (whose `X` vectors stay in L1; `TILE_C` wide, then 4, 2 or 1 at the
/// part's end), then groups of `TILE_R` output rows.
#[inline(always)]
fn lanes_part<T: CpuElem, const FMA: bool>(
    d: Dims,
    wp: &[T],
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let group = d.m * d.k * LANES;
    assert!(
        wp.len() == d.b.div_ceil(LANES) * group,
        "lanes kernel: packed weights"
    );
    let cols = out.ncols();
    let (ldx, ldy) = (x.col_stride() as usize, out.col_stride() as usize);
    let (xp, yp) = (x.as_ptr(), out.as_mut().as_ptr_mut());
    for l0 in (0..d.b).step_by(LANES) {
        let lanes = (d.b - l0).min(LANES);
        // SAFETY (every pointer below): group l0 / LANES of the packed weights, and rows `l + κ·b` /
        // `l + i·b` (l < b) of `X` / this part of `out`, lie inside them by the shapes asserted
        // in `block_gemm`; distinct (l, i, j) address distinct elements of `out`.
        let tile = Tile {
            k: d.k,
            a: (unsafe { wp.as_ptr().add(l0 / LANES * group) }, LANES),
            x: (unsafe { xp.add(l0) }, d.b, ldx),
            y: (unsafe { yp.add(l0) }, d.b, ldy),
            rows: lanes,
            alpha,
            beta,
        };
        let mut j = 0;
        while j < cols {
            let c = match cols - j {
                n if n >= TILE_C => TILE_C,
                n if n >= 4 => 4,
                n if n >= 2 => 2,
                _ => 1,
            };
            match (c, lanes == LANES) {
                (TILE_C, true) => tile.lanes_rows::<TILE_C, true, FMA>(j, d.m),
                (4, true) => tile.lanes_rows::<4, true, FMA>(j, d.m),
                (2, true) => tile.lanes_rows::<2, true, FMA>(j, d.m),
                (_, true) => tile.lanes_rows::<1, true, FMA>(j, d.m),
                (TILE_C, false) => tile.lanes_rows::<TILE_C, false, FMA>(j, d.m),
                (4, false) => tile.lanes_rows::<4, false, FMA>(j, d.m),
                (2, false) => tile.lanes_rows::<2, false, FMA>(j, d.m),
                (_, false) => tile.lanes_rows::<1, false, FMA>(j, d.m),
            }
            j += c;
        }
    }
}

impl<T: CpuElem> Tile<T> {
    /// Lanes-kernel tiles of columns `j..j + C` over all `m` output rows, `TILE_R` at a time.
    #[inline(always)]
    fn lanes_rows<const C: usize, const FULL: bool, const FMA: bool>(&self, j: usize, m: usize) {
        let mut i0 = 0;
        while i0 < m {
            match m - i0 {
                1 => self.lanes_at::<1, C, FULL, FMA>(i0, j),
                2 => self.lanes_at::<2, C, FULL, FMA>(i0, j),
                3 => self.lanes_at::<3, C, FULL, FMA>(i0, j),
                _ => self.lanes_at::<TILE_R, C, FULL, FMA>(i0, j),
            }
            i0 += TILE_R.min(m - i0);
        }
    }

    #[inline(always)]
    fn lanes_at<const R: usize, const C: usize, const FULL: bool, const FMA: bool>(
        &self,
        i0: usize,
        j: usize,
    ) {
        let ((wp, _), (xp, xrs, ldx), (yp, yrs, ldy)) = (self.a, self.x, self.y);
        // SAFETY: rows i0..i0 + R < m and columns j..j + C inside the part; see `lanes_part`.
        let x = unsafe { xp.add(j * ldx) };
        let y = std::array::from_fn(|c| unsafe { yp.add((j + c) * ldy + i0 * yrs) });
        let w = unsafe { wp.add(i0 * self.k * LANES) };
        // SAFETY: see `lanes_part`.
        unsafe {
            lanes_tile::<T, R, C, FULL, FMA>(
                self.k,
                w,
                (x, xrs, ldx),
                (y, yrs),
                self.rows,
                self.alpha,
                self.beta,
            )
        };
    }
}

/// [`lanes_part`] through `fma_dispatch`.
fn lanes_dispatch<T: CpuElem>(
    d: Dims,
    wp: &[T],
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    fma_dispatch!(lanes_part(d: Dims, wp: &[T], x: MatRef<'_, T>, out: MatMut<'_, T>, alpha: T, beta: T))
}

/// One part of the columns, on one worker.
#[allow(clippy::too_many_arguments)]
fn columns<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let cols = out.ncols();
    // Scratch for one panel: X rows gathered into block order, and the blocks' products.
    let panel = PANEL_COLS.min(cols);
    let mut xs = if g.x_layout == BlockLayout::Strided {
        Mat::<T>::zeros(x.nrows(), panel)
    } else {
        Mat::<T>::zeros(0, 0)
    };
    let mut ys = if g.y_layout == BlockLayout::Strided {
        Mat::<T>::zeros(out.nrows(), panel)
    } else {
        Mat::<T>::zeros(0, 0)
    };
    let (xw, yw) = (xs.ncols(), ys.ncols());
    let mut out = out;
    let mut c0 = 0;
    while c0 < cols {
        let w_cols = panel.min(cols - c0);
        let o = out.as_mut().subcols_mut(c0, w_cols);
        let xp = x.subcols(c0, w_cols);
        panel_blocks(
            g,
            (m, k, bc),
            w,
            xp,
            o,
            (alpha, beta),
            (
                xs.as_mut().subcols_mut(0, xw.min(w_cols)),
                ys.as_mut().subcols_mut(0, yw.min(w_cols)),
            ),
        );
        c0 += w_cols;
    }
}

/// All blocks over one panel of columns, sequentially. A strided side is first gathered into (or
/// afterwards scattered from) a contiguous block-ordered scratch, so every block is a matmul of
/// contiguous `m×k·k×panel` operands: the shuffle costs one in-cache copy of the panel.
fn panel_blocks<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    (alpha, beta): (T, T),
    (xs, ys): (MatMut<'_, T>, MatMut<'_, T>),
) {
    let b = g.blocks;
    let cols = out.ncols();
    let zero = T::from_f64(0.0);
    let one = T::from_f64(1.0);
    // X side: the block-ordered rows (row t·k + i holds X row t + i·b when strided).
    let mut xs = xs;
    let xb: MatRef<'_, T> = if g.x_layout == BlockLayout::Strided {
        for j in 0..cols {
            let src = x
                .col(j)
                .try_as_col_major()
                .expect("X is contiguous")
                .as_slice();
            let dst = xs
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("scratch is contiguous")
                .as_slice_mut();
            // A b×k → k×b transpose in L1: read X's rows in order, write each block's run.
            for i in 0..k {
                let row = &src[i * b..(i + 1) * b];
                for (d, &v) in dst.chunks_exact_mut(k).zip(row) {
                    d[i] = v;
                }
            }
        }
        xs.as_ref()
    } else {
        x
    };
    let mut out = out;
    if g.y_layout == BlockLayout::Strided {
        let mut ys = ys;
        for t in 0..b {
            let a = w.subcols(t * bc, bc);
            let a = if g.trans { a.transpose() } else { a };
            let yt = ys.as_mut().subrows_mut(t * m, m);
            matmul(yt, Accum::Replace, a, xb.subrows(t * k, k), alpha, Par::Seq);
        }
        // Scatter: out row t + i·b takes block t's row i.
        for j in 0..cols {
            let src = ys
                .as_ref()
                .col(j)
                .try_as_col_major()
                .expect("scratch is contiguous")
                .as_slice();
            let dst = out
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("output is contiguous")
                .as_slice_mut();
            for i in 0..m {
                let row = &mut dst[i * b..(i + 1) * b];
                if beta == zero {
                    for (o, blk) in row.iter_mut().zip(src.chunks_exact(m)) {
                        *o = blk[i];
                    }
                } else {
                    for (o, blk) in row.iter_mut().zip(src.chunks_exact(m)) {
                        *o = blk[i] + beta * *o;
                    }
                }
            }
        }
    } else {
        let accum = if beta == zero {
            Accum::Replace
        } else {
            if beta != one {
                for j in 0..cols {
                    for v in out.as_mut().col_mut(j).iter_mut() {
                        *v *= beta;
                    }
                }
            }
            Accum::Add
        };
        for t in 0..b {
            let a = w.subcols(t * bc, bc);
            let a = if g.trans { a.transpose() } else { a };
            let yt = out.as_mut().subrows_mut(t * m, m);
            matmul(yt, accum, a, xb.subrows(t * k, k), alpha, Par::Seq);
        }
    }
}

crate::execute::cpu_kernel!(BlockGemm, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    let kept = inputs.param(0).map(|param| (be, param));
    block_gemm(
        *k,
        inputs.mat(0)?,
        inputs.mat(1)?,
        out,
        alpha,
        beta,
        be.par(),
        kept,
    );
    Ok(())
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    /// `alpha·op(W_t)·X_t + beta·Y_t` in f64 from the definition (rows placed by
    /// [`BlockLayout::row`]), with the magnitude `|alpha|·|op(W_t)|·|X_t| + |beta|·|Y_t|`.
    fn reference(
        g: BlockGemm,
        (w, x, y): (&Mat<f64>, &Mat<f64>, &Mat<f64>),
        (m, k, bc): (usize, usize, usize),
    ) -> (Mat<f64>, Mat<f64>) {
        let b = g.blocks;
        let mut out = y.clone();
        let mut mag = Mat::<f64>::zeros(y.nrows(), y.ncols());
        for t in 0..b {
            for j in 0..x.ncols() {
                for i in 0..m {
                    let (mut s, mut a) = (0.0, 0.0);
                    for kk in 0..k {
                        let wv = if g.trans {
                            w[(kk, t * bc + i)]
                        } else {
                            w[(i, t * bc + kk)]
                        };
                        let xv = x[(g.x_layout.row(b, k, t, kk), j)];
                        s += wv * xv;
                        a += (wv * xv).abs();
                    }
                    let r = g.y_layout.row(b, m, t, i);
                    out[(r, j)] = g.alpha * s + g.beta * y[(r, j)];
                    mag[(r, j)] = g.alpha.abs() * a + (g.beta * y[(r, j)]).abs();
                }
            }
        }
        (out, mag)
    }

    /// Every path (rows kernel in place and packed, over one or several groups of blocks, lanes kernel with full and partial lane
    /// groups, the faer fallback for odd row counts, narrow applies and mixed layouts) against
    /// the f64 definition, within `2·γ_{k+2}` of the magnitude, in f32 and f64; with `beta = 0`
    /// the output starts as NaN (never read); and every thread count gives the same bits (the
    /// faer fallback with `beta ≠ 0` excepted, see below).
    fn against_definition<T: CpuElem>(u: f64) {
        use BlockLayout::{Contiguous as C, Strided as S};
        // (blocks, rows of W, block columns of W, layouts).
        let shapes = [
            (4, 64, 64, (C, C)),
            (3, 32, 20, (C, C)),
            (5, 24, 16, (C, C)),
            (64, 64, 16, (S, S)),
            (17, 16, 16, (S, S)),
            (20, 5, 3, (S, S)),
            (16, 16, 48, (S, C)),
            (8, 16, 16, (C, S)),
            (1, 48, 48, (C, C)),
            // Several groups of blocks in the rows kernel (the last one partial), and strips of
            // 64 and 16 rows.
            (7, 64, 256, (C, C)),
            (5, 80, 40, (C, C)),
        ];
        let mut seed = 1;
        for (b, wr, bc, (xl, yl)) in shapes {
            for trans in [false, true] {
                let (m, k) = if trans { (bc, wr) } else { (wr, bc) };
                for cols in [1usize, 3, 8, 13, 130, 137] {
                    for (alpha, beta) in [(1.0, 0.0), (-0.75, 0.0), (1.5, -2.0)] {
                        seed += 1;
                        let g = BlockGemm {
                            blocks: b,
                            trans,
                            x_layout: xl,
                            y_layout: yl,
                            alpha,
                            beta,
                        };
                        let f = |s: u64, r: usize, c: usize| {
                            let v = values(s, r * c);
                            Mat::<f64>::from_fn(r, c, |i, j| v[i + j * r])
                        };
                        let (w, x, y) = (
                            f(seed, wr, b * bc),
                            f(seed + 7, b * k, cols),
                            f(seed + 9, b * m, cols),
                        );
                        let cast = |a: &Mat<f64>| {
                            Mat::<T>::from_fn(a.nrows(), a.ncols(), |i, j| T::from_f64(a[(i, j)]))
                        };
                        let (wt, xt) = (cast(&w), cast(&x));
                        // Inputs rounded to T, so the reference sees what the kernel sees.
                        let back = |a: &Mat<T>| {
                            Mat::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)].to_f64())
                        };
                        let yt0 = cast(&y);
                        let (want, mag) =
                            reference(g, (&back(&wt), &back(&xt), &back(&yt0)), (m, k, bc));
                        let mut outs = Vec::new();
                        for par in [Par::Seq, Par::rayon(2), Par::rayon(3)] {
                            let mut out = if beta == 0.0 {
                                Mat::<T>::from_fn(b * m, cols, |_, _| T::from_f64(f64::NAN))
                            } else {
                                yt0.clone()
                            };
                            let (a, bt) = (T::from_f64(alpha), T::from_f64(beta));
                            block_gemm(g, wt.as_ref(), xt.as_ref(), &mut out, a, bt, par, None);
                            outs.push(out);
                        }
                        let gamma = |n: f64| n * u / (1.0 - n * u);
                        let bound = 2.0 * gamma(k as f64 + 2.0);
                        let what = format!("{g:?} m={m} k={k} cols={cols}");
                        // The faer fallback accumulates `beta·Y` inside faer's matmul, whose
                        // rounding of that update depends on the panel width: not compared.
                        let tiled =
                            (m % LANES == 0 && yl == C && (!trans || cols >= TILE_MIN_COLS))
                                || ((xl, yl) == (S, S) && cols >= LANES_MIN_COLS);
                        let same_bits = tiled || beta == 0.0;
                        for j in 0..cols {
                            for i in 0..b * m {
                                let got = outs[0][(i, j)].to_f64();
                                let err = (got - want[(i, j)]).abs();
                                assert!(
                                    err <= bound * mag[(i, j)] + f64::MIN_POSITIVE,
                                    "{what}: ({i}, {j}) got {got} want {} err {err:e} bound {:e}",
                                    want[(i, j)],
                                    bound * mag[(i, j)]
                                );
                                for o in outs[1..].iter().filter(|_| same_bits) {
                                    assert_eq!(
                                        o[(i, j)].to_f64().to_bits(),
                                        got.to_bits(),
                                        "{what}: threads at ({i}, {j})"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// With a backend to keep them (`kept`), the lanes kernel runs from `LANES_MIN_COLS_KEPT`
    /// columns on, its packed weights made at the first call and reused (the cache entry is
    /// there afterwards, and `make` is not called again); every call matches the definition,
    /// and repeated calls and other thread counts give the same bits. At `LANES_MIN_COLS` and
    /// up, kept and per-call packing give the same bits too (same kernel, same weights).
    #[test]
    fn kept_lanes_weights_match_the_definition() {
        use std::sync::Arc;
        let s = BlockLayout::Strided;
        let u = f64::from(f32::EPSILON) / 2.0;
        let (b, wr, bc) = (24, 32, 32);
        let backend = crate::CpuBackend::<f32>::with_par(Par::rayon(2));
        for trans in [false, true] {
            let (m, k) = if trans { (bc, wr) } else { (wr, bc) };
            let g = BlockGemm {
                blocks: b,
                trans,
                x_layout: s,
                y_layout: s,
                alpha: 1.25,
                beta: 0.0,
            };
            let f = |seed: u64, r: usize, c: usize| {
                let v = values(seed, r * c);
                Mat::<f64>::from_fn(r, c, |i, j| v[i + j * r])
            };
            let w64 = f(11 + u64::from(trans), wr, b * bc);
            let w = Arc::new(Mat::<f32>::from_fn(wr, b * bc, |i, j| w64[(i, j)] as f32));
            let w_seen = Mat::<f64>::from_fn(wr, b * bc, |i, j| f64::from(w[(i, j)]));
            for cols in [LANES_MIN_COLS_KEPT, 37, LANES_MIN_COLS] {
                let x64 = f(cols as u64, b * k, cols);
                let x = Mat::<f32>::from_fn(b * k, cols, |i, j| x64[(i, j)] as f32);
                let x_seen = Mat::<f64>::from_fn(b * k, cols, |i, j| f64::from(x[(i, j)]));
                let zeros = Mat::<f64>::zeros(b * m, cols);
                let (want, mag) = reference(g, (&w_seen, &x_seen, &zeros), (m, k, bc));
                let run = |par: Par, kept: bool| {
                    let mut out = Mat::<f32>::from_fn(b * m, cols, |_, _| f32::NAN);
                    let kept = kept.then_some((&backend, &w));
                    block_gemm(
                        g,
                        w.as_ref().as_ref(),
                        x.as_ref(),
                        &mut out,
                        1.25,
                        0.0,
                        par,
                        kept,
                    );
                    out
                };
                let first = run(Par::rayon(2), true);
                let bound = 2.0 * (k as f64 + 2.0) * u / (1.0 - (k as f64 + 2.0) * u);
                for j in 0..cols {
                    for i in 0..b * m {
                        let err = (f64::from(first[(i, j)]) - want[(i, j)]).abs();
                        assert!(
                            err <= bound * mag[(i, j)] + f64::MIN_POSITIVE,
                            "trans={trans} cols={cols} ({i}, {j}): err {err:e}"
                        );
                    }
                }
                // Kept: the packing is not made again.
                let kept_wp = backend.derived(&w, kept_what(2, g), || panic!("not kept"));
                assert_eq!(kept_wp.len(), b.div_ceil(LANES) * m * k * LANES);
                assert!(
                    run(Par::rayon(2), true) == first,
                    "trans={trans} cols={cols} again"
                );
                assert!(
                    run(Par::Seq, true) == first,
                    "trans={trans} cols={cols} one thread"
                );
                if cols >= LANES_MIN_COLS {
                    assert!(
                        run(Par::Seq, false) == first,
                        "trans={trans} cols={cols} per call"
                    );
                }
            }
        }
    }

    #[test]
    fn block_gemm_matches_definition_f32() {
        against_definition::<f32>(f64::from(f32::EPSILON) / 2.0);
    }

    #[test]
    fn block_gemm_matches_definition_f64() {
        against_definition::<f64>(f64::EPSILON / 2.0);
    }
}
