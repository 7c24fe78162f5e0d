#!/usr/bin/env python3
"""Side-by-side table of two benchmark JSON files (ours from `dcgan-inpaint bench --json`,
PyTorch's from tools/bench_torch.py): speed ratio = ours / PyTorch (1.0 = as fast).

    python3 tools/compare.py ours.json torch.json
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py OURS.json THEIRS.json")
    ours, theirs = (json.load(open(p)) for p in sys.argv[1:])
    print(f"ours:   {ours['adapter']['name']} ({ours['adapter']['backend']})")
    print(f"theirs: {theirs['adapter']['name']} ({theirs['adapter']['backend']})\n")
    print(f"{'kernel':<28} {'shape':<32} {'ours ms':>9} {'theirs ms':>10} {'ratio':>7}")
    by_name = {k["name"]: k for k in theirs.get("kernels", [])}
    for k in ours.get("kernels", []):
        t = by_name.get(k["name"])
        if t:
            print(f"{k['name']:<28} {k['shape']:<32} {k['ms']:>9.3f} {t['ms']:>10.3f} {t['ms'] / k['ms']:>7.3f}")
    s, ts = ours["train_step"], theirs["train_step"]
    c, tc = ours["complete_iter"], theirs["complete_iter"]
    print(f"\n{'training step (images/s)':<40} {s['images_per_s']:>10.2f} {ts['images_per_s']:>10.2f} {s['images_per_s'] / ts['images_per_s']:>7.3f}")
    print(f"{'completion iteration (images x iters/s)':<40} {c['images_iters_per_s']:>10.2f} {tc['images_iters_per_s']:>10.2f} "
          f"{c['images_iters_per_s'] / tc['images_iters_per_s']:>7.3f}")


if __name__ == "__main__":
    main()
