#!/usr/bin/env bash
# Cost of judging one statement: SQL analysis (miss, exact-text hit, same text with new numbers) and policy
# evaluation, in microseconds per statement. Usage: bash bench/policy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/policy.ts "$@"
