"""Randomized CUR (strong RRQR on a sketch) vs the deterministic pivoted-QR CUR on a natural image.

Writes scikit-learn's sample image `china.jpg` (427x640, grayscale in f64; needs scikit-learn and
Pillow: `pip install scikit-learn pillow`) in the raw format `linops-bench accuracy` reads
(`LINOPS_ACCURACY_MATRIX`: two little-endian u64, rows and cols, then f64 column-major), and runs
the accuracy suite's real-matrix rows only. Each row: the median and largest ratio of the
randomized CUR's spectral error to the pivoted-QR CUR's of the same rank over 10 seeds, and the
pivoted-QR CUR's error over sigma_(k+1).

Usage: python3 benches/scripts/cur_natural_image.py [--backend cpu|gpu|all]
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_sample_image


def main():
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "cpu"
    img = load_sample_image("china.jpg").astype(np.float64).mean(axis=2)
    path = os.path.join(tempfile.mkdtemp(), "china.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<QQ", *img.shape))
        f.write(np.asfortranarray(img).tobytes(order="F"))
    env = dict(os.environ, LINOPS_ACCURACY_MATRIX=path, LINOPS_ACCURACY_ONLY_MATRIX="1")
    cmd = ["cargo", "run", "--release", "-q", "-p", "linops-bench", "--", "accuracy",
           "--backend", backend]
    sys.exit(subprocess.call(cmd, env=env))


if __name__ == "__main__":
    main()
