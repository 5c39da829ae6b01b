//! `Plan::explain()`: a human-readable listing of a plan.

use super::{BufferRole, Kernel, Plan};
use std::fmt::Write;

fn si(v: u64) -> String {
    let v = v as f64;
    match v {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v}"),
    }
}

fn secs(v: f64) -> String {
    match v {
        v if v >= 1.0 => format!("{v:.2} s"),
        v if v >= 1e-3 => format!("{:.2} ms", v * 1e3),
        v => format!("{:.1} µs", v * 1e6),
    }
}

impl Plan {
    fn buf_name(&self, id: super::BufId) -> String {
        let b = &self.buffers[id.index()];
        let tag = match &b.role {
            BufferRole::Input(0) if self.inputs.len() == 1 => "X".to_string(),
            BufferRole::Input(i) => format!("X{i}"),
            BufferRole::Output => "Y".to_string(),
            BufferRole::Temp => format!("t{}", id.0),
            BufferRole::Param(_) => format!("p{}", id.0),
        };
        format!("{tag}[{}x{}]", b.rows, b.cols)
    }

    fn kernel_text(&self, k: &Kernel) -> String {
        let ab = |alpha: f64, beta: f64| {
            let mut s = String::new();
            if alpha != 1.0 {
                let _ = write!(s, " alpha={alpha}");
            }
            if beta != 0.0 {
                let _ = write!(s, " beta={beta}");
            }
            s
        };
        match *k {
            Kernel::Gemm {
                trans_a,
                trans_b,
                alpha,
                beta,
            } => format!(
                "gemm {}{}{}",
                if trans_a { "T" } else { "N" },
                if trans_b { "T" } else { "N" },
                ab(alpha, beta)
            ),
            Kernel::Axpby { alpha, beta } => format!("axpby{}", ab(alpha, beta)),
            Kernel::DiagScale { alpha, beta } => format!("diag_scale{}", ab(alpha, beta)),
            Kernel::Transpose => "transpose".into(),
            Kernel::BatchTranspose {
                rows,
                cols,
                alpha,
                beta,
            } => format!("batch_transpose {rows}x{cols}{}", ab(alpha, beta)),
            Kernel::Spmm { alpha, beta } => format!("spmm{}", ab(alpha, beta)),
            Kernel::Fwht { alpha, beta } => format!("fwht{}", ab(alpha, beta)),
            Kernel::Dct {
                inverse,
                alpha,
                beta,
            } => format!(
                "{}{}",
                if inverse { "dct-iii" } else { "dct-ii" },
                ab(alpha, beta)
            ),
            Kernel::SketchGemm {
                dist,
                trans,
                alpha,
                beta,
                ..
            } => format!(
                "sketch_gemm {dist:?} {}{}",
                if trans { "T" } else { "N" },
                ab(alpha, beta)
            ),
            Kernel::Gather { alpha, beta } => format!("gather{}", ab(alpha, beta)),
            Kernel::BlockGemm {
                blocks,
                trans,
                x_layout,
                y_layout,
                alpha,
                beta,
            } => {
                super::block::explain_block_gemm(blocks, trans, x_layout, y_layout)
                    + &ab(alpha, beta)
            }
            Kernel::ColNorms => "col_norms".into(),
            Kernel::ColDots => "col_dots".into(),
            Kernel::CopyCols { offset } => format!("copy_cols at column {offset}"),
            Kernel::RandomFill {
                dist, trans, alpha, ..
            } => format!(
                "random_fill {dist:?} {}{}",
                if trans { "T" } else { "N" },
                ab(alpha, 0.0)
            ),
        }
    }

    /// A listing of the plan: source and normalized operator, rewrites, and one line per step with
    /// its kernel, output and input shapes, FLOPs and bytes.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let a = Op::dense(4, 3, vec![1.0; 12]).unwrap();
    /// let text = Plan::new(&a.t(), 4, 2, DType::F32).unwrap().explain();
    /// assert!(text.contains("gemm TN"));
    /// assert!(text.contains("FLOPs"));
    /// ```
    pub fn explain(&self) -> String {
        let mut s = String::new();
        let (yr, yc) = self.shape_of(self.output);
        let ins: Vec<String> = self.inputs.iter().map(|&b| self.buf_name(b)).collect();
        let _ = match ins.as_slice() {
            [x] => writeln!(s, "plan for Y[{yr}x{yc}] = op · {x} in {}", self.dtype),
            _ => writeln!(
                s,
                "plan for Y[{yr}x{yc}] from ({}) in {}",
                ins.join(", "),
                self.dtype
            ),
        };
        let _ = writeln!(s, "  op:         {}", self.source);
        let _ = writeln!(s, "  normalized: {}", self.normalized);
        if self.stats.any() {
            let st = &self.stats;
            let mut parts = Vec::new();
            for (n, what) in [
                (st.transposes_pushed, "transposes pushed to leaves"),
                (st.products_flattened, "products flattened"),
                (st.sums_flattened, "sums flattened"),
                (st.diagonals_merged, "diagonals merged"),
                (st.scalars_merged, "scalars merged"),
                (st.identities_dropped, "identities dropped"),
                (
                    st.permutations_folded,
                    "permutations folded into a neighbour",
                ),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let _ = writeln!(s, "  rewrites:   {}", parts.join(", "));
        }
        for d in &self.decisions {
            let _ = writeln!(
                s,
                "  cost:       {} structured {} vs dense GEMM {} → {} ({}; model {})",
                d.leaf,
                secs(d.structured_s),
                secs(d.dense_s),
                if d.materialized {
                    "materialized"
                } else {
                    "structured"
                },
                d.reason,
                self.model
            );
        }
        let _ = writeln!(
            s,
            "  {:>3}  {:<28} {:<14} {:<34} {:>9} {:>9}",
            "#", "kernel", "output", "inputs", "FLOPs", "bytes"
        );
        for (i, st) in self.steps.iter().enumerate() {
            let inputs: Vec<String> = st.inputs.iter().map(|b| self.buf_name(*b)).collect();
            let _ = writeln!(
                s,
                "  {:>3}  {:<28} {:<14} {:<34} {:>9} {:>9}",
                i,
                self.kernel_text(&st.kernel),
                self.buf_name(st.output),
                inputs.join(", "),
                si(st.flops),
                si(st.bytes)
            );
        }
        let temps = self
            .buffers
            .iter()
            .filter(|b| matches!(b.role, BufferRole::Temp))
            .count();
        let _ = writeln!(
            s,
            "  total: {} steps, {} FLOPs, {} bytes, {} temporaries",
            self.steps.len(),
            si(self.total_flops()),
            si(self.total_bytes()),
            temps
        );
        s
    }
}
