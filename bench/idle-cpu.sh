#!/usr/bin/env bash
# What an idle cluster costs the machine: a coordinator and one worker process (deploy/local-cluster.sh) that run
# nothing, each process's CPU over a window after they joined, in % of one core. Akka's scheduler ticks and the
# thread pool's spin after each wake-up are what an idle node burns (see akka.scheduler.tick-duration in
# src/Shared/Hosting/ClusterHosting.cs); a training node pays the same beside its compute.
# Usage: bench/idle-cpu.sh [seconds]   (BASELINE=REV: also a tree built at REV, alternated with this one)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
dotnet build -c Release src/Coordinator >/dev/null
trees=(.)
if [ -n "${BASELINE:-}" ]; then
  base=/tmp/cnn-baseline-$(git rev-parse --short "$BASELINE")
  [ -d "$base" ] || git worktree add --detach "$base" "$BASELINE" >/dev/null
  dotnet build -c Release "$base/src/Coordinator" >/dev/null
  trees=("$base" .)
fi
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for tree in "${trees[@]}"; do
  state=$(mktemp -d /tmp/cnn-idle.XXXX)
  port=$((20000 + RANDOM % 20000))
  LOCAL_CLUSTER_DIR=$state CLUSTER_PORT=$port PBM_PORT=$((port + 1)) HTTP_PORT=0 WORKER_THREADS=1 "$tree/deploy/local-cluster.sh" up 1 >/dev/null
  sleep 15 # joined, data loaded, start-up compiled
  pids=("$(cat "$state/coordinator.pid")" "$(cat "$state"/worker-*.pid)")
  before=(); for p in "${pids[@]}"; do before+=("$(ticks "$p")"); done
  sleep "$seconds"
  hz=$(getconf CLK_TCK)
  names=(coordinator worker)
  for i in 0 1; do
    awk -v a="${before[$i]}" -v b="$(ticks "${pids[$i]}")" -v s="$seconds" -v hz="$hz" -v n="${names[$i]}" -v t="$(git -C "$tree" describe --always --dirty)" \
      'BEGIN { printf "%-14s %-12s idle: %5.1f%% of a core\n", t, n, 100 * (b - a) / hz / s }'
  done
  LOCAL_CLUSTER_DIR=$state "$tree/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$state"
done
