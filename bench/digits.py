"""Real images for the edge-detection row of the comparison: scikit-learn's 1797
handwritten digits (8x8, values 0..16, shipped inside the package as
datasets/data/digits.csv.gz), upscaled bilinearly to 28x28 and to 0..255, stacked
into one 28-wide strip (the batch) of 1797 * 28 rows, written as bytes.
Usage: python3 bench/digits.py OUT_FILE"""
import gzip
import os
import sys

import numpy as np
import sklearn

path = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")
with gzip.open(path, "rt") as f:
    rows = np.loadtxt(f, delimiter=",")
images = rows[:, :64].reshape(-1, 8, 8) / 16.0
# Bilinear: output pixel centres mapped back onto the 8x8 grid.
pos = (np.arange(28) + 0.5) * 8 / 28 - 0.5
lo = np.clip(np.floor(pos).astype(int), 0, 7)
hi = np.clip(lo + 1, 0, 7)
t = np.clip(pos - lo, 0, 1)
rows_up = images[:, lo, :] * (1 - t)[None, :, None] + images[:, hi, :] * t[None, :, None]
up = rows_up[:, :, lo] * (1 - t)[None, None, :] + rows_up[:, :, hi] * t[None, None, :]
out = np.clip(np.rint(up * 255), 0, 255).astype(np.uint8)
out.tofile(sys.argv[1])
print(f"{out.shape[0]} digits, {out.size} bytes in {sys.argv[1]}")
