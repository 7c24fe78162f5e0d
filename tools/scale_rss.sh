#!/usr/bin/env bash
# Peak memory (max RSS) of `complete` over N small inputs, for N in the arguments (default
# 1000 20000): the inputs are copies of one bundled face, completed with a classical fill
# (--method mean) so the run measures the job's own bookkeeping, not the GPU's. Needs GNU
# time (/usr/bin/time). Prints one line per N.
#   cargo build --release && tools/scale_rss.sh 1000 20000
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DCGAN_INPAINT:-$PWD/target/release/dcgan-inpaint}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
face=$(find data/olivetti -name '*.png' | sort | head -n 1)
for n in "${@:-1000 20000}"; do
    for n1 in $n; do
        rm -rf "$tmp/in" "$tmp/out"
        mkdir -p "$tmp/in"
        for ((i = 0; i < n1; i++)); do
            d="$tmp/in/$((i / 1000))"
            mkdir -p "$d"
            cp "$face" "$d/f$i.png"
        done
        start=$(date +%s)
        /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" complete "$tmp/in" --weights tests/fixtures/model/tiny.safetensors \
            --method mean --frames-every 0 --out "$tmp/out" >/dev/null 2>"$tmp/err" || { tail "$tmp/err"; exit 1; }
        done_n=$(find "$tmp/out" -name 'result.png' | wc -l)
        echo "$n1 inputs: max RSS $(( $(cat "$tmp/rss") / 1024 )) MiB, $done_n results, $(( $(date +%s) - start )) s"
    done
done
