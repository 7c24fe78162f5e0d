#!/usr/bin/env python3
"""The README's full-resolution example, made by the project: the NASA portrait of
astronaut Eileen Collins (public domain; shipped with scikit-image as skimage/data/
astronaut.png), as a JPEG, with three holes painted at its own resolution (an eye, the
mouth, a blemish on the cheek), each completed by `dcgan-inpaint complete` with the shipped
face model on the square around the face; then one figure of the face (the crop is only for
the figure: the results are the whole 512x512 photo).

    python3 -m pip download scikit-image --no-deps -d /tmp/sk && unzip -o -d /tmp/sk /tmp/sk/*.whl skimage/data/astronaut.png
    python3 tools/readme_photo.py /tmp/sk/skimage/data/astronaut.png    # needs Pillow

Writes docs/photo/: astronaut.jpg, mask-*.png, result-*.jpg, and docs/photo-astronaut.png.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/dcgan-inpaint")
OUT = os.path.join(ROOT, "docs/photo")
REGION = "166,60,124"  # the face, framed as the Olivetti photos are
HOLES = {"eye": (190, 100, 230, 122), "mouth": (200, 135, 250, 152), "cheek": (235, 118, 262, 140)}


def main():
    os.makedirs(OUT, exist_ok=True)
    photo = os.path.join(OUT, "astronaut.jpg")
    Image.open(sys.argv[1]).convert("RGB").save(photo, quality=92)
    crops = [Image.open(photo).crop((150, 50, 300, 200))]
    for name, box in HOLES.items():
        mask = Image.new("L", (512, 512), 255)
        ImageDraw.Draw(mask).ellipse(box, fill=0)
        mask_path = os.path.join(OUT, f"mask-{name}.png")
        mask.save(mask_path)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([BIN, "complete", photo, "--mask", mask_path, "--region", REGION, "--out", os.path.join(tmp, "out")], check=True)
            shutil.copy(os.path.join(tmp, "out/astronaut/result.jpg"), os.path.join(OUT, f"result-{name}.jpg"))
        shown = Image.open(photo).convert("RGB")
        ImageDraw.Draw(shown).ellipse(box, outline=(230, 40, 60), width=2)
        crops.append(shown.crop((150, 50, 300, 200)))
        crops.append(Image.open(os.path.join(OUT, f"result-{name}.jpg")).crop((150, 50, 300, 200)))
    # The original, then per hole: where it is (red), and the result.
    figure = Image.new("RGB", (len(crops) * 152, 150), "white")
    for k, crop in enumerate(crops):
        figure.paste(crop, (k * 152, 0))
    figure.save(os.path.join(ROOT, "docs/photo-astronaut.png"))


if __name__ == "__main__":
    main()
