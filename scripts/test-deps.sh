#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: the npm packages of the real-client tests,
# Debian's Prometheus and Alertmanager binaries and Debian's Chromium. Idempotent; quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Prometheus server and Alertmanager: real clients of /metrics and of the notifier.
missing=""
[ -x /usr/bin/prometheus-alertmanager ] || missing="$missing prometheus-alertmanager"
[ -x /usr/bin/prometheus ] || missing="$missing prometheus"
# Debian's Chromium: the console's browser test (internal/console TestConsoleInBrowser) drives it.
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  echo "installing$missing (Debian)…"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  # The packages may start system services on :9090/:9093; the tests start their own on free ports.
  for svc in prometheus prometheus-alertmanager; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || pkill -f "^/usr/bin/$svc" || true
  done
fi

for dir in test/openai test/otel; do
  if [ -f "$dir/package.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      echo "installing npm packages in $dir…"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    fi
  fi
done
