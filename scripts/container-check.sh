#!/usr/bin/env bash
# npm run container:check: build the image from this checkout and run it for real, without a Docker
# engine, through ../shared/tools/container-check (buildah + podman; needs root, and its first run
# installs them and makes the node:24-slim base, about a minute). Two runs of the same image:
#   1. as built, default config, no certificates: /healthz answers, the image's HEALTHCHECK passes,
#      the user is not root, SIGTERM makes the gateway drain and exit 0.
#   2. a routes.yaml and a development PKI mounted at /etc/portcullis, as docs/deployment.md
#      shows: HTTPS with mutual TLS comes up and /readyz answers "ready"; the admin listener is moved
#      to 9902, where the HEALTHCHECK (which reads listen.admin) finds it.
# Extra arguments go to container-check (e.g. --no-cache). CONTAINER_CHECK overrides the tool's path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
check=${CONTAINER_CHECK:-$(cd "$root/.." && pwd)/shared/tools/container-check}
tag=localhost/portcullis:check
[ -x "$check" ] || { echo "container-check not found at $check (set CONTAINER_CHECK)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "container-check needs root (rootful buildah and podman)" >&2; exit 2; }
# The second run's certificates come from `portcullis certs`, run from source: checked before the build.
[ -d "$root/node_modules/tsx" ] || { echo "the dependencies are not installed: run npm ci first" >&2; exit 2; }

echo "== 1/2 the image as built (default config, no certificates)" >&2
"$check" -t "$tag" "$@" "$root" http://127.0.0.1:9901/healthz --expect '^ok'

echo "== 2/2 with routes.yaml and certificates mounted at /etc/portcullis" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/certs"
(cd "$root" && node --import tsx src/cli.ts certs --out "$work/etc/certs" >/dev/null)
cat > "$work/etc/routes.yaml" <<'EOF'
listen:
  https: 0.0.0.0:8443
  admin: 0.0.0.0:9902
routes:
  - name: check
    host: localhost
    tls:
      cert: certs/server.crt
      key: certs/server.key
      clientCAs: certs/ca.crt
    upstream:
      url: http://127.0.0.1:8081
EOF
# The gateway runs as uid 1000 and the key files are 0600: give them to that uid, as a host would.
chown 1000:1000 "$work"/etc/certs/*.key
"$check" -t "$tag" "$@" -v "$work/etc:/etc/portcullis:ro" "$root" http://127.0.0.1:9902/readyz --expect '^ready'
