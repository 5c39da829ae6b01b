#!/usr/bin/env python3
"""Turn one device run into the docs/benchmarks.md table: linops rows against PyTorch anchors.

Usage: device_table.py GPU_SUITE.json RANDNLA.json TORCH.txt [--backend gpu]

GPU_SUITE.json and RANDNLA.json are `linops-bench gpu-suite --json` and `linops-bench randnla
--backend gpu --json`; TORCH.txt is the stdout of `../shared/device/torch_anchors.py` (its last
line is a JSON object of milliseconds per workload). Every ratio compares two timings taken in
the same device call. Prints a Markdown table; rows whose inputs are missing say so rather than
vanish. `--backend cpu` reads the CPU rows instead (a dry run of the script on this machine's
suites; the anchors are then meaningless and the ratio columns say so).
"""
import json
import sys


def load_rows(path):
    with open(path) as f:
        return json.load(f)


def load_torch(path):
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip().startswith("{")]
    if not lines:
        sys.exit(f"{path}: no JSON line (expected torch_anchors.py's last line)")
    return json.loads(lines[-1])


def find(rows, backend, op, **params):
    """The row of `op` on `backend` whose shape has every key=value of `params`."""
    for r in rows:
        if r.get("backend") != backend or r.get("op") != op:
            continue
        shape = dict(kv.split("=", 1) for kv in r.get("shape", "").split(",") if "=" in kv)
        if all(shape.get(k) == str(v) for k, v in params.items()):
            return r
    return None


def fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}g}"


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    backend = "gpu"
    if "--backend" in argv:
        backend = argv[argv.index("--backend") + 1]
        args = [a for a in args if a != backend]
    if len(args) != 3:
        sys.exit(__doc__)
    rows = load_rows(args[0]) + load_rows(args[1])
    torch = load_torch(args[2])
    # Copy bandwidth (bytes/ms) of torch's 1 GiB copy: read + write 2·2^28·4 bytes.
    copy_ms = torch.get("copy 1GiB")
    copy_bpms = 2 * (256 << 20) * 4 / copy_ms if copy_ms else None

    out = ["| workload | linops ms | anchor | anchor ms | anchor/linops | bytes_ratio | "
           "roofline_frac | of copy bandwidth | max_rel_err / error |",
           "|---|---|---|---|---|---|---|---|---|"]

    def line(label, row, anchor, note_err="max_rel_err"):
        ms = row["median_ms"] if row else None
        ams = torch.get(anchor) if anchor else None
        ratio = ams / ms if (ms and ams) else None
        bw = None
        if row and copy_bpms and row.get("roofline_ms") is not None and row.get("bytes_ratio"):
            # Minimum bytes of the operator = bytes moved / bytes_ratio = gbps·time/bytes_ratio.
            min_bytes = row["gbps"] * 1e9 * (ms / 1e3) / row["bytes_ratio"]
            bw = (min_bytes / ms) / copy_bpms
        err = row.get(note_err) if row else None
        out.append(
            f"| {label} | {fmt(ms)} | {anchor or '—'} | {fmt(ams)} | {fmt(ratio)} | "
            f"{fmt(row.get('bytes_ratio') if row else None)} | "
            f"{fmt(row.get('roofline_frac') if row else None)} | {fmt(bw)} | {fmt(err, 2)} |"
        )

    for n in (4096, 8192):
        line(f"GEMM {n}³", find(rows, backend, "gemm", m=n, n=n, k=n), f"gemm {n}")
    anchors = {
        "dense": "dense n=4096 batch=8192",
        "monarch": "monarch n=4096 nb=64 batch=8192",
        "hadamard": "fwht torch-passes 8192x4096",
        "dct2": "cufft rfft 8192x4096",
        "householder": "householder k=64 sequential rank-1 n=4096 cols=8192",
    }
    for op in ("dense", "monarch", "block_diagonal", "low_rank", "diag_plus_low_rank",
               "householder", "kronecker", "hadamard", "dct2", "csr", "permutation",
               "butterfly", "block_butterfly", "pixelated_butterfly"):
        line(f"{op} n=4096 batch=8192", find(rows, backend, op, n=4096, batch=8192),
             anchors.get(op))
    sk = {
        "dense": "gaussian sketch 256x65536 @ 65536x1024",
        "gaussian_sketch": "gaussian sketch incl. generating S",
        "sparse_sign_s8": "sparse-sign sketch (s=8) 256x65536 @ 65536x1024 (cuSPARSE)",
    }
    for op in ("dense", "gaussian_sketch", "rademacher_sketch", "sparse_sign_s1",
               "sparse_sign_s8", "very_sparse_projection", "srht"):
        line(f"sketch {op} 256×65536·65536×1024", find(rows, backend, op, m=65536, d=256),
             sk.get(op))
    drivers = {
        "rsvd": "svd_lowrank 8192x8192 q=74 niter=2",
        "newton_schulz_quintic": "newton-schulz5 4096x4096",
        "cholesky_qr2": "qr 65536x256 (geqrf)",
    }
    for op, anchor in drivers.items():
        r = next((r for r in rows if r.get("suite") == "randnla" and r.get("op") == op
                  and r.get("backend") == backend), None)
        line(f"{op} {r['shape'] if r else ''}".strip(), r, anchor, note_err="error")
    print("\n".join(out))
    print()
    print(f"Copy bandwidth (torch, 1 GiB): {fmt(copy_bpms / 1e6 if copy_bpms else None)} GB/s. "
          "anchor/linops > 1 means linops is faster.")
    if backend != "gpu":
        print(f"(dry run on the {backend} rows: the anchors are GPU timings, the ratios mean nothing)")


if __name__ == "__main__":
    main(sys.argv)
