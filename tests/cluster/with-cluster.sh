#!/usr/bin/env bash
# Runs a command against a local cluster, then stops the cluster.
#
#   tests/cluster/with-cluster.sh BINARY NODES STORE [NODE ARGS...] -- COMMAND [ARGS...]
#
# Starts NODES `clustron node` processes (BINARY) on free 127.0.0.1 ports, the first serving
# STORE, the others joining it, each with NODE ARGS (in-memory unless they name a
# --data-dir). COMMAND runs with CLUSTRON_NODES=127.0.0.1:P1,127.0.0.1:P2,... in its
# environment; every node is killed when it ends, whatever happens. Exits with its status;
# when it fails, the last lines of every node's log follow its output.
set -euo pipefail
# Nodes read every flag also from a CLUSTRON_* variable (--mdns from CLUSTRON_MDNS...): start
# them with none from the caller's shell, so a test runs the same wherever (no multicast).
while read -r name; do unset "$name"; done < <(compgen -e | grep '^CLUSTRON_' || true)
binary=$1 nodes=$2 store=$3
shift 3
node_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do node_args+=("$1"); shift; done
[ $# -gt 0 ] || { echo "with-cluster: missing -- COMMAND" >&2; exit 2; }
shift

work=$(mktemp -d "${TMPDIR:-/tmp}/clustron-cluster.XXXXXX")
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

addresses=()
for index in $(seq 1 "$nodes"); do
  port=$(free_port)
  args=(node --listen "127.0.0.1:$port" "${node_args[@]}")
  if [ "$index" = 1 ]; then args+=(--store "$store"); else args+=(--seed "${addresses[0]}"); fi
  "$binary" "${args[@]}" >"$work/node$index.out" 2>"$work/node$index.log" &
  pids+=($!)
  # Wait (up to 60 s) for the node to say it is serving; a node that joins says so once it
  # is a member of every store.
  for _ in $(seq 1 600); do
    grep -q '^ready ' "$work/node$index.out" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/node$index.log" >&2; echo "with-cluster: node $index exited" >&2; exit 1; }
    sleep 0.1
  done
  grep -q '^ready ' "$work/node$index.out" || { cat "$work/node$index.log" >&2; echo "with-cluster: node $index not ready" >&2; exit 1; }
  addresses+=("127.0.0.1:$port")
done

CLUSTRON_NODES=$(IFS=,; echo "${addresses[*]}")
export CLUSTRON_NODES
echo "with-cluster: $nodes nodes at $CLUSTRON_NODES" >&2
status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
  # What each node said last: the logs go with the cluster, and a failure is often theirs.
  for index in $(seq 1 "$nodes"); do
    echo "with-cluster: the last lines of node $index's log:" >&2
    tail -n 30 "$work/node$index.log" >&2 || true
  done
fi
exit $status
