#!/usr/bin/env python3
"""Single-client durable writes and lock cycles, next to etcd and next to the floor.

The floor of one acknowledged durable write on a 3-node group is one fdatasync (the leader's
and a follower's run in parallel) plus two round trips (client to leader, leader to
follower). On one machine the three nodes share a disk, and syncs that run at once slow each
other: the shared-disk floor uses the p50 of three concurrent fdatasyncs instead. This
measures both parts on this machine (`fdatasync` of a 200-byte append to a
preallocated file in the directory the nodes write to; a 64-byte TCP ping-pong on
127.0.0.1, from Python: an upper bound of the hop), then runs `clustron bench put` and
`clustron bench lock` with one client against a fresh 3-node durable Clustron and a fresh
3-node etcd, ROUNDS times each (a fresh cluster per round), and reports the median of the
rounds' p50 and p99 and their throughput. Writes bench/results/durable-<date>.md and .json.
Run through `make bench-durable` (installs etcd, builds the tool with `compare`).
"""

import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

ROOT = compare.ROOT


def sync_samples(path, count, ready=None):
    """Sorted latencies (µs) of `count` writes of 200 bytes, each followed by fdatasync, into
    `path` preallocated first (and removed after); `ready()` is called once the file is
    ready, just before the first write."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        os.posix_fallocate(fd, 0, 64 << 20)
        os.fsync(fd)
        if ready is not None:
            ready()
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            os.write(fd, b"x" * 200)
            os.fdatasync(fd)
            samples.append((time.perf_counter_ns() - started) / 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(samples)


def fdatasync_floor(directory, count=2000):
    """p50 and p99 (µs) of write + fdatasync of 200 bytes, into a file preallocated first."""
    samples = sync_samples(os.path.join(directory, "floor"), count)
    return samples[len(samples) // 2], samples[len(samples) * 99 // 100]


def concurrent_fdatasync(directory, writers=3, count=2000):
    """p50 (µs) of write + fdatasync of 200 bytes while `writers` threads do the same at once,
    each to its own preallocated file: what three nodes of a group on this one disk see when a
    write reaches all three (a thread releases the GIL while it syncs)."""
    start = threading.Barrier(writers)
    medians = [0.0] * writers

    def sync(index):
        samples = sync_samples(os.path.join(directory, f"concurrent-{index}"), count, start.wait)
        medians[index] = samples[len(samples) // 2]

    threads = [threading.Thread(target=sync, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.median(medians)


def loopback_round_trip(count=5000):
    """p50 (µs) of a 64-byte ping-pong over TCP on 127.0.0.1 (Python on both ends)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo():
        connection, _ = server.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = connection.recv(64)
            if not data:
                return
            connection.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        client.sendall(b"p" * 64)
        received = 0
        while received < 64:
            received += len(client.recv(64 - received))
        samples.append((time.perf_counter_ns() - started) / 1000)
    client.close()
    server.close()
    samples.sort()
    return samples[len(samples) // 2]


def one_round(binary, system, workload, work, duration):
    starter = compare.Clustron(binary, 3, True, work) if system == "clustron" else compare.Etcd(3, work)
    with starter as cluster:
        return compare.bench(binary, cluster.target, workload, 1, duration, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "clustron"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds each bench measures")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="durable-floor-") as work:
        sync_p50, sync_p99 = fdatasync_floor(work)
        shared_p50 = concurrent_fdatasync(work)
    hop = loopback_round_trip()
    print(f"floor: fdatasync p50 {sync_p50:.0f} us (p99 {sync_p99:.0f}), three at once p50 {shared_p50:.0f} us, "
          f"loopback round trip p50 {hop:.0f} us", file=sys.stderr)

    results = {}
    try:
        for workload in ("put", "lock"):
            for system in ("clustron", "etcd"):
                rounds = []
                for n in range(args.rounds):
                    with tempfile.TemporaryDirectory(prefix=f"durable-{system}-") as work:
                        report = one_round(args.binary, system, workload, work, args.duration)
                    if "error" in report:
                        raise RuntimeError(f"{system} {workload}: {report['error']}")
                    rounds.append({"ops_per_sec": report["ops_per_sec"], "p50_us": report["latency_us"]["p50"],
                                   "p99_us": report["latency_us"]["p99"]})
                    print(f"{system} {workload} round {n + 1}: {report['ops_per_sec']:.0f}/s, "
                          f"p50 {report['latency_us']['p50']:.0f} us, p99 {report['latency_us']['p99']:.0f} us",
                          file=sys.stderr)
                results[f"{system} {workload}"] = {
                    "rounds": rounds,
                    "ops_per_sec": statistics.median(r["ops_per_sec"] for r in rounds),
                    "p50_us": statistics.median(r["p50_us"] for r in rounds),
                    "p99_us": statistics.median(r["p99_us"] for r in rounds),
                }
    finally:
        compare.stop_all()

    date = datetime.date.today().isoformat()
    floor = sync_p50 + 2 * hop
    # The three nodes of these clusters share this machine's one disk: their syncs of a write
    # run at once and slow each other, and a commit waits for two of the three.
    shared_floor = shared_p50 + 2 * hop
    lines = [
        f"# One client, 3 nodes, durable: Clustron next to etcd and the floor ({date})", "",
        f"`make bench-durable` (bench/durable_floor.py): {args.rounds} rounds per row, a fresh 3-node cluster "
        f"per round, one client (`clustron bench put|lock --clients 1`, {args.duration} s after 1 s of warm-up); "
        "each cell is the median of the rounds.", "",
        f"Floor on this machine: fdatasync of a 200-byte append to a preallocated file p50 **{sync_p50:.0f} µs** "
        f"(p99 {sync_p99:.0f}); TCP round trip on 127.0.0.1 p50 **{hop:.0f} µs** (Python on both ends: an upper "
        f"bound); one fdatasync + two round trips = **{floor:.0f} µs** per write. The three nodes share "
        f"this one disk: three fdatasyncs at once (three threads, a file each) take p50 **{shared_p50:.0f} µs** "
        f"each, so a write whose commit waits for two of three nodes' syncs has a floor of "
        f"**{shared_floor:.0f} µs** here (the shared-disk floor).", "",
        "| | ops/s | p50 (µs) | p99 (µs) | p50 / floor (a lock cycle: two writes) | p50 / shared-disk floor |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        # A lock cycle is two writes (acquire, release).
        writes = 2 if name.endswith("lock") else 1
        lines.append(f"| {name} | {result['ops_per_sec']:.0f} | {result['p50_us']:.0f} | {result['p99_us']:.0f} | "
                     f"{result['p50_us'] / (writes * floor):.1f}x | {result['p50_us'] / (writes * shared_floor):.1f}x |")
    for workload in ("put", "lock"):
        ours, theirs = results[f"clustron {workload}"], results[f"etcd {workload}"]
        lines.append("")
        lines.append(f"Clustron / etcd, {workload}: {ours['ops_per_sec'] / theirs['ops_per_sec']:.2f}x the rate, "
                     f"p50 {ours['p50_us'] / theirs['p50_us']:.2f}x, p99 {ours['p99_us'] / theirs['p99_us']:.2f}x.")
    data = {"date": date, "fdatasync_us": {"p50": sync_p50, "p99": sync_p99, "three_at_once_p50": shared_p50},
            "loopback_rtt_us": hop, "floor_us": floor, "shared_disk_floor_us": shared_floor, "rounds": args.rounds,
            "results": results}
    compare.save_report(args.out, f"durable-{date}", data, lines)


if __name__ == "__main__":
    main()
