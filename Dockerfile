# A sandbox base image whose PID 1 is toolboxd.
#
#   docker build -t toolboxd-sandbox .
#   docker run -p 22221:22221 toolboxd-sandbox                 # CMD becomes the entrypoint session
#   docker run -p 22221:22221 toolboxd-sandbox npm start        # any command instead of the CMD
#   docker build --target desktop -t toolboxd-desktop .          # the same plus an X desktop
#   docker run -p 22221:22221 -p 6080:6080 toolboxd-desktop       # POST /computeruse/start, then
#                                                                 # http://localhost:6080/vnc.html
#
# Stage 1 builds the one static executable exactly as `scripts/build-static.sh` does.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
# The workspace lists crates/ as members, so cargo needs them even to build the core alone.
COPY crates ./crates
COPY scripts ./scripts
RUN RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo rustc --locked --release --target x86_64-unknown-linux-gnu --bin toolboxd \
      -- -C link-arg=-Wl,-T,/src/scripts/startup-order.ld \
 && cp target/x86_64-unknown-linux-gnu/release/toolboxd /toolboxd

# Stage 2 builds the desktop helper `toolboxd-desktop` (crates/desktop). It links xcap's X11,
# Wayland and PipeWire libraries dynamically, so it is an ordinary build, kept out of the core.
FROM rust:1-bookworm AS build-desktop
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config clang libclang-dev libwayland-dev \
      libxcb1-dev libxcb-randr0-dev libdbus-1-dev libpipewire-0.3-dev libgbm-dev libegl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY crates ./crates
RUN cargo build --locked --release -p toolboxd-desktop \
 && cp target/release/toolboxd-desktop /toolboxd-desktop

# Stage 3: the sandbox itself. git, python3 and bash are what agents expect to find; curl serves
# the health check. The daemon needs none of them to start.
FROM debian:bookworm-slim AS sandbox
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

# Stage 4 (`--target desktop`): the sandbox plus the desktop stack that
# `POST /computeruse/start` runs: Xvfb, an xfce4 session (dbus-x11 for its session bus), x11vnc,
# noVNC with websockify (novnc_proxy also needs procps' `ps`), and the desktop helper with the
# libraries it loads; at-spi2-core's bus launcher (started by the xfce4 session) serves
# `/computeruse/a11y`. The contract's settings are the defaults below.
FROM sandbox AS desktop
RUN apt-get update \
 && apt-get install -y --no-install-recommends xvfb xfce4 xfce4-session dbus-x11 x11vnc novnc \
      websockify procps x11-utils libxcb1 libxcb-randr0 libwayland-client0 libgbm1 \
      libpipewire-0.3-0 libdbus-1-3 at-spi2-core \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build-desktop /toolboxd-desktop /usr/local/bin/toolboxd-desktop
ENV DISPLAY=:0 VNC_RESOLUTION=1024x768 VNC_PORT=5901 NO_VNC_PORT=6080
EXPOSE 5901 6080

# The last stage is the default target: `docker build .` gives the plain sandbox as before.
FROM sandbox
