# port-action: a static musl binary alone in a scratch image.
#
# The builder is pinned by version tag here (where Dependabot updates it).
# .github/workflows/release.yml resolves that tag to its digest and builds with
# `rust:<tag>@sha256:<digest>` (recorded in the release notes and the image's
# provenance); the published action runs the resulting image by digest.
#
# The builder always runs on the build machine's own architecture
# (BUILDPLATFORM) and cross-compiles for the image's (TARGETARCH): an arm64
# image built on an amd64 runner is compiled natively, not under QEMU.
#   - for the build machine's own architecture, C code (the TLS crate ring's)
#     is compiled with musl-gcc, from musl-tools;
#   - for aarch64 on another machine, it is compiled with clang, which ring
#     supports without a musl sysroot for that target, and the binary is
#     linked by rust-lld, which ships with Rust, against the musl C library
#     that ships with Rust's aarch64-unknown-linux-musl target.
# TARGETARCH is set by BuildKit; a classic `docker build` leaves it empty, and
# the builder's own architecture is the right one then.

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS builder
ARG TARGETARCH

# Not version-pinned: Debian replaces versions on point releases, which would
# break the build; the builder image tag fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools clang llvm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -eu; \
    build_arch="$(dpkg --print-architecture)"; \
    arch="${TARGETARCH:-$build_arch}"; \
    case "$arch" in \
        amd64) target=x86_64-unknown-linux-musl ;; \
        arm64) target=aarch64-unknown-linux-musl ;; \
        *) echo "unsupported architecture: $arch" >&2; exit 1 ;; \
    esac; \
    var="${target//-/_}"; \
    if [[ "$arch" == "$build_arch" ]]; then \
        export "CC_$var=musl-gcc"; \
    elif [[ "$arch" == arm64 ]]; then \
        export "CC_$var=clang" "AR_$var=llvm-ar" "CARGO_TARGET_${var^^}_LINKER=rust-lld"; \
    else \
        echo "build linux/$arch images on an $arch machine (this one is $build_arch)" >&2; \
        exit 1; \
    fi; \
    rustup target add "$target"; \
    cargo build --release --locked --target "$target" -p port-action; \
    mkdir /out; \
    cp "target/$target/release/port-action" /out/port-action; \
    ln -s port-action /out/port-action-post

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# /port-action-post is a link to /port-action: the post stage of track/action.yml starts the
# binary by that name (the runner gives it the same arguments as the main stage). Copying the
# folder keeps the link a link.
COPY --from=builder /out/ /
# No USER: the runner mounts /github/file_commands (GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY) owned by the runner's user, and only root inside the
# container can write there; a non-root user makes outputs fail silently.
# No WORKDIR: the runner passes --workdir /github/workspace itself.
ENTRYPOINT ["/port-action"]
