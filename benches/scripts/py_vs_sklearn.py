#!/usr/bin/env python3
"""linops.randomized_svd against sklearn.utils.extmath.randomized_svd on the same matrix, in the
same process: median wall time and spectral error ‖A − UΣVᵀ‖₂ relative to σ_{k+1}.

The matrix is n×n with a known spectrum σ_i = decay^i (random orthogonal factors), so the best
rank-k error σ_{k+1} is known exactly. Both get the same k, oversampling and power iterations
(scikit-learn's n_iter="auto" rule, applied to both). The spectral error is measured by a
power iteration on (A − UΣVᵀ)ᵀ(A − UΣVᵀ) (30 steps, well converged for this spectrum).

Thread counts: linops runs on faer's rayon pool (RAYON_NUM_THREADS, default: all cores);
NumPy/scikit-learn on its BLAS (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS). Both are printed.

    python benches/scripts/py_vs_sklearn.py [--n 4096] [--k 50] [--repeats 3] [--json out.json]
"""

import argparse
import json
import os
import platform
import time

import numpy as np


def spectral_norm_of_residual(a, u, s, vt, steps=30, seed=0):
    x = np.random.default_rng(seed).standard_normal(a.shape[1])
    for _ in range(steps):
        y = a @ x - u @ (s * (vt @ x))
        x = a.T @ y - vt.T @ (s * (u.T @ y))
        x /= np.linalg.norm(x)
    y = a @ x - u @ (s * (vt @ x))
    return float(np.linalg.norm(y))


def blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [
            {k: d.get(k) for k in ("internal_api", "num_threads", "version", "architecture")}
            for d in threadpool_info()
        ]
    except Exception as e:  # noqa: BLE001 - informational only
        return [f"threadpoolctl unavailable: {e}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--oversamples", type=int, default=10)
    ap.add_argument("--decay", type=float, default=0.97)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    import linops
    from sklearn.utils.extmath import randomized_svd as sk_rsvd

    n, k = args.n, args.k
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    qu, _ = np.linalg.qr(rng.standard_normal((n, n)))
    qv, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sigma = args.decay ** np.arange(n)
    a = (qu * sigma) @ qv.T
    del qu, qv
    print(f"# built {n}x{n} matrix in {time.perf_counter() - t0:.1f} s; sigma_(k+1) = {sigma[k]:.4g}")
    n_iter = 7 if k < 0.1 * n else 4

    runs = {
        "linops": lambda seed: linops.randomized_svd(
            a, k, n_oversamples=args.oversamples, n_iter=n_iter, random_state=seed, backend="cpu"
        ),
        "sklearn": lambda seed: sk_rsvd(
            a, k, n_oversamples=args.oversamples, n_iter=n_iter, random_state=seed
        ),
    }
    rows = []
    for name, f in runs.items():
        f(0)  # warm-up (thread pools, page faults)
        times, errs = [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            u, s, vt = f(r + 1)
            times.append(time.perf_counter() - t)
            errs.append(spectral_norm_of_residual(a, u, s, vt) / sigma[k])
        rows.append(
            {
                "impl": name,
                "n": n,
                "k": k,
                "oversamples": args.oversamples,
                "n_iter": n_iter,
                "median_s": float(np.median(times)),
                "times_s": times,
                "err_over_sigma_k1": float(np.median(errs)),
            }
        )
        print(f"{name:8s} median {rows[-1]['median_s']:.3f} s  ‖A−UΣVᵀ‖₂/σ_(k+1) = "
              f"{rows[-1]['err_over_sigma_k1']:.5f}  (times {', '.join(f'{x:.3f}' for x in times)})")
    ratio = rows[1]["median_s"] / rows[0]["median_s"]
    env = {
        "cpu_count": os.cpu_count(),
        "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "blas": blas_info(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    print(f"# sklearn time / linops time = {ratio:.2f}")
    print(f"# environment: {json.dumps(env)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "sklearn_over_linops": ratio, "env": env}, fh, indent=1)


if __name__ == "__main__":
    main()
