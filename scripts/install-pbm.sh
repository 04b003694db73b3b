#!/usr/bin/env bash
# Puts `pbm` on the PATH: publishes src/Pbm to $PREFIX/lib/cnncluster-pbm and writes a launcher
# $PREFIX/bin/pbm. PREFIX defaults to /usr/local (use e.g. PREFIX=$HOME/.local without root).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
dotnet publish src/Pbm -c Release -o "$prefix/lib/cnncluster-pbm" >/dev/null
mkdir -p "$prefix/bin"
cat > "$prefix/bin/pbm" <<SH
#!/bin/sh
exec dotnet "$prefix/lib/cnncluster-pbm/pbm.dll" "\$@"
SH
chmod +x "$prefix/bin/pbm"
echo "pbm installed: $prefix/bin/pbm"
