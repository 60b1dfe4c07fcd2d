#!/usr/bin/env bash
# pgbench select-only (simple and extended) at 1, 8 and 32 clients: direct vs through Warden vs through pgbouncer,
# in the same run against one throwaway PostgreSQL. Prints TPS, latency, ratios and Warden's CPU per transaction.
# Then the per-statement cost of SQL analysis and policy evaluation (bench/policy.ts).
# Usage: bash bench/pg.sh            (BENCH_SECONDS=10 per run by default; BENCH_CLIENTS="1 8 32")
set -euo pipefail
cd "$(dirname "$0")/.."
node --import tsx bench/pg.ts "$@"
echo
# What judging one statement costs (parse and evaluation), measured in-process.
node --import tsx bench/policy.ts
