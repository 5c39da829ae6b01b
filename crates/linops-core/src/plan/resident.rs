//! Plans over several resident matrices: GEMM, `axpby`, column norms and dots, column
//! concatenation, random fills.
//!
//! These are the operations the drivers run on blocks they already hold (Gram matrices,
//! `Q = X·R⁻¹`, residuals, concatenated Krylov blocks, Gaussian test matrices). They are plans
//! like any operator application, so every backend runs them through its one `execute`, with
//! the same shape, size and range checks. Each constructor checks its operands first and
//! returns a typed error naming them.

use super::{Plan, kernel};
use crate::backend::{axpby_shape, check_scalar, gemm_shape};
use crate::rng::{Dist, RngState};
use crate::{DType, Error, Result};

/// `(rows, cols)` of a matrix, as the constructors take them.
type Shape = (usize, usize);

fn nonempty(what: &str, s: Shape) -> Result<()> {
    if s.0 == 0 || s.1 == 0 {
        return Err(Error::EmptyDimension {
            context: what.into(),
            rows: s.0,
            cols: s.1,
        });
    }
    Ok(())
}

impl Plan {
    /// Plans `alpha·op(A)·op(B) + beta·C` (`op(M) = Mᵀ` when `trans_*`) over the inputs
    /// `[A, B]`, or `[A, B, C]` when `c` is given. BLAS semantics: with `alpha == 0` the product
    /// is not formed and `A`, `B` are not read; with `beta == 0` `C` is not read.
    ///
    /// # Errors
    /// As [`gemm_shape`] (shapes, non-finite scalars, `beta ≠ 0` without `C`) and
    /// [`check_scalar`] (scalars outside `dtype`); [`Error::EmptyDimension`] for an empty
    /// operand.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// let p = Plan::gemm(DType::F64, 1.0, (3, 4), true, (3, 2), false, 0.0, None).unwrap();
    /// assert_eq!((p.inputs().len(), p.shape_of(p.output())), (2, (4, 2)));
    /// assert!(Plan::gemm(DType::F64, 1.0, (3, 4), false, (3, 2), false, 0.0, None).is_err());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        dtype: DType,
        alpha: f64,
        a: Shape,
        trans_a: bool,
        b: Shape,
        trans_b: bool,
        beta: f64,
        c: Option<Shape>,
    ) -> Result<Plan> {
        let (m, n, _) = gemm_shape(alpha, a, trans_a, b, trans_b, beta, c)?;
        check_scalar("gemm alpha", alpha, dtype)?;
        check_scalar("gemm beta", beta, dtype)?;
        nonempty("gemm: A", a)?;
        nonempty("gemm: B", b)?;
        let mut shapes = vec![a, b];
        shapes.extend(c);
        let t = |x: bool| if x { "ᵀ" } else { "" };
        let what = format!("gemm {alpha}·A{}·B{} + {beta}·C", t(trans_a), t(trans_b));
        Plan::from_steps(&what, None, dtype, &shapes, (m, n), |cx, ins, out| {
            let beta = match ins.get(2) {
                // C is copied into the output, which the GEMM then accumulates into.
                Some(&c) if beta != 0.0 => {
                    if alpha == 0.0 {
                        return cx.push(
                            kernel::Axpby {
                                alpha: beta,
                                beta: 0.0,
                            },
                            vec![c],
                            out,
                        );
                    }
                    cx.push(
                        kernel::Axpby {
                            alpha: 1.0,
                            beta: 0.0,
                        },
                        vec![c],
                        out,
                    )?;
                    beta
                }
                _ => 0.0,
            };
            let kernel = kernel::Gemm {
                trans_a,
                trans_b,
                alpha,
                beta,
            };
            cx.push(kernel, vec![ins[0], ins[1]], out)
        })
    }

    /// Plans `alpha·X + beta·Y` over the inputs `[X, Y]` of equal shape.
    ///
    /// # Errors
    /// As [`axpby_shape`] and [`check_scalar`]; [`Error::EmptyDimension`] for empty operands.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// assert_eq!(Plan::axpby(DType::F32, 2.0, (2, 3), -1.0, (2, 3)).unwrap().steps().len(), 2);
    /// assert!(Plan::axpby(DType::F32, 2.0, (2, 3), -1.0, (3, 2)).is_err());
    /// assert!(Plan::axpby(DType::F32, 1e300, (2, 3), -1.0, (2, 3)).is_err()); // not an f32
    /// ```
    pub fn axpby(dtype: DType, alpha: f64, x: Shape, beta: f64, y: Shape) -> Result<Plan> {
        axpby_shape(alpha, x, beta, y)?;
        check_scalar("axpby alpha", alpha, dtype)?;
        check_scalar("axpby beta", beta, dtype)?;
        nonempty("axpby: X", x)?;
        let what = format!("axpby {alpha}·X + {beta}·Y");
        Plan::from_steps(&what, None, dtype, &[x, y], x, |cx, ins, out| {
            // out = beta·Y, then out = alpha·X + 1·out: one rounding per product and one for
            // the sum, as alpha·X + beta·Y evaluated directly.
            cx.push(
                kernel::Axpby {
                    alpha: beta,
                    beta: 0.0,
                },
                vec![ins[1]],
                out,
            )?;
            cx.push(kernel::Axpby { alpha, beta: 1.0 }, vec![ins[0]], out)
        })
    }

    /// Plans the Euclidean norm of each column of the input `X` (overflow- and underflow-safe)
    /// into a `1×cols` row.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `X`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// let p = Plan::col_norms(DType::F32, (5, 3)).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (1, 3));
    /// ```
    pub fn col_norms(dtype: DType, x: Shape) -> Result<Plan> {
        nonempty("col_norms: X", x)?;
        Plan::from_steps("col_norms", None, dtype, &[x], (1, x.1), |cx, ins, out| {
            cx.push(kernel::ColNorms, vec![ins[0]], out)
        })
    }

    /// Plans the column-wise dot products `Σ_i X[i,j]·Y[i,j]` of the inputs `[X, Y]` into a
    /// `1×cols` row.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes differ, [`Error::EmptyDimension`] for empty ones.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// assert!(Plan::col_dots(DType::F64, (5, 3), (5, 3)).is_ok());
    /// assert!(Plan::col_dots(DType::F64, (5, 3), (3, 5)).is_err());
    /// ```
    pub fn col_dots(dtype: DType, x: Shape, y: Shape) -> Result<Plan> {
        if x != y {
            return Err(Error::ShapeMismatch {
                context: "col_dots: Y against X".into(),
                expected: format!("{}x{}", x.0, x.1),
                found: format!("{}x{}", y.0, y.1),
            });
        }
        nonempty("col_dots: X", x)?;
        Plan::from_steps(
            "col_dots",
            None,
            dtype,
            &[x, y],
            (1, x.1),
            |cx, ins, out| cx.push(kernel::ColDots, vec![ins[0], ins[1]], out),
        )
    }

    /// Plans the horizontal concatenation `[X₁ X₂ …]` of the inputs (equal row counts), one
    /// column-block copy per input.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no inputs or a column count that overflows,
    /// [`Error::ShapeMismatch`] naming the first block whose row count differs,
    /// [`Error::EmptyDimension`] for an empty block.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan};
    /// let p = Plan::concat_cols(DType::F64, &[(4, 2), (4, 3)]).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (4, 5));
    /// assert!(Plan::concat_cols(DType::F64, &[(4, 2), (3, 3)]).is_err());
    /// ```
    pub fn concat_cols(dtype: DType, blocks: &[Shape]) -> Result<Plan> {
        let Some(&first) = blocks.first() else {
            return Err(Error::InvalidArgument(
                "concat_cols: no blocks to concatenate".into(),
            ));
        };
        let mut total = 0usize;
        for (i, &b) in blocks.iter().enumerate() {
            nonempty(&format!("concat_cols: block {i}"), b)?;
            if b.0 != first.0 {
                return Err(Error::ShapeMismatch {
                    context: format!("concat_cols: block {i}"),
                    expected: format!("{} rows (as block 0)", first.0),
                    found: format!("{}x{}", b.0, b.1),
                });
            }
            total = total.checked_add(b.1).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "concat_cols: the column count overflows usize at block {i}"
                ))
            })?;
        }
        let what = format!("concat_cols of {} blocks", blocks.len());
        Plan::from_steps(
            &what,
            None,
            dtype,
            blocks,
            (first.0, total),
            |cx, ins, out| {
                let mut offset = 0;
                for (&id, b) in ins.iter().zip(blocks) {
                    cx.push(kernel::CopyCols { offset }, vec![id], out)?;
                    offset += b.1;
                }
                Ok(())
            },
        )
    }

    /// Plans `alpha·op(G)` with `G` the `rows×cols` random matrix of `dist` under `rng`
    /// (`op(G) = Gᵀ` when `trans`); no inputs.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `G`, [`check_scalar`] errors for `alpha`,
    /// [`Error::DeviceLimit`] for a matrix beyond `isize::MAX` bytes.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Plan, rng::{Dist, RngState}};
    /// let p = Plan::random_fill(DType::F32, Dist::Gaussian, RngState::new(7), 3, 5, true, 1.0)
    ///     .unwrap();
    /// assert_eq!((p.inputs().len(), p.shape_of(p.output())), (0, (5, 3)));
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn random_fill(
        dtype: DType,
        dist: Dist,
        rng: RngState,
        rows: usize,
        cols: usize,
        trans: bool,
        alpha: f64,
    ) -> Result<Plan> {
        nonempty("random_fill", (rows, cols))?;
        check_scalar("random_fill alpha", alpha, dtype)?;
        let out = if trans { (cols, rows) } else { (rows, cols) };
        let what = format!("random_fill {dist:?} {rows}x{cols}");
        Plan::from_steps(&what, None, dtype, &[], out, |cx, _, out| {
            let kernel = kernel::RandomFill {
                dist,
                rng,
                rows,
                cols,
                trans,
                alpha,
            };
            cx.push(kernel, Vec::new(), out)
        })
    }
}
