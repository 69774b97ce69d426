#!/usr/bin/env python3
"""Drives one kind of load against 3 durable nodes and prints each node's RSS as it goes, to
tell a leak (grows without end) from a bounded structure filling (grows, then flat). Used to
diagnose `make soak` (docs/RELIABILITY.md, "Long runs"); not part of any make target.

Loads (N rounds each):
  py-put     one long-lived Python client putting 100 keys over and over;
  py-lease   one long-lived Python client: lease grant, put on it, keep-alive, revoke;
  cli-put    one `clustron put` process per round (a new client and libp2p peer each);
  cli-lease  the soak's lease round: four `clustron` processes per round.
--fill N first puts N values from one client (60,000 takes the store's in-memory Raft log
past its first snapshot, so what follows starts from the plateau).

  bindings/python/.venv/bin/python bench/memory_probe.py py-lease 32000
  bindings/python/.venv/bin/python bench/memory_probe.py cli-lease 1000 --fill 60000
"""

import argparse
import pathlib
import re
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import scale  # noqa: E402  (the cluster and process helpers of make bench-scale)

import clustron  # noqa: E402  (the Python package: make python-install)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("load", choices=["py-put", "py-lease", "cli-put", "cli-lease"])
    parser.add_argument("rounds", type=int)
    parser.add_argument("--fill", type=int, default=3000)
    parser.add_argument("--binary", default="target/x86_64-unknown-linux-gnu/release/clustron")
    parser.add_argument("--history-events", type=int, default=2000)
    args = parser.parse_args()
    binary = str(pathlib.Path(args.binary).resolve())

    cluster = scale.Cluster(binary, 3, None, None)

    def rss():
        return [round(scale.process_rss_bytes(process.pid) / 2**20, 1) for process in cluster.processes]

    def cli(*command, text=False):
        return subprocess.run([binary, *command, "--target", target], capture_output=True, text=text, check=True)

    try:
        cluster.cli("store", "create", "probe", "--replicas", "3", "--history-events", str(args.history_events))
        target = f"clustron://{cluster.nodes()}/probe"
        store = clustron.open(target)
        for index in range(args.fill):
            store.put(f"fill{index % 100}", "v")
        print(f"after {args.fill} fill puts: RSS MiB per node {rss()}", flush=True)
        started = time.monotonic()
        for index in range(args.rounds):
            if args.load == "py-put":
                store.put(f"k{index % 100}", "v")
            elif args.load == "py-lease":
                lease = store.leases.grant(5)
                store.put("held", "x", lease=lease.id)
                store.leases.keep_alive(lease.id)
                store.leases.revoke(lease.id)
            elif args.load == "cli-put":
                cli("put", f"k{index % 100}", "v")
            else:
                granted = cli("lease", "grant", "5s", text=True).stdout
                lease = re.search(r"lease (\d+) granted", granted).group(1)
                cli("put", "held", "x", "--lease", lease)
                cli("lease", "keep-alive", lease, "--once")
                cli("lease", "revoke", lease)
            if (index + 1) % max(1, args.rounds // 8) == 0:
                print(f"{index + 1} rounds, {time.monotonic() - started:.0f} s: RSS MiB per node {rss()}", flush=True)
        store.close()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
