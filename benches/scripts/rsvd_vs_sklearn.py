#!/usr/bin/env python3
"""Randomized SVD: linops (CPU backend, f64) vs scikit-learn's randomized_svd, side by side.

Builds one test matrix A = U·diag(σ)·Vᵀ (n×n, σ_j = 0.9^j, U and V Haar-like orthogonal from a
seeded normal matrix's QR), writes it to an .npy file, times sklearn.utils.extmath.randomized_svd
(k, n_oversamples=p, n_iter=q; warm-up + median of `reps`), runs the release binary
`target/release/rsvd` on the same file with the same (k, p, q), and prints both times and both
spectral-norm errors ‖A − UΣVᵀ‖₂ (30 power-iteration steps), next to the optimum σ_{k+1}.

Usage: python3 benches/scripts/rsvd_vs_sklearn.py [--n 4096] [--k 50] [--p 10] [--q 2] [--reps 3]
(build first: cargo build --release -p linops-bench --bin rsvd).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
from sklearn.utils.extmath import randomized_svd


def spectral_norm(e, steps=30):
    x = 1.0 + (np.arange(e.shape[1]) % 7) * 0.1
    s = 0.0
    for _ in range(steps):
        z = e.T @ (e @ x)
        nz = np.linalg.norm(z)
        s = np.sqrt(nz)
        x = z / nz
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--q", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "rsvd"))
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    u, _ = np.linalg.qr(rng.standard_normal((a.n, a.n)))
    v, _ = np.linalg.qr(rng.standard_normal((a.n, a.n)))
    sigma = 0.9 ** np.arange(a.n)
    A = np.asfortranarray((u * sigma) @ v.T)
    del u, v

    times = []
    for i in range(a.reps + 1):
        t = time.perf_counter()
        U, s, Vt = randomized_svd(A, a.k, n_oversamples=a.p, n_iter=a.q,
                                  power_iteration_normalizer="auto", random_state=a.seed + i)
        if i > 0:
            times.append(time.perf_counter() - t)
    sk_err = spectral_norm(A - (U * s) @ Vt)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.npy")
        np.save(path, A)
        out = subprocess.run([a.bin, path, str(a.k), str(a.p), str(a.q), str(a.reps)],
                             check=True, capture_output=True, text=True).stdout
    lin = json.loads(out.strip().splitlines()[-1])

    print(f"n = {a.n}, k = {a.k}, p = {a.p}, q = {a.q}, sigma_(k+1) = {sigma[a.k]:.6e}")
    print(f"sklearn {__import__('sklearn').__version__} randomized_svd: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}), spectral error {sk_err:.6e} ({sk_err / sigma[a.k]:.4f} sigma_(k+1))")
    print(f"linops randomized_svd (cpu f64):  median {lin['median_s']:.3f} s "
          f"(min {lin['min_s']:.3f}), spectral error {lin['spectral_error']:.6e} "
          f"({lin['spectral_error'] / sigma[a.k]:.4f} sigma_(k+1)), householder fallbacks {lin['fallbacks']}")
    print(f"speedup (sklearn / linops, medians): {statistics.median(times) / lin['median_s']:.2f}x")


if __name__ == "__main__":
    main()
