#!/usr/bin/env python3
"""Least squares: linops (`linops-bench lstsq`, CPU f64) vs numpy.linalg.lstsq on the same problems.

Rebuilds the exactly representable problems of `benches/src/suites/lstsq.rs` (the formula is in
that module's docs; every entry of A and b is exact in f64, so numpy and the runner hold the
same bits and x* is the exact least-squares solution), times numpy.linalg.lstsq (warm-up +
median of `--reps`), runs the release runner `linops-bench lstsq --json` in the same run, and
prints both times, the ratio numpy/linops, both forward errors ‖x − x*‖/‖x*‖ and their ratio,
numpy's BLAS and thread count, and the load average before and after.

Usage: python3 benches/scripts/lstsq_vs_numpy.py [--reps 3] [--only-numpy]
(build first: cargo build --release -p linops-bench). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
are removed from numpy's environment (this process re-executes itself without them) so that
OpenBLAS picks its own kernels; the runner keeps the caller's environment.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = [(32768, 256, 27), (262144, 128, 27)]
DROPPED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if any(k in os.environ for k in DROPPED) and not os.environ.get("LSTSQ_VS_NUMPY_CHILD"):
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env["LSTSQ_VS_NUMPY_CHILD"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402  (imported after the environment is settled)


def sgn(i, a):
    """+1 where bit 31 of (i·a) mod 2^32 is 0, else −1."""
    return np.where(((i.astype(np.uint64) * np.uint64(a)) & np.uint64(0xFFFFFFFF)) >> np.uint64(31) == 0,
                    1.0, -1.0)


def h(i, c):
    """(−1)^popcount(i & c), broadcast."""
    return 1.0 - 2.0 * (np.bitwise_count(np.bitwise_and(i, c)) % 2)


def problem(m, n, e):
    i = np.arange(m, dtype=np.uint64)[:, None]
    k = np.arange(n, dtype=np.uint64)[None, :]
    sigma = 2.0 ** (-((e * np.arange(n)) // (n - 1))).astype(np.float64)
    us = sgn(i, 2654435761) * h(i, 2 * k + 1) * sigma
    j = np.arange(n, dtype=np.uint64)[:, None]
    v = sgn(j, 40503) * h(j, k)
    a = np.asfortranarray(us @ v.T)
    del us
    xs = 1.0 + ((np.arange(n) % 7) - 3.0) / 4.0
    b = a @ xs + 2.0 ** -20 * sgn(np.arange(m, dtype=np.uint64), 2654435761)
    return a, xs, b


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        info = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in threadpool_info() if d.get("user_api") == "blas"]
        if info:
            return "; ".join(info)
    except ImportError:
        pass
    cfg = np.show_config(mode="dicts")
    blas = cfg.get("Build Dependencies", {}).get("blas", {})
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or \
        f"unset (cpu_count {os.cpu_count()})"
    return f"{blas.get('name')} {blas.get('version')} (threads: {threads})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only-numpy", action="store_true")
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "linops-bench"))
    a = ap.parse_args()

    print(f"numpy {np.__version__}, BLAS: {blas_info()}")
    print(f"load average before: {os.getloadavg()}")
    ours = {}
    if not a.only_numpy:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "lstsq.json")
            subprocess.run([a.bin, "lstsq", "--json", path, "--reps", str(a.reps)], check=True)
            with open(path) as f:
                for row in json.load(f):
                    ours[row["shape"]] = row
    for (m, n, e) in SIZES:
        A, xs, b = problem(m, n, e)
        times = []
        for r in range(a.reps + 1):
            t = time.perf_counter()
            x = np.linalg.lstsq(A, b, rcond=None)[0]
            if r > 0:
                times.append(time.perf_counter() - t)
        t_np = statistics.median(times)
        err_np = np.linalg.norm(x - xs) / np.linalg.norm(xs)
        shape = f"m={m},n={n},kappa=2^{e}"
        line = f"{shape}: numpy {t_np * 1e3:.0f} ms (forward error {err_np:.2e})"
        row = ours.get(shape)
        if row:
            t_l = row["median_ms"] / 1e3
            line += (f" | linops {t_l * 1e3:.0f} ms, {row['iterations']} iterations, "
                     f"{row['per_iteration_ms']:.2f} ms/iteration, setup {row['setup_ms']:.0f} ms, "
                     f"forward error {row['forward_error']:.2e} | speedup {t_np / t_l:.2f}x, "
                     f"error ratio {row['forward_error'] / err_np:.2f}")
        print(line, flush=True)
        del A
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
