#!/usr/bin/env python3
"""The page's default job, timed: what a person waits for after pressing Complete on the
page with nothing changed (a held-out face, the center preset), against the page's default
before the encoder and auto (`method dcgan`, z from a random start, 200 z updates and 100
per freed layer: the defaults of commit 9ece01f). Both run on one server, one after the
other, REPS times each, through the same API the page calls; each job's own `seconds`
(from its submission to its result) is what is reported, with the hole PSNR of the result.

    cargo build --release && python3 tools/page_timing.py [--reps 3]      # needs Pillow, numpy

Prints a Markdown table. Nothing else runs on the machine meanwhile, or the times say so.
"""

import argparse
import base64
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/dcgan-inpaint")
FACE = os.path.join(ROOT, "weights/examples/faces/s40_10.png")
BEFORE = {"method": "dcgan", "start": "random", "iters": 200, "ilo_iters": 100}


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def events(url):
    """The job's server-sent events until the last one."""
    with urllib.request.urlopen(url, timeout=600) as r:
        name = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name in ("done", "error", "cancelled"):
                return name, json.loads(line[5:])


def hole_psnr(result_png, original, mask):
    got = np.asarray(Image.open(io.BytesIO(result_png)).convert("L"), dtype=np.float64) / 255
    d = (got - original)[mask]
    return 10 * np.log10(1 / np.mean(d * d))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    server = subprocess.Popen([BIN, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = None
        for line in server.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if m:
                base = m.group(1)
                break
        if base is None:
            sys.exit("the server did not say where it listens")
        image = base64.b64encode(open(FACE, "rb").read()).decode()
        original = np.asarray(Image.open(FACE).convert("L").resize((64, 64)), dtype=np.float64) / 255
        mask = np.zeros((64, 64), bool)
        mask[16:48, 16:48] = True  # the center preset at 64x64
        rows = []
        for label, options in [("before: DCGAN, random start, 200 + 2 x 100 updates", BEFORE), ("now: the defaults (auto, encoder start, 25 + 2 x 15)", {})]:
            for rep in range(a.reps):
                job = post(base + "/api/v1/jobs", {"image": image, "preset": "center", "options": options})
                name, done = events(base + job["events"])
                if name != "done":
                    sys.exit(f"{label}: the job ended with {name}: {done}")
                with urllib.request.urlopen(base + done["result"]) as r:
                    psnr = hole_psnr(r.read(), original, mask)
                rows.append((label, rep + 1, done["seconds"], psnr, done.get("method_name") or done.get("method")))
                print(f"{label} #{rep + 1}: {done['seconds']:.2f} s, hole PSNR {psnr:.2f} dB", file=sys.stderr)
        print("| job | run | seconds | hole PSNR (dB) | method |\n| --- | ---: | ---: | ---: | --- |")
        for label, rep, secs, psnr, method in rows:
            print(f"| {label} | {rep} | {secs:.2f} | {psnr:.2f} | {method} |")
        mean = lambda which: np.mean([r[2] for r in rows if r[0].startswith(which)])
        print(f"\nmean: before {mean('before'):.2f} s, now {mean('now'):.2f} s: {mean('before') / mean('now'):.1f}x faster")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
