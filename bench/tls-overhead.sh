#!/usr/bin/env bash
# What the cluster's TLS costs: the same sharded run on 2 single-thread worker processes over 127.0.0.1,
# plain and with CLUSTER_SECRETS (mutual TLS for remoting and the data plane), alternated within each
# repeat so the ratio compares like with like on a shared machine. Both must give the same hash.
# Usage: bench/tls-overhead.sh [epochs=1] [repeats=3] [batch=256]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
repeats=${2:-3}
batch=${3:-256}
dotnet build -c Release src/Coordinator >/dev/null
out=$(mktemp -d /tmp/cnn-tls.XXXX)
dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll secrets --out "$out/secrets" >/dev/null
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*).*/\1/"; }
run() {
  rm -f "$out/runs.db"
  env CLUSTER_SECRETS="$1" dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll train --epochs "$epochs" -b "$batch" \
    --worker-processes 2 --worker-threads 1 --reduce sharded --db "$out/runs.db" --out "$out" 2>/dev/null | tail -1
}
printf "%-6s %6s %10s  %s\n" mode repeat images/s param_sha256
declare -A sum=([plain]=0 [tls]=0)
first=""
for r in $(seq "$repeats"); do
  for mode in plain tls; do
    secrets=""; [ "$mode" = tls ] && secrets="$out/secrets"
    line=$(run "$secrets")
    ips=$(echo "$line" | field images_per_sec); sha=$(echo "$line" | field param_sha256)
    printf "%-6s %6d %10.0f  %s\n" "$mode" "$r" "$ips" "${sha:0:16}"
    sum[$mode]=$(echo "${sum[$mode]} + $ips" | bc -l)
    first=${first:-$sha}
    [ "$sha" = "$first" ] || { echo "hash differs: $sha vs $first"; exit 1; }
  done
done
printf "tls / plain images/s: %.3f (mean of %d alternated runs each)\n" "$(echo "${sum[tls]} / ${sum[plain]}" | bc -l)" "$repeats"
