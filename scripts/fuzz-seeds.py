#!/usr/bin/env python3
"""Seed corpora for the fuzz targets in fuzz/: small valid inputs cut from the real files
(TL_DATA_DIR, TL_MODEL_DIR, the repository's recipes and embedded digits) where they are
present, and built ones otherwise. Writes OUT/<target>/<name>; nothing is read from or written
to the data folders beyond reading.

usage: scripts/fuzz-seeds.py OUT
"""
import bz2
import gzip
import io
import json
import os
import struct
import sys
import zipfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent
out = Path(sys.argv[1])
data = Path(os.environ.get("TL_DATA_DIR", root.parent / "shared" / "data"))
models = Path(os.environ.get("TL_MODEL_DIR", Path.home() / ".cache" / "tl-models"))
written = {}


def put(target, name, content):
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    written[target] = written.get(target, 0) + 1


def exists(p):
    return p.is_file()


# idx: real MNIST headers with the first items (counts rewritten to match).
labels = data / "mnist" / "t10k-labels-idx1-ubyte.gz"
images = data / "mnist" / "t10k-images-idx3-ubyte.gz"
if exists(labels) and exists(images):
    with gzip.open(labels) as f:
        raw = f.read(8 + 64)
    put("idx", "labels", raw[:4] + struct.pack(">I", 64) + raw[8:])
    with gzip.open(images) as f:
        raw = f.read(16 + 3 * 784)
    put("idx", "images", raw[:4] + struct.pack(">I", 3) + raw[8:])
put("idx", "built", b"\x00\x00\x08\x01" + struct.pack(">I", 4) + bytes([0, 1, 2, 3]))

# libsvm: the first USPS rows.
usps = data / "usps" / "usps.t.bz2"
if exists(usps):
    with bz2.open(usps, "rt") as f:
        rows = [next(f) for _ in range(3)]
    put("libsvm", "usps", "".join(rows).encode())
put("libsvm", "built", b"1 1:0.5 3:-1\n2 2:0.25\n")

# digits_csv: the embedded digits' first rows.
with gzip.open(root / "crates" / "tl-data" / "data" / "digits.csv.gz", "rt") as f:
    put("digits_csv", "embedded", "".join(next(f) for _ in range(5)).encode())

# reviews: the first two reviews of a real file.
books = data / "amazon-reviews" / "books" / "positive.review"
reviews_text = None
if exists(books):
    text = books.read_text(errors="replace")
    cut = text.find("</review>", text.find("</review>") + 1)
    reviews_text = text[: cut + len("</review>")] + "\n"
    put("reviews", "books", reviews_text.encode())
put("reviews", "built", b"<review>\n<rating>\n5.0\n</rating>\n<review_text>\nGood.\n</review_text>\n</review>\n")

# text_table: CSV and TSV of reviews.
put("text_table", "csv", b'text,label\n"A fine, fine book",positive\nDull,negative\n')
put("text_table", "tsv", b"text\tlabel\nA fine book\tpositive\nDull\tnegative\n")

# decompress: gzip and bzip2 of a real or built text.
sample = (reviews_text or "some text\n").encode()[:2000]
put("decompress", "gz", gzip.compress(sample))
put("decompress", "bz2", bz2.compress(sample))

# image and omniglot_zip: real PNGs from the Omniglot and emoji zips.
pngs = []
omniglot = data / "omniglot" / "images_background_small1.zip"
if exists(omniglot):
    with zipfile.ZipFile(omniglot) as z:
        names = [n for n in z.namelist() if n.endswith(".png")][:2]
        pngs = [(n, z.read(n)) for n in names]
    for i, (_, png) in enumerate(pngs):
        put("image", f"omniglot-{i}", png)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, png in pngs:
            z.writestr(n, png)
    put("omniglot_zip", "background", buf.getvalue())
emoji = data / "emoji" / "google-64.zip"
if exists(emoji):
    with zipfile.ZipFile(emoji) as z:
        n = sorted((i.file_size, i.filename) for i in z.infolist() if i.filename.endswith(".png"))[0][1]
        put("image", "emoji", z.read(n))

# safetensors: the layout the target's model expects.
header = json.dumps({
    "body.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "body.0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
}).encode()
put("safetensors", "linear", struct.pack("<Q", len(header)) + header + struct.pack("<8f", *[i * 0.5 for i in range(8)]))

# pth: the real MNIST CNN's weights (a torch zip with its pickle).
pth = data.parent / "models" / "mnist-cnn" / "handwriting_model.pth"
if not exists(pth):
    pth = models / "mnist-cnn" / "handwriting_model.pth"
if exists(pth):
    put("pth", "mnist-cnn", pth.read_bytes())
put("pth", "pickle", b"\x80\x02}q\x00X\x04\x00\x00\x00bodyq\x01K\x01s.")

# checkpoint: burnpack weights written by a `tl run` (CI's recipe step), if any.
runs = Path.home() / ".cache" / "tl-ci-runs"
bpk = sorted(runs.glob("**/weights.bpk"), key=lambda p: p.stat().st_size)[:1] if runs.is_dir() else []
for p in bpk:
    put("checkpoint", "tl-run", p.read_bytes())

# model_card: the cards shipped with the models, and one built.
card = models / "mnist-cnn" / "card.json"
if exists(card):
    put("model_card", "mnist-cnn", card.read_bytes())
put("model_card", "built", json.dumps({
    "name": "m", "architecture": "mlp", "encoder": None, "head": None, "task": "digits",
    "label_names": ["0", "1"], "source_dataset": "d", "domain": "x",
    "input": {"modality": "image", "shape": [1, 8, 8], "value_range": [0.0, 1.0], "normalisation": "none"},
    "metrics": {"accuracy": 0.9}, "num_params": 10, "license": "MIT", "provenance": "test",
    "weights": "w.bpk"}).encode())

# tokenizer_json and bert_config: all-MiniLM-L6-v2's.
minilm = models / "all-MiniLM-L6-v2"
if exists(minilm / "tokenizer.json"):
    put("tokenizer_json", "minilm", (minilm / "tokenizer.json").read_bytes())
if exists(minilm / "config.json"):
    put("bert_config", "minilm", (minilm / "config.json").read_bytes())
put("bert_config", "built", json.dumps({
    "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "max_position_embeddings": 16, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "model_type": "bert"}).encode())

# recipe: every recipe in the repository.
for p in sorted((root / "recipes").glob("*.toml")):
    put("recipe", p.stem, p.read_bytes())

for target, n in sorted(written.items()):
    print(f"{target}: {n} seed(s)")
