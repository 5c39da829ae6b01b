//! Plans over batches of matrices stored side by side: the batched GEMM and the steps of the
//! batched drivers (Gram matrices, Newton–Schulz steps, per-column scaling, Gram residuals).
//!
//! A batch of `b` matrices of `r×c` is one resident `r × b·c` matrix, matrix `t` in columns
//! `t·c..(t+1)·c` (see [`kernel::BatchedGemm`]). Every plan here covers the whole batch, so a
//! driver issues the same number of plans for 1 and for 512 matrices.

use super::{Plan, kernel};
use crate::backend::check_scalar;
use crate::lower::Param;
use crate::{DType, Error, Result};

/// `(rows, cols)` of a matrix, as the constructors take them.
type Shape = (usize, usize);

/// Checks that `x` is a non-empty batch of `batch` matrices and returns the columns of one.
fn per_matrix(what: &str, batch: usize, x: Shape) -> Result<usize> {
    if batch == 0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: the batch is empty (batch = 0)"
        )));
    }
    if x.0 == 0 || x.1 == 0 {
        return Err(Error::EmptyDimension {
            context: what.into(),
            rows: x.0,
            cols: x.1,
        });
    }
    if !x.1.is_multiple_of(batch) {
        return Err(Error::ShapeMismatch {
            context: format!("{what}: {batch} matrices side by side"),
            expected: format!("a multiple of {batch} columns"),
            found: format!("{}x{}", x.0, x.1),
        });
    }
    Ok(x.1 / batch)
}

impl Plan {
    /// Plans `C_t = alpha·op(A_t)·B_t + beta·C_t` for the `batch` matrices side by side in the
    /// inputs `[A, B]` (and `C` when given); see [`kernel::BatchedGemm`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `batch == 0`, non-finite scalars or `beta ≠ 0` without
    /// `C`; [`Error::EmptyDimension`] for an empty operand; [`Error::ShapeMismatch`] when an
    /// operand's columns are not a multiple of `batch` or the products do not fit; scalars outside
    /// `dtype` ([`check_scalar`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// // Gram matrices of 4 matrices of 10×3: AᵀA, 3×3 each.
    /// let p = Plan::batched_gemm(DType::F64, 4, 1.0, (10, 12), true, (10, 12), 0.0, None).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (3, 12));
    /// assert!(Plan::batched_gemm(DType::F64, 5, 1.0, (10, 12), true, (10, 12), 0.0, None).is_err());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn batched_gemm(
        dtype: DType,
        batch: usize,
        alpha: f64,
        a: Shape,
        trans_a: bool,
        b: Shape,
        beta: f64,
        c: Option<Shape>,
    ) -> Result<Plan> {
        per_matrix("batched_gemm: A", batch, a)?;
        per_matrix("batched_gemm: B", batch, b)?;
        check_scalar("batched_gemm alpha", alpha, dtype)?;
        check_scalar("batched_gemm beta", beta, dtype)?;
        if beta != 0.0 && c.is_none() {
            return Err(Error::InvalidArgument(
                "batched_gemm: beta ≠ 0 needs C".into(),
            ));
        }
        let k = kernel::BatchedGemm {
            batch,
            trans_a,
            alpha,
            beta,
        };
        let (m, kk, n) = k.dims(a, b).map_err(|expected| Error::ShapeMismatch {
            context: "batched_gemm: B against op(A)".into(),
            expected,
            found: format!("A {}x{}, B {}x{}", a.0, a.1, b.0, b.1),
        })?;
        let out = (m, batch * n);
        if let Some(cs) = c
            && cs != out
        {
            return Err(Error::ShapeMismatch {
                context: "batched_gemm: C".into(),
                expected: format!("{}x{}", out.0, out.1),
                found: format!("{}x{}", cs.0, cs.1),
            });
        }
        let mut shapes = vec![a, b];
        shapes.extend(c);
        let what = format!("batched_gemm ×{batch} ({m}x{kk}·{kk}x{n})");
        Plan::from_steps(&what, None, dtype, &shapes, out, |cx, ins, o| {
            let beta = match ins.get(2) {
                Some(&c) if beta != 0.0 => {
                    cx.push(
                        kernel::Axpby {
                            alpha: 1.0,
                            beta: 0.0,
                        },
                        vec![c],
                        o,
                    )?;
                    beta
                }
                _ => 0.0,
            };
            cx.push(kernel::BatchedGemm { beta, ..k }, vec![ins[0], ins[1]], o)
        })
    }

    /// Plans `X·diag(s)`: column `j` of the input `X` times `s[j]` (a transpose, a diagonal
    /// scaling of the rows and a transpose back: three passes over `X`, no FLOP beyond one
    /// multiply per entry), e.g. every matrix of a batch divided by its own norm.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `X`; [`Error::ShapeMismatch`] unless `s` has one
    /// entry per column; [`Error::NonFinite`] for a non-finite scale; scales outside `dtype`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// assert_eq!(Plan::scale_cols(DType::F32, (4, 2), &[1.0, 0.5]).unwrap().steps().len(), 3);
    /// assert!(Plan::scale_cols(DType::F32, (4, 2), &[1.0]).is_err());
    /// ```
    pub fn scale_cols(dtype: DType, x: Shape, s: &[f64]) -> Result<Plan> {
        if x.0 == 0 || x.1 == 0 {
            return Err(Error::EmptyDimension {
                context: "scale_cols: X".into(),
                rows: x.0,
                cols: x.1,
            });
        }
        if s.len() != x.1 {
            return Err(Error::ShapeMismatch {
                context: "scale_cols: the scales".into(),
                expected: format!("{} (one per column of X)", x.1),
                found: s.len().to_string(),
            });
        }
        for &v in s {
            check_scalar("scale_cols scale", v, dtype)?;
        }
        let d = Param::new(x.1, 1, s.to_vec())?;
        Plan::from_steps("scale_cols", None, dtype, &[x], x, |cx, ins, out| {
            let d = cx.param(&d);
            let t = cx.temp(x.1, x.0);
            cx.push(kernel::Transpose, vec![ins[0]], t)?;
            let u = cx.temp(x.1, x.0);
            cx.push(
                kernel::DiagScale {
                    alpha: 1.0,
                    beta: 0.0,
                },
                vec![d, t],
                u,
            )?;
            cx.push(kernel::Transpose, vec![u], out)
        })
    }

    /// Plans one polynomial Newton–Schulz step `X_t ← X_t·(c₀I + c₁G_t + c₂G_t²)`,
    /// `G_t = X_tᵀX_t`, for the `batch` matrices of `m×n` side by side in the input `X`: the cubic
    /// polar step for `coeffs = [1.5, −0.5]`, Muon's quintic for `[3.4445, −4.7750, 2.0315]`.
    /// Steps: the Gram matrices (one batched GEMM), `c₂G² + c₁G` (one more for the quintic),
    /// `c₀X` and the product `X·(…)` accumulated onto it (one more).
    ///
    /// # Errors
    /// As [`Plan::batched_gemm`]; [`Error::InvalidArgument`] unless `coeffs` has 2 or 3 finite
    /// entries.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// let p = Plan::batched_polar_step(DType::F64, 8, (6, 32), &[1.5, -0.5]).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (6, 32));
    /// assert!(Plan::batched_polar_step(DType::F64, 8, (6, 32), &[1.0]).is_err());
    /// ```
    pub fn batched_polar_step(
        dtype: DType,
        batch: usize,
        x: Shape,
        coeffs: &[f64],
    ) -> Result<Plan> {
        let n = per_matrix("batched newton-schulz step: X", batch, x)?;
        if !(2..=3).contains(&coeffs.len()) {
            return Err(Error::InvalidArgument(format!(
                "batched newton-schulz step: 2 or 3 coefficients, got {}",
                coeffs.len()
            )));
        }
        for &c in coeffs {
            check_scalar("batched newton-schulz coefficient", c, dtype)?;
        }
        let what = format!("batched newton-schulz step ×{batch} ({}x{n})", x.0);
        let g = |alpha, beta| kernel::BatchedGemm {
            batch,
            trans_a: false,
            alpha,
            beta,
        };
        Plan::from_steps(&what, None, dtype, &[x], x, |cx, ins, out| {
            let xi = ins[0];
            let gram = cx.temp(n, batch * n);
            cx.push(
                kernel::BatchedGemm {
                    trans_a: true,
                    ..g(1.0, 0.0)
                },
                vec![xi, xi],
                gram,
            )?;
            // The polynomial part without its constant term: c₁G (cubic) or c₂G² + c₁G.
            let poly = if let Some(&c2) = coeffs.get(2) {
                let h = cx.temp(n, batch * n);
                cx.push(
                    kernel::Axpby {
                        alpha: coeffs[1],
                        beta: 0.0,
                    },
                    vec![gram],
                    h,
                )?;
                cx.push(g(c2, 1.0), vec![gram, gram], h)?;
                (h, 1.0)
            } else {
                (gram, coeffs[1])
            };
            cx.push(
                kernel::Axpby {
                    alpha: coeffs[0],
                    beta: 0.0,
                },
                vec![xi],
                out,
            )?;
            cx.push(g(poly.1, 1.0), vec![xi, poly.0], out)
        })
    }

    /// Plans the column norms of `X_tᵀX_t − I` for the `batch` matrices of `m×n` side by side in
    /// the input `X`, given the identity batch (`n × batch·n`) as the second input: a `1 × batch·n`
    /// row whose squares summed over matrix `t`'s columns give `‖X_tᵀX_t − I‖_F²`.
    ///
    /// # Errors
    /// As [`Plan::batched_gemm`] for the shapes of `X` and the identity batch.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// let p = Plan::batched_gram_residual(DType::F32, 4, (9, 12), (3, 12)).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (1, 12));
    /// assert!(Plan::batched_gram_residual(DType::F32, 4, (9, 12), (4, 16)).is_err());
    /// ```
    pub fn batched_gram_residual(dtype: DType, batch: usize, x: Shape, eye: Shape) -> Result<Plan> {
        let n = per_matrix("batched gram residual: X", batch, x)?;
        if eye != (n, batch * n) {
            return Err(Error::ShapeMismatch {
                context: "batched gram residual: the identity batch".into(),
                expected: format!("{n}x{}", batch * n),
                found: format!("{}x{}", eye.0, eye.1),
            });
        }
        let what = format!("batched gram residual ×{batch} ({}x{n})", x.0);
        Plan::from_steps(&what, None, dtype, &[x, eye], (1, x.1), |cx, ins, out| {
            let r = cx.temp(n, batch * n);
            cx.push(
                kernel::Axpby {
                    alpha: -1.0,
                    beta: 0.0,
                },
                vec![ins[1]],
                r,
            )?;
            cx.push(
                kernel::BatchedGemm {
                    batch,
                    trans_a: true,
                    alpha: 1.0,
                    beta: 1.0,
                },
                vec![ins[0], ins[0]],
                r,
            )?;
            cx.push(kernel::ColNorms, vec![r], out)
        })
    }
}
