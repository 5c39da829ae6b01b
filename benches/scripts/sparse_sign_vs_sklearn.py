#!/usr/bin/env python3
"""Sparse-sign sketch (linops CPU, s = 8) vs scikit-learn's SparseRandomProjection, side by side.

Shape: A is n x m = 2000 x 65536 float32 (row-major), sketched to d = 256 columns: A·Sᵀ.
scikit-learn: SparseRandomProjection(n_components=256, density='auto' = 1/sqrt(m)), fit once
(excluded), then `transform(A)` timed `--reps` times; the median is reported.
linops: the `sparse-sign-bench` binary of linops-bench (release) is run with the same shape and
prints its own median (it times the CPU backend's S·X with X = Aᵀ column-major, the same bytes
as row-major A, i.e. exactly A·Sᵀ; uploads excluded, as sklearn's fit is).

Usage: python3 benches/scripts/sparse_sign_vs_sklearn.py [--reps 5] [--skip-linops]
(run from the repository root; builds nothing: run
`cargo build --release -p linops-bench --bin sparse-sign-bench` first).
"""
import argparse
import os
import re
import subprocess
import time

import numpy as np
import sklearn
from sklearn.random_projection import SparseRandomProjection


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--cols", type=int, default=65536)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--s", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--skip-linops", action="store_true")
    ap.add_argument(
        "--bin",
        default=os.path.join(
            os.environ.get("CARGO_TARGET_DIR", "target"), "release", "sparse-sign-bench"
        ),
    )
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    A = rng.standard_normal((a.rows, a.cols), dtype=np.float32)
    srp = SparseRandomProjection(n_components=a.d, random_state=0)
    srp.fit(A)
    nnz = srp.components_.nnz
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        Y = srp.transform(A)
        times.append(time.perf_counter() - t0)
    sk = float(np.median(times))
    print(
        f"sklearn {sklearn.__version__} SparseRandomProjection.transform {a.rows}x{a.cols} -> "
        f"{a.d}: median {sk * 1e3:.1f} ms over {a.reps} runs (density {srp.density_:.5f}, "
        f"nnz {nnz}, output {Y.dtype}, type {type(Y).__name__})"
    )
    if a.skip_linops:
        return
    del A, Y
    out = subprocess.run(
        [a.bin, str(a.rows), str(a.cols), str(a.d), str(a.s), str(a.reps)],
        check=True, capture_output=True, text=True,
    ).stdout
    print(out.strip())
    lm = float(re.search(r"median ([0-9.]+) ms", out).group(1)) / 1e3
    print(f"ratio sklearn / linops = {sk / lm:.1f}x")


if __name__ == "__main__":
    main()
