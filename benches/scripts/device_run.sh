#!/usr/bin/env bash
# Prepares the GPU device run (issue 16 item 4) from the project root and prints the one `run`
# call to make: gpu-suite (GEMM 4096/8192, every structured family at n = 4096 batch 8192, every
# sketch family at 256×65536·65536×1024), the randnla suite's GPU rows (rSVD 8192² k = 64,
# Newton–Schulz 4096², CholeskyQR2 65536×256, least squares, Nyström PCG) and PyTorch's anchors,
# all in one device call; then `device_table.py` turns the outputs into the docs table.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
../shared/device/prepare.sh
cp benches/scripts/device_table.py .device/
cat <<'MSG'
ready. Call the device tool's `run` with
  carry:   [".device"]
  timeout: 540
  command: bash .device/run.sh bash -c './.device/linops-bench gpu-suite --json $OUT/gpu.json 2>&1 | tail -60; ./.device/linops-bench randnla --backend gpu --json $OUT/randnla.json 2>&1 | tail -20; python3 .device/torch_anchors.py | tee $OUT/torch.txt'
then here:
  python3 benches/scripts/device_table.py <files_at>/gpu.json <files_at>/randnla.json <files_at>/torch.txt
and put the table, the device name and the date in docs/benchmarks.md.
MSG
