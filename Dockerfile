# syntax=docker/dockerfile:1
# Aurora Hub image: the hub, its provider plugins (pinned in SHA256SUMS, and
# the hub refuses any plugin that is not) and the PagerDuty simulator for
# demos. Static binaries on distroless, run as a non-root user.
#
#   docker build -t aurora-hub --build-arg VERSION=$(git describe --tags --always) .
#
# The build commands below are run by the test suite as written
# (cmd/deploycheck: TestDockerfileBuildCommands), outside Docker.
# Pin the base images by digest (name:tag@sha256:...) in release builds.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Module files first: the download layer is reused until they change.
COPY go.work go.work.sum ./
COPY sdk/go.mod sdk/go.sum sdk/
COPY hub/go.mod hub/go.sum hub/
COPY plugins/pagerduty/go.mod plugins/pagerduty/go.sum plugins/pagerduty/
COPY plugins/alertmanager/go.mod plugins/alertmanager/go.sum plugins/alertmanager/
COPY plugins/grafana/go.mod plugins/grafana/go.sum plugins/grafana/
COPY tools/pdsim/go.mod tools/pdsim/
COPY cmd/go.mod cmd/go.sum cmd/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
# BUILD BEGIN (this RUN is executed by TestDockerfileBuildCommands)
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    ldflags="-s -w -X main.version=${VERSION}"; \
    go build -trimpath -ldflags "$ldflags" -o /out/usr/bin/aurora-hub ./cmd/aurora-hub; \
    go build -trimpath -ldflags "$ldflags" -o /out/usr/bin/pagerduty-sim ./tools/pdsim/cmd/pagerduty-sim; \
    go build -trimpath -ldflags "$ldflags" -o /out/usr/lib/aurora-hub/plugins/aurora-plugin-pagerduty ./plugins/pagerduty/cmd/aurora-plugin-pagerduty; \
    go build -trimpath -ldflags "$ldflags" -o /out/usr/lib/aurora-hub/plugins/aurora-plugin-alertmanager ./plugins/alertmanager/cmd/aurora-plugin-alertmanager; \
    (cd /out/usr/lib/aurora-hub/plugins && sha256sum aurora-plugin-* > SHA256SUMS); \
    HUB_PLUGIN_DIR=/out/usr/lib/aurora-hub/plugins HUB_PLUGIN_REQUIRE_CHECKSUM=true /out/usr/bin/aurora-hub plugins verify; \
    mkdir -p /out/var/lib/aurora-hub
# BUILD END

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/ /usr/
COPY --from=build --chown=65532:65532 /out/var/lib/aurora-hub /var/lib/aurora-hub
ENV HUB_LISTEN=0.0.0.0:5080 \
    HUB_DATABASE_URL=sqlite:///var/lib/aurora-hub/hub.db \
    HUB_PLUGIN_DIR=/usr/lib/aurora-hub/plugins \
    HUB_PLUGIN_REQUIRE_CHECKSUM=true \
    HUB_LOG_FORMAT=json
# The hub refuses a non-loopback listen address without INTERNAL_API_SECRET,
# and wants HUB_ENCRYPTION_KEY: both are given at run time, never baked in.
USER 65532:65532
WORKDIR /var/lib/aurora-hub
VOLUME ["/var/lib/aurora-hub"]
EXPOSE 5080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/aurora-hub"]
CMD ["serve"]
