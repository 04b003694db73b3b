#!/usr/bin/env bash
# Wall time of one-shot `pbm cluster show` (process start to exit) against a local `serve` node.
# Usage: bench/pbm-latency.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
dotnet build -c Release src/Coordinator >/dev/null && dotnet build -c Release src/Pbm >/dev/null
state=$(mktemp -d)
export LOCAL_CLUSTER_DIR=$state CLUSTER_PORT=${CLUSTER_PORT:-4153} PBM_PORT=${PBM_PORT:-9190}
deploy/local-cluster.sh up 0 >/dev/null
trap 'deploy/local-cluster.sh down >/dev/null' EXIT
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  dotnet src/Pbm/bin/Release/net10.0/pbm.dll "127.0.0.1:$PBM_PORT" cluster show >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
done | sort -n | awk '{a[NR]=$1} END {printf "pbm cluster show: median %.3f s, min %.3f s, max %.3f s over %d runs\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
