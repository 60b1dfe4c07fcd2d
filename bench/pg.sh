#!/usr/bin/env bash
# pgbench select-only (simple and extended) at 1, 8 and 32 clients: direct vs through Warden vs through pgbouncer,
# in the same run against one throwaway PostgreSQL. Prints TPS, latency, ratios and Warden's CPU per transaction.
# Usage: bash bench/pg.sh            (BENCH_SECONDS=10 per run by default; BENCH_CLIENTS="1 8 32")
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/pg.ts "$@"
