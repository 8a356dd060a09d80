#!/usr/bin/env python3
"""Opens a mediagrep vector index file with FAISS itself (Debian's
python3-faiss) and searches it: proof that the file is a plain FAISS file.
Usage: vindex_faiss_read.py INDEX QUERIES.f32 NQ DIM K OUT.i64
Prints "ntotal d" and writes the top-k ids of each query (int64, nq x k)
to OUT.i64 for test_vindex to compare with its own search."""
import sys

import faiss
import numpy as np

path, qpath, nq, dim, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ix = faiss.read_index(path)
q = np.fromfile(qpath, dtype=np.float32).reshape(nq, dim)
_, ids = ix.search(q, k)
ids.astype(np.int64).tofile(out)
print(ix.ntotal, ix.d)
