"""PyTorch reference for embed_bench.rs: sentence-transformers on the same texts.

Usage: embed_bench.py MODEL_FOLDER TEXTS_JSON THREADS SEQ_LEN BATCH [ops]
Prints `sentences_per_second <rate>` and `first <v1,...>` (the first sentence's vector).
"""
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

folder, texts_file, threads, seq, batch = sys.argv[1:6]
ops = len(sys.argv) > 6 and sys.argv[6] == "ops"
torch.set_num_threads(int(threads))
texts = json.load(open(texts_file))
model = SentenceTransformer(folder, device="cpu")
model.max_seq_length = int(seq)
batch = int(batch)
with torch.inference_mode():
    model.encode(texts[:batch], batch_size=batch)
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch)
    elapsed = time.perf_counter() - start
print(f"sentences_per_second {len(texts) / elapsed:.3f}")
print("first " + ",".join(f"{v:.7f}" for v in vectors[0]))


def median_ms(f):
    f = (lambda g: lambda: g().sum().item())(f)  # as the Burn side: sum, then read one number
    f()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[2]


if ops:
    F = torch.nn.functional
    b, s, h, heads, ff = 32, 128, 384, 12, 1536
    x, hidden = torch.rand(b, s, h), torch.rand(b, s, ff)
    w_sq, w_in, w_out, bias = torch.rand(h, h), torch.rand(ff, h), torch.rand(h, ff), torch.rand(ff)
    q, scores = torch.rand(b, heads, s, h // heads), torch.rand(b, heads, s, s)
    norm = torch.nn.LayerNorm(h)
    with torch.inference_mode():
        for f in [
            lambda: F.linear(x, w_sq),
            lambda: F.linear(x, w_in, bias),
            lambda: F.linear(hidden, w_out),
            lambda: F.gelu(hidden),
            lambda: q @ q.transpose(-1, -2),
            lambda: torch.softmax(scores, -1),
            lambda: F.scaled_dot_product_attention(q, q, q),
            lambda: norm(x),
        ]:
            print(f"op {median_ms(f):.3f}")
