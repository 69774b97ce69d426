#!/usr/bin/env python3
"""make soak: a long run of 3 durable nodes under mixed load, with kills, watching for growth.

Load, all at once, in one-minute rounds until --minutes pass:
  - `clustron bench throughput --profile stress` (reads, writes, deletes, counters, lock
    cycles, scans, compare-then transactions, values of 1 byte to 2x --value-size);
  - `clustron bench watch-latency` (a watch that sees every put);
  - leases: a lease granted, a key put on it, kept alive once, revoked, in a loop.
Every --kill-every seconds, kill -9 of node 1 or node 2 (alternating), restarted with its
data directory 5 s later. Node 0 is never killed: its process lives the whole run, so its
samples show growth. Every 10 s each node's RSS, open files and threads are sampled.

The check: after --warmup minutes (default: a third of the run, at least 5), node 0's RSS,
open files and threads at the end must be within 10% (plus a small absolute slack: 4 MiB, 8
files, 4 threads) of their first sample after the warm-up. The warm-up must cover the time
the stores' bounded structures take to fill, or their filling reads as growth: each replica
keeps its Raft log in memory between snapshots (up to --snapshot-every entries plus 1,000),
and each store keeps its change history (--history-events). At the defaults (20,000 entries,
100,000 events) the lease loop's store, at ~11 entries and ~6 events a second, would fill
for 30 minutes and for hours, and node 0 rose ~2.5 MiB a minute for the whole run
(bench/results/soak-2026-12-02-window-fix.md); the same loads driven to their plateau outside the soak
are flat (RELIABILITY, "Long runs"). So the soak's nodes snapshot every 5,000 entries and its
stores keep 2,000 events: everything is full within about 8 minutes. The report lists node
0's figures every 5 minutes, so a plateau and a leak look different. Writes
bench/results/soak-<date>.json and .md; exits 1 on growth or when a load round fails.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import scale  # noqa: E402  (the cluster and process helpers of make bench-scale)

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# Change history each soak store keeps, and the nodes' snapshot interval: both full within
# the warm-up at the lease loop's rate (see the module's documentation).
HISTORY_EVENTS = 2_000
SNAPSHOT_EVERY = 5_000
NODE_ARGS = ("--log-level", "warn", "--snapshot-every", str(SNAPSHOT_EVERY))


def log(message):
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sample(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    return {"rss": scale.process_rss_bytes(pid), "files": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


class Load:
    """The load loops; each counts its rounds and failures."""

    def __init__(self, binary, target, stop):
        self.binary, self.target, self.stop = binary, target, stop
        self.rounds = {"stress": 0, "watch": 0, "lease": 0}
        self.failures = []
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.stress, self.watch, self.lease)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def join(self):
        for thread in self.threads:
            thread.join()

    def run(self, name, args, timeout):
        result = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 and not self.stop.is_set():
            self.failures.append(f"{name}: {result.stderr.strip()[-500:]}")
        self.rounds[name] += 1

    def stress(self):
        while not self.stop.is_set():
            self.run("stress", ["bench", "throughput", "--profile", "stress", "--target", self.target, "--clients", "16",
                                "--duration", "60", "--keys", "5000", "--quiet"], 400)

    def watch(self):
        while not self.stop.is_set():
            self.run("watch", ["bench", "watch-latency", "--target", self.target + "-watch", "--duration", "60",
                               "--quiet"], 400)

    def lease(self):
        target = ["--target", self.target + "-lease"]
        while not self.stop.is_set():
            granted = subprocess.run([self.binary, "lease", "grant", "5s", *target], capture_output=True, text=True,
                                     timeout=60)
            found = re.search(r"lease (\d+) granted", granted.stdout) if granted.returncode == 0 else None
            lease = found.group(1) if found else None
            if lease is None and not self.stop.is_set():
                self.failures.append(f"lease grant: {granted.stderr.strip()[-500:]}")
            if lease:
                for args in (["put", "held", "x", "--lease", lease], ["lease", "keep-alive", lease, "--once"],
                             ["lease", "revoke", lease]):
                    subprocess.run([self.binary, *args, *target], capture_output=True, timeout=60)
            self.rounds["lease"] += 1
            time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes before the baseline sample (default: a third of the run, at least 5)")
    parser.add_argument("--kill-every", type=float, default=180, help="seconds between kills")
    parser.add_argument("--work", default=None, help="where the data directories go (default: a temporary one)")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = max(5.0, args.minutes / 3)

    cluster = scale.Cluster(args.binary, 3, None, args.work, node_args=NODE_ARGS[2:])
    stop = threading.Event()
    samples, kills = [], 0
    try:
        for store in ("soak", "soak-watch", "soak-lease"):
            cluster.cli("store", "create", store, "--replicas", "3", "--history-events", str(HISTORY_EVENTS))
        load = Load(args.binary, f"clustron://{cluster.nodes()}/soak", stop)
        load.start()
        started = time.monotonic()
        next_kill, victim = started + args.kill_every, 1
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(10)
            now = time.monotonic()
            row = {"t": round(now - started)}
            for index, process in enumerate(cluster.processes):
                if process.poll() is None:
                    row[f"node{index}"] = sample(process.pid)
            samples.append(row)
            if now >= next_kill:
                log(f"kill -9 node {victim}")
                cluster.processes[victim].kill()
                cluster.processes[victim].wait()
                time.sleep(5)
                cluster.restart(victim, NODE_ARGS)
                kills += 1
                victim = 3 - victim
                next_kill = now + args.kill_every
        stop.set()
        load.join()
    finally:
        stop.set()
        cluster.stop()

    after = [row for row in samples if row["t"] >= args.warmup * 60 and "node0" in row]
    slack = {"rss": 4 << 20, "files": 8, "threads": 4}
    growth, verdict = {}, []
    if len(after) >= 2:
        first, last = after[0]["node0"], after[-1]["node0"]
        for what in ("rss", "files", "threads"):
            growth[what] = (first[what], last[what])
            if last[what] > first[what] * 1.10 + slack[what]:
                verdict.append(f"node 0 {what} grew from {first[what]} to {last[what]}")
    else:
        verdict.append("the run was too short to compare after the warm-up")
    verdict.extend(load.failures[:5])
    report = {"minutes": args.minutes, "warmup_minutes": args.warmup, "kills": kills, "rounds": load.rounds,
              "load_failures": len(load.failures), "growth_node0": growth, "verdict": verdict or ["flat"],
              "samples": samples}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"soak-{datetime.date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    lines = [f"# soak {datetime.date.today().isoformat()}", "",
             f"{args.minutes:g} minutes, 3 durable nodes, {kills} kills (node 1 and 2 alternating, every "
             f"{args.kill_every:g} s), load rounds {load.rounds}, {len(load.failures)} failed rounds.", "",
             "| node 0 | after warm-up | at the end |", "|---|---:|---:|"]
    shown = {"rss": lambda v: f"{v / (1 << 20):.1f} MiB"}
    lines += [f"| {what} | {shown.get(what, str)(a)} | {shown.get(what, str)(b)} |" for what, (a, b) in growth.items()]
    lines += ["", "Node 0 every 5 minutes (RSS, open files, threads):", ""]
    marks = [next(row for row in samples if "node0" in row and row["t"] >= mark)
             for mark in range(300, int(args.minutes * 60) + 1, 300)
             if any("node0" in row and row["t"] >= mark for row in samples)]
    lines += [f"- {row['t'] / 60:.1f} min: {row['node0']['rss'] / (1 << 20):.1f} MiB, {row['node0']['files']} files, "
              f"{row['node0']['threads']} threads" for row in marks]
    lines += ["", f"Warm-up: {args.warmup:g} minutes. Verdict: " + "; ".join(report["verdict"])]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    log("\n".join(lines))
    sys.exit(0 if not verdict else 1)


if __name__ == "__main__":
    main()
