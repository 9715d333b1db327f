#!/usr/bin/env bash
# Every benchmark, one at a time (they compete for the machine's cores). Figures: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p .
for b in lint desired store apply schedule agent scale e2e up signatures rollout; do
  echo "== bench:$b (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  npm run --silent "bench:$b"
done
