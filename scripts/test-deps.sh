#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: the npm packages of the real-client tests and
# Debian's Prometheus Alertmanager binary. Idempotent; quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus-alertmanager >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus-alertmanager ]; then
  echo "installing prometheus-alertmanager (Debian)…"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus-alertmanager >/dev/null
  # The package starts a system service on :9093; the tests start their own on free ports.
  $SUDO systemctl stop prometheus-alertmanager >/dev/null 2>&1 || pkill -f '^/usr/bin/prometheus-alertmanager' || true
fi

for dir in test/openai test/otel; do
  if [ -f "$dir/package.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      echo "installing npm packages in $dir…"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    fi
  fi
done
