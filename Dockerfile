# syntax=docker/dockerfile:1
# Build: the release binary, with templates, migrations and static files compiled in.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN cargo build --release --locked --bin meetstage

# Browser libraries from npm at the pinned versions (never committed): hls.js (the replay
# player) and the IVS Web Broadcast SDK, served to pages when media_provider = ivs.
FROM node:20-bookworm-slim AS vendor
WORKDIR /vendor
COPY static/vendor/package.json static/vendor/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# Run: a small Debian with CA certificates, ffmpeg (composing recordings) and git (the
# published archive's branch), as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/meetstage --create-home meetstage \
 && install -d -o meetstage -g meetstage -m 0750 /var/lib/meetstage/data
COPY --from=build /src/target/release/meetstage /usr/local/bin/meetstage
COPY --from=vendor /vendor/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js /usr/local/share/meetstage/amazon-ivs-web-broadcast.js
COPY --from=vendor /vendor/node_modules/hls.js/dist/hls.light.min.js /usr/local/share/meetstage/hls.js
USER meetstage
WORKDIR /var/lib/meetstage
ENV MEETSTAGE_BIND=0.0.0.0:8080 \
    MEETSTAGE_DATA_DIR=/var/lib/meetstage/data \
    MEETSTAGE_IVS_WEB_SDK=/usr/local/share/meetstage/amazon-ivs-web-broadcast.js \
    MEETSTAGE_HLS_JS=/usr/local/share/meetstage/hls.js
# HTTP and WebSockets over TCP, live media (WebRTC) over UDP, on the same port number.
EXPOSE 8080 8080/udp 8081
# The directory exists and belongs to meetstage before VOLUME, so a fresh named volume is
# created with that owner and the unprivileged user can write its database there.
VOLUME ["/var/lib/meetstage/data"]
ENTRYPOINT ["/usr/local/bin/meetstage"]
CMD ["serve"]
