#!/usr/bin/env python3
"""The side-by-side table of tools/gpu_measure.sh: for each model, our engine with every
kernel set and with `auto`, against PyTorch with strict FP32 and with its defaults (TF32),
all from one run on one device. Reads the JSON files the script wrote into DIR and writes
DIR/README.md (and prints it).

    python3 tools/gpu_table.py DIR

Files: ours-MODEL-SET.json (`dcgan-inpaint bench --json`), torch-MODEL-PRECISION.json
(tools/bench_torch.py --json), MODEL one of the names in models.txt ("name: flags" lines),
and roofline-MODEL.svg beside them.
"""
import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def tflops(k):
    return None if k is None or k.get("gflops") is None else k["gflops"] / 1e3


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gpu_table.py DIR")
    out_dir = sys.argv[1]
    models = []
    with open(os.path.join(out_dir, "models.txt")) as f:
        for line in f:
            if ":" in line:
                name, flags = line.split(":", 1)
                models.append((name.strip(), flags.strip()))
    lines = []
    say = lines.append
    first = None
    for name, flags in models:
        ours = {}
        for path in sorted(glob.glob(os.path.join(out_dir, f"ours-{name}-*.json"))):
            ours[path[len(os.path.join(out_dir, f"ours-{name}-")):-len(".json")]] = load(path)
        torch = {}
        for precision in ("strict", "default"):
            path = os.path.join(out_dir, f"torch-{name}-{precision}.json")
            if os.path.exists(path):
                torch[precision] = load(path)
        if not ours:
            say(f"## {name} ({flags})\n\nno results (see log.txt)\n")
            continue
        any_ours = next(iter(ours.values()))
        first = first or any_ours
        step = any_ours["train_step"]
        say(f"## {name}: s{step['image_size']} c{step['channels']} w{step['gf']} k{step['kernel']}, batch {step['batch']}, "
            f"{step['g_steps']} G steps per D step\n")
        say(f"`{flags}`\n")
        columns = [(f"ours {s}", r) for s, r in ours.items()] + [(f"PyTorch {p}", r) for p, r in torch.items()]
        strict = torch.get("strict")

        def ratio(value, ref):
            return None if value is None or ref in (None, 0) else value / ref

        say("| | " + " | ".join(c for c, _ in columns) + " |")
        say("|---|" + "---:|" * len(columns))
        say("| training step, images/s | " + " | ".join(fmt(r["train_step"]["images_per_s"], 1) for _, r in columns) + " |")
        if strict:
            ref = strict["train_step"]["images_per_s"]
            say("| vs PyTorch strict FP32 | " + " | ".join(fmt(ratio(r["train_step"]["images_per_s"], ref), 3) for _, r in columns) + " |")
        say("| completion, images x iterations/s | " + " | ".join(fmt(r["complete_iter"]["images_iters_per_s"], 1) for _, r in columns) + " |")
        if strict:
            ref = strict["complete_iter"]["images_iters_per_s"]
            say("| vs PyTorch strict FP32 | " + " | ".join(fmt(ratio(r["complete_iter"]["images_iters_per_s"], ref), 3) for _, r in columns) + " |")
        tuning = ours.get("auto", {}).get("adapter", {}).get("tuning")
        if tuning:
            say(f"\n`auto` measured {tuning['shapes_tuned']} product shapes in {tuning['seconds']:.1f} s on first use (then cached).")
        sets = ours.get("auto", {}).get("train_step", {}).get("sets")
        if sets:
            say("`auto`'s training step ran its conv and linear products on: " + ", ".join(f"{s} x{n}" for s, n in sets.items()) + ".")
        # Per layer: TFLOP/s of each product.
        names = [k["name"] for k in any_ours.get("kernels", [])]
        if names:
            say("\nPer layer, TFLOP/s (GB/s for batchnorm):\n")
            say("| kernel | shape | " + " | ".join(c for c, _ in columns) + " | auto ran |")
            say("|---|---|" + "---:|" * len(columns) + "---|")
            for kname in names:
                cells = []
                shape = ""
                for _, r in columns:
                    k = next((k for k in r.get("kernels", []) if k["name"] == kname), None)
                    shape = shape or (k or {}).get("shape", "")
                    if k is None:
                        cells.append("-")
                    elif k.get("gflops") is not None:
                        cells.append(fmt(k["gflops"] / 1e3, 3))
                    else:
                        cells.append(fmt(k.get("gbps"), 1))
                auto = next((k for k in ours.get("auto", {}).get("kernels", []) if k["name"] == kname), {})
                ran = auto.get("set") or "-"
                if auto.get("margin"):
                    ran += f" ({auto['margin']:.2f}x)"
                say(f"| {kname} | {shape} | " + " | ".join(cells) + f" | {ran} |")
        roof = ours.get("auto", {}).get("roofline")
        if roof:
            r = roof["roofs"]
            say(f"\nRoofline (`roofline-{name}.svg`): peak {r['gflops'] / 1e3:.2f} TFLOP/s, {r['gbps']:.0f} GB/s; "
                "each kernel's share of its roof:\n")
            say("| kernel | FLOP/byte | TFLOP/s | roof | of roof |")
            say("|---|---:|---:|---:|---:|")
            for p in roof["points"]:
                say(f"| {p['name']} | {p['intensity']:.1f} | {p['gflops'] / 1e3:.3f} | {p['roof_gflops'] / 1e3:.2f} | {100 * p['fraction']:.1f}% |")
        say("")
    if first:
        a = first["adapter"]
        header = [f"# {a['name']}: dcgan-inpaint against PyTorch, one run\n",
                  f"Ours: {a['backend']} ({a['device_type']}), timed by {a.get('timer', '?')}. "
                  "Written by tools/gpu_measure.sh; every number of a table comes from the same run on the same device.\n"]
        torch_any = next((load(p) for p in sorted(glob.glob(os.path.join(out_dir, "torch-*.json")))), None)
        if torch_any:
            t = torch_any["adapter"]
            header.append(f"PyTorch: {t['name']} ({t['backend']}). strict = TF32 off in cuDNN and matmul "
                          "(`torch.backends.cudnn.allow_tf32 = False`, `torch.backends.cuda.matmul.allow_tf32 = False`); "
                          "default = PyTorch's own settings.\n")
        lines = header + lines
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
