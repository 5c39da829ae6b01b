//! `Plan::explain()`: a human-readable listing of a plan.

use super::{BufferRole, Plan};
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
            BufferRole::Index(_) => format!("i{}", id.0),
        };
        format!("{tag}[{}x{}]", b.rows, b.cols)
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
    /// assert!(text.contains("moved/minimum = 1.00"));
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
                (st.leaves_rewritten, "leaves expanded into their rewrite"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let _ = writeln!(s, "  rewrites:   {}", parts.join(", "));
        }
        for t in &self.tiles {
            let _ = writeln!(s, "  tiles:      {t}");
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
                st.kernel.describe(),
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
            "  total: {} steps, {} FLOPs, {} bytes ({} read, {} written), {} temporaries",
            self.steps.len(),
            si(self.total_flops()),
            si(self.total_bytes()),
            si(self.total_bytes() - self.total_bytes_written()),
            si(self.total_bytes_written()),
            temps
        );
        let _ = writeln!(
            s,
            "  minimum: {} bytes (inputs and parameters read once, output written once); moved/minimum = {:.2}",
            si(self.min_bytes()),
            self.bytes_ratio()
        );
        s
    }
}
