//! Past memory: randomized SVD and PCA of a dense file read in panels of major lines.
//!
//! **Mathematics.** Let `M` (`N×n`) be the matrix whose rows are the lines a pass reads
//! ([`Lines`]: `A` when it reads rows, `Aᵀ` when it reads columns; either can be read from a C- or
//! a Fortran-order file) and `A_i` a panel of `b` consecutive rows of `M`.
//!
//! *Multi-pass* (HMT 2011 Alg. 4.4 + 5.1, on the row space): one pass computes
//! `Z = MᵀM·X = Σ_i A_iᵀ(A_i·X)` with only `n×l` blocks resident; `X₀ = Ω` (Gaussian, `l = k + p`),
//! `X_j = orth(MᵀM·X_{j-1})` for `j = 1 … q + 1`, so `X_{q+1}` spans `Mᵀ(MMᵀ)^q·MΩ`, the row space
//! of HMT's `QᵀM` with `q` power iterations. A last pass forms `P = M·X` panel by panel (to a
//! scratch file) and its `R` factor by TSQR (`R ← qr([R; P_i])`); `R = ÛΣŴᵀ` gives
//! `M ≈ (P·ŴΣ⁻¹)·Σ·(X·Ŵ)ᵀ`, the SVD of `M·XXᵀ`. Passes over the file: `q + 2`.
//!
//! *Single pass* (Tropp, Yurtsever, Udell & Cevher 2017, "Practical sketching algorithms for
//! low-rank matrix approximation", Alg. 4/7): in one pass, `Y = M·Ω` (`N×s`, `s = k + p`, to the
//! scratch file) and `W = Ψ·M` (`t×n`, `t = 2s + 1`, Ψ Gaussian, through the library's
//! [`SketchAccumulator`]) and `Ψ·Y`; then `Y = QR` (TSQR), `X = (ΨQ)⁺·W` with `ΨQ = (ΨY)·R⁺`, and
//! `M ≈ Q·X = (Y·R⁺·Ũ)·Σ·Vᵀ` from the SVD `X = ŨΣVᵀ`. One pass over the file; its error exceeds
//! the multi-pass one (no power iterations; Tropp et al. Thm. 4.3 bound the expected Frobenius
//! error by `√(1 + s/(t − s − 1))·√(1 + k/(s − k − 1))` times the best rank-`k` error).
//!
//! *Centering* (PCA): `M_c = M − 1μᵀ` is never formed. Pass 1 works on `M' = M − 1cᵀ` with `c`
//! the mean of the first panel (so sums do not cancel catastrophically) and corrects with
//! `δ = μ − c`: `M_cᵀM_c = M'ᵀM' − N·δδᵀ`; from pass 2 on `c = μ` exactly. The single pass
//! corrects its sketches after the fact: `Y_c = Y' − 1(δᵀΩ)`, `ΨM_c = ΨM' − (Ψ1)δᵀ`.
//!
//! *Error estimate.* `r` Gaussian probe columns ride along in the last pass (`M·ω_j`, written to
//! the scratch file beside `P`), and `10·√(2/π)·max_j ‖(M − UΣVᵀ)ω_j‖` is the library's HMT §4.3
//! estimate, an upper bound on `‖M − UΣVᵀ‖₂` with probability `1 − 10^{-r}`.
//!
//! **Storage.** One panel (`b×n` in the file's type, its converted copy and the engine's copy),
//! `n×(l + r)` blocks, `l×l` cores; the `N×(l + r)` left sketch lives in a scratch file on disk.
//! The panel height `b` is chosen so that these fit `--mem`.
//!
//! **Cost.** Per pass `4·N·n·l` flops on the engine; TSQR `O(N·l²)` host flops.

use crate::error::{CliError, CliResult};
use crate::input::{Axis, Dense, Lines, Num};
use crate::output::{OutFile, RowSink, Scratch};
use crate::progress::Progress;
use linops::faer::{Mat, MatRef};
use linops::randnla::qr::orthonormalize;
use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
use linops::{Engine, Matrix, Op, RngState};
use std::path::Path;

/// Parameters of a streamed SVD/PCA.
#[derive(Debug, Clone)]
pub struct StreamParams {
    /// Target rank.
    pub k: usize,
    /// Oversampling `p`.
    pub oversample: usize,
    /// Power iterations `q` (multi-pass).
    pub power: usize,
    /// Probe vectors of the error estimate.
    pub probes: usize,
    /// Seed of Ω, Ψ and the probes.
    pub seed: u64,
    /// Center the columns (PCA).
    pub center: bool,
    /// One pass (Tropp et al.) instead of `q + 2`.
    pub single_pass: bool,
    /// Working-set budget in bytes.
    pub budget: u64,
    /// No progress bar.
    pub quiet: bool,
}

/// What a streamed SVD found (the left factor went to the output file).
pub struct StreamSvd {
    /// Singular values of the (centered) matrix.
    pub s: Vec<f64>,
    /// Right singular vectors (`n×k`).
    pub v: Mat<f64>,
    /// HMT estimate of `‖M − UΣVᵀ‖₂` (`NaN` without probes).
    pub error_estimate: f64,
    /// Passes over the input file.
    pub passes: usize,
    /// Panel height used.
    pub panel_rows: usize,
    /// `‖M_c‖_F²` (PCA).
    pub total_var: Option<f64>,
    /// Column means (PCA).
    pub mean: Option<Vec<f64>>,
}

fn lib(d: &Dense) -> impl Fn(linops::Error) -> CliError + '_ {
    move |e| CliError::lib(&d.name, e)
}

/// Standard Gaussian `n×l` block from the library's generator (`√l·Sᵀ`, `S` the `l×n`
/// Gaussian sketch of `seed`): the same bits on every machine.
fn gaussian(n: usize, l: usize, seed: u64) -> linops::Result<Mat<f64>> {
    let s = Op::gaussian_sketch(l, n, RngState::new(seed))?.to_dense();
    let f = (l as f64).sqrt();
    Ok(Mat::from_fn(n, l, |i, j| f * s.get(j, i)))
}

fn upload<T: Num>(e: &Engine, m: MatRef<'_, f64>) -> linops::Result<Matrix> {
    let t = Mat::<T>::from_fn(m.nrows(), m.ncols(), |i, j| T::of(m[(i, j)]));
    e.upload(t.as_ref())
}

/// `2^-e·m` with `2^e` near the largest entry (exact), so a block of any scale enters `f32`.
fn normalize(m: &mut Mat<f64>) {
    let top = (0..m.ncols())
        .flat_map(|j| (0..m.nrows()).map(move |i| (i, j)))
        .fold(0.0f64, |a, (i, j)| a.max(m[(i, j)].abs()));
    if top > 0.0 && top.is_finite() {
        let e = top.log2().floor() as i32;
        let f = 2f64.powi(-e.clamp(-1000, 1000));
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                m[(i, j)] *= f;
            }
        }
    }
}

/// Rows of the panel that fit the budget, or an error naming `--mem` and the minimum.
fn panel_rows(
    lines: Lines<'_>,
    cols_extra: usize,
    fixed: u64,
    budget: u64,
    tsz: usize,
) -> CliResult<usize> {
    let d = lines.d;
    let n = lines.len() as u64;
    // per row: the file's bytes (mapped), the converted panel, the upload's staging vector and
    // the engine's copy, an f64 copy (single pass) and the l + r sketch columns (engine, host T,
    // host f64, twice while centering).
    let per_row = n * (d.elem.size() as u64 + 3 * tsz as u64 + 8) + cols_extra as u64 * 40;
    if budget < fixed + per_row {
        let what = match lines.axis {
            Axis::Rows => "rows",
            Axis::Cols => "columns",
        };
        return Err(CliError::new(
            "--mem",
            format!(
                "{budget} bytes is below the {} bytes this problem needs ({} is read in panels of {what} of {n} entries, with {cols_extra} sketch columns beside them); raise --mem",
                fixed + per_row,
                d.name
            ),
        ));
    }
    Ok((((budget - fixed) / per_row) as usize).clamp(1, lines.count()))
}

/// Passes over the file in panels, with the progress bar.
struct Passes<'a> {
    lines: Lines<'a>,
    panel: usize,
    passes: usize,
    progress: Progress,
    total: usize,
}

impl Passes<'_> {
    fn run<T: Num>(&mut self, mut f: impl FnMut(usize, &Mat<T>) -> CliResult<()>) -> CliResult<()> {
        self.passes += 1;
        self.progress.pass(self.passes, Some(self.total));
        let line = (self.lines.len() * self.lines.d.elem.size()) as u64;
        let mut p0 = 0;
        while p0 < self.lines.count() {
            let b = self.panel.min(self.lines.count() - p0);
            let pt = self.lines.panel_t::<T>(p0, b)?;
            f(p0, &pt)?;
            drop(pt);
            self.lines.release(p0, b);
            self.progress.inc(line * b as u64);
            p0 += b;
        }
        Ok(())
    }
}

/// TSQR step: `R ← R factor of [R; y]`.
fn tsqr(r: &mut Option<Mat<f64>>, y: MatRef<'_, f64>) {
    let stacked = match r.as_ref() {
        None => y.to_owned(),
        Some(r0) => {
            let (a, b) = (r0.nrows(), y.nrows());
            Mat::from_fn(a + b, y.ncols(), |i, j| {
                if i < a { r0[(i, j)] } else { y[(i - a, j)] }
            })
        }
    };
    *r = Some(stacked.qr().thin_R().to_owned());
}

/// Thin SVD of a small matrix in f64.
fn svd_small(m: MatRef<'_, f64>, name: &str) -> CliResult<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let s = m.thin_svd().map_err(|e| {
        CliError::new(
            name,
            format!("SVD of the {}x{} core failed: {e:?}", m.nrows(), m.ncols()),
        )
    })?;
    let sv = s.S().column_vector();
    Ok((
        s.U().to_owned(),
        (0..sv.nrows()).map(|i| sv[i]).collect(),
        s.V().to_owned(),
    ))
}

/// Pseudo-inverse `m⁺` (singular values below `rows·u·σ₁` dropped).
fn pinv(m: MatRef<'_, f64>, name: &str) -> CliResult<Mat<f64>> {
    let (u, s, v) = svd_small(m, name)?;
    let tol = s.first().copied().unwrap_or(0.0) * f64::EPSILON * m.nrows().max(m.ncols()) as f64;
    let inv: Vec<f64> = s
        .iter()
        .map(|&x| if x > tol { 1.0 / x } else { 0.0 })
        .collect();
    Ok(Mat::from_fn(m.ncols(), m.nrows(), |i, j| {
        (0..s.len()).map(|t| v[(i, t)] * inv[t] * u[(j, t)]).sum()
    }))
}

/// The streamed randomized SVD (or PCA) of the matrix `M` whose rows are `lines`; the left
/// factor of `M` (`N×k`) is written to `out` as `name` when given (in Fortran order when the
/// flag says so: as `Vt` when `M = Aᵀ`, see the caller).
///
/// # Errors
/// Bad parameters (named), the budget, file and engine errors.
pub fn svd<T: Num>(
    lines: Lines<'_>,
    e: &Engine,
    p: &StreamParams,
    out: Option<(&mut OutFile, &str, bool)>,
    scratch_dir: &Path,
) -> CliResult<StreamSvd> {
    let d = lines.d;
    let (big_n, n) = (lines.count(), lines.len());
    let k = p.k;
    let l = k
        .checked_add(p.oversample)
        .ok_or_else(|| CliError::new("--oversample", "too large"))?;
    if k == 0 || l > big_n.min(n) {
        return Err(CliError::new(
            "-k",
            format!(
                "k + oversample = {k} + {} must lie in 1..={} for the {}x{} matrix in {}",
                p.oversample,
                big_n.min(n),
                d.rows,
                d.cols,
                d.name
            ),
        ));
    }
    let t_rows = 2 * l + 1;
    let r = p.probes;
    let tsz = std::mem::size_of::<T>();
    let wide = l + r + if p.single_pass { t_rows } else { 0 };
    // n×(l+r) blocks: Ω/X host f64, device copies, Z; single pass: t×n sketch W (f64) twice.
    let fixed = (n * (l + r) * 8 * 6 + if p.single_pass { t_rows * n * 8 * 3 } else { 0 }) as u64;
    let panel = panel_rows(lines, wide, fixed, p.budget, tsz)?;
    let total = if p.single_pass { 1 } else { p.power + 2 };
    let mut passes = Passes {
        lines,
        panel,
        passes: 0,
        progress: Progress::new(d.data_bytes() as u64, p.quiet),
        total,
    };
    let le = lib(d);

    // The shift c: the first panel's mean (PCA), else 0.
    let mut c = vec![0.0; n];
    if p.center {
        let b = panel.min(big_n);
        let pt = lines.panel_t::<f64>(0, b)?;
        for (j, cj) in c.iter_mut().enumerate() {
            *cj = (0..b).map(|i| pt[(j, i)]).sum::<f64>() / b as f64;
        }
    }
    let omega = gaussian(n, l, p.seed).map_err(&le)?;
    let probes = if r > 0 {
        Some(gaussian(n, r, p.seed ^ 0xE57_1A7E).map_err(&le)?)
    } else {
        None
    };
    let mut stats = CenterStats::new(n);

    let mut scratch = Scratch::new(scratch_dir, l + r)?;
    let mut rfac: Option<Mat<f64>> = None;
    // Sketch columns [Ω or X | ω] for the last (or only) pass.
    let ext = |x: &Mat<f64>| -> Mat<f64> {
        Mat::from_fn(n, l + r, |i, j| {
            if j < l {
                x[(i, j)]
            } else {
                probes.as_ref().map_or(0.0, |w| w[(i, j - l)])
            }
        })
    };

    let (s, v, shift_row, g) = if !p.single_pass {
        let mut x = omega.clone();
        for pass in 0..=p.power {
            let first = pass == 0;
            let xd = upload::<T>(e, x.as_ref()).map_err(&le)?;
            let cx: Vec<f64> = (0..l)
                .map(|j| (0..n).map(|i| c[i] * x[(i, j)]).sum())
                .collect();
            let mut z: Option<Matrix> = None;
            let mut ysum = vec![0.0; l];
            passes.run::<T>(|_, pt| {
                if first && p.center {
                    stats.add(pt, &c);
                }
                let pd = e.upload(pt.as_ref()).map_err(&le)?;
                let y = e.gemm(1.0, &pd, true, &xd, false, 0.0, None).map_err(&le)?;
                // Centering: P' = A_i·X − 1(cᵀX) and its column sums, on the host in f64; without
                // it P stays on the engine.
                let yd = if p.center {
                    let mut yh = e.download_f64(&y).map_err(&le)?;
                    for i in 0..yh.nrows() {
                        for j in 0..l {
                            yh[(i, j)] -= cx[j];
                            ysum[j] += yh[(i, j)];
                        }
                    }
                    upload::<T>(e, yh.as_ref()).map_err(&le)?
                } else {
                    y
                };
                z = Some(
                    match &z {
                        None => e.gemm(1.0, &pd, false, &yd, false, 0.0, None),
                        Some(acc) => e.gemm(1.0, &pd, false, &yd, false, 1.0, Some(acc)),
                    }
                    .map_err(&le)?,
                );
                Ok(())
            })?;
            let zd = z.ok_or_else(|| CliError::new(&d.name, "empty file"))?;
            let mut zh = e.download_f64(&zd).map_err(&le)?;
            // M'ᵀM'X = Σ A_iᵀP'_i − c·(1ᵀP'), then − N·δ(δᵀX) on the first pass.
            for i in 0..n {
                for j in 0..l {
                    zh[(i, j)] -= c[i] * ysum[j];
                }
            }
            if first && p.center {
                let delta = stats.delta(big_n);
                let dx: Vec<f64> = (0..l)
                    .map(|j| (0..n).map(|i| delta[i] * x[(i, j)]).sum())
                    .collect();
                for i in 0..n {
                    for j in 0..l {
                        zh[(i, j)] -= big_n as f64 * delta[i] * dx[j];
                    }
                }
                for (ci, di) in c.iter_mut().zip(&delta) {
                    *ci += di;
                }
            }
            normalize(&mut zh);
            let f = orthonormalize(e, &upload::<T>(e, zh.as_ref()).map_err(&le)?).map_err(&le)?;
            x = e.download_f64(&f.q).map_err(&le)?;
        }
        // Last pass: P = M_c·[X | ω] to the scratch file, R of P by TSQR.
        let xe = ext(&x);
        let xd = upload::<T>(e, xe.as_ref()).map_err(&le)?;
        let cx: Vec<f64> = (0..l + r)
            .map(|j| (0..n).map(|i| c[i] * xe[(i, j)]).sum())
            .collect();
        passes.run::<T>(|_, pt| {
            let pd = e.upload(pt.as_ref()).map_err(&le)?;
            let y = e.gemm(1.0, &pd, true, &xd, false, 0.0, None).map_err(&le)?;
            let mut yh = e.download_f64(&y).map_err(&le)?;
            for i in 0..yh.nrows() {
                for j in 0..l + r {
                    yh[(i, j)] -= cx[j];
                }
            }
            tsqr(&mut rfac, yh.as_ref().subcols(0, l));
            scratch.push_t(yh.as_ref().transpose())
        })?;
        let rf = rfac
            .take()
            .ok_or_else(|| CliError::new(&d.name, "empty file"))?;
        let (_, sr, wr) = svd_small(rf.as_ref(), &d.name)?;
        let s: Vec<f64> = sr[..k].to_vec();
        let v = Mat::from_fn(n, k, |i, j| (0..l).map(|t| x[(i, t)] * wr[(t, j)]).sum());
        let g = Mat::from_fn(
            l,
            k,
            |i, j| if s[j] > 0.0 { wr[(i, j)] / s[j] } else { 0.0 },
        );
        (s, v, vec![0.0; l + r], g)
    } else {
        // One pass: Y = M'·[Ω | ω] (scratch), W = ΨM', ΨY', Ψ1 through the streaming accumulator.
        let spec = SketchSpec::new(
            SketchFamily::Gaussian,
            t_rows,
            big_n,
            RngState::new(p.seed ^ 0x7E55),
        )
        .map_err(&le)?;
        let mut acc_w = SketchAccumulator::new(spec).map_err(&le)?;
        let mut acc_y = SketchAccumulator::new(spec).map_err(&le)?;
        let mut acc_1 = SketchAccumulator::new(spec).map_err(&le)?;
        let xe = ext(&omega);
        let xd = upload::<T>(e, xe.as_ref()).map_err(&le)?;
        let cx: Vec<f64> = (0..l + r)
            .map(|j| (0..n).map(|i| c[i] * xe[(i, j)]).sum())
            .collect();
        passes.run::<T>(|p0, pt| {
            if p.center {
                stats.add(pt, &c);
            }
            let b = pt.ncols();
            let pd = e.upload(pt.as_ref()).map_err(&le)?;
            let y = e.gemm(1.0, &pd, true, &xd, false, 0.0, None).map_err(&le)?;
            let mut yh = e.download_f64(&y).map_err(&le)?;
            for i in 0..b {
                for j in 0..l + r {
                    yh[(i, j)] -= cx[j];
                }
            }
            let block = Mat::<f64>::from_fn(b, n, |i, j| pt[(j, i)].wide() - c[j]);
            acc_w.push(e, p0, block.as_ref()).map_err(&le)?;
            acc_y.push(e, p0, yh.as_ref().subcols(0, l)).map_err(&le)?;
            if p.center {
                acc_1
                    .push(e, p0, Mat::<f64>::ones(b, 1).as_ref())
                    .map_err(&le)?;
            }
            scratch.push_t(yh.as_ref().transpose())
        })?;
        let mut w = acc_w.finish().map_err(&le)?;
        let mut psi_y = acc_y.finish().map_err(&le)?;
        let mut shift_row = vec![0.0; l + r];
        if p.center {
            let psi1 = acc_1.finish().map_err(&le)?;
            let delta = stats.delta(big_n);
            for (j, sj) in shift_row.iter_mut().enumerate() {
                *sj = (0..n).map(|i| delta[i] * xe[(i, j)]).sum();
            }
            for i in 0..t_rows {
                for j in 0..n {
                    w[(i, j)] -= psi1[(i, 0)] * delta[j];
                }
                for j in 0..l {
                    psi_y[(i, j)] -= psi1[(i, 0)] * shift_row[j];
                }
            }
            for (ci, di) in c.iter_mut().zip(&delta) {
                *ci += di;
            }
        }
        // R of the corrected Y (a read of the scratch file, not of the input).
        scratch.for_panels(panel, |_, rows, b| {
            let y = Mat::from_fn(b, l, |i, j| rows[i * (l + r) + j] - shift_row[j]);
            tsqr(&mut rfac, y.as_ref());
            Ok(())
        })?;
        let rf = rfac
            .take()
            .ok_or_else(|| CliError::new(&d.name, "empty file"))?;
        let rp = pinv(rf.as_ref(), &d.name)?; // l×l (R⁺)
        let psi_q = &psi_y * &rp; // t×l
        let xcore = &pinv(psi_q.as_ref(), &d.name)? * &w; // l×n
        let (uc, sc, vc) = svd_small(xcore.as_ref(), &d.name)?;
        let s: Vec<f64> = sc[..k].to_vec();
        let v = vc.subcols(0, k).to_owned();
        let g = &rp * uc.subcols(0, k); // l×k
        (s, v, shift_row, g)
    };

    // U = Y_c·G to the output, and the probes' residuals (M_c − UΣVᵀ)ω.
    let mut resid = vec![0.0f64; r];
    let svo: Option<Mat<f64>> = probes.as_ref().map(|w| {
        Mat::from_fn(k, r, |i, j| {
            s[i] * (0..n).map(|t| v[(t, i)] * w[(t, j)]).sum::<f64>()
        })
    });
    let mut emit = |sink: Option<&mut RowSink<'_>>| -> CliResult<()> {
        let mut sink = sink;
        scratch.for_panels(panel, |_, rows, b| {
            let mut urow = vec![0.0; k];
            let mut ubuf = Vec::with_capacity(b * k);
            for i in 0..b {
                let row = &rows[i * (l + r)..(i + 1) * (l + r)];
                for (j, u) in urow.iter_mut().enumerate() {
                    *u = (0..l).map(|t| (row[t] - shift_row[t]) * g[(t, j)]).sum();
                }
                if let Some(svo) = &svo {
                    for (q, acc) in resid.iter_mut().enumerate() {
                        let pred: f64 = (0..k).map(|t| urow[t] * svo[(t, q)]).sum();
                        let diff = row[l + q] - shift_row[l + q] - pred;
                        *acc += diff * diff;
                    }
                }
                ubuf.extend_from_slice(&urow);
            }
            if let Some(f) = sink.as_mut() {
                f(&ubuf)?;
            }
            Ok(())
        })
    };
    match out {
        Some((file, name, fortran)) => {
            // Fortran order: the rows of the N×k factor are the columns of its k×N transpose.
            let shape = if fortran { [k, big_n] } else { [big_n, k] };
            file.array(name, &shape, fortran, |sink| emit(Some(sink)))?
        }
        None => emit(None)?,
    }
    passes.progress.finish();
    let error_estimate = if r == 0 {
        f64::NAN
    } else {
        10.0 * (2.0 / std::f64::consts::PI).sqrt()
            * resid.iter().fold(0.0f64, |m, &x| m.max(x.sqrt()))
    };
    let (total_var, mean) = if p.center {
        let delta_total = stats.total(big_n);
        (Some(delta_total), Some(c))
    } else {
        (None, None)
    };
    Ok(StreamSvd {
        s,
        v,
        error_estimate,
        passes: passes.passes,
        panel_rows: panel,
        total_var,
        mean,
    })
}

/// Column sums and the squared Frobenius norm of `M − 1cᵀ`, in f64, over the first pass.
struct CenterStats {
    colsum: Vec<f64>,
    frob: f64,
}

impl CenterStats {
    fn new(n: usize) -> Self {
        Self {
            colsum: vec![0.0; n],
            frob: 0.0,
        }
    }

    fn add<T: Num>(&mut self, pt: &Mat<T>, c: &[f64]) {
        for i in 0..pt.ncols() {
            for (j, cj) in c.iter().enumerate() {
                let v = pt[(j, i)].wide() - cj;
                self.colsum[j] += v;
                self.frob += v * v;
            }
        }
    }

    /// `δ = mean(M − 1cᵀ)`.
    fn delta(&self, rows: usize) -> Vec<f64> {
        self.colsum.iter().map(|s| s / rows as f64).collect()
    }

    /// `‖M_c‖_F² = ‖M − 1cᵀ‖_F² − N·‖δ‖²`.
    fn total(&self, rows: usize) -> f64 {
        let d = self.delta(rows);
        self.frob - rows as f64 * d.iter().map(|x| x * x).sum::<f64>()
    }
}
