# Stand-in for mcr.microsoft.com/dotnet/sdk:10.0 (made by make.sh): the runtime stand-in with the host's SDK,
# and, since containers here reach no NuGet feed over HTTPS, a folder feed of exactly the packages the node
# image's projects restore (linux-x64), the only package source of its NuGet.Config.
ARG RUNTIME_IMAGE
FROM ${RUNTIME_IMAGE}
# the SDK's own tools want ICU (the project's programs are invariant, so the runtime stand-in has none)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libicu72 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
COPY dotnet/ /usr/share/dotnet/
# the feed is laid out as NuGet's global packages folder, and is that folder too: a restore finds every
# package already extracted (the step that took two minutes of the node image's build)
COPY feed/ /root/.nuget/packages/
COPY NuGet.Config /root/.nuget/NuGet/NuGet.Config
ENV DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
