#!/usr/bin/env bash
# Checks that every table row `cmd/scantrain -eval` prints stands verbatim in docs/DETECTION.md,
# so the published accuracy tables are the output of the shipped code and weights.
# Usage: scripts/check-detection-doc.sh [DATASETS_DIR] [CACHE_DIR]   (≈ 3 min on an idle 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets}
cache=${2:-${TMPDIR:-/tmp}/scantrain-cache}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go run ./cmd/scantrain -data "$data" -eval -cache "$cache" >"$out" 2>/dev/null
missing=0
total=0
while IFS= read -r row; do
  total=$((total + 1))
  if ! grep -qxF -- "$row" docs/DETECTION.md; then
    missing=$((missing + 1))
    echo "not in docs/DETECTION.md: $row"
  fi
done < <(grep '^| ' "$out" | grep -v '^| *---')
echo "$((total - missing)) of $total table rows of the -eval output stand in docs/DETECTION.md"
[ "$missing" -eq 0 ]
