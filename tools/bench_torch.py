#!/usr/bin/env python3
"""The same benchmark as `dcgan-inpaint bench`, in PyTorch, printing the same JSON.

Run by hand (the project never depends on PyTorch):
    /tmp/torchenv/bin/python tools/bench_torch.py --json torch.json          # CPU
    python3 tools/bench_torch.py --device cuda --json torch-cuda.json          # a CUDA GPU
then compare with `dcgan-inpaint bench --json ours.json` through tools/compare.py.

Same model (s, c, gf = df, k, z_dim), the same layer shapes, "SAME" padding expressed with
F.pad / cropping as in tools/torch_fixtures.py, the same training step (a D update on a real
and a generated batch, then g_steps G updates with the non-saturating loss, Adam 2e-4/0.5)
and the same completion iteration (contextual + paper prior, gradient to z only, Adam, clip).
Times are medians after a warm-up; on CUDA they are synchronised wall times.

--precision strict turns TF32 off for cuDNN convolutions and matmuls (true FP32, what our
kernels compute); --precision default leaves PyTorch's settings as they are (cuDNN
convolutions in TF32 on Ampere and later). The JSON records the flags in force.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def same_1d(size, k, s):
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv_same(x, w, b, k):
    before, after = same_1d(x.shape[2], k, 2)
    return F.conv2d(F.pad(x, (before, after, before, after)), w, b, stride=2)


def deconv_same(x, w, b, k):
    H = x.shape[2] * 2
    top, _ = same_1d(H, k, 2)
    full = F.conv_transpose2d(x, w, None, stride=2)
    full = F.pad(full, (0, max(top + H - full.shape[3], 0), 0, max(top + H - full.shape[2], 0)))
    return full[:, :, top:top + H, top:top + H] + b.view(1, -1, 1, 1)


class G(torch.nn.Module):
    def __init__(self, s, c, z_dim, gf, k):
        super().__init__()
        self.k, self.stages = k, s.bit_length() - 3
        self.base = gf << (self.stages - 1)
        self.fc = torch.nn.Linear(z_dim, self.base * 16)
        self.bn0 = torch.nn.BatchNorm2d(self.base)
        widths = [self.base >> i for i in range(self.stages)] + [c]
        self.deconvs = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for i in range(self.stages):
            self.deconvs.append(torch.nn.Parameter(torch.randn(widths[i], widths[i + 1], k, k) * 0.02))
            self.biases.append(torch.nn.Parameter(torch.zeros(widths[i + 1])))
        self.bns = torch.nn.ModuleList([torch.nn.BatchNorm2d(w) for w in widths[1:-1]])

    def forward(self, z):
        h = F.relu(self.bn0(self.fc(z).view(-1, self.base, 4, 4)))
        for i in range(self.stages):
            h = deconv_same(h, self.deconvs[i], self.biases[i], self.k)
            h = F.relu(self.bns[i](h)) if i < self.stages - 1 else torch.tanh(h)
        return h


class D(torch.nn.Module):
    def __init__(self, s, c, df, k):
        super().__init__()
        self.k, self.stages = k, s.bit_length() - 3
        widths = [c] + [df << i for i in range(self.stages)]
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(widths[i], widths[i + 1], k) for i in range(self.stages)])
        self.bns = torch.nn.ModuleList([torch.nn.BatchNorm2d(w) for w in widths[2:]])
        self.fc = torch.nn.Linear(widths[-1] * 16, 1)

    def forward(self, x):
        h = x
        for i, conv in enumerate(self.convs):
            h = conv_same(h, conv.weight, conv.bias, self.k)
            if i > 0:
                h = self.bns[i - 1](h)
            h = F.leaky_relu(h, 0.2)
        return self.fc(h.flatten(1))


def median_ms(fn, reps, device):
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def kernels(a, dev):
    out = []
    s, c, w, k, b = a.image_size, a.channels, a.width, a.kernel, a.batch
    stages = s.bit_length() - 3
    rnd = lambda *shape: torch.rand(*shape, device=dev) * 2 - 1

    def record(name, shape, macs, fn, nbytes=None):
        ms = median_ms(fn, a.reps, dev)
        out.append({"name": name, "shape": shape, "gflops": None if macs is None else 2 * macs / ms / 1e6,
                    "gbps": None if nbytes is None else nbytes / ms / 1e6, "ms": ms})

    size, c_in = s, c
    for i in range(stages):
        c_out = w << i
        x, wt, bias = rnd(b, c_in, size, size), rnd(c_out, c_in, k, k), rnd(c_out)
        before, after = same_1d(size, k, 2)
        xp = F.pad(x, (before, after, before, after))
        y = F.conv2d(xp, wt, bias, stride=2)
        dy = rnd(*y.shape)
        macs = y.numel() * c_in * k * k
        shape = f"{b}x{c_in}x{size}² -> {c_out}x{y.shape[2]}², k{k}"
        record(f"conv{i} forward", shape, macs, lambda: F.conv2d(xp, wt, bias, stride=2))
        record(f"conv{i} grad_input", shape, macs, lambda: torch.nn.grad.conv2d_input(xp.shape, wt, dy, stride=2))
        record(f"conv{i} grad_weight", shape, macs, lambda: torch.nn.grad.conv2d_weight(xp, wt.shape, dy, stride=2))
        size, c_in = size // 2, c_out
    size, c_in = 4, w << (stages - 1)
    for i in range(1, stages + 1):
        c_out = c if i == stages else w << (stages - 1 - i)
        x, wt, bias = rnd(b, c_in, size, size), rnd(c_in, c_out, k, k), rnd(c_out)
        y = deconv_same(x, wt, bias, k)
        macs = x.numel() * c_out * k * k
        shape = f"{b}x{c_in}x{size}² -> {c_out}x{y.shape[2]}², k{k}"
        full = F.conv_transpose2d(x, wt, None, stride=2)
        dfull = rnd(*full.shape)
        record(f"deconv{i} forward", shape, macs, lambda: deconv_same(x, wt, bias, k))
        record(f"deconv{i} grad_input", shape, macs, lambda: F.conv2d(dfull, wt, None, stride=2))
        record(f"deconv{i} grad_weight", shape, macs, lambda: torch.nn.grad.conv2d_weight(dfull, wt.shape, x, stride=2))
        size, c_in = size * 2, c_out
    feat = (w << (stages - 1)) * 16
    for name, m, n, kk in [("g.fc", b, feat, a.z_dim), ("d.fc", b, 1, feat)]:
        x, wt, bias, dy = rnd(m, kk), rnd(n, kk), rnd(n), rnd(m, n)
        shape = f"{m}x{kk} -> {m}x{n}"
        record(f"{name} forward", shape, m * n * kk, lambda: F.linear(x, wt, bias))
        record(f"{name} grad_input", shape, m * n * kk, lambda: dy @ wt)
        record(f"{name} grad_weight", shape, m * n * kk, lambda: dy.t() @ x)
    x = rnd(b, w, s // 2, s // 2).requires_grad_()
    bn = torch.nn.BatchNorm2d(w).to(dev)
    shape = f"{b}x{w}x{s // 2}²"
    # The same byte counts as `dcgan-inpaint bench`: the forward reads x twice and writes y,
    # the backward reads dy and x twice and writes dx (the forward is not in its time).
    nbytes = 4 * x.numel()
    record("batchnorm forward (train)", shape, None, lambda: bn(x), 3 * nbytes)
    y = bn(x)
    dy = rnd(*y.shape)
    record("batchnorm backward (train)", shape, None, lambda: torch.autograd.grad(y, x, dy, retain_graph=True), 5 * nbytes)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--z-dim", type=int, default=100)
    p.add_argument("--kernel", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--g-steps", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["default", "strict"], default="default",
                   help="strict: no TF32 in cuDNN convolutions or matmuls; default: PyTorch's own settings")
    p.add_argument("--no-kernels", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    dev = a.device
    if a.precision == "strict":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    precision = {"mode": a.precision, "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                 "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}
    torch.manual_seed(0)
    g = G(a.image_size, a.channels, a.z_dim, a.width, a.kernel).to(dev)
    d = D(a.image_size, a.channels, a.width, a.kernel).to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(a.batch, a.channels, a.image_size, a.image_size, device=dev) * 2 - 1
    z = torch.rand(a.batch, a.z_dim, device=dev) * 2 - 1
    ones, zeros = torch.ones(a.batch, 1, device=dev), torch.zeros(a.batch, 1, device=dev)
    bce = F.binary_cross_entropy_with_logits

    def train_step():
        opt_d.zero_grad()
        fake = g(z).detach()
        (bce(d(real), ones) + bce(d(fake), zeros)).backward()
        opt_d.step()
        for _ in range(a.g_steps):
            opt_g.zero_grad()
            bce(d(g(z)), ones).backward()
            opt_g.step()

    step_ms = median_ms(train_step, a.reps, dev)

    g.eval(), d.eval()
    for p_ in list(g.parameters()) + list(d.parameters()):
        p_.requires_grad_(False)
    zc = z.clone().requires_grad_()
    opt_z = torch.optim.Adam([zc], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    wmask = torch.ones_like(real)

    def complete_iter():
        opt_z.zero_grad()
        gz = g(zc)
        loss = (wmask * (gz - real).abs()).sum() + 0.003 * (-F.softplus(d(gz))).sum()
        loss.backward()
        opt_z.step()
        with torch.no_grad():
            zc.clamp_(-1, 1)

    iter_ms = median_ms(complete_iter, a.reps, dev)
    for p_ in list(g.parameters()) + list(d.parameters()):
        p_.requires_grad_(True)
    g.train(), d.train()
    name = torch.cuda.get_device_name() if dev == "cuda" else f"PyTorch CPU ({torch.get_num_threads()} threads)"
    result = {
        "adapter": {"name": name, "backend": f"PyTorch {torch.__version__}", "device_type": dev, "precision": precision},
        "train_step": {"image_size": a.image_size, "channels": a.channels, "z_dim": a.z_dim, "gf": a.width, "df": a.width,
                       "kernel": a.kernel, "batch": a.batch, "g_steps": a.g_steps, "images_per_s": a.batch / step_ms * 1e3,
                       "wall_ms": step_ms},
        "complete_iter": {"batch": a.batch, "images_iters_per_s": a.batch / iter_ms * 1e3, "wall_ms": iter_ms},
        "kernels": [] if a.no_kernels else kernels(a, dev),
        "memory": {"peak_bytes": torch.cuda.max_memory_allocated() if dev == "cuda" else None, "minimum_bytes": None},
    }
    text = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
