#!/usr/bin/env bash
# Masking cost: a 1M-row, four-column result read with psql directly, through Warden without masking rules and
# through Warden with the issue's masking rules, in the same run (rows/s and ratios); then the latency a 1,000-row
# result gains from masking. Usage: bash bench/masking.sh   (BENCH_RUNS=3 per measurement by default)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/masking.ts "$@"
