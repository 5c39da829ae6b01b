#!/usr/bin/env python3
"""Past memory: `linops svd --mem 256M` vs scikit-learn's randomized_svd on np.load(mmap_mode="r").

Writes (once, then reuses) an N×n f32 .npy (default 1,000,000×256, 1 GB) with a decaying spectrum
A = G·diag(0.95^j)·Qᵀ + 0.01·E (G, E Gaussian; Q orthogonal), then runs, each in its own process
so that peak RSS (VmHWM, read by the process itself; /usr/bin/time is not needed) is its own:

- `linops svd FILE -k K --power Q --mem 256M --out FILE.svd.npz --json` (multi-pass: one read
  per pass; U, m×k, streamed to the output file), CPU;
- the same with `--single-pass` (one read of the file), and its error estimate next to the
  multi-pass one;
- scikit-learn `randomized_svd(np.load(FILE, mmap_mode="r"), K, n_iter=Q, n_oversamples=10)`
  with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only; BLAS and thread count
  are printed (threadpoolctl).

Prints one JSON line per run and a Markdown table. The page cache is not dropped between runs
(the machine is shared and this needs no root): the file is read once before timing so every run
starts from the same warm cache.

Usage: python3 benches/scripts/cli_vs_sklearn.py [--rows 1000000] [--cols 256] [--k 32] [--q 2]
       [--mem 256M] [--file /tmp/linops-cli-bench.npy] [--bin target/release/linops]
(build first: cargo build --release -p linops-cli).
"""
import argparse
import json
import os
import subprocess
import sys
import time

SKLEARN = r"""
import json, sys, time, numpy as np
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_info
f, k, q, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
A = np.load(f, mmap_mode="r")
U, s, Vt = randomized_svd(A, k, n_oversamples=10, n_iter=q, random_state=seed)
dt = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
blas = [(i.get("internal_api"), i.get("version"), i.get("num_threads")) for i in threadpool_info()]
print(json.dumps({"tool": "sklearn randomized_svd (mmap)", "time_s": dt, "peak_rss_bytes": int(hwm) * 1024,
                  "singular_values": s[:5].tolist(), "blas": blas}))
"""


def write_matrix(path, rows, cols, seed, chunk=100_000):
    import numpy as np
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    d = 0.95 ** np.arange(cols)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
    for r0 in range(0, rows, chunk):
        b = min(chunk, rows - r0)
        g = rng.standard_normal((b, cols))
        out[r0:r0 + b] = ((g * d) @ q.T + 0.01 * rng.standard_normal((b, cols))).astype(np.float32)
    out.flush()
    del out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=256)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--q", type=int, default=2)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--file", default="/tmp/linops-cli-bench.npy")
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "linops"))
    a = ap.parse_args()

    want = a.rows * a.cols * 4
    if not (os.path.exists(a.file) and os.path.getsize(a.file) >= want):
        print(f"writing {a.file} ({want / 2**30:.2f} GiB)", file=sys.stderr)
        write_matrix(a.file, a.rows, a.cols, a.seed)
    with open(a.file, "rb") as f:  # warm the page cache the same way for every run
        while f.read(1 << 24):
            pass

    rows = []
    base = [a.bin, "svd", a.file, "-k", str(a.k), "--power", str(a.q), "--mem", a.mem,
            "--backend", "cpu", "--dtype", "f32", "--json", "--quiet", "--out", a.file + ".svd.npz"]
    for extra, name in [([], "linops svd (multi-pass)"), (["--single-pass"], "linops svd --single-pass")]:
        t = time.perf_counter()
        out = subprocess.run(base + extra, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if out.returncode != 0:
            sys.exit(f"{name} failed: {out.stderr}")
        j = json.loads(out.stdout.strip().splitlines()[-1])
        j["tool"], j["wall_s"] = name, wall
        rows.append(j)
        print(json.dumps(j))

    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SKLEARN, a.file, str(a.k), str(a.q), str(a.seed)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"sklearn failed: {out.stderr}")
    j = json.loads(out.stdout.strip().splitlines()[-1])
    j["wall_s"] = time.perf_counter() - t
    rows.append(j)
    print(json.dumps(j))

    print()
    print(f"| run | time (s) | peak RSS (MiB) | passes | σ₁ | error estimate |")
    print(f"|---|---|---|---|---|---|")
    for r in rows:
        est = r.get("error_estimate")
        print(f"| {r['tool']} | {r['time_s']:.1f} | {r['peak_rss_bytes'] / 2**20:.0f} | "
              f"{r.get('passes', '—')} | {r['singular_values'][0]:.4g} | "
              f"{'—' if est is None else f'{est:.4g}'} |")
    lin = [r for r in rows if r["tool"].startswith("linops")]
    for r in lin:
        print(f"{r['tool']}: base RSS {r['base_rss_bytes'] / 2**20:.0f} MiB, panel {r['panel_rows']} rows, "
              f"budget {r['mem_budget_bytes'] / 2**20:.0f} MiB")
    print("sklearn BLAS:", rows[-1]["blas"])


if __name__ == "__main__":
    main()
