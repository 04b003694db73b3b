#!/usr/bin/env bash
# The sharded all-reduce's promises, measured by `train` itself on 127.0.0.1: the engine's param_sha256 for
# 1, 2, 3, 4 and 8 worker processes, for a run where a worker joins and then one is SIGKILLed mid-step,
# and each node's data-plane bytes per step (counted by the node) against 2·P·4·(N−1)/N.
# Usage: bench/sharded-allreduce.sh [lenet5|wide] [steps]
#   lenet5: batch 64, 1,000-step kill run; wide: the 5,088,010-parameter dense model, batch 64.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-wide}
steps=${2:-60}
dotnet build -c Release src/Coordinator >/dev/null
bin=src/Coordinator/bin/Release/net10.0
out=$(mktemp -d /tmp/cnn-sharded.XXXX)
spec=$model
if [ "$model" = wide ]; then
  spec=$out/wide.json
  cat > "$spec" <<'EOF'
{ "name": "wide", "input": [1, 28, 28], "classes": 10,
  "layers": [ { "type": "flatten" }, { "type": "dense", "out": 6400 }, { "type": "relu" }, { "type": "dense", "out": 10 } ] }
EOF
fi
common=(--model "$spec" --batch-size 64 --limit 4096 --seed 5 --epochs 100 --out "$out")
train() { dotnet $bin/CnnCluster.Coordinator.dll train "${common[@]}" "$@" 2>>"$out/log" | tail -1; }
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*).*/\1/"; }
nodes() { python3 -c '
import json,sys
s=json.loads(sys.stdin.read()); p=s["parameters"]; n=len(s["node_bytes_per_step"])-1
exp=2*p*4*(n-1)//n if n>1 else 0
for x in s["node_bytes_per_step"]:
    node, sent, recv, steps = x["node"], x["sent"], x["received"], x["steps"]
    e = "" if node=="coordinator" or n<2 else "  ({:.3f} / {:.3f} of 2*P*4*(N-1)/N = {:,})".format(sent/exp, recv/exp, exp)
    print("    {:>16}: {:>12,} sent {:>12,} received per step over {} steps{}".format(node, sent, recv, steps, e))'; }

engine=$(train --steps "$steps" | field param_sha256)
echo "$model, $steps steps: engine alone $engine"
for n in 1 2 3 4 8; do
  rm -f "$out/runs.db"
  json=$(train --steps "$steps" --worker-processes $n --worker-threads 1 --reduce sharded --db "$out/runs.db")
  hash=$(echo "$json" | field param_sha256)
  echo "  N = $n: $hash $([ "$hash" = "$engine" ] && echo same || echo DIFFERENT), $(echo "$json" | field images_per_sec) images/s"
  echo "$json" | nodes
done

# a worker joins at a third of the run, then one of the first three is killed: the engine's bits again
long=$((steps * 3))
engine=$(train --steps $long | field param_sha256)
port=$((20000 + RANDOM % 20000))
rm -f "$out/runs.db"
CNN_LOG_LEVEL=Information dotnet $bin/CnnCluster.Coordinator.dll train "${common[@]}" --steps $long --workers 0 --reduce sharded --cluster-port $port --db "$out/runs.db" >"$out/kill.out" 2>"$out/kill.err" &
coordinator=$!
worker() { CLUSTER_SEEDS=127.0.0.1:$port CLUSTER_HOSTNAME=127.0.0.1 CLUSTER_PORT=0 WORKER_THREADS=1 dotnet $bin/CnnCluster.Worker.dll >>"$out/workers.log" 2>&1 & echo $!; }
wait_for() { until grep -q "$2" "$1"; do sleep 0.2; kill -0 $coordinator 2>/dev/null || { echo "the run ended first"; exit 1; }; done; }
sleep 3
w1=$(worker); w2=$(worker); w3=$(worker)
wait_for "$out/kill.err" "; 3 workers"
until [ "$(grep -oE '^step [0-9]+' "$out/kill.out" | tail -1 | cut -d' ' -f2)" -ge $((long / 3)) ] 2>/dev/null; do sleep 0.2; done
w4=$(worker)
wait_for "$out/kill.err" "; 4 workers"
wait_for "$out/kill.err" "replica(s) sent"
sleep 1
kill -9 "$w2"
echo "  joined at step ~$((long / 3)), killed at step $(grep -oE '^step [0-9]+' "$out/kill.out" | tail -1 | cut -d' ' -f2) of $long"
wait $coordinator
hash=$(tail -1 "$out/kill.out" | field param_sha256)
echo "  join + SIGKILL: $hash $([ "$hash" = "$engine" ] && echo same || echo DIFFERENT) as the engine alone ($engine)"
grep -oE "step [0-9]+: worker [^ ]+ lost[^;]*; the step runs again[^\"]*" "$out/kill.err" | head -2 | sed 's/^/    /'
tail -1 "$out/kill.out" | nodes
kill "$w1" "$w3" "$w4" 2>/dev/null || true
rm -rf "$out"
