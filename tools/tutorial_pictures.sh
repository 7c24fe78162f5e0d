#!/usr/bin/env bash
# Regenerate every picture of docs/tutorial.md: run the tutorial's commands as written (its
# ```sh blocks, in order, outputs under runs/tutorial), then copy the pictures it shows into
# docs/tutorial/. About 3 minutes on lavapipe on a 2-core machine.
#
#   tools/tutorial_pictures.sh [--bin target/release/dcgan-inpaint]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/dcgan-inpaint
[ "${1:-}" = --bin ] && bin=$2
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first, or pass --bin"; exit 1; }
rm -rf runs/tutorial
mkdir -p docs/tutorial
# Each line of the shell blocks, as written, with `dcgan-inpaint` being the binary.
dcgan-inpaint() { "$bin" "$@"; }
awk '/^```/{inside = ($0 == "```sh"); next} inside' docs/tutorial.md | while IFS= read -r line; do
    echo "+ $line"
    eval "$line" < /dev/null
done
t=runs/tutorial
cp "$t/samples.png" docs/tutorial/samples.png
for step in 000100 000300 000600; do cp "$t/train/samples/step_$step.png" "docs/tutorial/step_$step.png"; done
cp "$t/loss.png" docs/tutorial/loss.png
cp "$t/complete/summary.png" docs/tutorial/complete-summary.png
first=$(find "$t/complete" -name progress.gif | sort | head -1)
cp "$first" docs/tutorial/complete-progress.gif
cp "$t/complete-poisson/summary.png" docs/tutorial/complete-poisson-summary.png
ls -la docs/tutorial
