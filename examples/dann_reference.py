"""PyTorch reference for the time-to-accuracy row of examples/bench.rs: DANN on MNIST -> USPS
in the MNIST framing, written to match tl-adversarial's `dann` as the domain_adaptation
example runs it (`--pair mnist-usps --framing mnist`):

- source: 600 MNIST training images per class (a seeded draw), 10 % of each class held out
  for validation; target: USPS train without labels, USPS test to score; USPS pixels
  rescaled from [-1, 1] to [0, 1], resized 16 -> 20 (bilinear, half-pixel centres) and
  padded to 28;
- the MNIST CNN with the published weights (handwriting_model.pth), input standardised
  with MNIST's mean and std; features: its 256-wide hidden layer;
- a discriminator 256 -> 256 -> 256 -> 1 (ReLU) behind gradient reversal at strength
  2 / (1 + exp(-10 p)) - 1 (p: steps done over all steps), binary cross-entropy averaged
  over the source and target rows, added to the source cross-entropy;
- Adam, lr 2e-4 (the discriminator 10x), batch 64 of each domain per step, an epoch being
  one pass over the source, 3 epochs; source validation and the USPS test scored after
  every epoch (inside the clock, as on the Rust side).

usage: dann_reference.py DATA_DIR WEIGHTS [--seeds 3] [--epochs 3] [--threads 2] [--target 0.96]
                          [--device cpu|cuda]
Prints per epoch `epoch <seed> <epoch> <seconds so far> <usps test accuracy>`, and per seed
`reached <seed> <seconds>` (or `reached <seed> none`).
"""
import argparse
import bz2
import gzip
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("weights")
p.add_argument("--seeds", type=int, default=3)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--target", type=float, default=0.96)
p.add_argument("--device", default="cpu")
args = p.parse_args()
torch.set_num_threads(args.threads)
dev = torch.device(args.device)


def idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def usps(path):
    xs, ys = [], []
    with bz2.open(path, "rt") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            x = np.zeros(256, dtype=np.float32)
            for item in parts[1:]:
                i, v = item.split(":")
                x[int(i) - 1] = float(v)
            xs.append(np.clip((x + 1) / 2, 0, 1))
            ys.append(int(float(parts[0])) - 1)
    x = torch.tensor(np.stack(xs)).reshape(-1, 1, 16, 16)
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    return F.pad(x, (4, 4, 4, 4)), torch.tensor(ys)


mnist_x = torch.tensor(idx(f"{args.data}/mnist/train-images-idx3-ubyte.gz"), dtype=torch.float32)
mnist_x = (mnist_x / 255.0).unsqueeze(1)
mnist_y = torch.tensor(idx(f"{args.data}/mnist/train-labels-idx1-ubyte.gz"), dtype=torch.long)
usps_train, _ = usps(f"{args.data}/usps/usps.bz2")
usps_test_x, usps_test_y = usps(f"{args.data}/usps/usps.t.bz2")
mnist_x, mnist_y_dev = mnist_x.to(dev), mnist_y.to(dev)
usps_train = usps_train.to(dev)
usps_test_x, usps_test_y = usps_test_x.to(dev), usps_test_y.to(dev)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc_layers = nn.Sequential(nn.Linear(1152, 256), nn.ReLU(), nn.Linear(256, 10))

    def features(self, x):
        h = self.conv_layers((x - 0.1307) / 0.3081).flatten(1)
        return self.fc_layers[1](self.fc_layers[0](h))

    def head(self, f):
        return self.fc_layers[2](f)


class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = sum((model.head(model.features(x[i:i + 512])).argmax(1) == y[i:i + 512]).sum().item()
                      for i in range(0, len(x), 512))
    model.train()
    return correct / len(x)


for seed in range(args.seeds):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    train_idx, valid_idx = [], []
    for c in range(10):
        items = rng.permutation(np.nonzero(mnist_y.numpy() == c)[0])[:600]
        held = int(round(0.1 * len(items)))
        valid_idx += list(items[:held])
        train_idx += list(items[held:])
    sx, sy = mnist_x[train_idx], mnist_y_dev[train_idx]
    vx, vy = mnist_x[valid_idx], mnist_y_dev[valid_idx]
    model = Cnn()
    model.load_state_dict(torch.load(args.weights, weights_only=True, map_location="cpu"))
    model.to(dev)
    disc = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    disc.to(dev)
    opt = torch.optim.Adam([{"params": model.parameters(), "lr": 2e-4},
                            {"params": disc.parameters(), "lr": 2e-3}])
    steps = math.ceil(len(sx) / 64)
    total = steps * args.epochs
    target_order = torch.randperm(len(usps_train))
    t_pos = 0
    start = time.perf_counter()
    reached = None
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(sx))
        for i in range(steps):
            b = order[i * 64:(i + 1) * 64].to(dev)
            if t_pos + 64 > len(target_order):
                target_order, t_pos = torch.randperm(len(usps_train)), 0
            tb = target_order[t_pos:t_pos + 64].to(dev)
            t_pos += 64
            prog = ((epoch - 1) * steps + i) / total
            lam = 2 / (1 + math.exp(-10 * prog)) - 1
            f = torch.cat([model.features(sx[b]), model.features(usps_train[tb])])
            class_loss = F.cross_entropy(model.head(f[:len(b)]), sy[b])
            d = disc(Reverse.apply(f, lam)).squeeze(1)
            domains = torch.cat([torch.zeros(len(b), device=dev), torch.ones(len(tb), device=dev)])
            loss = class_loss + F.binary_cross_entropy_with_logits(d, domains)
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy(model, vx, vy)  # the source validation the Rust loop also scores
        acc = accuracy(model, usps_test_x, usps_test_y)
        seconds = time.perf_counter() - start
        print(f"epoch {seed} {epoch} {seconds:.2f} {acc:.4f}", flush=True)
        if reached is None and acc >= args.target:
            reached = seconds
    print(f"reached {seed} {'none' if reached is None else f'{reached:.2f}'}", flush=True)
