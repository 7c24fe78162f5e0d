#!/usr/bin/env python3
"""Side-by-side table of two benchmark JSON files (ours from `dcgan-inpaint bench --json`,
PyTorch's from tools/bench_torch.py): every kernel's time and throughput on both sides, and
the speed ratio = ours / PyTorch (1.0 = as fast, 0.25 = a quarter of PyTorch's speed).

    python3 tools/compare.py ours.json torch.json
"""
import json
import sys


def rate(k):
    """Throughput of one kernel entry: GFLOP/s where compute-bound, GB/s where memory-bound."""
    if k.get("gflops") is not None:
        return f"{k['gflops']:8.1f} GF"
    if k.get("gbps") is not None:
        return f"{k['gbps']:8.1f} GB"
    return f"{'-':>11}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py OURS.json THEIRS.json")
    ours, theirs = (json.load(open(p)) for p in sys.argv[1:])
    a = ours["adapter"]
    print(f"ours:   {a['name']} ({a['backend']}, {a.get('kernels', '?')} kernels, timed by {a.get('timer', '?')})")
    print(f"theirs: {theirs['adapter']['name']} ({theirs['adapter']['backend']})")
    s, ts = ours["train_step"], theirs["train_step"]
    print(f"model:  s {s['image_size']}, c {s['channels']}, z {s['z_dim']}, gf {s['gf']}, df {s['df']}, k {s['kernel']}, batch {s['batch']}\n")
    print(f"{'kernel':<28} {'shape':<32} {'ours ms':>9} {'ours':>11} {'theirs ms':>10} {'theirs':>11} {'ratio':>7}")
    by_name = {k["name"]: k for k in theirs.get("kernels", [])}
    for k in ours.get("kernels", []):
        t = by_name.get(k["name"])
        if t:
            print(f"{k['name']:<28} {k['shape']:<32} {k['ms']:>9.3f} {rate(k)} {t['ms']:>10.3f} {rate(t)} {t['ms'] / k['ms']:>7.3f}")
    c, tc = ours["complete_iter"], theirs["complete_iter"]
    print(f"\n{'':<40} {'ours':>10} {'theirs':>10} {'ratio':>7}")
    print(f"{'training step (images/s)':<40} {s['images_per_s']:>10.2f} {ts['images_per_s']:>10.2f} {s['images_per_s'] / ts['images_per_s']:>7.3f}")
    print(f"{'completion iteration (images x iters/s)':<40} {c['images_iters_per_s']:>10.2f} {tc['images_iters_per_s']:>10.2f} "
          f"{c['images_iters_per_s'] / tc['images_iters_per_s']:>7.3f}")
    for name, step in (("training step", s), ("completion iteration", c)):
        if "dispatches" in step:
            print(f"\n{name}: {step['dispatches']} dispatches in {step['submissions']} submission(s); as many empty "
                  f"dispatches take {step['dispatch_overhead_ms']:.1f} ms ({100 * step['dispatch_overhead_ms'] / step['wall_ms']:.1f}% of the step)")
            total = sum(k["ms"] for k in step["profile"])
            print(f"  where the time goes, each dispatch run alone ({total:.0f} ms in all):")
            for k in step["profile"][:10]:
                print(f"    {k['entry']:<36} {k['dispatches']:5} x {k['ms']:9.1f} ms {100 * k['ms'] / total:5.1f}%")
    m = ours.get("memory", {})
    if m.get("peak_bytes"):
        print(f"\ntraining step memory (ours): peak {m['peak_bytes'] / 2**20:.1f} MiB, minimum about {m['minimum_bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
