#!/usr/bin/env bash
# SSH data path in one run, direct to a throwaway sshd vs through Warden vs through OpenSSH as a jump host (ssh -J
# via a second sshd, the peer): scp of 1 GiB up and down (throughput ratios and the CPU each party spent), exec of
# `true` (latency p50/p99 and what each hop adds), and 50 concurrent sessions each running 20 execs (all must
# succeed; Warden's memory printed).
# Usage: bash bench/ssh.sh   (BENCH_SCP_MB=1024 BENCH_ROUNDS=3 BENCH_EXECS=300 BENCH_SESSIONS=50 BENCH_PER_SESSION=20;
#        BENCH_ONLY="scp exec sessions" picks parts; BENCH_WARDEN_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles Warden)
# Needs root (the sshd harness creates the test account once), sshd, ssh, scp.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/ssh.ts "$@"
