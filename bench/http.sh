#!/usr/bin/env bash
# HTTP data path in one run: a small JSON GET from the test upstream (plain HTTP) direct, through nginx as a
# reverse proxy (the peer) and through Warden (recording on, an allow policy, auth none), with autocannon at 8 and 64
# connections (requests/s, p50/p99) and one kept-alive connection (added p50 with sub-ms precision). Goals: Warden's
# requests/s >= 0.8 of nginx's, added p50 <= 1 ms. Then the masking benchmark (bench/http-masking.ts) when present.
# Usage: bash bench/http.sh   (BENCH_HTTP_SECONDS=10 BENCH_HTTP_SEQUENTIAL=2000; BENCH_WARDEN_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR")
# Needs /usr/sbin/nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
node --import tsx bench/http.ts "$@"
if [ -f bench/http-masking.ts ]; then
  echo
  exec node --import tsx bench/http-masking.ts
else
  echo
  echo "bench/http-masking.ts is not there yet: masking not measured"
fi
