# portcullis container image. Three stages on node:24-slim:
#   build    compiles TypeScript to dist/ (needs the dev dependencies: typescript)
#   deps     installs the production dependencies only, from the lockfile
#   runtime  dist/ + production node_modules, no compiler, no npm cache, not root
# Build: docker build -t portcullis .   (or: podman build -t portcullis .)

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script; --ignore-scripts keeps it that way at build time.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/routes.yaml
# The system's trusted CAs (/etc/ssl/certs), which an upstream without upstream.ca is verified against
# beside Node's own roots; slim has none. Trust your own CA in an image built on this one:
#   COPY corp-ca.crt /usr/local/share/ca-certificates/  then  RUN update-ca-certificates
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
WORKDIR /app
# Everything stays owned by root and read-only to the gateway's user: it cannot rewrite its own code
# or config. Mount a folder holding your routes.yaml and its certificates (certs/) at /etc/portcullis, or
# elsewhere and set PORTCULLIS_CONFIG; a folder, not the single file, or edits never reach the gateway.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schema ./schema
# The default config: plain HTTP on 8080 and the admin listener on 0.0.0.0:9901, so the image starts
# with no certificates mounted; see docs/deployment.md.
COPY deploy/container/routes.yaml /etc/portcullis/routes.yaml
# uid:gid 1000:1000 is the image's `node` user. Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# HTTPS ingress (a mounted config's listen.https), HTTP ingress, admin (/metrics, /healthz, /readyz).
EXPOSE 8443 8080 9901
# Probes /healthz on the admin listener that $PORTCULLIS_CONFIG names in listen.admin (slim has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]
# The gateway handles SIGTERM itself (it is PID 1: stop accepting, drain for shutdown.grace, exit 0).
# Give `docker stop` at least that long: docker stop -t 30 (its default is 10s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js"]
