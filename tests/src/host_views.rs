//! `Engine::apply` from host views. The input is read in place when its columns lie one after
//! the other (no copy), copied column by column when they are strided, element by element when
//! its rows are; on the CPU the result is the plan's own output (no copy back). Each view gives
//! the same bits as the apply of an uploaded owned copy, with one bulk upload and one bulk
//! download, on the CPU in f32 and f64 and on the GPU; a NaN is reported at the view's
//! coordinates; a result never aliases a later one.

use crate::support::{Rng, gpu_engines};
use faer::{Mat, MatRef};
use linops::{Engine, Error, Op, Scalar};

/// `x` (`rows × cols`, entries from `v`) as four views: owned, columns in place at an offset
/// into a longer buffer, a block of rows of a taller matrix, and a transpose.
fn views<T: Scalar>(
    v: &[f64],
    rows: usize,
    cols: usize,
    mut check: impl FnMut(&str, MatRef<'_, T>),
) {
    let at = |i: usize, j: usize| T::from_f64(v[i + j * rows]);
    let owned = Mat::from_fn(rows, cols, at);
    check("owned", owned.as_ref());
    let offset = 7;
    let mut buf = vec![T::from_f64(0.0); offset + rows * cols + 3];
    for j in 0..cols {
        for i in 0..rows {
            buf[offset + i + j * rows] = at(i, j);
        }
    }
    check(
        "columns in place",
        MatRef::from_column_major_slice(&buf[offset..offset + rows * cols], rows, cols),
    );
    let tall = Mat::from_fn(rows + 9, cols, |i, j| {
        if (4..4 + rows).contains(&i) {
            at(i - 4, j)
        } else {
            T::from_f64(1e30)
        }
    });
    check("strided columns", tall.as_ref().subrows(4, rows));
    let wide = Mat::from_fn(cols, rows, |j, i| at(i, j));
    check("transpose", wide.as_ref().transpose());
}

/// Applies the dense `a` (`out_rows × rows`, column-major) from every view of `x` on `e`: each
/// result has the same bits as the first (the owned matrix), which is within the GEMM bound
/// `2·rows·u·(|A||X|)` of an `f64` product computed here (so a view read wrongly cannot agree
/// with a reference read the same wrong way), with one bulk upload and one bulk download.
fn same_bits<T: Scalar>(
    e: &Engine,
    a: &[f64],
    out_rows: usize,
    v: &[f64],
    rows: usize,
    cols: usize,
) {
    let op = Op::dense(out_rows, rows, a.to_vec()).unwrap();
    let u = if T::from_f64(1.0 + 1e-10).to_f64() == 1.0 {
        2f64.powi(-24)
    } else {
        2f64.powi(-53)
    };
    let mut results: Vec<Mat<T>> = Vec::new();
    views::<T>(v, rows, cols, |name, x| {
        let before = e.transfers();
        let y = e.apply(&op, x).unwrap();
        let t = e.transfers().since(&before);
        assert_eq!(
            (t.bulk_uploads, t.bulk_downloads, t.plans),
            (1, 1, 1),
            "{name}: {t:?}"
        );
        assert_eq!((y.nrows(), y.ncols()), (out_rows, cols), "{name}");
        // `upload` of the view holds its entries (one bulk upload), whatever its layout.
        let before = e.transfers();
        let m = e.upload(x).unwrap();
        assert_eq!(
            e.transfers().since(&before).bulk_uploads,
            1,
            "{name}: upload"
        );
        let back = e.download::<T>(&m).unwrap();
        assert!(
            back == x.to_owned(),
            "{name} on {}: upload and download changed entries",
            e.name()
        );
        let first = results.first().unwrap_or(&y);
        for j in 0..cols {
            for i in 0..out_rows {
                let (exact, mag) = (0..rows).fold((0.0, 0.0), |(s, m), k| {
                    let (aik, xkj) = (a[i + k * out_rows], T::from_f64(v[k + j * rows]).to_f64());
                    (s + aik * xkj, m + (aik * xkj).abs())
                });
                let got = y[(i, j)].to_f64();
                assert!(
                    (got - exact).abs() <= 2.0 * rows as f64 * u * mag,
                    "{name} on {}: ({i}, {j}) {got} vs {exact}",
                    e.name()
                );
                assert!(
                    got.to_bits() == first[(i, j)].to_f64().to_bits(),
                    "{name} on {}: ({i}, {j}) {got} vs the owned input's {:?}",
                    e.name(),
                    first[(i, j)]
                );
            }
        }
        results.push(y);
    });
    // Every result is its own storage: writing one changes no other.
    results[0][(0, 0)] = T::from_f64(12345.0);
    for y in &results[1..] {
        assert!(y[(0, 0)].to_f64() != 12345.0);
    }
}

#[test]
fn apply_from_every_kind_of_host_view_gives_the_same_bits() {
    let mut rng = Rng::new(0x4057);
    // 70 KiB of f32 per 130 × 140 block: over the small-transfer size, under the CPU pool's
    // minimum; faer pads an owned 130-row matrix's columns (136 f64, 144 f32).
    let (out_rows, rows, cols) = (96, 130, 140);
    let a = rng.vec(out_rows * rows);
    let v = rng.vec(rows * cols);
    same_bits::<f64>(&Engine::cpu(), &a, out_rows, &v, rows, cols);
    same_bits::<f32>(&Engine::cpu(), &a, out_rows, &v, rows, cols);
    // A block large enough for the CPU's recycled storage (≥ 256 KiB): each upload reuses the
    // storage of the previous call's input.
    let (rows, cols) = (512, 300);
    let (a, w) = (rng.vec(rows * rows), rng.vec(rows * cols));
    same_bits::<f32>(&Engine::cpu(), &a, rows, &w, rows, cols);
    if let Some((g, _)) = gpu_engines() {
        let (a, v) = (rng.vec(96 * 130), rng.vec(130 * 140));
        same_bits::<f32>(&g, &a, 96, &v, 130, 140);
    }
}

#[test]
fn a_non_finite_entry_of_a_view_is_reported_where_the_view_has_it() {
    let (rows, cols) = (50, 30);
    let mut v = vec![0.5; rows * cols];
    v[17 + 21 * rows] = f64::NAN;
    let op = Op::dense(rows, rows, vec![1.0; rows * rows]).unwrap();
    views::<f32>(&v, rows, cols, |name, x| {
        match Engine::cpu().apply(&op, x) {
            Err(Error::NonFinite { row, col, .. }) => assert_eq!((row, col), (17, 21), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    });
}
