#!/usr/bin/env bash
# The engine's layer kernels in this working tree against those of another revision, on this machine now:
#   scripts/engine-ab.sh REV [--ab-rounds N] [--layers-of lenet5|bouvrie|convnet]
# builds REV's EngineBench in a worktree under ${TMPDIR:-/tmp}/cnncluster-ab (kept for the next call), builds this
# tree's, and runs EngineBench --ab: both builds resident as layer servers, alternating ABBA layer by layer (a REV from
# before the server, c6c970b and older, run whole with --kernels-only, run by run); per layer the median time of each
# and the median of the per-round ratios REV/this with their range. Run it against HEAD first for the machine's noise
# floor (README, Engine speed). Never beside other work.
set -euo pipefail
rev=${1:?usage: scripts/engine-ab.sh REV [--ab-rounds N] [--layers-of MODEL]}
shift
root=$(git rev-parse --show-toplevel)
cd "$root"
if ! sha=$(git rev-parse --verify --quiet "$rev^{commit}"); then
    echo "engine-ab: '$rev' is not a commit of this repository; give a branch, tag or commit (e.g. HEAD~1)" >&2
    exit 2
fi

base="${TMPDIR:-/tmp}/cnncluster-ab/${sha:0:12}"
dll="$base/bench/EngineBench/bin/Release/net10.0/EngineBench.dll"
if [ ! -f "$dll" ]; then
    git worktree prune
    rm -rf "$base"
    git worktree add --detach "$base" "$sha" >/dev/null
    echo "engine-ab: building ${sha:0:12}'s EngineBench in $base"
    dotnet build -c Release "$base/bench/EngineBench" -v quiet -nologo
fi

echo "engine-ab: building this tree's EngineBench"
dotnet build -c Release bench/EngineBench -v quiet -nologo
dotnet bench/EngineBench/bin/Release/net10.0/EngineBench.dll --ab "$dll" "$@"
