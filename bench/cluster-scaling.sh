#!/usr/bin/env bash
# Cluster overhead and scaling, measured by the `train` command itself: images/s of the training loop
# and the median microseconds of every step phase (assign, serialize, transfer, compute, reduce,
# optimizer, hash, journal, snapshot, step), from its JSON summary. The modes alternate within each
# repeat, so the ratios compare like with like on a shared machine; every mode must give one hash.
# Usage: bench/cluster-scaling.sh [epochs] [repeats] [modes...]
#   BASELINE=REV bench/cluster-scaling.sh ...: also builds commit REV (in a git worktree under /tmp) and
#   runs it alternately with this tree, mode by mode, for a before/after table from the same command.
#   modes (default all): engine-b256 inproc1-b256 proc1x2-b256 engine1-b256 proc1x1-b256 proc2x1-b256 engine-b64 inproc1-b64
#     shard1x2-b256 shard1x1-b256 shard2x1-b256 (and, not by default, engine1-b64 shard1x2-b64 shard2x1-b64: the default batch;
#     deployed1x2-b64 deployed1x2-b256: shard1x2 in the deployed form, PostgreSQL and mutual TLS, against the server that
#     scripts/setup.sh --test-deps starts, or CNN_BENCH_POSTGRES's connection string, with secrets made here)
#   (engine1: the engine alone on 1 thread, whose ratio to 2 threads bounds what 2 single-thread workers can reach;
#   proc*: worker processes through the star; shard*: the same processes with the sharded all-reduce, in trees that have it)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
repeats=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(engine-b256 inproc1-b256 proc1x2-b256 engine1-b256 proc1x1-b256 proc2x1-b256 engine-b64 inproc1-b64 shard1x2-b256 shard1x1-b256 shard2x1-b256)
dotnet build -c Release src/Coordinator >/dev/null
current_rev=$(git describe --always --dirty) # what was built, "-dirty" when the tree has uncommitted changes
trees=(current)
declare -A root=([current]=.)
declare -A sharded=([current]=1)
if [ -n "${BASELINE:-}" ]; then
  base=/tmp/cnn-baseline-$(git rev-parse --short "$BASELINE")
  [ -d "$base" ] || git worktree add --detach "$base" "$BASELINE" >/dev/null
  dotnet build -c Release "$base/src/Coordinator" >/dev/null
  trees=(baseline current)
  root[baseline]=$base
  grep -q '"reduce"' "$base/src/Coordinator/Options/RunOptions.cs" 2>/dev/null && sharded[baseline]=1 || sharded[baseline]=0
fi
out=$(mktemp -d /tmp/cnn-bench.XXXX)
train() { dotnet "${root[$tree]}/src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll" train --epochs "$epochs" --out "$out" "$@" 2>/dev/null | tail -1; }
cluster() { rm -f "$out/runs.db"; train --db "$out/runs.db" "$@"; }
# the deployed form: PostgreSQL (its journal grows by a run each time: run ids differ) and the cluster's own CA, every link mutual TLS
deployed() {
  [ -d "$out/secrets" ] || dotnet src/Coordinator/bin/Release/net10.0/CnnCluster.Coordinator.dll secrets --out "$out/secrets" >/dev/null
  CLUSTER_SECRETS="$out/secrets" PERSISTENCE_PROVIDER=PostgreSQL.15 \
    PERSISTENCE_CONNECTION="${CNN_BENCH_POSTGRES:-Host=127.0.0.1;Port=5432;Username=cnn;Password=cnn;Database=cnncluster}" train "$@"
}
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*).*/\1/"; }
phases=(assign serialize transfer compute reduce optimizer hash journal snapshot step step_mean step_p90 step_p99 cpu_coordinator cpu_workers cpu_all)
# a sharded run's CPU microseconds per step, every thread of each process (its summary's node_bytes_per_step): the coordinator's, the workers' summed;
# cpu_all: every process that trained (the summary's own cpu_us_per_step: the engine alone's too)
cpu() {
  local all coordinator
  if [ "$2" = cpu_all ]; then echo "$1" | sed -E 's/"node_bytes_per_step":\[[^]]*\]//' | grep -o '"cpu_us_per_step":[0-9.]*' | cut -d: -f2; return 0; fi
  all=$(echo "$1" | grep -o '"node_bytes_per_step":\[[^]]*\]' | grep -o '"cpu_us_per_step":[0-9.]*' | cut -d: -f2)
  coordinator=$(echo "$1" | grep -o '"node":"coordinator"[^}]*"cpu_us_per_step":[0-9.]*' | grep -o '[0-9.]*$')
  [ -n "$all" ] || return 0
  case $2 in
    cpu_coordinator) echo "$coordinator" ;;
    cpu_workers) echo "$all" | awk -v c="${coordinator:-0}" '{ s += $1 } END { printf "%.0f", s - c }' ;;
  esac
}

results=$out/results.tsv # mode, run, images/s, sha, then one column per phase
for r in $(seq "$repeats"); do
  for name in "${modes[@]}"; do
   for tree in "${trees[@]}"; do
    # worker processes go through the star unless the mode says otherwise (trees before the sharded all-reduce know nothing else)
    star=(); [ "${sharded[$tree]}" = 1 ] && star=(--reduce star)
    [[ ( $name == shard* || $name == deployed* ) && "${sharded[$tree]}" != 1 ]] && continue
    case $name in
      engine-b256)  json=$(train --batch-size 256 --threads 2) ;;
      engine1-b256) json=$(train --batch-size 256 --threads 1) ;;
      inproc1-b256) json=$(cluster --batch-size 256 --workers 1 --worker-threads 2) ;;
      proc1x2-b256) json=$(cluster --batch-size 256 --worker-processes 1 --worker-threads 2 "${star[@]}") ;;
      proc1x1-b256) json=$(cluster --batch-size 256 --worker-processes 1 --worker-threads 1 "${star[@]}") ;;
      proc2x1-b256) json=$(cluster --batch-size 256 --worker-processes 2 --worker-threads 1 "${star[@]}") ;;
      shard1x2-b256) json=$(cluster --batch-size 256 --worker-processes 1 --worker-threads 2 --reduce sharded) ;;
      shard1x1-b256) json=$(cluster --batch-size 256 --worker-processes 1 --worker-threads 1 --reduce sharded) ;;
      shard2x1-b256) json=$(cluster --batch-size 256 --worker-processes 2 --worker-threads 1 --reduce sharded) ;;
      shard1x2-b64) json=$(cluster --batch-size 64 --worker-processes 1 --worker-threads 2 --reduce sharded) ;;
      shard2x1-b64) json=$(cluster --batch-size 64 --worker-processes 2 --worker-threads 1 --reduce sharded) ;;
      deployed1x2-b64)  json=$(deployed --batch-size 64 --worker-processes 1 --worker-threads 2 --reduce sharded) ;;
      deployed1x2-b256) json=$(deployed --batch-size 256 --worker-processes 1 --worker-threads 2 --reduce sharded) ;;
      engine-b64)   json=$(train --batch-size 64 --threads 2) ;;
      engine1-b64)  json=$(train --batch-size 64 --threads 1) ;;
      inproc1-b64)  json=$(cluster --batch-size 64 --workers 1 --worker-threads 2) ;;
      *) echo "unknown mode $name" >&2; exit 2 ;;
    esac
    ips=$(echo "$json" | field images_per_sec)
    sha=$(echo "$json" | field param_sha256 | cut -c1-12)
    row="$tree:$name	$r	$ips	$sha"
    for p in "${phases[@]}"; do
      case $p in
        cpu_*) v=$(cpu "$json" "$p") ;;
        *) v=$(echo "$json" | grep -o "\"phases_us\":{[^}]*}" | grep -o "\"$p\":[0-9.]*" | cut -d: -f2 || true) ;;
      esac
      row="$row	${v:--}"
    done
    echo "$row" >>"$results"
    printf '%-8s %-14s run %d: %8.1f images/s  sha %s\n' "$tree" "$name" "$r" "$ips" "$sha"
   done
  done
done

for tree in "${trees[@]}"; do
echo
echo "== $tree ($( [ "$tree" = current ] && echo "$current_rev" || git -C "${root[$tree]}" rev-parse --short HEAD))"
echo "median microseconds per step and phase (median over the repeats of each run's median; step_mean: the mean step; step_p90/p99: its percentiles;"
echo "cpu_coordinator, cpu_workers: a sharded run's CPU time per step of the coordinator's process and of the workers' together, every thread;"
echo "cpu_all: every process that trained, the engine alone's too: two cores give at most 2 x step_mean):"
awk -F'\t' -v names="${phases[*]}" -v order="${modes[*]}" -v tree="$tree" '
  function median(list,   n, a, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n == 0 ? "-" : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
  { split($1, k, ":"); if (k[1] != tree) next; m = k[2]; ips[m] = ips[m] " " $3; for (c = 5; c <= NF; c++) if ($c != "-") v[m, c] = v[m, c] " " $c }
  END {
    np = split(names, pn, " "); nm = split(order, mn, " ")
    printf "| mode | images/s |"; for (i = 1; i <= np; i++) printf " %s |", pn[i]; printf "\n|---|---|"; for (i = 1; i <= np; i++) printf "---|"; printf "\n"
    for (m = 1; m <= nm; m++) { printf "| %s | %.0f |", mn[m], median(ips[mn[m]]); for (i = 1; i <= np; i++) { x = median(v[mn[m], i + 4]); if (x == "-") printf " - |"; else printf " %.0f |", x } printf "\n" }
  }' "$results"

echo
ratio() { awk -F'\t' -v a="$tree:$1" -v b="$tree:$2" '$1 == a { sa += $3 } $1 == b { sb += $3 } END { if (sa > 0 && sb > 0) printf "%.3f", sa / sb; else printf "-" }' "$results"; }
echo "1 in-process worker (2 threads) / engine alone (2 threads), batch 256: $(ratio inproc1-b256 engine-b256)   (target >= 0.95)"
echo "1 in-process worker (2 threads) / engine alone (2 threads), batch 64:  $(ratio inproc1-b64 engine-b64)"
echo "1 worker process (2 threads) / engine alone (2 threads), batch 256:    $(ratio proc1x2-b256 engine-b256)   (target >= 0.90)"
echo "2 worker processes / 1 (1 thread each), batch 256:                     $(ratio proc2x1-b256 proc1x1-b256)   (target >= 1.7)"
echo "  the engine alone, 2 threads / 1 thread, batch 256 (this machine's ceiling for it): $(ratio engine-b256 engine1-b256)"
echo "1 worker process (2 threads), sharded / engine alone (2 threads):        $(ratio shard1x2-b256 engine-b256)"
echo "2 worker processes / 1 (1 thread each), sharded:                       $(ratio shard2x1-b256 shard1x1-b256)"
echo "2 worker processes (1 thread each), sharded / star:                    $(ratio shard2x1-b256 proc2x1-b256)"
echo "batch 64: 1 worker process (2 threads), sharded / engine alone (2 threads): $(ratio shard1x2-b64 engine-b64)   (target >= 0.90)"
echo "batch 64: 2 worker processes (1 thread each), sharded / engine alone (1 thread): $(ratio shard2x1-b64 engine1-b64)"
echo "  the engine alone, 2 threads / 1 thread, batch 64: $(ratio engine-b64 engine1-b64)   (the first should be >= 0.95 of it)"
echo "deployed (PostgreSQL + mutual TLS) / SQLite without TLS, 1 worker process (2 threads), sharded, batch 64: $(ratio deployed1x2-b64 shard1x2-b64), 256: $(ratio deployed1x2-b256 shard1x2-b256)   (target >= 0.95)"
done

if [ ${#trees[@]} -gt 1 ]; then
  echo
  echo "current / baseline images/s, mode by mode (sums over the repeats, runs alternated):"
  for name in "${modes[@]}"; do
    awk -F'\t' -v a="current:$name" -v b="baseline:$name" -v m="$name" '$1 == a { sa += $3 } $1 == b { sb += $3 } END { if (sa > 0 && sb > 0) printf "  %-14s %.3f\n", m, sa / sb }' "$results"
  done
fi

echo
echo "parameter hashes by batch size (one line per batch size when the determinism holds):"
awk -F'\t' '{ n = split($1, m, "-"); print "  " m[n] ": " $4 }' "$results" | sort -u
rm -rf "$out/runs.db" "$out"/*/ 2>/dev/null || true
