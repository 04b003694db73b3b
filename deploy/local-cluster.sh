#!/usr/bin/env bash
# The docker-compose topology as processes on 127.0.0.1, for machines without a Docker engine:
# one coordinator (`serve`, the seed node, pbm on PBM_PORT) and N worker processes.
#
#   deploy/local-cluster.sh up [N]     start the coordinator and N workers (default 2)
#   deploy/local-cluster.sh scale N    start or stop workers until there are N (stopping = SIGTERM:
#                                      the worker leaves the cluster and its blocks move to the others)
#   deploy/local-cluster.sh status     the processes and `pbm cluster show` (exit 3 when no coordinator runs)
#   deploy/local-cluster.sh down       stop everything
#
# Configured by the same variables as docker-compose.yml: CLUSTER_PORT (coordinator, default 4053),
# PBM_PORT (default 9110), HTTP_PORT (the dashboard and /metrics on 127.0.0.1, default 9111, 0: none), PBM_TOKEN, PERSISTENCE_PROVIDER / PERSISTENCE_CONNECTION (default: a
# SQLite file in the state folder), CNN_DATA; plus WORKER_THREADS (default 1), LOCAL_CLUSTER_DIR (state
# and logs, default .local-cluster) and CNN_BIN (folder of the built CnnCluster.Coordinator.dll,
# CnnCluster.Worker.dll and pbm.dll; default: built here on first use).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${LOCAL_CLUSTER_DIR:-$repo/.local-cluster}
cluster_port=${CLUSTER_PORT:-4053}
pbm_port=${PBM_PORT:-9110}
threads=${WORKER_THREADS:-1}
mkdir -p "$state"

bin=${CNN_BIN:-$repo/src/Coordinator/bin/Release/net10.0}
pbm_dll=$bin/pbm.dll
[ -f "$pbm_dll" ] || pbm_dll=$repo/src/Pbm/bin/Release/net10.0/pbm.dll
if [ ! -f "$bin/CnnCluster.Coordinator.dll" ] || [ ! -f "$pbm_dll" ]; then
  echo "local-cluster: building"
  dotnet build -c Release "$repo/src/Coordinator" >/dev/null
  dotnet build -c Release "$repo/src/Pbm" >/dev/null
fi

pbm() { PBM_TOKEN=${PBM_TOKEN:-} dotnet "$pbm_dll" "127.0.0.1:$pbm_port" "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
workers() { { ls "$state"/worker-*.pid 2>/dev/null || true; } | sed -E 's/.*worker-([0-9]+)\.pid/\1/' | sort -n; }

members() { pbm cluster show 2>/dev/null | sed -nE 's/^Count: ([0-9]+) nodes$/\1/p'; }

wait_members() {
  local want=$1
  for _ in $(seq 120); do
    [ "$(members)" = "$want" ] && return 0
    sleep 0.5
  done
  echo "local-cluster: the cluster did not reach $want members; see $state/*.log" >&2
  return 1
}

start_coordinator() {
  if alive "$state/coordinator.pid"; then return; fi
  local provider=${PERSISTENCE_PROVIDER:-SQLite.MS}
  local connection=${PERSISTENCE_CONNECTION:-"Data Source=$state/cnncluster.db"}
  (
    cd "$state"
    CLUSTER_HOSTNAME=127.0.0.1 CLUSTER_PORT=$cluster_port CLUSTER_SEEDS=127.0.0.1:$cluster_port \
      PBM_HOST=127.0.0.1 PBM_PORT=$pbm_port PERSISTENCE_PROVIDER=$provider PERSISTENCE_CONNECTION=$connection \
      setsid nohup dotnet "$bin/CnnCluster.Coordinator.dll" serve > "$state/coordinator.log" 2>&1 < /dev/null &
    echo $! > "$state/coordinator.pid"
  )
  for _ in $(seq 120); do
    pbm cluster status >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "local-cluster: the coordinator did not start; see $state/coordinator.log" >&2
  return 1
}

start_worker() {
  local i=$1
  (
    cd "$state"
    env -u PBM_PORT CLUSTER_HOSTNAME=127.0.0.1 CLUSTER_PORT=0 CLUSTER_SEEDS=127.0.0.1:$cluster_port \
      PBM_HOST=127.0.0.1 WORKER_THREADS=$threads setsid nohup dotnet "$bin/CnnCluster.Worker.dll" > "$state/worker-$i.log" 2>&1 < /dev/null &
    echo $! > "$state/worker-$i.pid"
  )
}

stop() {
  local pidfile=$1
  if alive "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

scale() {
  local want=$1 have
  for i in $(workers); do alive "$state/worker-$i.pid" || rm -f "$state/worker-$i.pid"; done
  have=$(workers | wc -l)
  local last; last=$(workers | tail -n 1)
  local next=$(( ${last:--1} + 1 ))
  while [ "$have" -lt "$want" ]; do start_worker "$next"; next=$((next + 1)); have=$((have + 1)); done
  # scale down: the newest first, each leaving gracefully on SIGTERM (in parallel)
  local stopping=()
  for i in $(workers | sort -rn | head -n $((have > want ? have - want : 0))); do
    stop "$state/worker-$i.pid" & stopping+=($!)
  done
  for p in "${stopping[@]}"; do wait "$p"; done
  wait_members $((want + 1))
  echo "local-cluster: $want worker(s)"
}

case "${1:-}" in
  up)
    start_coordinator
    scale "${2:-2}"
    pbm cluster show ;;
  scale)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 scale N" >&2; exit 2; }
    # workers without their coordinator would only wait for it: say so at once instead
    alive "$state/coordinator.pid" || { echo "local-cluster: no coordinator is running here; start one with: $0 up [N]" >&2; exit 3; }
    scale "$2" ;;
  status)
    for f in "$state"/*.pid; do [ -e "$f" ] || continue; printf '%s %s %s\n' "$(basename "$f" .pid)" "$(cat "$f")" "$(alive "$f" && echo running || echo gone)"; done
    # non-zero when the cluster is down, so scripts can test it
    alive "$state/coordinator.pid" || { echo "local-cluster: down (no coordinator)" >&2; exit 3; }
    pbm cluster show ;;
  down)
    for i in $(workers); do stop "$state/worker-$i.pid" & done
    wait
    stop "$state/coordinator.pid"
    echo "local-cluster: down" ;;
  *)
    echo "usage: $0 up [N] | scale N | status | down" >&2
    exit 2 ;;
esac
