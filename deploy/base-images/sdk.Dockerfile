# Stand-in for mcr.microsoft.com/dotnet/sdk:10.0 (made by make.sh): the runtime stand-in with the host's SDK,
# and, since containers here reach no NuGet feed over HTTPS, a folder feed of exactly the packages the node
# image's projects restore (linux-x64), the only package source of its NuGet.Config.
ARG RUNTIME_IMAGE
FROM ${RUNTIME_IMAGE}
COPY dotnet/ /usr/share/dotnet/
COPY feed/ /nuget-feed/
COPY NuGet.Config /root/.nuget/NuGet/NuGet.Config
ENV DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
