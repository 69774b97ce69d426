#!/usr/bin/env bash
# The cost of access control: a 1-node in-memory cluster without it and one with it
# (`--auth`, every request carrying the admin token), `clustron bench` at 64 clients for 5 s,
# runs interleaved so both see the same machine, with the node's CPU time per request (from
# /proc: steadier than throughput on a shared 2-core machine, where the clients and the node
# compete). `make bench-auth` (ROUNDS, OPS to change).
#
#   bench/auth_cost.sh CLUSTRON_BINARY
set -euo pipefail
binary=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/clustron-auth-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# The node's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run() { # plain|auth put|get
  local port target
  port=$(free_port)
  target="clustron://127.0.0.1:$port/bench"
  if [ "$1" = auth ]; then
    "$binary" node --listen "127.0.0.1:$port" --store bench --auth --admin-token-file "$work/admin.token" >"$work/out" 2>"$work/log" &
    target="$target?token_file=$work/admin.token"
  else
    "$binary" node --listen "127.0.0.1:$port" --store bench >"$work/out" 2>"$work/log" &
  fi
  pid=$!
  for _ in $(seq 100); do grep -q '^ready' "$work/out" 2>/dev/null && break; sleep 0.1; done
  local before after
  before=$(cpu_ticks "$pid")
  "$binary" bench "$2" --target "$target" --clients 64 --duration 5s --warmup 0s --json 2>/dev/null >"$work/result"
  after=$(cpu_ticks "$pid")
  python3 -c "
import json, os, sys
r = json.loads(open('$work/result').read().strip().splitlines()[-1])
cpu = ($after - $before) / os.sysconf('SC_CLK_TCK')
print('$1', '$2', round(r['ops_per_sec']), 'ops/s  p50', round(r['latency_us']['p50']), 'us  p99', round(r['latency_us']['p99']),
      'us  node CPU per request', round(cpu / r['ops'] * 1e6, 2), 'us  errors', r['errors'])"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rm -f "$work/admin.token" "$work/out"
}
for _ in $(seq "${ROUNDS:-3}"); do
  for op in ${OPS:-put get}; do run plain "$op"; run auth "$op"; done
done
