#!/usr/bin/env bash
# Memory of `train` (engine alone, the README's main job) epoch by epoch: the process's resident set at
# each epoch's end and its peak so far (VmHWM), sampled from /proc every 50 ms. Flat numbers after the
# first epoch mean nothing grows across epochs. Run by hand:
#   bench/train-memory.sh [EPOCHS] [extra train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
shift || true
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
out="$(mktemp -d)"
dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll train --model lenet5 --epochs "$epochs" --out "$out" "$@" > "$out/stdout" 2> "$out/stderr" &
pid=$!
seen=0
peak_after_first=""
printf '%-8s %14s %14s\n' "epoch" "RSS (MiB)" "peak (MiB)"
while kill -0 "$pid" 2>/dev/null; do
    status="$(cat /proc/$pid/status 2>/dev/null || true)"
    rss=$(awk '/^VmRSS/ {print $2}' <<< "$status")
    hwm=$(awk '/^VmHWM/ {print $2}' <<< "$status")
    done_epochs=$(grep -c '^epoch [0-9]*/' "$out/stdout" || true)
    if [[ -n "$hwm" && "$done_epochs" -gt "$seen" ]]; then
        seen=$done_epochs
        printf '%-8s %14.1f %14.1f\n' "$seen/$epochs" "$(awk "BEGIN {print $rss / 1024}")" "$(awk "BEGIN {print $hwm / 1024}")"
        [[ -z "$peak_after_first" ]] && peak_after_first=$hwm
        last_hwm=$hwm
    fi
    sleep 0.05
done
wait "$pid"
tail -n 1 "$out/stdout"
if [[ -n "$peak_after_first" ]]; then
    echo "peak after epoch 1: $((peak_after_first / 1024)) MiB; after the last epoch: $((last_hwm / 1024)) MiB; growth $(((last_hwm - peak_after_first) / 1024)) MiB"
fi
rm -rf "$out"
