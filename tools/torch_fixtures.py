#!/usr/bin/env python3
"""Write the PyTorch reference fixtures that `cargo test` compares against.

Run by hand (the project never depends on PyTorch):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy pillow safetensors
    /tmp/torchenv/bin/python tools/torch_fixtures.py          # everything
    /tmp/torchenv/bin/python tools/torch_fixtures.py step     # only the training-step fixture

Output: tests/fixtures/<family>/<case>/<tensor>.npy (float32, C order) and params.txt.
Every case uses a fixed seed, so re-running rewrites identical files.

How our geometry maps to PyTorch
- Asymmetric padding (top, left, bottom, right), e.g. TensorFlow "SAME" with k=5, s=2 on
  64 (1 before, 2 after), has no PyTorch conv argument: pad explicitly, then convolve
  without padding:  F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride).
- The transposed convolution is the adjoint of that conv. In PyTorch: run the unpadded
  transpose, which yields the "full" output of size (h - 1) * s + k, zero-extend it if it
  is shorter than top + H (trailing rows the conv never reads), then crop
  [top : top + H, left : left + W]. For "SAME" at stride 2 this gives H = 2 h, exactly
  TensorFlow's conv2d_transpose(padding='SAME').
- Gradients are those of loss = sum(y * dy) for the stored dy.
"""
import os
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
torch.set_default_dtype(torch.float64)  # references in f64, stored as f32


def same_1d(size, k, s):
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def save(folder, **tensors):
    os.makedirs(folder, exist_ok=True)
    for name, t in tensors.items():
        a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(a, dtype=np.float32))


def rand(gen, *shape, lo=-1.0, hi=1.0):
    # Round through f32 so the stored inputs are exactly what the reference used.
    t = torch.rand(*shape, generator=gen) * (hi - lo) + lo
    return t.float().double()


def conv_case(name, x_shape, w_shape, stride, pad, seed):
    """conv2d: x [N, Ci, H, W], w [Co, Ci, k, k], pad (top, left, bottom, right)."""
    g = torch.Generator().manual_seed(seed)
    x = rand(g, *x_shape).requires_grad_()
    w = rand(g, *w_shape, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(g, w_shape[0]).requires_grad_()
    top, left, bottom, right = pad
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride)
    dy = rand(g, *y.shape)
    (y * dy).sum().backward()
    folder = os.path.join(ROOT, "conv2d", name)
    save(folder, x=x, w=w, b=b, y=y, dy=dy, dx=x.grad, dw=w.grad, db=b.grad)
    with open(os.path.join(folder, "params.txt"), "w") as f:
        f.write(f"stride {stride}\npad {top} {left} {bottom} {right}\n")


def deconv_case(name, x_shape, w_shape, stride, pad, out_hw, seed):
    """conv_transpose2d: x [N, Ci, h, w], w [Ci, Co, k, k] -> y [N, Co, H, W] = out_hw."""
    g = torch.Generator().manual_seed(seed)
    x = rand(g, *x_shape).requires_grad_()
    w = rand(g, *w_shape, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(g, w_shape[1]).requires_grad_()
    top, left, bottom, right = pad
    H, W = out_hw
    full = F.conv_transpose2d(x, w, None, stride=stride)
    ext_h = max(top + H - full.shape[2], 0)
    ext_w = max(left + W - full.shape[3], 0)
    full = F.pad(full, (0, ext_w, 0, ext_h))
    y = full[:, :, top:top + H, left:left + W] + b.view(1, -1, 1, 1)
    dy = rand(g, *y.shape)
    (y * dy).sum().backward()
    folder = os.path.join(ROOT, "conv_transpose2d", name)
    save(folder, x=x, w=w, b=b, y=y, dy=dy, dx=x.grad, dw=w.grad, db=b.grad)
    with open(os.path.join(folder, "params.txt"), "w") as f:
        f.write(f"stride {stride}\npad {top} {left} {bottom} {right}\nout {H} {W}\n")


def batchnorm_case(name, shape, train, seed):
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    x = rand(g, *shape, lo=-2.0, hi=3.0).requires_grad_()
    gamma = rand(g, c, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(g, c, lo=-0.5, hi=0.5).requires_grad_()
    running_mean = rand(g, c, lo=-0.5, hi=0.5)
    running_var = rand(g, c, lo=0.5, hi=2.0)
    rm, rv = running_mean.clone(), running_var.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=train, momentum=0.1, eps=1e-5)
    dy = rand(g, *y.shape)
    (y * dy).sum().backward()
    folder = os.path.join(ROOT, "batchnorm", name)
    save(folder, x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var,
         y=y, dy=dy, dx=x.grad, dgamma=gamma.grad, dbeta=beta.grad,
         running_mean_after=rm, running_var_after=rv)
    with open(os.path.join(folder, "params.txt"), "w") as f:
        f.write(f"train {int(train)}\nmomentum 0.1\neps 1e-5\n")


def test_images():
    """A handful of small synthetic images in every supported format, non-square (to
    exercise the centre crop), some with alpha, for the training tests."""
    from PIL import Image, ImageDraw
    folder = os.path.join(ROOT, "images")
    os.makedirs(os.path.join(folder, "nested"), exist_ok=True)
    g = torch.Generator().manual_seed(20)
    for i in range(8):
        r = lambda lo, hi: int(torch.randint(lo, hi, (1,), generator=g))
        img = Image.new("RGBA", (24, 20), (r(0, 256), r(0, 256), r(0, 256), 255))
        d = ImageDraw.Draw(img)
        d.ellipse([r(0, 8), r(0, 6), r(14, 24), r(12, 20)], fill=(r(0, 256), r(0, 256), r(0, 256), r(128, 256)))
        d.rectangle([r(0, 12), r(0, 10), r(12, 24), r(10, 20)], outline=(r(0, 256), r(0, 256), r(0, 256), 255))
        if i % 4 == 0:
            img.save(os.path.join(folder, f"shape{i}.png"))  # RGBA, composited on white
        elif i % 4 == 1:
            img.convert("RGB").save(os.path.join(folder, f"shape{i}.jpg"), quality=95)
        elif i % 4 == 2:
            img.convert("RGB").save(os.path.join(folder, f"shape{i}.bmp"))
        else:
            img.convert("RGB").save(os.path.join(folder, "nested", f"shape{i}.gif"))


def same_deconv(x, w, b, stride):
    """TensorFlow-style SAME transposed convolution: output = input * stride."""
    k = w.shape[2]
    H, W = x.shape[2] * stride, x.shape[3] * stride
    top, _ = same_1d(H, k, stride)
    left, _ = same_1d(W, k, stride)
    full = F.conv_transpose2d(x, w, None, stride=stride)
    full = F.pad(full, (0, max(left + W - full.shape[3], 0), 0, max(top + H - full.shape[2], 0)))
    return full[:, :, top:top + H, left:left + W] + b.view(1, -1, 1, 1)


def tiny_model():
    """A small fixed-weight G and D in our safetensors layout, with (1) latents and the
    eval-mode generator output PyTorch computes for them (for `sample --z`), and (2) a
    5-iteration completion run (for `complete --z-init`)."""
    from safetensors.torch import save_file
    from PIL import Image
    arch = dict(image_size=16, channels=3, z_dim=8, gf=4, df=4, kernel=5)
    stages, k = 2, 5
    base = arch["gf"] << (stages - 1)
    top = arch["df"] << (stages - 1)
    g = torch.Generator().manual_seed(21)
    t = {}
    t["g.fc.weight"] = rand(g, base * 16, arch["z_dim"], lo=-0.5, hi=0.5)
    t["g.fc.bias"] = rand(g, base * 16, lo=-0.1, hi=0.1)
    def bn(name, c):
        t[f"{name}.weight"] = rand(g, c, lo=0.5, hi=1.5)
        t[f"{name}.bias"] = rand(g, c, lo=-0.2, hi=0.2)
        t[f"{name}.running_mean"] = rand(g, c, lo=-0.3, hi=0.3)
        t[f"{name}.running_var"] = rand(g, c, lo=0.5, hi=1.5)
    bn("g.bn0", base)
    c_in = base
    for i in range(1, stages + 1):
        c_out = arch["channels"] if i == stages else base >> i
        t[f"g.deconv{i}.weight"] = rand(g, c_in, c_out, k, k, lo=-0.3, hi=0.3)
        t[f"g.deconv{i}.bias"] = rand(g, c_out, lo=-0.1, hi=0.1)
        if i < stages:
            bn(f"g.bn{i}", c_out)
        c_in = c_out
    c_in = arch["channels"]
    for i in range(stages):
        c_out = arch["df"] << i
        t[f"d.conv{i}.weight"] = rand(g, c_out, c_in, k, k, lo=-0.3, hi=0.3)
        t[f"d.conv{i}.bias"] = rand(g, c_out, lo=-0.1, hi=0.1)
        if i > 0:
            bn(f"d.bn{i}", c_out)
        c_in = c_out
    t["d.fc.weight"] = rand(g, 1, top * 16, lo=-0.3, hi=0.3)
    t["d.fc.bias"] = rand(g, 1, lo=-0.1, hi=0.1)

    def batch_norm(h, name):
        return F.batch_norm(h, t[f"{name}.running_mean"], t[f"{name}.running_var"],
                            t[f"{name}.weight"], t[f"{name}.bias"], training=False, eps=1e-5)

    def G(z):
        h = F.linear(z, t["g.fc.weight"], t["g.fc.bias"]).view(-1, base, 4, 4)
        h = F.relu(batch_norm(h, "g.bn0"))
        for i in range(1, stages + 1):
            h = same_deconv(h, t[f"g.deconv{i}.weight"], t[f"g.deconv{i}.bias"], 2)
            h = F.relu(batch_norm(h, f"g.bn{i}")) if i < stages else torch.tanh(h)
        return h

    def D(x):
        h = x
        for i in range(stages):
            size = h.shape[2]
            before, after = same_1d(size, k, 2)
            h = F.conv2d(F.pad(h, (before, after, before, after)), t[f"d.conv{i}.weight"], t[f"d.conv{i}.bias"], stride=2)
            if i > 0:
                h = batch_norm(h, f"d.bn{i}")
            h = F.leaky_relu(h, 0.2)
        return F.linear(h.flatten(1), t["d.fc.weight"], t["d.fc.bias"])

    folder = os.path.join(ROOT, "model")
    os.makedirs(folder, exist_ok=True)
    meta = {"format_version": "1", "kind": "weights",
            "architecture": '{"image_size": 16, "channels": 3, "z_dim": 8, "gf": 4, "df": 4, "kernel": 5}'}
    save_file({name: v.float().contiguous() for name, v in t.items()}, os.path.join(folder, "tiny.safetensors"), metadata=meta)
    z = rand(g, 5, arch["z_dim"])
    save(folder, z=z, expected=G(z))

    # Completion: two 16x16 inputs, centre mask (scale 0.25), weighted window 7, paper
    # prior with lambda 0.1, Adam(0.01, 0.9, 0.999, 1e-8) on z, z clipped to [-1, 1].
    images = []
    for i in range(2):
        pixels = (torch.rand(16, 16, 3, generator=g) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(pixels, "RGB").save(os.path.join(folder, f"input{i}.png"))
        images.append(torch.from_numpy(pixels).double().permute(2, 0, 1) / 255 * 2 - 1)
    y = torch.stack(images)
    mask = torch.ones(1, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 0
    missing_near = F.conv2d(1 - mask, torch.ones(1, 1, 7, 7), padding=3)
    w = (mask * missing_near / 49).expand(2, 3, 16, 16)
    z0 = rand(g, 2, arch["z_dim"])
    z = z0.clone().requires_grad_()
    opt = torch.optim.Adam([z], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    lam, iters, rows = 0.1, 5, []
    for it in range(iters + 1):
        gz = G(z)
        contextual = (w * (gz - y).abs()).sum((1, 2, 3))
        prior = lam * -F.softplus(D(gz).view(-1))
        rows.append(torch.stack([contextual, prior], 1))
        if it < iters:
            opt.zero_grad()
            (contextual + prior).sum().backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(-1, 1)
    save(folder, z_init=z0, completion_losses=torch.stack(rows))  # [iters + 1, image, (contextual, prior)]


def training_step():
    """One training step of the tiny model (llm.c's test_gpt2 habit): with tests/fixtures/
    model/tiny.safetensors, a real batch and latents, both losses of a step in training mode
    (batch statistics in every batchnorm) and the gradient of every trainable parameter:
    D's from the discriminator loss (G frozen), G's from the generator loss (D frozen)."""
    from safetensors.torch import load_file
    folder = os.path.join(ROOT, "model")
    t = {k: v.double() for k, v in load_file(os.path.join(folder, "tiny.safetensors")).items()}
    stages, k, batch = 2, 5, 4
    base = 4 << (stages - 1)
    g = torch.Generator().manual_seed(33)
    real = rand(g, batch, 3, 16, 16)
    z = rand(g, batch, 8)

    def batch_norm(h, name, p):
        # Training mode: batch statistics; copies of the running statistics take the update.
        return F.batch_norm(h, t[f"{name}.running_mean"].clone(), t[f"{name}.running_var"].clone(),
                            p[f"{name}.weight"], p[f"{name}.bias"], training=True, momentum=0.1, eps=1e-5)

    def G(z, p):
        h = F.linear(z, p["g.fc.weight"], p["g.fc.bias"]).view(-1, base, 4, 4)
        h = F.relu(batch_norm(h, "g.bn0", p))
        for i in range(1, stages + 1):
            h = same_deconv(h, p[f"g.deconv{i}.weight"], p[f"g.deconv{i}.bias"], 2)
            h = F.relu(batch_norm(h, f"g.bn{i}", p)) if i < stages else torch.tanh(h)
        return h

    def D(x, p):
        h = x
        for i in range(stages):
            before, after = same_1d(h.shape[2], k, 2)
            h = F.conv2d(F.pad(h, (before, after, before, after)), p[f"d.conv{i}.weight"], p[f"d.conv{i}.bias"], stride=2)
            if i > 0:
                h = batch_norm(h, f"d.bn{i}", p)
            h = F.leaky_relu(h, 0.2)
        return F.linear(h.flatten(1), p["d.fc.weight"], p["d.fc.bias"])

    trainable = [n for n in t if not n.endswith("running_mean") and not n.endswith("running_var")]
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(batch, 1, dtype=torch.float64), torch.zeros(batch, 1, dtype=torch.float64)
    out = {"real": real, "z": z}

    p = {n: (v.clone().requires_grad_() if n.startswith("d.") and n in trainable else v) for n, v in t.items()}
    d_loss = bce(D(real, p), ones) + bce(D(G(z, p), p), zeros)
    d_loss.backward()
    out["d_loss"] = d_loss.detach().view(1)
    for n in trainable:
        if n.startswith("d."):
            out["grad." + n] = p[n].grad

    p = {n: (v.clone().requires_grad_() if n.startswith("g.") and n in trainable else v) for n, v in t.items()}
    g_loss = bce(D(G(z, p), p), ones)
    g_loss.backward()
    out["g_loss"] = g_loss.detach().view(1)
    for n in trainable:
        if n.startswith("g."):
            out["grad." + n] = p[n].grad
    save(os.path.join(ROOT, "step"), **out)


def main():
    # conv2d: k4/s2/pad 1; k5/s2/SAME (asymmetric); 1x1 spatial; odd channels; batch 3.
    conv_case("k4_s2_p1", (3, 5, 8, 8), (7, 5, 4, 4), 2, (1, 1, 1, 1), seed=1)
    t, b = same_1d(8, 5, 2)
    conv_case("k5_s2_same", (3, 3, 8, 8), (5, 3, 5, 5), 2, (t, t, b, b), seed=2)
    t, b = same_1d(1, 4, 2)
    conv_case("k4_s2_same_1x1", (2, 17, 1, 1), (3, 17, 4, 4), 2, (t, t, b, b), seed=3)
    t, b = same_1d(6, 5, 2)
    conv_case("k5_s2_same_odd", (3, 9, 6, 6), (11, 9, 5, 5), 2, (t, t, b, b), seed=4)

    # conv_transpose2d, the same geometries from the feature side ("SAME" doubles the size).
    deconv_case("k4_s2_p1", (3, 7, 4, 4), (7, 5, 4, 4), 2, (1, 1, 1, 1), (8, 8), seed=5)
    t, b = same_1d(8, 5, 2)
    deconv_case("k5_s2_same", (3, 5, 4, 4), (5, 3, 5, 5), 2, (t, t, b, b), (8, 8), seed=6)
    t, b = same_1d(2, 4, 2)
    deconv_case("k4_s2_same_1x1", (2, 17, 1, 1), (17, 3, 4, 4), 2, (t, t, b, b), (2, 2), seed=7)
    t, b = same_1d(6, 5, 2)
    deconv_case("k5_s2_same_odd", (3, 11, 3, 3), (11, 9, 5, 5), 2, (t, t, b, b), (6, 6), seed=8)

    batchnorm_case("train_nchw", (3, 5, 4, 4), True, seed=9)
    batchnorm_case("eval_nchw", (3, 5, 4, 4), False, seed=10)
    batchnorm_case("train_nc", (6, 7), True, seed=11)

    test_images()
    tiny_model()


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["step"]:  # only the training-step fixture (needs tiny.safetensors)
        training_step()
    else:
        main()
        training_step()
    print("fixtures written under", os.path.normpath(ROOT))
