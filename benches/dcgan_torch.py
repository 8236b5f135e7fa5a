"""The PyTorch reference for `shoal bench dcgan`: the same DCGAN (the seed's G and D), the same
iteration (one G step, then one D step on detached fakes and a real batch), SGD lr 1e-3, momentum
0.8, Nesterov, on the CPU (or --device cuda). Prints one JSON line with ms_per_iter (median) like
shoal's bench.

    python3 benches/dcgan_torch.py [--batch 128] [--iters 5] [--threads N] [--device cpu|cuda]

Real images are not needed for timing: a fixed random batch in [0, 1] stands in for them.
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn


def generator(z):
    return nn.Sequential(
        nn.Linear(z, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
        nn.Linear(1024, 5 * 5 * 256), nn.BatchNorm1d(5 * 5 * 256), nn.ReLU(),
        nn.Unflatten(1, (256, 5, 5)),
        nn.ConvTranspose2d(256, 128, 3, 1, 0), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid(),
    )


def discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 256, 3, 1, 0), nn.BatchNorm2d(256), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6400, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 1), nn.Sigmoid(),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    zdim, n = 32, a.batch
    g, d = generator(zdim).to(dev), discriminator().to(dev)
    sgd = dict(lr=1e-3, momentum=0.8, nesterov=True, dampening=0)
    opt_g, opt_d = torch.optim.SGD(g.parameters(), **sgd), torch.optim.SGD(d.parameters(), **sgd)
    bce = nn.BCELoss()
    real = torch.rand(n, 1, 28, 28, device=dev)
    ones, zeros = torch.ones(n, 1, device=dev), torch.zeros(n, 1, device=dev)

    def step():
        # G step: make D call the fakes real.
        z = torch.rand(n, zdim, device=dev) * 2 - 1
        opt_g.zero_grad()
        d.zero_grad()
        g_loss = bce(d(g(z)), ones)
        g_loss.backward()
        opt_g.step()
        g_loss.item()
        # D step: fakes (detached) are 0, real images are 1.
        z = torch.rand(n, zdim, device=dev) * 2 - 1
        fake = g(z).detach()
        opt_d.zero_grad()
        p_fake, p_real = d(fake), d(real)
        d_loss = bce(p_fake, zeros) + bce(p_real, ones)
        d_loss.backward()
        opt_d.step()
        d_loss.item(), p_fake.mean().item(), p_real.mean().item()

    step()  # warm-up
    times = []
    for _ in range(a.iters):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({
        "bench": "dcgan-pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "device": a.device,
        "batch": n, "iters": a.iters, "ms_per_iter": statistics.median(times), "min_ms": min(times),
    }))


if __name__ == "__main__":
    main()
