#!/usr/bin/env bash
# A real Slurm cluster (one node, on localhost) runs `complete` as a job array with the
# README's sbatch script (tools/slurm/complete-array.sbatch), and then:
#   1. 4 tasks over 40 faces; `report` merges them: every image completed exactly once,
#      each within 2/255 of a single-process run of the same inputs;
#   2. one task cancelled mid-run (scancel) and resubmitted with --resume: the results it
#      had written stay as they were, and nothing is missing.
# Installs Debian's slurm-wlm and munge when missing. Every daemon runs from a temporary
# folder (its config, keys, state and logs) and is stopped by its pid at the end.
#   cargo build --release && tools/slurm/test.sh        (.ci/run runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${DCGAN_INPAINT:-$root/target/release/dcgan-inpaint}
[ -x "$bin" ] || { echo "no $bin: build it first (cargo build --release)" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "Slurm not found: installing slurm-wlm and munge (Debian/Ubuntu packages)." >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

tmp=$(mktemp -d /tmp/dcgan-slurm.XXXXXX)
chmod 755 "$tmp"
started=()
stop() {
    local status=$?
    if [ $status -ne 0 ]; then
        echo "FAILED (status $status); the daemons' logs:" >&2
        for log in slurmctld slurmd munged; do
            [ -f "$tmp/$log.log" ] && { echo "--- $log.log" >&2; tail -n 20 "$tmp/$log.log" >&2; }
        done
        for out in "$tmp"/slurm-*.out; do
            [ -f "$out" ] && { echo "--- $(basename "$out")" >&2; tail -n 20 "$out" >&2; }
        done
    fi
    # Every daemon this script started, by pid, newest first; then wait for each to go.
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        $sudo kill "${started[$i]}" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    $sudo rm -rf "$tmp"
    exit $status
}
trap stop EXIT

# The daemon writes its pid file once it runs in the background: wait for it.
pid_of() {
    for _ in $(seq 100); do
        if [ -s "$1" ]; then cat "$1"; return 0; fi
        sleep 0.1
    done
    echo "no pid file $1" >&2
    return 1
}

# Two free ports for slurmctld and slurmd.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo $port; return; }
    done
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

host=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"
head -c 1024 /dev/urandom >"$tmp/munge.key"
chmod 400 "$tmp/munge.key"
$sudo munged --key-file="$tmp/munge.key" --socket="$tmp/munge.socket" --pid-file="$tmp/munged.pid" \
    --log-file="$tmp/munged.log" --seed-file="$tmp/munge.seed" --force
started+=("$(pid_of "$tmp/munged.pid")")

cat >"$tmp/slurm.conf" <<EOF
ClusterName=dcgan
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf
$sudo slurmctld -f "$SLURM_CONF"
started+=("$(pid_of "$tmp/slurmctld.pid")")
$sudo slurmd -f "$SLURM_CONF"
started+=("$(pid_of "$tmp/slurmd.pid")")
for _ in $(seq 100); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 0.2
done
sinfo -h -o %T | grep -q idle || { echo "the node never became idle: $(sinfo 2>&1)" >&2; exit 1; }
echo "one-node Slurm cluster up on $host (slurmctld :$ctld_port, slurmd :$slurmd_port)"

# 40 faces of the bundled set in two subfolders: the input tree.
mkdir -p "$tmp/inputs/a" "$tmp/inputs/b"
k=0
for f in $(find data/olivetti -name '*.png' | sort | head -n 40); do
    cp "$f" "$tmp/inputs/$([ $((k % 2)) = 0 ] && echo a || echo b)/"
    k=$((k + 1))
done
flags=(--weights "$root/tests/fixtures/model/tiny.safetensors" --iters 20 --ilo-layers 0 --frames-every 0)
export DCGAN_INPAINT=$bin

wait_for_job() {
    for _ in $(seq 1800); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
        sleep 0.2
    done
    echo "job $1 still queued or running after 6 minutes: $(squeue -j "$1")" >&2
    return 1
}

results() { find "$1" -name 'result.png' | wc -l; }

echo "== 1. a single process, then an array of 4 tasks over the same 40 inputs"
"$bin" complete "$tmp/inputs" "${flags[@]}" --out "$tmp/single" >/dev/null 2>&1
[ "$(results "$tmp/single")" = 40 ] || { echo "the single run completed $(results "$tmp/single") of 40" >&2; exit 1; }
job=$(sbatch --parsable --array=0-3 --output="$tmp/slurm-%A_%a.out" tools/slurm/complete-array.sbatch "$tmp/inputs" "$tmp/array" "${flags[@]}")
wait_for_job "$job"
for k in 0 1 2 3; do
    grep -q "shard $k of 4 (--shard)" "$tmp/slurm-${job}_$k.out" || { echo "task $k did not say its shard" >&2; exit 1; }
done
"$bin" report "$tmp"/array/shard-* --against "$tmp/single" --out "$tmp/report" 2>"$tmp/report.txt"
cat "$tmp/report.txt"
grep -q "40 image(s) from 4 run(s); 0 missing, 0 failed, 0 done twice" "$tmp/report.txt"
worst=$(sed -n 's/.*40 image(s) compared, largest difference \([0-9]*\)\/255.*/\1/p' "$tmp/report.txt")
[ -n "$worst" ] && [ "$worst" -le 2 ] || { echo "the array's results differ from the single run's by ${worst:-?}/255" >&2; exit 1; }

echo "== 2. task 1 again, slower; cancelled mid-run with scancel, resubmitted with --resume"
slow=(--weights "$root/tests/fixtures/model/tiny.safetensors" --iters 400 --batch 2 --ilo-layers 0 --frames-every 0)
job=$(sbatch --parsable --array=1 --export=ALL,SHARDS=4 --output="$tmp/slurm-%A_%a.out" tools/slurm/complete-array.sbatch "$tmp/inputs" "$tmp/again" "${slow[@]}")
for _ in $(seq 1500); do
    [ -d "$tmp/again/shard-1" ] && [ "$(results "$tmp/again/shard-1")" -ge 1 ] && break
    [ -z "$(squeue -h -j "$job")" ] && { echo "task 1 ended before its first result" >&2; exit 1; }
    sleep 0.2
done
scancel "$job"
wait_for_job "$job"
before=$(results "$tmp/again/shard-1")
owned=$(find "$tmp/array/shard-1" -name result.png | wc -l)
echo "cancelled with $before of $owned results written"
find "$tmp/again/shard-1" -name result.png -exec stat -c '%n %Y' {} + | sort >"$tmp/before.txt"
find "$tmp/again/shard-1" -name result.png -exec md5sum {} + | sort >>"$tmp/before.txt"
job=$(sbatch --parsable --array=1 --export=ALL,SHARDS=4 --output="$tmp/slurm-%A_%a.out" tools/slurm/complete-array.sbatch "$tmp/inputs" "$tmp/again" "${slow[@]}" --resume)
wait_for_job "$job"
grep -q "resume: $before of $owned inputs already have a result" "$tmp/slurm-${job}_1.out" || { echo "the resubmitted task did not resume from $before" >&2; exit 1; }
# Nothing redone: every result from before the cancel is the same file, unchanged.
after=$(mktemp)
find "$tmp/again/shard-1" -name result.png -exec stat -c '%n %Y' {} + | sort >"$after"
find "$tmp/again/shard-1" -name result.png -exec md5sum {} + | sort >>"$after"
while read -r line; do
    grep -qxF "$line" "$after" || { echo "redone or changed after --resume: $line" >&2; exit 1; }
done <"$tmp/before.txt"
rm -f "$after"
# Nothing missing: the resumed shard with the other three covers all 40, once each.
"$bin" report "$tmp/array/shard-0" "$tmp/again/shard-1" "$tmp/array/shard-2" "$tmp/array/shard-3" \
    --out "$tmp/report-2" 2>"$tmp/report-2.txt"
cat "$tmp/report-2.txt"
grep -q "40 image(s) from 4 run(s); 0 missing, 0 failed, 0 done twice" "$tmp/report-2.txt"
echo "Slurm test passed: 4 array tasks, one cancelled and resumed, 40 images each done once."
