//! Every CPU SpMM path against the definition: each output element
//! `Σ_p values[p]·X[indices[p], j]` over its row's (clamped) entries, summed in storage order
//! with a multiplication and an addition per entry, skipping columns not below `k`. The paths
//! promise that rounding order, so the comparison is bit for bit (not a tolerance), on one thread
//! and on several.

use super::{rows, spmm, wide};
use crate::CpuElem;
use faer::{Mat, MatRef, Par};

use crate::testing::values;

/// A CSR of `m` rows over `k` columns: row `r` has `r % (per_row + 1)` entries (so some rows are
/// empty), at pseudo-random columns, in increasing order with `sorted` and in no particular
/// order otherwise. With `bad`, some columns are `≥ k`, and (unless `sorted`, which such ranges
/// would not be) some row pointers run backwards or past the end of the entries.
fn csr(
    (m, k, per_row): (usize, usize, usize),
    bad: bool,
    sorted: bool,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f64>) {
    let mut indptr = vec![0u32];
    let mut indices = Vec::new();
    for r in 0..m {
        let start = indices.len();
        for q in 0..r % (per_row + 1) {
            let c = (r * 7919 + q * 104729 + seed as usize) % k;
            let c = if bad && (r + q) % 5 == 0 { k + q } else { c };
            indices.push(c as u32);
        }
        if sorted {
            indices[start..].sort_unstable();
        }
        indptr.push(indices.len() as u32);
    }
    if bad && !sorted && m > 3 {
        indptr[2] = indptr[3] + 2; // row 1 runs past row 2's start, row 2 backwards
        indptr[m] = indices.len() as u32 + 9; // the last row's end is past nnz
    }
    let vals = values(seed + 1, indices.len());
    (indptr, indices, vals)
}

/// The definition, in `T`: `alpha·(S·X) + beta·init`.
fn reference<T: CpuElem>(
    (indptr, indices, vals): (&[u32], &[u32], &[T]),
    x: &Mat<T>,
    init: &Mat<T>,
    alpha: T,
    beta: T,
) -> Mat<T> {
    let (m, k, b) = (indptr.len() - 1, x.nrows(), x.ncols());
    let nnz = indices.len().min(vals.len());
    Mat::from_fn(m, b, |r, j| {
        let end = (indptr[r + 1] as usize).min(nnz);
        let start = (indptr[r] as usize).min(end);
        let mut s = T::from_f64(0.0);
        for p in start..end {
            let c = indices[p] as usize;
            if c < k {
                s += vals[p] * x[(c, j)];
            }
        }
        let a = alpha * s;
        if beta == T::from_f64(0.0) {
            a
        } else {
            a + beta * init[(r, j)]
        }
    })
}

/// `spmm` on `S` (`m×k`, see [`csr`]; unsorted rows unless `sorted`) times `X` (`k×b`) equals
/// [`reference`] bit for bit ([`check_csr`]).
fn check<T: CpuElem + Bits>(m: usize, k: usize, b: usize, per_row: usize, bad: bool) {
    check_order::<T>(m, k, b, per_row, bad, false);
}

fn check_order<T: CpuElem + Bits>(
    m: usize,
    k: usize,
    b: usize,
    per_row: usize,
    bad: bool,
    sorted: bool,
) {
    let seed = (m * 31 + k * 7 + b) as u64;
    let csr = csr((m, k, per_row), bad, sorted, seed);
    check_csr::<T>(csr, k, b, seed, &format!("per_row={per_row} bad={bad}"));
}

/// `spmm` on the given CSR (`m = indptr.len() - 1` rows over `k` columns) times a seeded `X`
/// (`k×b`) equals [`reference`] bit for bit, for several `alpha`, `beta` (zero and not) and on
/// one, two and three threads.
fn check_csr<T: CpuElem + Bits>(
    csr: (Vec<u32>, Vec<u32>, Vec<f64>),
    k: usize,
    b: usize,
    seed: u64,
    what: &str,
) {
    check_csr_with::<T>(csr, (k, b), seed, what, &|par, alpha, beta, csr, x, out| {
        spmm(par, alpha, beta, csr.0, csr.1, x, out, None);
    });
}

/// A run of one SpMM path: `out = alpha·S·X + beta·out` on `par`, `S` as `([indptr, indices],
/// values)`.
type Run<'a, T> = dyn Fn(Par, T, T, ([&[u32]; 2], MatRef<'_, T>), MatRef<'_, T>, &mut Mat<T>) + 'a;

/// [`check_csr`] through `run` (a path of [`spmm`] called directly).
fn check_csr_with<T: CpuElem + Bits>(
    (indptr, indices, vals): (Vec<u32>, Vec<u32>, Vec<f64>),
    (k, b): (usize, usize),
    seed: u64,
    what: &str,
    run: &Run<'_, T>,
) {
    let m = indptr.len() - 1;
    let vals: Vec<T> = vals.iter().map(|&v| T::from_f64(v)).collect();
    let values_mat = Mat::<T>::from_fn(vals.len(), 1, |i, _| vals[i]);
    let xv = values(seed + 2, k * b);
    let x = Mat::<T>::from_fn(k, b, |i, j| T::from_f64(xv[i + j * k]));
    let init = Mat::<T>::from_fn(m, b, |i, j| T::from_f64((i as f64 - j as f64) / 7.0));
    for (alpha, beta) in [(1.0, 0.0), (0.5, -2.0), (-1.5, 0.0), (1.0, 1.0)] {
        let (alpha, beta) = (T::from_f64(alpha), T::from_f64(beta));
        let want = reference((&indptr, &indices, &vals), &x, &init, alpha, beta);
        for par in [Par::Seq, Par::rayon(2), Par::rayon(3)] {
            let mut out = init.clone();
            let structure = [indptr.as_slice(), indices.as_slice()];
            run(
                par,
                alpha,
                beta,
                (structure, values_mat.as_ref()),
                x.as_ref(),
                &mut out,
            );
            for j in 0..b {
                for r in 0..m {
                    let (got, exp) = (out[(r, j)], want[(r, j)]);
                    assert!(
                        got.to_bits_u64() == exp.to_bits_u64(),
                        "m={m} k={k} b={b} {what} alpha={alpha:?} beta={beta:?} {par:?}: \
                         out[{r}, {j}] = {got:?}, want {exp:?} (seed {seed})"
                    );
                }
            }
        }
    }
}

/// Bits of a value, to compare NaN-free results exactly (and `-0` apart from `+0`).
trait Bits {
    fn to_bits_u64(self) -> u64;
}

impl Bits for f32 {
    fn to_bits_u64(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Bits for f64 {
    fn to_bits_u64(self) -> u64 {
        self.to_bits()
    }
}

/// Batch widths around the panel widths (16 and, for f32, 32): below one panel (the element-wise
/// path), one panel, remainders, several panels.
const BATCHES: [usize; 9] = [1, 4, 15, 16, 17, 31, 32, 33, 70];

fn row_wise_shapes<T: CpuElem + Bits>() {
    for b in BATCHES {
        for (m, k) in [(1, 1), (3, 5), (40, 33), (257, 100), (100, 100)] {
            assert!(!wide::applies(m, k) && rows::applies::<T>(k, 16));
            for bad in [false, true] {
                check::<T>(m, k, b, 6, bad);
            }
        }
    }
}

#[test]
fn row_wise_matches_definition_f32() {
    row_wise_shapes::<f32>();
}

#[test]
fn row_wise_matches_definition_f64() {
    row_wise_shapes::<f64>();
}

/// An `X` too long for a 32-wide f32 panel (`k·32·4 > 1 MiB`) but not for a 16-wide one: the f32
/// path falls back to 16 lanes; in f64 the same `k` takes the element-wise gather.
#[test]
fn narrow_panel_fallback() {
    let k = rows::MAX_PANEL_BYTES / (32 * 4) + 3;
    let m = k / 2 + 1;
    assert!(!wide::applies(m, k) && rows::applies::<f32>(k, 16) && !rows::applies::<f64>(k, 16));
    for b in [33, 40] {
        check::<f32>(m, k, b, 3, true);
        check::<f64>(m, k, b, 3, true);
    }
}

/// The short, wide orientation (the sketches: one running sum per output element across the
/// chunks of `X`, storage order for sorted rows, as `Csr` keeps them) and the element-wise gather
/// for an `X` longer than the panel.
#[test]
fn wide_and_elementwise_match_definition() {
    for b in [1, 16, 17, 40] {
        for bad in [false, true] {
            assert!(wide::applies(7, 5000));
            check_order::<f32>(7, 5000, b, 9, bad, true);
            check_order::<f64>(7, 5000, b, 9, bad, true);
        }
    }
    let k = rows::MAX_PANEL_BYTES / (16 * 8) + 1;
    assert!(!rows::applies::<f64>(k, 16));
    check::<f64>(k / 2 + 1, k, 17, 2, true);
}

/// The wide path's rows go four at a time with their entries interleaved: rows of 20 to 65
/// sorted entries (several in every chunk of `X`, so the interleaved part runs, then each
/// row's rest), and a last group cut short (`m = 10`), each row summed in its own order.
#[test]
fn wide_row_groups_keep_each_rows_order() {
    let (m, k) = (10, 5000);
    let mut indptr = vec![0u32];
    let mut indices = Vec::new();
    for r in 0..m {
        let mut row: Vec<u32> = (0..20 + 5 * r)
            .map(|q| ((r * 7919 + q * 104729 + 13) % k) as u32)
            .collect();
        row.sort_unstable();
        row.dedup();
        indices.extend_from_slice(&row);
        indptr.push(indices.len() as u32);
    }
    let vals = values(77, indices.len());
    assert!(wide::applies(m, k));
    for b in [16, 40] {
        let csr = (indptr.clone(), indices.clone(), vals.clone());
        check_csr::<f32>(csr.clone(), k, b, 5, &format!("row groups b={b}"));
        check_csr::<f64>(csr, k, b, 5, &format!("row groups b={b}"));
    }
}

/// A CSR of `m` rows over `k` columns in block-rows of `bs` rows that share one column list of
/// `per_row` pseudo-random columns (the flat block butterfly's pattern: the row groups of the
/// panel path then load each gathered row of `X` once), except that, with `perturb`, some
/// block-rows have one row with a column changed, one with an entry less, or an empty row.
fn csr_blocks(
    (m, k, per_row, bs): (usize, usize, usize, usize),
    perturb: bool,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f64>) {
    let mut indptr = vec![0u32];
    let mut indices = Vec::new();
    for block in 0..m.div_ceil(bs) {
        let list: Vec<u32> = (0..per_row)
            .map(|q| ((block * 7919 + q * 104729 + seed as usize) % k) as u32)
            .collect();
        for r in block * bs..((block + 1) * bs).min(m) {
            let mut row = list.clone();
            if perturb && r % bs == 1 {
                match block % 4 {
                    0 => row[per_row / 2] = ((row[per_row / 2] as usize + 1) % k) as u32,
                    1 => {
                        row.pop();
                    }
                    2 => row.clear(),
                    _ => {}
                }
            }
            indices.extend_from_slice(&row);
            indptr.push(indices.len() as u32);
        }
    }
    let vals = values(seed + 1, indices.len());
    (indptr, indices, vals)
}

/// Row groups with one shared column list (whole groups, groups cut by the end of `S`, groups
/// whose rows differ in one column, in length or by an empty row) and random rows, at panel
/// widths 16 and 32 with remainders: the same bits as the definition.
#[test]
fn shared_column_groups_match_definition() {
    for (m, k, per_row, bs) in [
        (64, 64, 12, 8),
        (70, 50, 9, 4),
        (37, 40, 5, 32),
        (21, 21, 3, 3),
    ] {
        for perturb in [false, true] {
            for b in [16, 33, 64] {
                let seed = (m * 13 + b + per_row) as u64;
                let what = format!("blocks of {bs} rows, {per_row} entries, perturb={perturb}");
                check_csr::<f32>(
                    csr_blocks((m, k, per_row, bs), perturb, seed),
                    k,
                    b,
                    seed,
                    &what,
                );
                check_csr::<f64>(
                    csr_blocks((m, k, per_row, bs), perturb, seed),
                    k,
                    b,
                    seed,
                    &what,
                );
            }
        }
    }
}

/// The structured suite's CSR shape scaled down: 16 random entries per row, several panels of
/// both widths and a partial one, rows of zero entries among them.
#[test]
fn random_rows_several_panels_match_definition() {
    for b in [64, 100] {
        check::<f32>(300, 256, b, 16, false);
        check::<f64>(300, 256, b, 16, false);
    }
}

/// The panel path at each of its widths (16, and for f32 32 and 64 lanes), whatever width it
/// would choose itself: random rows (some empty, some with columns not below `k`), row groups
/// sharing one column list (whole, perturbed, cut by the end of `S`), at batch widths below,
/// at and between the panel widths (partial panels), on one to three threads (a part's blocks
/// of rows of one panel share its transpose), with the output written by plain and by streaming
/// stores; and `X` read through a view whose columns are contiguous but apart (a block of rows
/// of a taller matrix).
#[test]
fn panel_widths_match_definition() {
    #[allow(clippy::type_complexity)]
    fn at<T: CpuElem + Bits>(
        width: usize,
        stream: bool,
    ) -> impl Fn(Par, T, T, ([&[u32]; 2], MatRef<'_, T>), MatRef<'_, T>, &mut Mat<T>) {
        move |par, alpha, beta, ([indptr, indices], values), x, out| {
            let values: Vec<T> = (0..values.nrows()).map(|i| values[(i, 0)]).collect();
            let ranges = super::row_ranges(indptr, out.nrows(), values.len().min(indices.len()));
            let cols = &indices[..values.len().min(indices.len())];
            // The same X one row down in a taller matrix: columns contiguous, not adjacent.
            let tall = Mat::<T>::from_fn(x.nrows() + 3, x.ncols(), |i, j| {
                if i == 0 || i > x.nrows() {
                    T::from_f64(f64::NAN)
                } else {
                    x[(i - 1, j)]
                }
            });
            let view = tall.as_ref().subrows(1, x.nrows());
            let used = rows::spmm_rows_at(
                Some(width),
                Some(stream),
                par,
                &ranges,
                cols,
                &values,
                view,
                (alpha, beta),
                out,
                None,
            );
            let expect = if size_of::<T>() == 4 && width <= x.ncols() {
                width
            } else {
                16
            };
            assert_eq!(used, Some(expect), "width {width}, b = {}", x.ncols());
        }
    }
    for (width, stream) in [
        (16, false),
        (32, false),
        (64, false),
        (16, true),
        (64, true),
    ] {
        for b in [16, 17, 33, 64, 65, 100] {
            for (m, k) in [(1, 1), (40, 33), (257, 100)] {
                for bad in [false, true] {
                    let seed = (m * 31 + k * 7 + b + width) as u64;
                    let what = format!("width {width} stream={stream} bad={bad}");
                    let csr = csr((m, k, 6), bad, false, seed);
                    check_csr_with::<f32>(csr.clone(), (k, b), seed, &what, &at(width, stream));
                    check_csr_with::<f64>(csr, (k, b), seed, &what, &at(width, stream));
                }
            }
            for (m, k, per_row, bs) in [(70, 50, 9, 4), (37, 40, 5, 32), (64, 64, 12, 8)] {
                for perturb in [false, true] {
                    let seed = (m * 13 + b + per_row + width) as u64;
                    let what = format!(
                        "width {width} stream={stream}, blocks of {bs} rows, perturb={perturb}"
                    );
                    let csr = csr_blocks((m, k, per_row, bs), perturb, seed);
                    check_csr_with::<f32>(csr.clone(), (k, b), seed, &what, &at(width, stream));
                    check_csr_with::<f64>(csr, (k, b), seed, &what, &at(width, stream));
                }
            }
        }
    }
}

/// `X` through views the panel path cannot read column by column (a transposed matrix: rows
/// apart by its row count) and can (a block of rows of a taller matrix), at one column and at
/// several panels: the same bits as the definition through [`spmm`].
#[test]
fn strided_x_matches_definition() {
    let (m, k) = (70, 50);
    for b in [1, 16, 40, 64] {
        let seed = (m + k + b) as u64;
        let csr = csr((m, k, 7), true, false, seed);
        for transposed in [false, true] {
            let what = format!("transposed={transposed}");
            check_csr_with::<f32>(
                csr.clone(),
                (k, b),
                seed,
                &what,
                &move |par, alpha, beta, s, x, out| {
                    let xt = x.transpose().to_owned();
                    let tall =
                        Mat::<f32>::from_fn(
                            k + 2,
                            b,
                            |i, j| if i < 2 { f32::NAN } else { x[(i - 2, j)] },
                        );
                    let view = if transposed {
                        xt.as_ref().transpose()
                    } else {
                        tall.as_ref().subrows(2, k)
                    };
                    spmm(par, alpha, beta, s.0, s.1, view, out, None);
                },
            );
        }
    }
}

/// The structure a backend keeps with a CSR (row ranges and scan, [`super::Structure`]) follows
/// its index parameters: applies of two CSRs of one shape, one with random rows and one whose
/// rows share their column lists by fours, and of a wider one, alternated on one backend, give the bits of a fresh backend every time, and new operators made after others
/// are dropped do too. Then the cache itself: one entry per (parameters, what), made once.
#[test]
fn kept_structure_follows_its_parameters() {
    use crate::CpuBackend;
    use linops_core::{Backend, DType, IndexParam, Op, Plan};
    use std::sync::Arc;
    let (n, b) = (64usize, 32usize);
    // Row r's 8 columns: random, or the same list for each group of four rows; `wide` makes
    // S n × (n + 8) with some columns past n.
    let op = |seed: u64, shared: bool, wide: bool| {
        let mut indptr = vec![0usize];
        let mut indices = Vec::new();
        for r in 0..n {
            let base = if shared { r / 4 } else { r };
            for q in 0..8 {
                let c = (base * 7919 + q * 104_729 + seed as usize * 31) % n;
                indices.push(if wide && (r + q) % 5 == 0 { n + q } else { c });
            }
            indptr.push(indices.len());
        }
        let nnz = indices.len();
        Op::csr(
            n,
            n + 8 * usize::from(wide),
            indptr,
            indices,
            values(seed, nnz),
        )
        .unwrap()
    };
    let xv = values(7, (n + 8) * b);
    let run = |be: &CpuBackend<f32>, op: &Op| {
        let k = op.shape().1;
        let x = be.upload(
            k,
            b,
            &xv[..k * b].iter().map(|&v| v as f32).collect::<Vec<_>>(),
        );
        let plan = Plan::new(op, k, b, DType::F32).unwrap();
        be.download(&be.execute(&plan, &[&x.unwrap()]).unwrap())
            .unwrap()
    };
    let fresh = |op: &Op| run(&CpuBackend::new(), op);
    let kept = CpuBackend::<f32>::new();
    let ops = [op(1, false, false), op(2, true, false), op(3, false, true)];
    let ys: Vec<_> = ops.iter().map(fresh).collect();
    assert_ne!(ys[0], ys[1]);
    for _ in 0..2 {
        for (op, y) in ops.iter().zip(&ys) {
            assert_eq!(&run(&kept, op), y);
        }
    }
    drop(ops);
    for seed in 4..7 {
        let c = op(seed, seed % 2 == 0, false);
        assert_eq!(run(&kept, &c), fresh(&c), "seed {seed}");
    }
    let (p, q) = (
        IndexParam::new(&[0, 1]).unwrap(),
        IndexParam::new(&[1]).unwrap(),
    );
    let made = std::cell::Cell::new(0);
    let make = |v: u32| {
        made.set(made.get() + 1);
        v
    };
    assert_eq!(*kept.index_derived(&p, &q, [1, 2, 3], || make(1)), 1);
    assert_eq!(*kept.index_derived(&p, &q, [1, 2, 3], || make(9)), 1);
    assert_eq!(*kept.index_derived(&p, &q, [1, 2, 4], || make(2)), 2);
    assert_eq!(*kept.index_derived(&q, &p, [1, 2, 3], || make(3)), 3);
    assert_eq!(made.get(), 3);
    let _: Arc<u32> = kept.index_derived(&p, &q, [0; 3], || 5);
}
