#!/usr/bin/env bash
# Makes sure the three images the cluster's compose file builds on can be used here:
#   mcr.microsoft.com/dotnet/sdk:10.0 (build stage), mcr.microsoft.com/dotnet/aspnet:10.0 (node image), postgres:15.
# Where a registry answers, the real images are pulled and used unchanged. Where none does, local stand-ins are
# made from Debian packages (debootstrap --variant=minbase bookworm, docker import) and this machine's .NET SDK
# (its runtimes; for the build stage the SDK and a folder feed of exactly the packages the node image restores);
# nothing of the host's certificate store goes into an image. Either way the choice is written to the
# repository's .env, which docker-compose and `docker compose` read: CNN_SDK_IMAGE, CNN_RUNTIME_IMAGE, CNN_POSTGRES_IMAGE.
# Stand-ins are tagged by what made them, so a second call with nothing changed makes nothing (seconds).
# Needs a running Docker engine, dotnet, and (for stand-ins) debootstrap; run as root (debootstrap, docker).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
stage="${CNN_BASE_STAGE:-/var/tmp/cnncluster-base}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
real_sdk=mcr.microsoft.com/dotnet/sdk:10.0 real_runtime=mcr.microsoft.com/dotnet/aspnet:10.0 real_postgres=postgres:15
log() { echo "base-images: $*" >&2; }
has_image() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || { log "no Docker engine answers (start dockerd, or run scripts/setup.sh --test-deps)"; exit 1; }

write_env() { # the three image names into .env, other lines kept
  local env="$root/.env"
  touch "$env"
  grep -v '^CNN_\(SDK\|RUNTIME\|POSTGRES\)_IMAGE=' "$env" > "$env.new" || true
  printf 'CNN_SDK_IMAGE=%s\nCNN_RUNTIME_IMAGE=%s\nCNN_POSTGRES_IMAGE=%s\n' "$1" "$2" "$3" >> "$env.new"
  mv "$env.new" "$env"
  log "images: build $1, nodes $2, database $3 (in $env)"
}

pulled=1
for image in "$real_sdk" "$real_runtime" "$real_postgres"; do
  has_image "$image" && continue
  if ! timeout 60 docker pull -q "$image" >/dev/null 2>&1; then pulled=0; break; fi
done
if [ "$pulled" -eq 1 ]; then write_env "$real_sdk" "$real_runtime" "$real_postgres"; exit 0; fi
log "no registry answers: making local stand-ins (Debian bookworm, this machine's .NET $(dotnet --version))"

dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
runtime_version="$(dotnet --list-runtimes | awk '$1 == "Microsoft.AspNetCore.App" { v = $2 } END { print v }')"
sdk_version="$(dotnet --version)"
mkdir -p "$stage"
# docker build, its output kept for when it fails
build_image() { local tag=$1; shift; docker build -t "$tag" "$@" > "$stage/build.log" 2>&1 || { tail -30 "$stage/build.log" >&2; log "building $tag failed"; exit 1; }; }
# a tag from the files that make an image and the tag of the image it builds on
hash_of() { cat "$@" | sha256sum | cut -c1-12; }

# 1. Debian bookworm, minimal
debian="cnncluster-base/debian:bookworm-$(sed -n '/^# 1\./,/^# 2\./p' "$0" | hash_of)"
if ! has_image "$debian"; then
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
  rm -rf "$stage/rootfs"
  log "debootstrap --variant=minbase bookworm ($mirror)"
  debootstrap --variant=minbase bookworm "$stage/rootfs" "$mirror" > "$stage/debootstrap.log" 2>&1 || { tail -5 "$stage/debootstrap.log" >&2; exit 1; }
  # as Debian's slim images: no documentation, manuals or translations, now or from later installs
  printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' > "$stage/rootfs/etc/dpkg/dpkg.cfg.d/slim"
  find "$stage/rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$stage/rootfs"/var/cache/apt/*.bin "$stage/rootfs"/var/cache/apt/archives/*.deb "$stage/rootfs"/var/lib/apt/lists/* "$stage/rootfs"/usr/share/man/* "$stage/rootfs"/usr/share/info/*
  find "$stage/rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' "$mirror" "$mirror" > "$stage/rootfs/etc/apt/sources.list"
  tar -C "$stage/rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$debian" >/dev/null
  rm -rf "$stage/rootfs"
fi

# 2. the runtime image: the runtimes of this machine's SDK
runtime="cnncluster-base/aspnet:$runtime_version-$(echo "$debian" | hash_of "$here/runtime.Dockerfile" -)"
if ! has_image "$runtime"; then
  ctx="$stage/runtime"; rm -rf "$ctx"; mkdir -p "$ctx/dotnet/shared"
  cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$ctx/dotnet/"
  cp -a "$dotnet_root/LICENSE.txt" "$dotnet_root/ThirdPartyNotices.txt" "$ctx/dotnet/" 2>/dev/null || true
  for fx in Microsoft.NETCore.App Microsoft.AspNetCore.App; do mkdir -p "$ctx/dotnet/shared/$fx" && cp -a "$dotnet_root/shared/$fx/$runtime_version" "$ctx/dotnet/shared/$fx/"; done
  cp "$here/runtime.Dockerfile" "$ctx/Dockerfile"
  log "building $runtime"
  build_image "$runtime" --build-arg BASE_IMAGE="$debian" "$ctx"
  rm -rf "$ctx"
fi

# 3. the build stage: the SDK and a folder feed of the packages the node image's three projects restore for linux-x64
restore="$stage/restore"; rm -rf "$restore"; mkdir -p "$restore"
(cd "$root" && tar -c --exclude=bin --exclude=obj Directory.Build.props Directory.Packages.props src) | tar -C "$restore" -x
for project in Coordinator Worker Pbm; do
  dotnet restore "$restore/src/$project" -r linux-x64 --verbosity quiet >/dev/null || { log "dotnet restore of src/$project failed"; exit 1; }
done
packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
python3 - "$restore" > "$stage/feed.txt" <<'PY'
import json, pathlib, sys
names = set()
for assets in pathlib.Path(sys.argv[1]).glob("src/*/obj/project.assets.json"):
    for key, lib in json.load(open(assets))["libraries"].items():
        if lib.get("type") == "package":
            names.add(lib["path"])  # id/version, lower case: the global packages folder's layout, a v3 folder feed's too
print("\n".join(sorted(names)))
PY
sdk="cnncluster-base/sdk:$sdk_version-$(echo "$runtime" | hash_of "$here/sdk.Dockerfile" "$stage/feed.txt" -)"
if ! has_image "$sdk"; then
  ctx="$stage/sdk"; rm -rf "$ctx"; mkdir -p "$ctx/feed"
  cp -al "$dotnet_root" "$ctx/dotnet" 2>/dev/null || cp -a "$dotnet_root" "$ctx/dotnet"
  while read -r package; do
    mkdir -p "$ctx/feed/$package" && cp -a "$packages/$package/." "$ctx/feed/$package/"
  done < "$stage/feed.txt"
  printf '<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n  <packageSources>\n    <clear />\n    <add key="local" value="/root/.nuget/packages" />\n  </packageSources>\n</configuration>\n' > "$ctx/NuGet.Config"
  cp "$here/sdk.Dockerfile" "$ctx/Dockerfile"
  log "building $sdk ($(wc -l < "$stage/feed.txt") packages in its feed)"
  build_image "$sdk" --build-arg RUNTIME_IMAGE="$runtime" "$ctx"
  rm -rf "$ctx"
fi
rm -rf "$restore"

# 4. PostgreSQL 15 from Debian
postgres="cnncluster-base/postgres:15-$(echo "$debian" | hash_of "$here/postgres.Dockerfile" "$here/postgres-entrypoint.sh" -)"
if ! has_image "$postgres"; then
  ctx="$stage/postgres"; rm -rf "$ctx"; mkdir -p "$ctx"
  cp "$here/postgres.Dockerfile" "$ctx/Dockerfile" && cp "$here/postgres-entrypoint.sh" "$ctx/"
  log "building $postgres"
  build_image "$postgres" --build-arg BASE_IMAGE="$debian" "$ctx"
  rm -rf "$ctx"
fi

write_env "$sdk" "$runtime" "$postgres"
