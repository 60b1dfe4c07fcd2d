#!/usr/bin/env bash
# Kubernetes data path in one run: the test API server with 10,000 pods, direct vs through Warden vs through
# `kubectl proxy` (the peer): one GET over a kept-alive connection (added latency p50/p99), `kubectl get pods`
# (added p50/p99; goal <= 2 ms at p50) and a list of the 10,000 pods (throughput ratio; goal >= 0.8 of direct).
# Usage: bash bench/kube.sh   (BENCH_KUBE_OBJECTS=10000 BENCH_KUBE_GETS=30 BENCH_KUBE_REQUESTS=500 BENCH_KUBE_LISTS=10)
# Needs kubectl (>= 1.30).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/kube.ts "$@"
