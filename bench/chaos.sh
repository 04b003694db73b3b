#!/usr/bin/env bash
# A chaos run, by hand (not in CI): a local cluster on 127.0.0.1 with PostgreSQL, a coordinator (`serve`)
# and 3 worker processes, one run submitted through pbm; for DURATION seconds a random worker is SIGKILLed
# every 15-30 s and started again, the coordinator is SIGKILLed every 2-4 minutes and started again, and
# PostgreSQL is restarted every 5 minutes. Then the run is left to finish; its param_sha256 must be the
# engine's for the same options. Prints how many faults of each kind it survived and the steps recomputed.
# Usage: bench/chaos.sh [duration-seconds=1200] [steps=40000] [reduce=sharded]
# Needs the PostgreSQL of `scripts/setup.sh --test-deps` (role cnn, database cnncluster) and pg_ctlcluster.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-1200}
steps=${2:-40000}
reduce=${3:-sharded}
dotnet build -c Release src/Coordinator >/dev/null
dotnet build -c Release src/Pbm >/dev/null
bin=src/Coordinator/bin/Release/net10.0
pbm() { dotnet src/Pbm/bin/Release/net10.0/pbm.dll "127.0.0.1:$pbm_port" "$@"; }
out=$(mktemp -d /tmp/cnn-chaos.XXXX)
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
cluster_port=47101; pbm_port=47102
export PERSISTENCE_PROVIDER=PostgreSQL.15
export PERSISTENCE_CONNECTION="Host=127.0.0.1;Port=5432;Username=cnn;Password=cnn;Database=cnncluster"
options=(--steps "$steps" --limit 8192 --seed 17)

echo "chaos: ${duration}s of faults on a $reduce run of $steps steps (logs in $out)"
# ENGINE=<param_sha256> skips the engine's own run (the same options always give the same hash)
engine=${ENGINE:-$(dotnet $bin/CnnCluster.Coordinator.dll train "${options[@]}" --epochs 1000 --out "$out/engine" 2>/dev/null | tail -1 \
  | sed -E 's/.*"param_sha256":"([0-9a-f]+)".*/\1/')}
echo "engine alone: $engine"

coordinator=""; coordinator_runs=0
start_coordinator() {
  coordinator_runs=$((coordinator_runs + 1))
  CNN_LOG_LEVEL=Information CLUSTER_PORT=$cluster_port PBM_PORT=$pbm_port \
    dotnet $bin/CnnCluster.Coordinator.dll serve --workers 0 >"$out/coordinator-$coordinator_runs.out" 2>"$out/coordinator-$coordinator_runs.log" &
  coordinator=$!
  for _ in $(seq 1 120); do pbm cluster show >/dev/null 2>&1 && return; sleep 1; done
  echo "the coordinator did not come up"; exit 1
}
declare -a workers; worker_runs=0
start_worker() {
  worker_runs=$((worker_runs + 1))
  CLUSTER_SEEDS=127.0.0.1:$cluster_port CLUSTER_HOSTNAME=127.0.0.1 CLUSTER_PORT=0 WORKER_THREADS=1 \
    dotnet src/Worker/bin/Release/net10.0/CnnCluster.Worker.dll >"$out/worker-$worker_runs.log" 2>&1 &
  workers[$1]=$!
}
cleanup() { kill -9 "$coordinator" "${workers[@]}" 2>/dev/null || true; }
trap cleanup EXIT

start_coordinator
for i in 0 1 2; do start_worker $i; done
# the database is shared (the tests use it too): runs left unfinished there would be resumed and compete
for other in $(pbm train list | awk -F' [|] ' '$3 == "running" || $3 == "paused" { print $1 }'); do pbm train stop -r "$other" >/dev/null; done
id=$(pbm train submit -m lenet5 "${options[@]}" -e 1000 --reduce "$reduce" | tail -1)
echo "run $id submitted"

now() { date +%s; }
t0=$(now); next_worker=$((t0 + 15 + RANDOM % 16)); next_coordinator=$((t0 + 120 + RANDOM % 121)); next_pg=$((t0 + 300))
worker_kills=0; coordinator_kills=0; pg_restarts=0; recomputed=0; policy_restarts=0
# queries answer nothing while the coordinator is down: never an error for `set -e`
step() { { pbm train status -r "$id" 2>/dev/null || true; } | sed -n 's/^step: \([0-9]*\).*/\1/p'; }
state() { { pbm train status -r "$id" 2>/dev/null || true; } | sed -n 's/^state: //p' | cut -d' ' -f1; }
# compose's `restart: on-failure` for the coordinator: a coordinator that exits (a node the split-brain
# resolver downed exits 3) is started again
keep_coordinator() {
  if ! kill -0 "$coordinator" 2>/dev/null; then
    wait "$coordinator" 2>/dev/null && code=0 || code=$?
    policy_restarts=$((policy_restarts + 1)); start_coordinator
    echo "$(( $(now) - t0 ))s: the coordinator had exited ($code); started again, as compose's restart policy would"
  fi
}
while [ $(( $(now) - t0 )) -lt "$duration" ]; do
  sleep 1
  keep_coordinator
  t=$(now)
  if [ "$t" -ge "$next_worker" ]; then
    i=$((RANDOM % 3)); kill -9 "${workers[$i]}" 2>/dev/null || true; start_worker $i
    worker_kills=$((worker_kills + 1)); next_worker=$((t + 15 + RANDOM % 16))
    echo "$((t - t0))s: worker $i SIGKILLed and started again"
  fi
  if [ "$t" -ge "$next_coordinator" ]; then
    before=$(step)
    kill -9 "$coordinator" 2>/dev/null || true; wait "$coordinator" 2>/dev/null || true
    coordinator_kills=$((coordinator_kills + 1)); start_coordinator; next_coordinator=$(( $(now) + 120 + RANDOM % 121 ))
    log=$out/coordinator-$coordinator_runs.log; resumed=""
    for _ in $(seq 1 120); do resumed=$({ grep -oE "run $id: resumed at step [0-9]+" "$log" || true; } | awk '{print $NF}' | head -1); [ -n "$resumed" ] && break; sleep 1; done
    if [ -n "$resumed" ] && [ -n "$before" ]; then recomputed=$((recomputed + before - resumed)); fi
    echo "$((t - t0))s: coordinator SIGKILLed at step ${before:-?} and started again; the run resumed at step ${resumed:-?}"
  fi
  if [ "$t" -ge "$next_pg" ]; then
    pg_ctlcluster "$pg_version" main restart; pg_restarts=$((pg_restarts + 1)); next_pg=$((t + 300))
    echo "$((t - t0))s: PostgreSQL restarted"
  fi
  [ "$(state)" = completed ] && break
done

echo "faults over; waiting for the run to finish"
until [ "$(state)" = completed ]; do
  keep_coordinator
  s=$(state); [ "$s" = failed ] || [ "$s" = stopped ] && { pbm train status -r "$id"; exit 1; }
  sleep 5
done
status=$(pbm train status -r "$id")
hash=$(echo "$status" | sed -n 's/^param_sha256: //p')
reruns=$(cat "$out"/coordinator-*.log | grep -c 'the step runs again' || true)
reassigned=$(cat "$out"/coordinator-*.log | grep -c 'reassigned' || true)
echo "survived: $worker_kills worker SIGKILLs, $coordinator_kills coordinator SIGKILLs, $pg_restarts PostgreSQL restarts in $(( $(now) - t0 )) s ($policy_restarts restarts of a coordinator that had exited by itself)"
echo "steps recomputed after coordinator kills (reached - resumed from its snapshot): $recomputed; steps run again after a lost member: $reruns; nodes reassigned (star): $reassigned"
echo "cluster: $hash"
echo "engine:  $engine"
[ "$hash" = "$engine" ] && echo "same hash" || { echo "DIFFERENT"; exit 1; }
