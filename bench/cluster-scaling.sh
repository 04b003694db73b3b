#!/usr/bin/env bash
# Cluster overhead and scaling, measured by the `train` command itself (images/s of the training
# loop, from its JSON summary). Runs alternate in one invocation, so the ratios compare like with
# like on a shared machine. Usage: bench/cluster-scaling.sh [epochs] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
repeats=${2:-2}
dotnet build -c Release src/Coordinator >/dev/null
train() { dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll train --epochs "$epochs" --out /tmp/cnn-bench "$@" 2>/dev/null | tail -1; }
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*).*/\1/"; }

declare -A sum
for r in $(seq "$repeats"); do
  for name in engine-b256 inproc1-b256 proc1x1-b256 proc2x1-b256; do
    case $name in
      engine-b256)  json=$(train --batch-size 256 --threads 2) ;;
      inproc1-b256) json=$(train --batch-size 256 --workers 1 --worker-threads 2) ;;
      proc1x1-b256) json=$(train --batch-size 256 --worker-processes 1 --worker-threads 1) ;;
      proc2x1-b256) json=$(train --batch-size 256 --worker-processes 2 --worker-threads 1) ;;
    esac
    ips=$(echo "$json" | field images_per_sec)
    wire=$(echo "$json" | grep -q wire_bytes_per_step && echo "$json" | field wire_bytes_per_step || echo 0)
    printf '%-14s run %d: %8.1f images/s  %10s wire bytes/step  sha %s\n' "$name" "$r" "$ips" "$wire" "$(echo "$json" | field param_sha256 | cut -c1-12)"
    sum[$name]=$(echo "${sum[$name]:-0} + $ips" | bc -l)
  done
done
echo
printf 'in-process worker / engine alone (batch 256, 2 threads): %.3f\n' "$(echo "${sum[inproc1-b256]} / ${sum[engine-b256]}" | bc -l)"
printf '2 worker processes / 1 (1 thread each, batch 256):        %.3f\n' "$(echo "${sum[proc2x1-b256]} / ${sum[proc1x1-b256]}" | bc -l)"
