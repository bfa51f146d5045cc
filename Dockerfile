# syntax=docker/dockerfile:1
# Facteur in a container: `docker compose up` (see docker-compose.yml) or
#   docker build -t facteur . && docker run --rm -e DATABASE_URL=… -e FACTEUR_SECRET=… -p 8080:8080 facteur
# The image runs `facteur serve` by default; `facteur migrate`, `facteur worker`, … by command.

# The toolchain the project is developed with (Swift 6.3; Package.swift needs at least 6.1).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ------------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libpq-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
# Everything: SwiftPM checks every target's folder (Tests/ included) when it loads the manifest.
COPY . .

# Swift's runtime and Foundation are linked in; libpq and libcrypto stay shared (libpq5, libssl3).
RUN swift build -c release --static-swift-stdlib --product facteur \
    && bin="$(swift build -c release --show-bin-path)" \
    && mkdir -p /staging/bin /staging/app \
    && cp "$bin/facteur" /staging/bin/ \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/bin/ \
    && find -L "$bin/" -maxdepth 1 -name '*.resources' -exec cp -Ra {} /staging/bin/ \; \
    && mkdir -p sql templates \
    && cp -R sql templates /staging/app/

# ---- run --------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libpq5 libssl3 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 facteur \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin facteur

COPY --from=build /staging/bin/ /usr/local/bin/
# Run-time assets, read from FACTEUR_HOME; owned by root, read-only for the service user.
COPY --from=build /staging/app/ /app/

WORKDIR /app
ENV FACTEUR_HOME=/app \
    FACTEUR_HOST=0.0.0.0 \
    FACTEUR_PORT=8080 \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/bin/swift-backtrace-static

# The facteur user (numeric, so Kubernetes runAsNonRoot can verify it).
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["facteur"]
CMD ["serve"]
