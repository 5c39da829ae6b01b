#!/usr/bin/env python3
"""linops.dask.randomized_svd against dask.array.linalg.svd_compressed on a LocalCluster: same
data (an m×n dask array chunked by rows with a known spectrum σ_i = decay^i), same k, same
oversampling, same power iterations; median wall time and ‖A − UΣVᵀ‖₂/σ_{k+1}.

    python benches/scripts/dask_vs_svd_compressed.py [--m 200000] [--n 1000] [--k 20]
        [--iters 2] [--workers 2] [--chunk 25000] [--repeats 3] [--json out.json]

Workers are processes on 127.0.0.1 without a dashboard, one thread each by default
(--threads); RAYON_NUM_THREADS inside each worker is set to the same count, so linops and
NumPy's BLAS get the same cores.
"""

import argparse
import json
import os
import time

import numpy as np


def residual_norm(a, u, s, vt, steps=30, seed=0):
    x = np.random.default_rng(seed).standard_normal(a.shape[1])
    for _ in range(steps):
        y = a @ x - u @ (s * (vt @ x))
        x = a.T @ y - vt.T @ (s * (u.T @ y))
        x /= np.linalg.norm(x)
    return float(np.linalg.norm(a @ x - u @ (s * (vt @ x))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=200_000)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--oversamples", type=int, default=10)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--decay", type=float, default=0.9)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=25_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # inherited by the worker processes
    import dask
    import dask.array as da
    import distributed

    import linops.dask as ldask

    m, n, k = args.m, args.n, args.k
    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sigma = args.decay ** np.arange(n)
    a = (u * sigma) @ v.T
    del u, v
    cluster = distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=args.threads, processes=True,
        host="127.0.0.1", dashboard_address=None, silence_logs=40,
    )
    client = distributed.Client(cluster)
    A = da.from_array(a, chunks=(args.chunk, n)).persist()
    distributed.wait(A)

    def run_linops(seed):
        U, s, Vt = ldask.randomized_svd(A, k, args.oversamples, args.iters, random_state=seed)
        return U.compute(), s, Vt

    def run_dask(seed):
        U, s, Vt = da.linalg.svd_compressed(
            A, k, n_power_iter=args.iters, n_oversamples=args.oversamples, seed=seed
        )
        return dask.compute(U, s, Vt)

    rows = []
    for name, f in (("linops.dask", run_linops), ("svd_compressed", run_dask)):
        f(0)  # warm-up
        times, errs = [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            U, s, Vt = f(r + 1)
            times.append(time.perf_counter() - t)
            errs.append(residual_norm(a, U, s, Vt) / sigma[k])
        rows.append({"impl": name, "median_s": float(np.median(times)), "times_s": times,
                     "err_over_sigma_k1": float(np.median(errs))})
        print(f"{name:15s} median {rows[-1]['median_s']:.3f} s  ‖A−UΣVᵀ‖₂/σ_(k+1) = "
              f"{rows[-1]['err_over_sigma_k1']:.5f}")
    ratio = rows[1]["median_s"] / rows[0]["median_s"]
    load = os.getloadavg()
    print(f"# m={m} n={n} k={k} p={args.oversamples} q={args.iters} chunks={args.chunk} "
          f"workers={args.workers}x{args.threads} threads; svd_compressed / linops time = {ratio:.2f}"
          f"; linops / svd_compressed = {1 / ratio:.2f}; load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f} on {os.cpu_count()} CPUs")
    client.close()
    cluster.close()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "ratio": ratio, "args": vars(args), "loadavg": load},
                      fh, indent=1)


if __name__ == "__main__":
    main()
