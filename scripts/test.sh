#!/usr/bin/env bash
# README's test command after setup: every suite in Release; then the engine and oracle suites again in
# the bounds-checked build (-c Checked: every kernel access through a checked span); then the engine
# suite on narrower instruction sets, which must give the same bits (README, numeric contract). In .NET 10
# the switches are DOTNET_EnableAVX512 / DOTNET_EnableAVX2 / DOTNET_EnableHWIntrinsic (EnableAVX512F is gone).
set -euo pipefail
cd "$(dirname "$0")/.."

# each test's name and time in the log (normal verbosity): where the suite's minutes go
dotnet test CnnCluster.sln -c Release --logger "console;verbosity=normal"
dotnet test tests/Engine.Tests -c Checked
dotnet test tests/Engine.OracleTests -c Checked
for isa in DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0; do
  if [ "$isa" = DOTNET_EnableAVX512=0 ] && ! grep -qw avx512f /proc/cpuinfo; then
    # without AVX-512 the switch changes nothing: the Release run above was this run
    echo "test.sh: engine suite with $isa: skipped, this CPU has no AVX-512 (the Release run above is that run)"
    continue
  fi
  echo "test.sh: engine suite with $isa"
  env "$isa" dotnet test tests/Engine.Tests -c Release --no-build
done
echo "test.sh: the cluster in containers"
tests/Compose/compose-test.sh
