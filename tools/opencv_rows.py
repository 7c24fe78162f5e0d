#!/usr/bin/env python3
"""OpenCV's inpainting as rows of the quality table: what `cv2.inpaint` users would pick
instead of dcgan-inpaint. The project never depends on OpenCV; this script fills the masks
`quality --export` wrote, and `quality --import` measures the fills in Rust beside the
other rows (the same images, masks and metrics).

    python3 -m venv /tmp/cv && /tmp/cv/bin/pip install opencv-python-headless numpy
    dcgan-inpaint quality ... --export runs/q-export            # images + masks, per mask
    /tmp/cv/bin/python tools/opencv_rows.py runs/q-export runs/q-opencv
    dcgan-inpaint quality ... --import "OpenCV Telea=runs/q-opencv/telea" \
                              --import "OpenCV Navier-Stokes=runs/q-opencv/ns"

For each `<mask>/<image>.png` with its `<image>.mask.png` (white = known) under EXPORT,
writes OUT/telea/<mask>/<image>.png (Telea 2004, cv2.INPAINT_TELEA) and OUT/ns/<mask>/
<image>.png (Bertalmio et al. 2001, cv2.INPAINT_NS), both with inpaintRadius RADIUS
(default 3, OpenCV's documentation example). Masks without known pixels (lowres) are
skipped: OpenCV has nothing to fill from; the table then needs no --import for them.
"""

import argparse
import os
import sys

import cv2
import numpy as np

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export", help="the folder `quality --export` wrote")
    ap.add_argument("out", help="where to write telea/ and ns/")
    ap.add_argument("--radius", type=float, default=3.0)
    a = ap.parse_args()
    if not os.path.isdir(a.export):
        sys.exit(f"{a.export} is not a folder: run `dcgan-inpaint quality ... --export {a.export}` first")
    filled = 0
    for mask_dir in sorted(os.listdir(a.export)):
        src = os.path.join(a.export, mask_dir)
        if not os.path.isdir(src):
            continue
        for name in sorted(os.listdir(src)):
            if not name.endswith(".mask.png"):
                continue
            stem = name[: -len(".mask.png")]
            image = cv2.imread(os.path.join(src, stem + ".png"), cv2.IMREAD_COLOR)
            known = cv2.imread(os.path.join(src, name), cv2.IMREAD_GRAYSCALE)
            if image is None or known is None:
                sys.exit(f"cannot read {os.path.join(src, stem)}.png or its mask")
            hole = (known < 128).astype(np.uint8) * 255
            if hole.all():
                continue
            for method, flag in METHODS.items():
                dst = os.path.join(a.out, method, mask_dir)
                os.makedirs(dst, exist_ok=True)
                result = cv2.inpaint(image, hole, a.radius, flag)
                tmp = os.path.join(dst, f".{stem}.tmp.png")
                cv2.imwrite(tmp, result)
                os.replace(tmp, os.path.join(dst, stem + ".png"))
            filled += 1
    print(f"filled {filled} image(s) x {len(METHODS)} methods into {a.out}/{{{','.join(METHODS)}}}", file=sys.stderr)


if __name__ == "__main__":
    main()
