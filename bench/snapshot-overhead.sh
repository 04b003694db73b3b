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
every=0; none=0
for r in $(seq "$repeats"); do
  a=$(train --snapshot-every 100); b=$(train --snapshot-every 1000000)
  printf 'run %d: every 100 steps %8.1f images/s   epoch end only %8.1f images/s\n' "$r" "$a" "$b"
  every=$(echo "$every + $a" | bc -l); none=$(echo "$none + $b" | bc -l)
done
printf 'snapshots every 100 steps / epoch end only: %.3f\n' "$(echo "$every / $none" | bc -l)"
