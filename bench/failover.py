#!/usr/bin/env python3
"""Failover: how long writes stop when the leader is killed, Clustron next to etcd.

Each round starts a fresh 3-node cluster with default settings (Clustron durable, etcd 3.4),
runs one writing client (`clustron bench put --clients 1`, the same harness and loop for
both systems), kills the leader with SIGKILL a few seconds in, and reads the client's longest
wait between two acknowledged writes: the time writes were stopped, measured by the client
(the write in flight at the kill included). Writes bench/results/failover-<date>.md and .json
with every round, the median and the maximum. Run through `make bench-failover`, which
installs etcd and builds the tool with the `compare` feature first. Every process it starts
is stopped when it ends, however it ends.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the cluster starters and the process bookkeeping)

ROOT = compare.ROOT


def clustron_leader(binary, target):
    """The index (start order) of the node leading the bench store."""
    def ask(*command):
        run = subprocess.run([binary, *command, "--json", "--target", target], capture_output=True, text=True,
                             timeout=30)
        if run.returncode != 0:
            raise RuntimeError(f"clustron {' '.join(command)} failed: {run.stderr.strip()}")
        return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]

    leader = ask("store", "show", "bench")[0].get("leader")
    addrs = next((node["addrs"] for node in ask("members", "list") if node["id"] == leader), [])
    ports = [hostport.rsplit(":", 1)[1] for hostport in target.split("//", 1)[1].split("/", 1)[0].split(",")]
    for index, port in enumerate(ports):
        if any(addr.endswith(f"/tcp/{port}") for addr in addrs):
            return index
    return None


def etcd_leader(target):
    endpoints = target.split("//", 1)[1]
    status = subprocess.run(["etcdctl", "--endpoints", endpoints, "endpoint", "status", "-w", "json"],
                            capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
    if status.returncode != 0:
        raise RuntimeError(f"etcdctl endpoint status failed: {status.stderr.strip()}")
    for index, report in enumerate(json.loads(status.stdout)):
        if report["Status"]["header"]["member_id"] == report["Status"]["leader"]:
            return index
    return None


def round_once(binary, system, work, kill_after, duration):
    """One fresh cluster, one kill: the client's longest wait, in milliseconds."""
    starter = compare.Clustron(binary, 3, True, work) if system == "clustron" else compare.Etcd(3, work)
    with starter as cluster:
        servers = list(compare.STARTED)
        # etcd's client waits for good on a killed member's connection unless each request has
        # a limit; 100 ms is 40 times its p50 write here and bounds how late it notices.
        target = cluster.target + ("?timeout=100ms" if system == "etcd" else "")
        bench = subprocess.Popen(
            [binary, "bench", "put", "--target", target, "--clients", "1", "--duration", str(duration),
             "--warmup", "1", "--json", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1 + kill_after)
            leader = clustron_leader(binary, cluster.target) if system == "clustron" else etcd_leader(cluster.target)
            if leader is None:
                raise RuntimeError(f"{system}: no leader to kill")
            os.killpg(servers[leader].pid, 9)
            out, err = bench.communicate(timeout=duration + 120)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        if bench.returncode != 0:
            raise RuntimeError(f"bench failed: {err.strip()[-300:]}")
        report = json.loads(out.splitlines()[-1])
        return {"longest_gap_ms": report["longest_gap_ms"], "ops": report["ops"], "errors": report["errors"],
                "p50_us": report["latency_us"]["p50"], "killed": leader}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "clustron"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--systems", default="clustron,etcd")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds of writes before the kill")
    parser.add_argument("--duration", type=int, default=8, help="seconds the client measures")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args()

    results = {}
    try:
        for system in args.systems.split(","):
            rounds = []
            for n in range(args.rounds):
                with tempfile.TemporaryDirectory(prefix=f"failover-{system}-") as work:
                    outcome = round_once(args.binary, system, work, args.kill_after, args.duration)
                rounds.append(outcome)
                print(f"{system} round {n + 1}: writes stopped {outcome['longest_gap_ms']:.0f} ms "
                      f"(killed node {outcome['killed']}, {outcome['errors']} errors)", file=sys.stderr)
            gaps = [r["longest_gap_ms"] for r in rounds]
            results[system] = {"rounds": rounds, "median_ms": statistics.median(gaps), "max_ms": max(gaps),
                               "min_ms": min(gaps)}
    finally:
        compare.stop_all()

    date = datetime.date.today().isoformat()
    lines = [f"# Failover, {date}", "",
             f"3 nodes on 127.0.0.1, default settings, one writing client (`clustron bench put --clients 1`); "
             f"the leader is killed with SIGKILL {args.kill_after:.0f} s into the writes, {args.rounds} rounds, "
             "a fresh cluster each. *Writes stopped*: the client's longest wait between two acknowledged "
             "writes (the write in flight at the kill included). `make bench-failover`.", "",
             "| System | median (ms) | min | max | rounds (ms) |", "|---|---|---|---|---|"]
    names = {"clustron": "Clustron, 3 nodes durable", "etcd": "etcd 3.4, 3 nodes"}
    for system, result in results.items():
        every = ", ".join(f"{r['longest_gap_ms']:.0f}" for r in result["rounds"])
        lines.append(f"| {names.get(system, system)} | {result['median_ms']:.0f} | {result['min_ms']:.0f} | "
                     f"{result['max_ms']:.0f} | {every} |")
    data = {"date": date, "rounds": args.rounds, "kill_after_s": args.kill_after, "results": results}
    compare.save_report(args.out, f"failover-{date}", data, lines)


if __name__ == "__main__":
    main()
