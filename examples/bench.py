"""PyTorch reference for examples/bench.rs: the same models, shapes, optimisers and timing.

usage: bench.py [--device cpu|cuda] [--threads N] [--repeats N] [--rows a,b] [--minilm FOLDER]
Prints one line per row: `row <name> <median ms>`.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--device", default="cpu")
p.add_argument("--threads", type=int, default=None)
p.add_argument("--repeats", type=int, default=7)
p.add_argument("--rows", default="cnn-train-128,cnn-train-1024,cnn-infer-128,cnn-infer-1024")
p.add_argument("--minilm", default=None)
args = p.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
dev = torch.device(args.device)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def median_ms(f):
    f()
    f()
    times = []
    for _ in range(max(args.repeats, 1)):
        sync()
        t = time.perf_counter()
        f()
        sync()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def mnist_cnn():
    # tl-models' MNIST CNN: standardise, three conv blocks, 1152 -> 256 -> 10.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1152, 256), nn.ReLU(), nn.Linear(256, 10),
    ).to(dev)


def cnn_train(batch):
    torch.manual_seed(0)
    model = mnist_cnn().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    y = (torch.arange(batch) % 10).to(dev)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model((x - 0.1307) / 0.3081), y)
        loss.item()  # read before the backward, as the Rust side (tl-core's trainer) does
        loss.backward()
        opt.step()

    return median_ms(step)


def cnn_infer(batch):
    torch.manual_seed(0)
    model = mnist_cnn().eval()
    x = torch.rand(batch, 1, 28, 28, device=dev)

    def run():
        with torch.inference_mode():
            model((x - 0.1307) / 0.3081).argmax(1).cpu()

    return median_ms(run)


def token_rows(vocab):
    # as bench.rs: 32 rows of 128 ids, [CLS] ... [SEP]
    rows = []
    for i in range(32):
        rows.append([101 if j == 0 else 102 if j == 127 else 1000 + (i * 7919 + j * 31) % (vocab - 1000)
                     for j in range(128)])
    return torch.tensor(rows, device=dev)


def minilm(folder, train):
    from transformers import AutoModel
    torch.manual_seed(0)
    bert = AutoModel.from_pretrained(folder, attn_implementation="sdpa").to(dev)
    ids = token_rows(bert.config.vocab_size)
    mask = torch.ones_like(ids)

    def pooled():
        hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return (hidden * m).sum(1) / m.sum(1)

    if not train:
        bert.eval()

        def embed():
            with torch.inference_mode():
                torch.nn.functional.normalize(pooled(), dim=1).cpu()

        return median_ms(embed)
    bert.train()
    head = nn.Linear(bert.config.hidden_size, 2).to(dev)
    if train == "top3":
        # The lower three layers' states once (no gradient), then each step the top three
        # layers, mean pooling and the head: what bench.rs's minilm-top3 times.
        with torch.no_grad():
            states = bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[3]
        # the additive mask BERT's layers take: 0 where attended, the dtype's minimum on padding
        # (built here: transformers 5 dropped `get_extended_attention_mask`)
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        top = bert.encoder.layer[3:]
        opt = torch.optim.AdamW(list(top.parameters()) + list(head.parameters()), lr=2e-5)
        y = (torch.arange(32) % 2).to(dev)
        loss_fn = nn.CrossEntropyLoss()

        def step_top():
            opt.zero_grad()
            h = states
            for layer in top:
                out = layer(h, attention_mask=ext)
                h = out[0] if isinstance(out, tuple) else out
            m = mask.unsqueeze(-1).float()
            loss = loss_fn(head((h * m).sum(1) / m.sum(1)), y)
            loss.item()
            loss.backward()
            opt.step()

        return median_ms(step_top)
    opt = torch.optim.AdamW(list(bert.parameters()) + list(head.parameters()), lr=2e-5)
    y = (torch.arange(32) % 2).to(dev)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(head(pooled()), y)
        loss.item()  # read before the backward, as the Rust side (tl-core's trainer) does
        loss.backward()
        opt.step()

    return median_ms(step)


for row in [r for r in args.rows.split(",") if r]:
    if row.startswith("cnn-train-"):
        ms = cnn_train(int(row.rsplit("-", 1)[1]))
    elif row.startswith("cnn-infer-"):
        ms = cnn_infer(int(row.rsplit("-", 1)[1]))
    elif row == "minilm-embed" and args.minilm:
        ms = minilm(args.minilm, train=False)
    elif row == "minilm-finetune" and args.minilm:
        ms = minilm(args.minilm, train=True)
    elif row == "minilm-top3" and args.minilm:
        ms = minilm(args.minilm, train="top3")
    else:
        continue
    print(f"row {row} {ms:.3f}", flush=True)
