#!/usr/bin/env bash
# Validates the monitoring files with promtool: the alerting rules, their unit tests and the example
# Prometheus config. Installs promtool (Debian/Ubuntu package `prometheus`) when it is missing and we
# are root with apt-get; otherwise says what is missing and exits 1.
#
#   scripts/check-monitoring.sh            (npm run check:monitoring)
#   PROMTOOL=/opt/prometheus/promtool scripts/check-monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/.."

promtool="${PROMTOOL:-promtool}"
if ! command -v "$promtool" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check-monitoring: promtool not found; installing the 'prometheus' package with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    promtool=promtool
  else
    cat >&2 <<'MSG'
check-monitoring: promtool is not installed, and this script can only install it as root with apt-get.
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends prometheus
  elsewhere:      take promtool from the release archive at https://prometheus.io/download/
                  and put it on PATH, or set PROMTOOL=/path/to/promtool
MSG
    exit 1
  fi
fi

echo "check-monitoring: $("$promtool" --version 2>&1 | head -n 1)"
run() {
  echo "+ $*"
  "$@"
}
run "$promtool" check rules deploy/prometheus/alerts.yaml
run "$promtool" test rules deploy/prometheus/alerts.test.yaml
run "$promtool" check config deploy/prometheus/prometheus.yaml

# The dashboard's PromQL, with Grafana's variables filled in, as recording rules: promtool parses them.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node - deploy/grafana/portcullis.json "$tmp/dashboard-rules.yaml" <<'JS'
const fs = require('node:fs')
const [file, out] = process.argv.slice(2)
const dashboard = JSON.parse(fs.readFileSync(file, 'utf8'))
if (typeof dashboard.schemaVersion !== 'number') throw new Error(`${file}: no numeric schemaVersion`)
const panels = (list) => list.flatMap((p) => [p, ...panels(p.panels ?? [])])
const vars = { __rate_interval: '1m', __interval: '1m', __range: '1h', __range_s: '3600' }
const fill = (expr) => expr.replace(/\$\{?(\w+)\}?/g, (_, name) => vars[name] ?? '.*')
const rules = []
for (const panel of panels(dashboard.panels)) {
  for (const target of panel.targets ?? []) {
    rules.push({ record: `dashboard:panel_${panel.id}:${target.refId}`, expr: fill(target.expr) })
  }
}
fs.writeFileSync(out, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }, null, 2))
console.log(`${file}: valid JSON, schemaVersion ${dashboard.schemaVersion}, ${rules.length} queries`)
JS
run "$promtool" check rules "$tmp/dashboard-rules.yaml"
echo "check-monitoring: all good"
