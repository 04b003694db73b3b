#!/usr/bin/env bash
# The cluster as a user meets it, in containers (README "Docker compose"; scripts/test.sh runs this last):
# builds the image, `up -d`, waits for health, submits through pbm from this machine (TLS, pbm's token, the
# cluster's CA checking the name it connects to), and checks that each run ends with the engine alone's
# param_sha256 through: workers scaled 1 → 3 → 1 mid-run, a worker `docker kill`ed, the coordinator's process
# SIGKILLed (its restart policy brings it back), and a graceful `restart` of the coordinator. The first run's
# figures, exported with `pbm train metrics`, are `train` alone's (steps.csv byte for byte, metrics.csv but for
# its two time columns). Each container holds only its own secrets and the database role is no superuser.
# The dashboard is screenshotted by headless chromium over HTTPS trusting only the
# cluster's CA; no warning at the nodes' start; `down -v` leaves nothing. Each phase is timed.
# Needs: a Docker engine, docker-compose or `docker compose`, the base images (deploy/base-images/make.sh,
# which scripts/setup.sh --test-deps runs), chromium and certutil, and the Release build of src/ (dotnet build).
# COMPOSE_TEST_OUT: where the screenshot, logs and files go (default /tmp/cnncluster-compose-test).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
out="${COMPOSE_TEST_OUT:-/tmp/cnncluster-compose-test}"
project=cnncompose
rm -rf "$out" && mkdir -p "$out"
if command -v docker-compose >/dev/null; then compose=(docker-compose -p "$project"); else compose=(docker compose -p "$project"); fi
coordinator_dll="$root/src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll"
pbm_dll="$root/src/Pbm/bin/Release/net10.0/pbm.dll"
[ -f "$coordinator_dll" ] && [ -f "$pbm_dll" ] || { echo "compose-test: build first (dotnet build CnnCluster.sln -c Release)" >&2; exit 2; }

started=$SECONDS phase_start=$SECONDS
phase() { echo "compose-test: $1: $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
fail() { echo "compose-test: FAILED: $*" >&2; exit 1; }
c() { "${compose[@]}" "$@"; }
cleanup() {
  code=$?
  if [ "$code" -ne 0 ]; then
    c logs --no-color > "$out/compose.log" 2>&1 || true
    echo "compose-test: the containers' logs are in $out/compose.log; their last lines:" >&2
    tail -60 "$out/compose.log" >&2 || true
  fi
  c down -v --remove-orphans >/dev/null 2>&1 || true
  exit "$code"
}
trap cleanup EXIT
c down -v --remove-orphans >/dev/null 2>&1 || true # a run that was interrupted

# 1. the image, from the repository (the base images from .env: real, or made here from Debian)
deploy/base-images/make.sh
phase "base images"
c build > "$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; fail "docker-compose build"; }
size=$(docker image inspect cnncluster:latest --format '{{.Size}}')
echo "compose-test: image cnncluster:latest is $((size / 1000000)) MB"
[ "$size" -le 300000000 ] || fail "the image is $((size / 1000000)) MB, more than 300"
phase "build"

# 2. up, with one worker; healthy
c up -d --scale worker=1 > "$out/up.log" 2>&1 || { cat "$out/up.log" >&2; fail "up -d"; }
healthy() { [ "$(docker inspect --format '{{.State.Health.Status}}' "$(c ps -q coordinator)" 2>/dev/null)" = healthy ]; }
wait_for() { # wait_for SECONDS WHAT COMMAND...
  local limit=$1 what=$2; shift 2
  local until=$((SECONDS + limit))
  until "$@"; do [ $SECONDS -lt $until ] || fail "no $what within $limit s"; sleep 1; done
}
wait_for 240 "healthy coordinator" healthy
phase "healthy"
# nothing but information at a start: a warning there is one every user sees (and learns to ignore)
c logs --no-color > "$out/start.log" 2>&1
! grep -E ' (WARN |ERROR|FATAL) |warn:|fail:|Cannot load library|Overriding address' "$out/start.log" > "$out/warnings.txt" \
  || fail "warnings at the nodes' start: $(head -5 "$out/warnings.txt")"

# 3. least privilege: each container holds only its own secrets (README "Security"), the database role is no superuser
listing() { c exec -T "$1" sh -c 'cd /secrets && ls -A | tr "\n" " "'; }
[ "$(listing worker)" = "ca.crt node.pfx pbm.token.sha256 " ] || fail "a worker's /secrets holds $(listing worker)"
[ "$(listing coordinator)" = "ca.crt db.password node.pfx pbm.token.sha256 " ] || fail "the coordinator's /secrets holds $(listing coordinator)"
for service in worker coordinator; do
  found=$(c exec -T "$service" sh -c 'find / \( -path /proc -o -path /sys \) -prune -o \( -name ca.key -o -name pbm.token -o -name postgres.password \) -print 2>/dev/null' || true)
  [ -z "$found" ] || fail "the $service container can read $found"
done
c exec -T worker sh -c 'cat /secrets/db.password' > /dev/null 2>&1 && fail "a worker reads the database password"
sql() { c exec -T postgres sh -c "PGPASSWORD=\$(cat /secrets/db.password) psql -h 127.0.0.1 -U cnn -d cnncluster -At -c \"$1\"" 2>&1; }
[ "$(sql "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user")" = f ] || fail "the database role cnn has more than its database: $(sql 'SELECT * FROM pg_roles WHERE rolname = current_user')"
refused=$(sql "COPY (SELECT 1) TO PROGRAM 'id'" || true)
echo "$refused" | grep -q "permission denied\|must be superuser" || fail "the database role may COPY TO PROGRAM: $refused"
phase "least privilege"

# 4. pbm from this machine: TLS checked against the cluster's CA (and the name 127.0.0.1), pbm's token from the operator's volume
c run --rm --no-deps -T --entrypoint cat pbm /secrets/ca.crt > "$out/ca.crt" 2> "$out/run.err" || fail "the pbm service's CA: $(cat "$out/run.err")"
c run --rm --no-deps -T --entrypoint cat pbm /secrets/pbm.token > "$out/pbm.token" 2> "$out/run.err" || fail "the pbm service's token: $(cat "$out/run.err")"
c run --rm --no-deps -T pbm coordinator:9110 cluster show > "$out/pbm-inside.txt" 2>&1 || fail "pbm inside the compose network: $(cat "$out/pbm-inside.txt")"
pbm() { PBM_CA="$out/ca.crt" PBM_TOKEN_FILE="$out/pbm.token" dotnet "$pbm_dll" 127.0.0.1:9110 "$@"; }
pbm cluster show | tee "$out/cluster-show.txt" | grep -q "Count: 2 nodes" || fail "pbm cluster show: $(cat "$out/cluster-show.txt")"
PBM_CA="$out/ca.crt" PBM_TOKEN_FILE="$out/pbm.token" dotnet "$pbm_dll" localhost:9110 cluster show > /dev/null || fail "pbm by the name localhost"
workers_in() { [ "$(pbm cluster show | grep -c '\[worker\]')" -eq "$1" ]; }

# the engine alone, on this machine: the hash and the files every run below must match
options=(--steps 3000 --epochs 100 --limit 4096 --seed 5 --snapshot-every 100)
dotnet "$coordinator_dll" train -m lenet5 "${options[@]}" --run-id engine --out "$out/engine" > "$out/engine.txt" 2> "$out/engine.err" || fail "train alone: $(tail -3 "$out/engine.err")"
engine=$(tail -1 "$out/engine.txt" | python3 -c 'import json, sys; print(json.load(sys.stdin)["param_sha256"])')
echo "compose-test: the engine alone: param_sha256 $engine"
phase "engine alone"

step_of() { pbm train status -r "$1" 2>/dev/null | sed -n 's/^step: \([0-9]*\)\/.*/\1/p' | head -1; }
at_step() { local s; s=$(step_of "$1"); [ -n "$s" ] && [ "$s" -ge "$2" ]; }
submit() { pbm train submit -m lenet5 "${options[@]}" --run-id "$1" > /dev/null || fail "submit $1"; }
mid_run() { # the fault must land before the end, or the run proved nothing
  local s; s=$(step_of "$1"); [ -n "$s" ] && [ "$s" -lt 3000 ] || fail "run $1 was at step ${s:-?} of 3000 when $2: lengthen the runs"
  echo "compose-test: $1: $2 at step $s"
}
finish() { # the run ends, with the engine's bits
  local status
  wait_for 300 "end of run $1" sh -c "PBM_CA='$out/ca.crt' PBM_TOKEN_FILE='$out/pbm.token' dotnet '$pbm_dll' 127.0.0.1:9110 train status -r '$1' | grep -q '^state: \(completed\|failed\|stopped\)'"
  status=$(pbm train status -r "$1")
  echo "$status" | grep -q "^state: completed" || fail "run $1: $status"
  echo "$status" | grep -q "param_sha256: $engine" || fail "run $1 ended with other bits than the engine alone's: $status"
  echo "compose-test: $1 completed with the engine's param_sha256"
}

# 5. workers 1 → 3 → 1 mid-run
submit scale
wait_for 120 "step 100 of run scale" at_step scale 100
c up -d --no-recreate --scale worker=3 > /dev/null 2>&1
mid_run scale "scaled to 3 workers"
wait_for 120 "3 workers in the cluster" workers_in 3
c up -d --no-recreate --scale worker=1 > /dev/null 2>&1
mid_run scale "scaled back to 1 worker"
finish scale
pbm worker list > "$out/worker-list.txt"
grep -q 'last step [0-9.]* ms' "$out/worker-list.txt" && ! grep -q 'last step 0.0 ms' "$out/worker-list.txt" \
  || fail "pbm worker list has no time for a worker's last step: $(cat "$out/worker-list.txt")"
pbm train metrics -r scale -o "$out/scale" > /dev/null || fail "pbm train metrics"
cmp "$out/scale/steps.csv" "$out/engine/engine/steps.csv" || fail "steps.csv differs from train alone's"
cut -d, -f1-5,8- "$out/scale/metrics.csv" > "$out/scale.csv"; cut -d, -f1-5,8- "$out/engine/engine/metrics.csv" > "$out/engine.csv"
cmp "$out/scale.csv" "$out/engine.csv" || fail "metrics.csv differs from train alone's (time columns aside)"
phase "scale 1→3→1 (and the metrics files)"

# 6. a worker killed (SIGKILL, no goodbye) mid-run; two are left... then one
c up -d --no-recreate --scale worker=2 > /dev/null 2>&1
wait_for 120 "2 workers in the cluster" workers_in 2
submit killed-worker
wait_for 120 "step 200 of run killed-worker" at_step killed-worker 200
docker kill "$(c ps -q worker | head -1)" > /dev/null
mid_run killed-worker "a worker killed"
finish killed-worker
phase "worker killed"

# 7. the coordinator's process SIGKILLed: the restart policy starts it again; workers come back by themselves
submit killed-coordinator
wait_for 120 "step 200 of run killed-coordinator" at_step killed-coordinator 200
mid_run killed-coordinator "the coordinator's process killed"
kill -9 "$(docker inspect --format '{{.State.Pid}}' "$(c ps -q coordinator)")"
sleep 2
wait_for 240 "healthy coordinator after the kill" healthy
finish killed-coordinator
phase "coordinator killed"

# 8. a graceful restart of the coordinator: it leaves cleanly, the workers leave a cluster without it and rejoin
submit restarted
wait_for 120 "step 200 of run restarted" at_step restarted 200
mid_run restarted "the coordinator restarted"
c restart coordinator > /dev/null 2>&1
wait_for 240 "healthy coordinator after the restart" healthy
finish restarted
phase "coordinator restarted"

# 9. the dashboard in a browser over HTTPS, trusting only the cluster's CA (an NSS database of its own)
export HOME="$out/browser"
mkdir -p "$HOME/.pki/nssdb"
certutil -N -d "sql:$HOME/.pki/nssdb" --empty-password
certutil -A -d "sql:$HOME/.pki/nssdb" -n cnncluster -t "C,," -i "$out/ca.crt"
browse() { timeout 90 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$HOME/profile" \
  --virtual-time-budget=4000 "$@" 2> "$out/chromium.err"; }
token=$(cat "$out/pbm.token")
browse --dump-dom "https://127.0.0.1:9111/?token=$token&run=scale" > "$out/dashboard.html" || fail "chromium: $(tail -3 "$out/chromium.err")"
grep -q 'data-run="scale"' "$out/dashboard.html" || fail "the dashboard does not show run scale (is the CA trusted and the name right? $out/dashboard.html)"
browse --screenshot="$out/dashboard.png" --window-size=1280,900 "https://127.0.0.1:9111/?token=$token&run=scale" > /dev/null || fail "chromium screenshot"
[ "$(head -c 4 "$out/dashboard.png" | od -An -c | tr -d ' ')" = "211PNG" ] && [ "$(stat -c %s "$out/dashboard.png")" -gt 20000 ] || fail "no screenshot worth the name in $out/dashboard.png"
phase "dashboard over HTTPS"

# 10. nothing left after down -v
c logs --no-color > "$out/compose.log" 2>&1
c down -v --remove-orphans > /dev/null 2>&1
left="$(docker ps -aq --filter "label=com.docker.compose.project=$project")$(docker volume ls -q --filter "label=com.docker.compose.project=$project")$(docker network ls -q --filter "label=com.docker.compose.project=$project")"
[ -z "$left" ] || fail "down -v left containers, volumes or networks: $left"
phase "down -v"
echo "compose-test: passed in $((SECONDS - started)) s"
