# port-action: a static musl binary alone in a scratch image.
#
# The builder is pinned by version tag here. .github/workflows/release.yml
# resolves that tag to its digest and builds with `rust:<tag>@sha256:<digest>`
# (recorded in the release notes and the image's provenance); the published
# action runs the resulting image by digest.
#
# Each platform builds natively for its own architecture (linux/arm64 under
# QEMU in the release workflow), so TARGETARCH picks the musl target.

FROM rust:1.95-bookworm AS builder
ARG TARGETARCH

# musl-tools provides musl-gcc, which the TLS crates' C code is compiled with.
# Not version-pinned: Debian replaces versions on point releases, which would
# break the build; the builder image tag fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# TARGETARCH is set by BuildKit; a classic `docker build` leaves it empty, and
# the builder's own architecture is the right one then. C code (the TLS
# crates') is compiled with musl-gcc on both architectures.
RUN set -eu; \
    arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
        amd64) target=x86_64-unknown-linux-musl; \
            export CC_x86_64_unknown_linux_musl=musl-gcc ;; \
        arm64) target=aarch64-unknown-linux-musl; \
            export CC_aarch64_unknown_linux_musl=musl-gcc ;; \
        *) echo "unsupported architecture: $arch" >&2; exit 1 ;; \
    esac; \
    rustup target add "$target"; \
    cargo build --release --locked --target "$target" -p port-action; \
    cp "target/$target/release/port-action" /port-action

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /port-action /port-action
# No USER: the runner mounts /github/file_commands (GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY) owned by the runner's user, and only root inside the
# container can write there; a non-root user makes outputs fail silently.
# No WORKDIR: the runner passes --workdir /github/workspace itself.
ENTRYPOINT ["/port-action"]
