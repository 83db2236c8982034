"""PyTorch reference for train_step_bench.rs: the same MNIST CNN, batch 128, Adam, CPU.

Prints `pytorch_ms_per_step <median> inference_ms <median>` and `phases <forward + loss>
<backward> <update>` (medians in ms, the same boundaries as the Rust side: the loss read back,
then backward, then the optimiser's step with its zero_grad).
"""
import statistics
import sys
import time

import torch
import torch.nn as nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(1152, 256), nn.ReLU(), nn.Linear(256, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.rand(128, 1, 28, 28)
y = torch.randint(0, 10, (128,))
loss_fn = nn.CrossEntropyLoss()


def step():
    t0 = time.perf_counter()
    loss = loss_fn(model((x - 0.1307) / 0.3081), y)
    loss.item()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    opt.zero_grad()
    t3 = time.perf_counter()
    return [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000]


for _ in range(3):
    step()
times = []
phases = [[], [], []]
for _ in range(10):
    p = step()
    times.append(sum(p))
    for all_, v in zip(phases, p):
        all_.append(v)
with torch.no_grad():
    inf = []
    for _ in range(10):
        t = time.perf_counter()
        model((x - 0.1307) / 0.3081).argmax(1)
        inf.append((time.perf_counter() - t) * 1000)
print(f"pytorch_ms_per_step {statistics.median(times):.2f} inference_ms {statistics.median(inf):.2f}")
print("phases " + " ".join(f"{statistics.median(v):.2f}" for v in phases))


def layer_times(shape, layer):
    x = torch.rand(*shape) * 2 - 1
    xa = x.clone().requires_grad_(True)

    def forward():
        with torch.no_grad():
            return layer(x).sum().item()

    def both():
        loss = layer(xa).sum()
        loss.backward()
        return loss.item()

    def median_ms(f):
        f()
        t = []
        for _ in range(7):
            s = time.perf_counter()
            f()
            t.append((time.perf_counter() - s) * 1000)
        return statistics.median(t)

    f = median_ms(forward)
    return f, max(median_ms(both) - f, 0.0)


if len(sys.argv) > 2 and sys.argv[2] == "ops":
    conv = lambda i, o: nn.Conv2d(i, o, 3, padding=1)
    for shape, layer in [
        ((128, 1, 28, 28), conv(1, 32)),
        ((128, 32, 14, 14), conv(32, 64)),
        ((128, 64, 7, 7), conv(64, 128)),
        ((128, 32, 28, 28), nn.MaxPool2d(2)),
        ((128, 32, 28, 28), nn.ReLU()),
        ((128, 1152), nn.Linear(1152, 256)),
    ]:
        f, b = layer_times(shape, layer)
        print(f"op {f:.3f} {b:.3f}")
