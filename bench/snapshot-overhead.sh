#!/usr/bin/env bash
# Training throughput of a persisted run (in-process worker, SQLite) with a snapshot every 100 steps
# against one only at the end of the epoch, alternating in one invocation.
# Usage: bench/snapshot-overhead.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
dotnet build -c Release src/Coordinator >/dev/null
db=$(mktemp -d)/runs.db
train() { dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll train --epochs 1 --workers 1 --db "$db" --out /tmp/cnn-bench "$@" 2>/dev/null | tail -1 | sed -E 's/.*"images_per_sec":([0-9.]+).*/\1/'; }
ratios=()
for r in $(seq "$repeats"); do
  # which goes first alternates, so an order effect (the database grows run by run) cancels out
  if (( r % 2 )); then a=$(train --snapshot-every 100); b=$(train --snapshot-every 1000000)
  else b=$(train --snapshot-every 1000000); a=$(train --snapshot-every 100); fi
  printf 'run %d: every 100 steps %8.1f images/s   epoch end only %8.1f images/s\n' "$r" "$a" "$b"
  ratios+=("$(awk "BEGIN {print $a / $b}")")
done
# the median of the per-pair ratios: one disturbed run moves a mean of sums, not this
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
printf 'snapshots every 100 steps / epoch end only, median of %d pairs: %.3f (pairs: %s)\n' "$repeats" "$median" "${ratios[*]}"
