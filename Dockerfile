# syntax=docker/dockerfile:1
# cloud-unmap container: release build, then a minimal non-root runtime (distroless, glibc only).
#   docker build -t cloud-unmap .
#   docker run --rm -p 9100:9100 -e AWS_REGION=eu-west-1 cloud-unmap --service-id srv-… --service-region eu-west-1 --instances-region eu-west-1

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependency layer: built from the manifests alone, so code changes do not rebuild the AWS SDK.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src
COPY src ./src
# Newer mtimes than the dummy sources, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && cp target/release/cloud-unmap /cloud-unmap

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /cloud-unmap /usr/local/bin/cloud-unmap
# distroless's "nonroot" user, by number so any runtime can check it is not root.
USER 65532:65532
EXPOSE 9100
# The binary handles SIGTERM itself (also as PID 1): it finishes the work in progress and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/cloud-unmap", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cloud-unmap"]
