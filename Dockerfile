# syntax=docker/dockerfile:1
#
# lbops in a container: `docker build -t lbops .`
#   docker run --rm lbops --help
#   docker run -v lbops-state:/var/lib/lbops -v ./lbops.yaml:/etc/lbops/lbops.yaml:ro lbops
# The daemon and `lbops dataplane` as two containers: deploy/sidecar/.

# Build on the same Debian release as the final image, so the binary links
# against the glibc and OpenSSL it will find there.
FROM rust:1.95-slim-bookworm AS build
# libgit2's HTTPS goes through OpenSSL (libssh2 is vendored; zlib is in
# every Debian image).
# Versions are not pinned on purpose: bookworm only takes security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything `cargo build` reads: the manifest, the lock file, the sources,
# the bench targets the manifest declares, and examples/repo, which the
# demo embeds at compile time (.dockerignore keeps the rest out).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin lbops \
    && install -D -m 0755 target/release/lbops /out/lbops

FROM debian:bookworm-slim
# ca-certificates: forges, webhooks and HTTPS remotes; libssl3: libgit2.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 lbops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/lbops --shell /usr/sbin/nologin lbops \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/lbops \
    && install -d -m 0755 /etc/lbops
COPY --from=build /out/lbops /usr/local/bin/lbops
# A fresh named volume takes this directory's owner (10001) and mode.
VOLUME ["/var/lib/lbops"]
USER 10001:10001
ENV LBOPS_LOG=info
# The balancer listeners are the repository's; 8711 is the admin API of a
# standalone `lbops dataplane` (loopback unless told otherwise).
ENTRYPOINT ["/usr/local/bin/lbops"]
CMD ["run", "--config", "/etc/lbops/lbops.yaml"]
