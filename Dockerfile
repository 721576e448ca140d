# syntax=docker/dockerfile:1
# cloud-unmap container. The build stage runs on the build machine's own platform and cross-compiles for
# the target one (no emulation): Debian's cross GCC links, and compiles the C of aws-lc-sys and ring.
# The runtime is distroless (glibc only), non-root. Both bases are pinned by digest (multi-arch indexes).
#   docker buildx build --platform linux/arm64,linux/amd64 -t REGISTRY/cloud-unmap:0.1.0 --push .
#   docker build -t cloud-unmap:0.1.0 .            (the local platform only)

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build
ARG TARGETARCH
ARG BUILDARCH
# The target's Rust triple; Debian's cross toolchain only when the target is not the build arch. The
# packages come from the pinned base's release (bookworm) without versions: a point release replaces them.
# hadolint ignore=DL3008,SC2086
RUN case "$TARGETARCH" in \
      arm64) triple=aarch64-unknown-linux-gnu; cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      amd64) triple=x86_64-unknown-linux-gnu; cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH' (linux/amd64 and linux/arm64 are)" >&2; exit 1 ;; \
    esac \
 && if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $cross && rm -rf /var/lib/apt/lists/*; \
    fi \
 && rustup target add "$triple" \
 && echo "$triple" > /triple
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc \
    AR_x86_64_unknown_linux_gnu=x86_64-linux-gnu-ar
WORKDIR /src
# Dependency layer: built from the manifests alone, so code changes do not rebuild the AWS SDK.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --target "$(cat /triple)" \
 && rm -rf src
COPY src ./src
# The source revision, read at compile time into cloud_unmap_build_info{revision} (after the dependency
# layer, so a new revision does not rebuild the AWS SDK).
ARG REVISION=unknown
# Newer mtimes than the dummy sources, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --target "$(cat /triple)" \
 && cp "target/$(cat /triple)/release/cloud-unmap" /cloud-unmap

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="cloud-unmap" \
      org.opencontainers.image.description="Keeps AWS Cloud Map truthful about EC2: removes registrations of instances that are gone." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://example.invalid/cloud-unmap" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /cloud-unmap /usr/local/bin/cloud-unmap
# distroless's "nonroot" user, by number so any runtime can check it is not root.
USER 65532:65532
EXPOSE 9100
# The binary handles SIGTERM itself (also as PID 1): it finishes the work in progress and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/cloud-unmap", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cloud-unmap"]
