# A sandbox base image whose PID 1 is toolboxd.
#
#   docker build -t toolboxd-sandbox .
#   docker run -p 22221:22221 toolboxd-sandbox                 # CMD becomes the entrypoint session
#   docker run -p 22221:22221 toolboxd-sandbox npm start        # any command instead of the CMD
#
# Stage 1 builds the one static executable exactly as `scripts/build-static.sh` does.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY scripts ./scripts
RUN RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --locked --release --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/toolboxd /toolboxd

# Stage 2: the sandbox itself. git, python3 and bash are what agents expect to find; curl serves
# the health check. The daemon needs none of them to start.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl git python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /toolboxd /usr/local/bin/toolboxd
WORKDIR /home/sandbox
ENV HOME=/home/sandbox TOOLBOXD_PORT=22221
EXPOSE 22221
HEALTHCHECK --interval=10s --timeout=2s --start-period=2s --retries=3 \
  CMD curl -fsS http://127.0.0.1:22221/version || exit 1
# toolboxd runs as PID 1; whatever follows `--` (the image's CMD) runs as the entrypoint session.
ENTRYPOINT ["/usr/local/bin/toolboxd", "--"]
CMD ["sleep", "infinity"]
