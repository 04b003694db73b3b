# Stand-in for mcr.microsoft.com/dotnet/aspnet:10.0 where no registry is reachable (made by make.sh):
# Debian bookworm (debootstrap minbase) with the packages the real image's runtime-deps layer installs,
# the .NET and ASP.NET Core runtimes of the SDK that builds the project, and the real image's user and
# environment (user `app`, uid 1654; ASPNETCORE_HTTP_PORTS=8080), so the project's image behaves alike on both.
# No ICU: the project runs with InvariantGlobalization (Directory.Build.props), so its 36 MB would be dead weight.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libc6 libgcc-s1 libssl3 libstdc++6 tzdata zlib1g \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
 && groupadd --gid 1654 app && useradd --uid 1654 --gid app --shell /bin/false --create-home app
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV APP_UID=1654 \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_RUNNING_IN_CONTAINER=true
