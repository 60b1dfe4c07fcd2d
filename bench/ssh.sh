#!/usr/bin/env bash
# SSH data path, direct to a throwaway sshd vs through Warden in the same run: scp of 1 GiB (throughput ratio), exec
# of `true` (added latency p50/p99), and 50 concurrent sessions each running 20 execs (all must succeed; Warden's
# memory printed). Usage: bash bench/ssh.sh   (BENCH_SCP_MB=1024 BENCH_EXECS=300 BENCH_SESSIONS=50 BENCH_PER_SESSION=20)
# Needs root (the sshd harness creates the test account once), sshd, ssh, scp.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/ssh.ts "$@"
