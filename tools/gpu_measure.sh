#!/usr/bin/env bash
# One-shot measurement on a machine with a GPU and PyTorch: builds nothing, takes the
# prebuilt binary, and in one run writes the side-by-side table (ours per kernel set and
# `auto` against PyTorch with strict FP32 and with its TF32 defaults) and the roofline.
#
#   tools/gpu_measure.sh OUT_DIR [--device cuda|cpu] [--bin PATH] [--python PY]
#                        [--batch N] [--reps N] [--budget SECONDS] [--unpack-loader DIR]
#
#   OUT_DIR/README.md            the table (tools/gpu_table.py), per model
#   OUT_DIR/roofline-MODEL.svg   the roofline of `auto`
#   OUT_DIR/*.json, log.txt      every run's report, and what the script ran and printed
#
# Models: the default (s64 c3 w64 k5) and the shipped size (s64 c1 w32 k4), batch 64. For
# each: `auto` (a fresh tuning cache, its tuning time reported, the roofline drawn), PyTorch
# strict and default, then every fixed kernel set the adapter runs. Runs still waiting when
# --budget seconds (default 420) have passed are skipped and named in log.txt, so the whole
# stays inside a time limit. Proven end to end on lavapipe + PyTorch CPU:
#   tools/gpu_measure.sh /tmp/m --device cpu --python /tmp/torchenv/bin/python --batch 8 --reps 1
# On a machine without a Vulkan loader (`ldconfig -p | grep libvulkan` prints nothing),
# --unpack-loader DIR unpacks the .deb files in DIR (libvulkan1 and the GL/EGL dispatch
# libraries, downloaded elsewhere with `apt-get download`) into / first.
set -uo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
out=$1; shift
device=cuda; bin=target/release/dcgan-inpaint; python=python3; batch=64; reps=5; budget=420; loader=""
while [ $# -gt 0 ]; do
    case $1 in
        --device) device=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --unpack-loader) loader=$2; shift 2 ;;
        *) echo "unknown argument '$1'"; usage ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" || exit 1
log="$out/log.txt"
: > "$log"
say() { echo "$*" | tee -a "$log"; }

if [ -n "$loader" ]; then
    for f in "$loader"/*.deb; do dpkg -x "$f" / || exit 1; done
    ldconfig
fi
if [ ! -x "$bin" ]; then
    say "no binary at $bin: build it first (cargo build --release) and pass --bin"; exit 1
fi
if ! "$python" -c "import torch" 2>/dev/null; then
    say "$python cannot import torch: pass --python with a PyTorch install"; exit 1
fi
if [ "$device" = cuda ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi

start=$SECONDS
# run NAME CMD...: run one measurement unless the budget is spent; its output goes to the log.
run() {
    local name=$1; shift
    if [ $((SECONDS - start)) -ge "$budget" ]; then
        say "SKIPPED $name: the ${budget}s budget is spent"
        return
    fi
    say "== $name ($((SECONDS - start)) s in): $*"
    local t0=$SECONDS
    "$@" >> "$log" 2>&1
    local rc=$?
    say "   exit $rc after $((SECONDS - t0)) s"
}

"$bin" info 2>&1 | tee -a "$log" | sed -n '/Chosen adapter/,/runnable/p'
sets=$("$bin" info 2>/dev/null | sed -n 's/^  runnable: *\([a-z0-9_,]*\).*/\1/p' | tr ',' ' ')
if [ -z "$sets" ]; then say "dcgan-inpaint info names no runnable kernel set: no adapter?"; exit 1; fi
"$python" -c "import torch; print('PyTorch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'no cuda')" | tee -a "$log"

models="default: --kernel 5 --channels 3 --width 64
shipped: --kernel 4 --channels 1 --width 32"
echo "$models" > "$out/models.txt"
export DCGAN_TUNE_CACHE="$out/kernels.json"
rm -f "$DCGAN_TUNE_CACHE"

while IFS=: read -r model flags; do
    # shellcheck disable=SC2086  # the flags are words
    run "$model auto" "$bin" bench $flags --batch "$batch" --reps "$reps" --kernels auto \
        --json "$out/ours-$model-auto.json" --roofline "$out/roofline-$model.svg"
    for precision in strict default; do
        run "$model PyTorch $precision" "$python" "$here/bench_torch.py" $flags --batch "$batch" --reps "$reps" \
            --device "$device" --precision "$precision" --json "$out/torch-$model-$precision.json"
    done
done <<< "$models"
# The fixed sets after the headline numbers, so a tight budget drops these first.
while IFS=: read -r model flags; do
    for set in $sets; do
        run "$model $set" "$bin" bench $flags --batch "$batch" --reps "$reps" --kernels "$set" --json "$out/ours-$model-$set.json"
    done
done <<< "$models"

say "all runs: $((SECONDS - start)) s"
"$python" "$here/gpu_table.py" "$out" > /dev/null || say "gpu_table.py failed"
say "wrote $out/README.md"
