# sms-orchestrator and the stand-in routing engine, on Debian 12 (docs/deploy.md).
#
#   docker build -t sms-orchestrator:local .
#
# Stage 1 builds the two binaries with the -dev packages; stage 2 carries only
# the runtime shared libraries, curl for the health check, the binaries and the
# stand-in's prefix table, and runs as an unprivileged user.

FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# Only what `make` needs for the two binaries (no cmocka: the unit tests are not built here).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libpq-dev libmicrohttpd-dev libjson-c-dev libhiredis-dev libnats-dev \
      libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Exactly what the build reads: the Makefile, the version, the generators, the
# sources, the proto, the SQL (embedded into the binary) and the data tables.
COPY Makefile VERSION ./
COPY scripts/embed_sql.sh scripts/gen_country_codes.sh scripts/gen_smart_encoding.sh scripts/
COPY src/ src/
COPY proto/ proto/
COPY migrations/ migrations/
COPY sql/ sql/
COPY data/ data/
RUN make -j"$(nproc)" build/release/sms-orchestrator build/release/routing-engine-standin

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries: the packages that provide what the binaries link against
# (ldd + dpkg -S; their own dependencies come with them), plus ca-certificates
# and curl (the health check). tests/integration/12_deploy.sh checks this list.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libpq5 libmicrohttpd12 libjson-c5 libhiredis0.14 libnats3.4 libgrpc29 libprotobuf-c1 libssl3 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 orch \
 && useradd --system --uid 10001 --gid orch --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin orch
COPY --from=build /src/build/release/sms-orchestrator /src/build/release/routing-engine-standin /usr/local/bin/
COPY --from=build /src/data/routes.txt /usr/share/sms-orchestrator/routes.txt
USER 10001:10001
# In a container the API must listen beyond loopback; override with ORCH_HTTP_LISTEN
# (and then adjust the HEALTHCHECK port).
ENV ORCH_HTTP_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["sms-orchestrator"]
CMD ["serve"]
