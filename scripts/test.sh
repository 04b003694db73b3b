#!/usr/bin/env bash
# README's test command after setup: every suite in Release; then the engine and oracle suites again in
# the bounds-checked build (-c Checked: every kernel access through a checked span); then the engine
# suite on narrower instruction sets, which must give the same bits (README, numeric contract). In .NET 10
# the switches are DOTNET_EnableAVX512 / DOTNET_EnableAVX2 / DOTNET_EnableHWIntrinsic (EnableAVX512F is gone).
set -euo pipefail
cd "$(dirname "$0")/.."

# each test's name and time in the log (normal verbosity): where the suites' minutes go
log=(--logger "console;verbosity=normal")
stage_start=$SECONDS
stage() { echo "test.sh: $1 took $((SECONDS - stage_start)) s"; stage_start=$SECONDS; }
dotnet build CnnCluster.sln -c Release
stage "the build"
# one suite at a time (a solution's suites run side by side, and the cluster's own tests share two cores)
for project in tests/*/*.csproj; do
  if grep -q Microsoft.NET.Test.Sdk "$project" && [ "$(basename "$project")" != CnnCluster.Coordinator.Tests.csproj ]; then
    dotnet test "$project" -c Release --no-build "${log[@]}"
    stage "$(basename "$project" .csproj)"
  fi
done
# The cluster's suite starts some 300 processes (coordinators, workers, pbm), each of which compiled Akka,
# linq2db and our code from IL before doing anything: a 300-step cluster run (train --workers 1, means of
# three) spent 13.8 s of CPU and 12.2 s of wall time, 7.7 s and 7.6 s precompiled (ReadyToRun: the SDK's
# publish for linux-x64, as the images publish the programs, plus crossgen2; LanguageExt.Core left out, see
# Directory.Build.props). The suite went from 29 to 20 minutes.
dotnet publish tests/Coordinator.Tests -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o artifacts/coordinator-tests
stage "the cluster suite's publish"
dotnet test artifacts/coordinator-tests/CnnCluster.Coordinator.Tests.dll "${log[@]}"
stage "the cluster suite"
dotnet test tests/Engine.Tests -c Checked
stage "the engine suite, checked"
dotnet test tests/Engine.OracleTests -c Checked
stage "the oracle suite, checked"
for isa in DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0; do
  if [ "$isa" = DOTNET_EnableAVX512=0 ] && ! grep -qw avx512f /proc/cpuinfo; then
    # without AVX-512 the switch changes nothing: the Release run above was this run
    echo "test.sh: engine suite with $isa: skipped, this CPU has no AVX-512 (the Release run above is that run)"
    continue
  fi
  echo "test.sh: engine suite with $isa"
  # bits and gradients; not the learning test, whose outcome the bits decide
  env "$isa" dotnet test tests/Engine.Tests -c Release --no-build --filter "Category!=Learning"
  stage "the engine suite with $isa"
done
echo "test.sh: the cluster in containers"
tests/Compose/compose-test.sh
stage "the container test"
echo "test.sh: all green in $((SECONDS / 60)) min $((SECONDS % 60)) s"
