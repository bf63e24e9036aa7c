# syntax=docker/dockerfile:1

# Switchboard's LiveKit worker as an image, after LiveKit's agent-starter-node: a build stage that
# compiles the TypeScript, a run stage with production dependencies only, run by a user without privileges.
#   docker build -t switchboard .
#   docker run --env-file .env switchboard
# LiveKit Cloud builds and deploys this same file (`lk agent create`, then `lk agent deploy`).
#
# test/build.test.ts carries out the run stage outside Docker, from this file: its COPY, RUN, ENV,
# HEALTHCHECK and CMD lines, in a clean directory. Keep each instruction on one line.

# Node 20, slim: Debian (glibc), which the native LiveKit and local-inference binaries need.
ARG NODE_VERSION=20
FROM node:${NODE_VERSION}-slim AS base
# The system CA bundle: LiveKit's native core (@livekit/rtc-node) reads the trust store for TLS, and the
# slim image ships none.
RUN apt-get update -qq && apt-get install --no-install-recommends -y ca-certificates && rm -rf /var/lib/apt/lists/*
# The user the worker runs as (https://docs.docker.com/build/building/best-practices/#user). The code
# stays root's, read-only to it; data/ (the call records: CALLS_DB, data/calls.sqlite by default) is
# the one directory it may write. Mount a volume on /app/data, or set DATABASE_URL, to keep the records.
ARG UID=10001
RUN adduser --disabled-password --gecos "" --home /app --shell /sbin/nologin --uid "${UID}" appuser && mkdir -p /app/data && chown appuser:appuser /app/data

# --- Build stage: every dependency, then `npm run build` (tsc) into dist/ ---
FROM base AS build
WORKDIR /app
# The dependency files first: this layer is reused while only the code changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- Run stage: production dependencies only (no tsx, no test tools), the compiled worker, the inspector's page ---
FROM base
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist dist
COPY visualizer visualizer
USER appuser
# The worker's own HTTP server (health check `/`, `/worker`) on every interface, port 8081, where
# Docker's HEALTHCHECK and an orchestrator's probe reach it.
ENV NODE_ENV=production WORKER_HOST=0.0.0.0 WORKER_PORT=8081
EXPOSE 8081
# Healthy (200) once the worker is registered with LiveKit and its inference process runs; 503 before.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.WORKER_PORT || 8081) + '/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `npm start`, without npm in between: SIGTERM reaches the worker itself, which drains the calls under way.
CMD ["node", "--enable-source-maps", "dist/src/cli/worker.js", "start"]
