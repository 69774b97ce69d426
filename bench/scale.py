#!/usr/bin/env python3
"""make bench-scale: does adding nodes add capacity?

Each `clustron node` runs in its own cgroup v1 CPU quota (--quota of one core, 0.25 by
default), so that on this small host a node count stands for machines; the load generator
(`clustron bench --stores N`) runs outside any quota. Every scenario starts its own cluster
with data directories (durable writes), creates its stores with `clustron store create`,
loads them, and kills every node it started.

Scenarios (--scenarios, comma-separated):
  rf1     4 stores per node, RF 1: 1 node vs 4 nodes (goal: >= 3.2x)
  rf3     RF 3, 6 nodes vs 3 nodes, 2 stores per node (6 replicas and 2 leaders per node)
          (goal: >= 1.7x)
  many    --many stores (RF 3) on 3 nodes: time to create them, idle CPU per node, memory per
          replica, then one client per store writing at once next to one store with 64
          clients on the same nodes
  rereplicate  --rereplicate-stores stores (RF 3) on 4 nodes; kill -9 of the node holding the
          most replicas, then the time until every store has 3 live replicas again (aim:
          <= 30 s after --dead-after)
  leaders --leaders-stores stores (RF 3) on 3 nodes; kill -9 of node 2, writes resume on the
          other two, node 2 restarts leading nothing, then the leaders per node every 5 s
          until they are within one of each other again (up to 4 moves a second per node)

Writes bench/results/scale-<date>.json and .md. Needs root (cgroup v1 at
/sys/fs/cgroup/cpu); --no-quota runs without quotas (the numbers then say nothing about
scale-out on one host).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(message):
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cgroup:
    """A cgroup v1 CPU group with a quota (a fraction of one core); None: no quota."""

    def __init__(self, name, quota):
        self.path = CGROUP_ROOT / "clustron-bench" / name
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(int(quota * PERIOD_US)))

    def enter(self):
        """Moves the calling process into the group (run in the child before exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def process_cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_rss_bytes(pid):
    return int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


class Cluster:
    """`nodes` node processes on 127.0.0.1, each in its own CPU quota, with data directories."""

    def __init__(self, binary, nodes, quota, work, node_args=(), log_level="warn"):
        """Starts the nodes one after another (each joins the first)."""
        self.binary = binary
        self.work = pathlib.Path(tempfile.mkdtemp(prefix="scale.", dir=work))
        self.processes = []
        self.cgroups = []
        self.addresses = []
        try:
            for index in range(nodes):
                self._start(index, quota, ["--log-level", log_level, *node_args])
        except BaseException:
            self.stop()
            raise

    def _command(self, index, port, node_args):
        command = [self.binary, "node", "--listen", f"127.0.0.1:{port}",
                   "--data-dir", str(self.work / f"node{index}"), *node_args]
        if self.addresses and index > 0:
            command += ["--seed", self.addresses[0]]
        return command

    def restart(self, index, node_args=("--log-level", "warn")):
        """Starts node `index` again (after a kill) with its data directory and address,
        outside any CPU quota."""
        port = self.addresses[index].rsplit(":", 1)[1]
        out = open(self.work / f"node{index}.out", "wb")
        err = open(self.work / f"node{index}.log", "ab")
        self.processes[index] = subprocess.Popen(self._command(index, port, node_args), stdout=out, stderr=err)

    def _start(self, index, quota, node_args):
        port = free_port()
        command = self._command(index, port, node_args)
        cgroup = Cgroup(f"{os.getpid()}-node{index}", quota) if quota else None
        if cgroup:
            self.cgroups.append(cgroup)
        out = open(self.work / f"node{index}.out", "wb")
        err = open(self.work / f"node{index}.log", "wb")
        process = subprocess.Popen(command, stdout=out, stderr=err, preexec_fn=cgroup.enter if cgroup else None)
        self.processes.append(process)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (self.work / f"node{index}.out").read_text().startswith("ready "):
                self.addresses.append(f"127.0.0.1:{port}")
                return
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"node {index} did not start:\n{(self.work / f'node{index}.log').read_text()[-2000:]}")

    def nodes(self):
        return ",".join(self.addresses)

    def cli(self, *args, timeout=120, seed=None):
        result = subprocess.run([self.binary, *args, "--seed", seed or self.addresses[0]], capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"clustron {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def create_stores(self, names, replicas, parallel=4):
        """Creates `names` with one `clustron store create NAME...` (one connection, `parallel`
        at a time; each serves when it returns); returns the seconds it took."""
        started = time.monotonic()
        self.cli("store", "create", *names, "--replicas", str(replicas), "--parallel", str(parallel), timeout=900)
        return time.monotonic() - started

    def stores(self, seed=None):
        return [json.loads(line) for line in self.cli("store", "list", "--json", seed=seed).splitlines()
                if line.strip()]

    def members(self):
        """Node id -> index of its process."""
        ports = {address.rsplit(":", 1)[1]: index for index, address in enumerate(self.addresses)}
        members = [json.loads(line) for line in self.cli("members", "list", "--json").splitlines() if line.strip()]
        return {member["id"]: ports[member["addrs"][0].rsplit("/", 1)[1]] for member in members}

    def cpu_seconds(self):
        return [process_cpu_seconds(p.pid) for p in self.processes]

    def rss_bytes(self):
        return [process_rss_bytes(p.pid) for p in self.processes]

    def stop(self):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        for cgroup in self.cgroups:
            cgroup.remove()
        shutil.rmtree(self.work, ignore_errors=True)


def bench(binary, target, workload, stores, clients, duration, in_flight=1, keys=1000):
    command = [binary, "bench", workload, "--target", target, "--stores", str(stores), "--clients", str(clients),
               "--duration", str(duration), "--keys", str(keys), "--json", "--quiet"]
    if in_flight > 1:
        command += ["--in-flight", str(in_flight)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    report = json.loads(result.stdout)
    if report["errors"]:
        log(f"  {report['errors']} errors; first: {report['first_error']}")
    return report


def bench_spread(binary, nodes, groups, workload, clients_per_store, duration, in_flight):
    """`clustron bench` in one process per store group at once (a process's client runtime is
    one thread); returns (ops/s summed, reports, CPU cores the load generators used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
        reports = list(pool.map(
            lambda group: bench(binary, f"clustron://{nodes}/{group[0]}", workload, group[1],
                                clients_per_store * group[1], duration, in_flight), groups))
    took = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cores = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / took
    return sum(r["ops_per_sec"] for r in reports), reports, cores


def placement(stores):
    """Replicas and leaders per node id, from `store list --json`."""
    replicas, leaders = {}, {}
    for store in stores:
        for node in store["members"]:
            replicas[node] = replicas.get(node, 0) + 1
        if store.get("leader"):
            leaders[store["leader"]] = leaders.get(store["leader"], 0) + 1
    return replicas, leaders


def throughput(args, nodes, stores_per_node, replicas):
    """Puts and gets per second over `nodes * stores_per_node` stores."""
    cluster = Cluster(args.binary, nodes, args.quota, args.work)
    try:
        count = nodes * stores_per_node // replicas
        processes = min(args.load_processes, count)
        # Stores in one group per load process: scale<g>-0 .. scale<g>-<n-1>.
        groups = [(f"scale{g}", count // processes + (1 if g < count % processes else 0)) for g in range(processes)]
        cluster.create_stores([f"{name}-{n}" for name, size in groups for n in range(size)], replicas)
        replicas_on, leaders_on = placement(cluster.stores())
        result = {"nodes": nodes, "stores": count, "replicas": replicas, "clients": args.clients_per_store * count,
                  "in_flight": args.in_flight, "replicas_per_node": sorted(replicas_on.values()),
                  "leaders_per_node": sorted(leaders_on.values())}
        for workload in ("put", "get"):
            cpu_before, at = cluster.cpu_seconds(), time.monotonic()
            rate, reports, load_cores = bench_spread(args.binary, cluster.nodes(), groups, workload,
                                                     args.clients_per_store, args.duration, args.in_flight)
            took = time.monotonic() - at
            node_cores = [(b - a) / took for a, b in zip(cpu_before, cluster.cpu_seconds())]
            result[workload] = {"ops_per_sec": rate, "errors": sum(r["errors"] for r in reports),
                                "p50_us": reports[0]["latency_us"]["p50"], "p99_us": reports[0]["latency_us"]["p99"],
                                "load_generator_cores": load_cores, "node_cores": node_cores}
            log(f"  {nodes} nodes, {count} stores RF {replicas}: {workload} {rate:.0f}/s, p50 "
                f"{reports[0]['latency_us']['p50']:.0f} us; load generator {load_cores:.2f} cores, nodes "
                f"{', '.join(f'{c:.2f}' for c in node_cores)} cores")
        return result
    finally:
        cluster.stop()


def scale_out(args, nodes, stores_per_node, replicas, goal, keys):
    """Throughput at two node counts; `keys` name them in the results (e.g. "one", "four")."""
    small, large = (throughput(args, n, stores_per_node, replicas) for n in nodes)
    return {keys[0]: small, keys[1]: large, "goal": goal,
            "put_ratio": large["put"]["ops_per_sec"] / small["put"]["ops_per_sec"],
            "get_ratio": large["get"]["ops_per_sec"] / small["get"]["ops_per_sec"]}


def scenario_rf1(args):
    log("rf1: 1 node vs 4 nodes, 4 stores per node, RF 1")
    return scale_out(args, (1, 4), 4, 1, 3.2, ("one", "four"))


def scenario_rf3(args):
    log("rf3: 3 nodes vs 6 nodes, RF 3, 2 stores per node")
    return scale_out(args, (3, 6), 6, 3, 1.7, ("three", "six"))


def scenario_many(args):
    count = args.many
    log(f"many: {count} stores, RF 3, on 3 nodes")
    cluster = Cluster(args.binary, 3, args.quota, args.work)
    try:
        rss_before = cluster.rss_bytes()
        names = [f"many-{n}" for n in range(count)]
        created = cluster.create_stores(names, 3, parallel=8)
        log(f"  created {count} stores in {created:.1f} s")
        time.sleep(5)  # let the groups settle (elections, first configuration) before measuring idle
        cpu_before, at = cluster.cpu_seconds(), time.monotonic()
        time.sleep(args.idle_seconds)
        cpu_after, took = cluster.cpu_seconds(), time.monotonic() - at
        idle = [(after - before) / took for before, after in zip(cpu_before, cpu_after)]
        rss_after = cluster.rss_bytes()
        per_replica = [(after - before) / count for before, after in zip(rss_before, rss_after)]
        log(f"  idle CPU per node {', '.join(f'{100 * c:.1f}%' for c in idle)}; "
            f"memory per replica {', '.join(f'{b / 1024:.0f} KiB' for b in per_replica)}")
        target = f"clustron://{cluster.nodes()}/many"
        writers = min(count, 100)
        spread = bench(args.binary, target, "put", writers, writers, args.duration)
        single = bench(args.binary, f"clustron://{cluster.nodes()}/many-0", "put", 1, 64, args.duration)
        log(f"  {writers} stores x 1 client: {spread['ops_per_sec']:.0f} puts/s; "
            f"1 store x 64 clients: {single['ops_per_sec']:.0f} puts/s")
        return {"stores": count, "create_seconds": created, "idle_cpu_per_node": idle,
                "rss_per_replica_bytes": per_replica, "writers": writers,
                "spread_puts_per_sec": spread["ops_per_sec"], "single_store_64_clients_puts_per_sec":
                single["ops_per_sec"], "spread_errors": spread["errors"]}
    finally:
        cluster.stop()


def scenario_rereplicate(args):
    count = args.rereplicate_stores
    dead_after = args.dead_after
    log(f"rereplicate: {count} stores, RF 3, on 4 nodes (--dead-after {dead_after:g}s)")
    cluster = Cluster(args.binary, 4, args.quota, args.work, node_args=["--dead-after", f"{dead_after:g}s"])
    try:
        cluster.create_stores([f"rr-{n}" for n in range(count)], 3, parallel=8)
        time.sleep(5)
        replicas, _ = placement(cluster.stores())
        victim = max(replicas, key=replicas.get)
        held = replicas[victim]
        index = cluster.members()[victim]
        seed = cluster.addresses[(index + 1) % len(cluster.addresses)]
        log(f"  kill -9 of node {victim}, which holds {held} replicas")
        cluster.processes[index].kill()
        killed = time.monotonic()
        back, deadline = None, killed + dead_after + 300
        while time.monotonic() < deadline:
            try:
                stores = cluster.stores(seed=seed)
            except (RuntimeError, subprocess.TimeoutExpired):
                stores = []
            if stores and all(victim not in store["members"] and len(store["members"]) == 3
                              and store["health"] == "healthy" for store in stores):
                back = time.monotonic() - killed
                break
            time.sleep(0.5)
        if back is None:
            log("  not every store had 3 live replicas again within 300 s after --dead-after")
        else:
            log(f"  every store back to 3 live replicas {back:.1f} s after the kill "
                f"({back - dead_after:.1f} s after --dead-after)")
        return {"stores": count, "dead_after_seconds": dead_after, "replicas_on_killed_node": held,
                "seconds_to_rf": back, "seconds_after_dead_after": None if back is None else back - dead_after}
    finally:
        cluster.stop()


def scenario_leaders(args):
    count = args.leaders_stores
    log(f"leaders: {count} stores, RF 3, on 3 nodes; node 2 killed, then restarted")
    cluster = Cluster(args.binary, 3, args.quota, args.work)
    try:
        cluster.create_stores([f"lead-{n}" for n in range(count)], 3, parallel=8)

        def counts():
            try:
                _, leaders = placement(cluster.stores())
            except (RuntimeError, subprocess.TimeoutExpired):
                return None
            return sorted(list(leaders.values()) + [0] * (3 - len(leaders)))

        def wait_for(condition, what, within=120):
            """The leader counts once `condition` holds for them (polled; at most `within` s)."""
            deadline, now = time.monotonic() + within, None
            while time.monotonic() < deadline:
                now = counts()
                if now is not None and condition(now):
                    return now
                time.sleep(0.5)
            raise RuntimeError(f"no {what} within {within} s (leaders per node: {now})")

        before = wait_for(lambda now: sum(now) == count, "leader for every store")
        cluster.processes[2].kill()
        cluster.processes[2].wait()
        after_kill = wait_for(lambda now: sum(now) == count and now[0] == 0, "leader for every store on the survivors")
        log(f"  leaders per node {before}, {after_kill} with node 2 down")
        cluster.restart(2)
        restarted, timeline, even = time.monotonic(), [], None
        while time.monotonic() < restarted + 600:
            time.sleep(5)
            now = counts()
            if now is None or sum(now) < count:
                continue
            timeline.append([round(time.monotonic() - restarted), now])
            if now[-1] - now[0] <= 1:
                even = time.monotonic() - restarted
                break
        idle_before, at = cluster.cpu_seconds(), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = [(b - a) / (time.monotonic() - at) for a, b in zip(idle_before, cluster.cpu_seconds())]
        log(f"  even again {even:.0f} s after the restart" if even is not None else "  not even within 600 s")
        return {"stores": count, "before": before, "with_node_down": after_kill, "timeline": timeline,
                "seconds_to_even": even, "idle_cpu_per_node": idle}
    finally:
        cluster.stop()


def markdown(results, args):
    lines = [f"# bench-scale {results['date']}", "",
             f"Each node in a cgroup v1 CPU quota of {args.quota} core (`--quota`); the load generator "
             f"without one. Durable writes (data directories), 100-byte values, {args.duration:.0f} s per run, "
             f"{args.clients_per_store} clients per store with {args.in_flight} operations in flight each.", ""]
    for name, title, keys in (("rf1", "RF 1, 4 stores per node", ("one", "four")),
                              ("rf3", "RF 3, 2 leaders per node", ("three", "six"))):
        if name not in results:
            continue
        r = results[name]
        lines += [f"## {title}", "", "| nodes | stores | puts/s | gets/s | replicas per node | leaders per node |",
                  "|---:|---:|---:|---:|---|---|"]
        for row in (r[keys[0]], r[keys[1]]):
            lines.append(f"| {row['nodes']} | {row['stores']} | {row['put']['ops_per_sec']:.0f} | "
                         f"{row['get']['ops_per_sec']:.0f} | {row['replicas_per_node']} | {row['leaders_per_node']} |")
        small, large = r[keys[0]]["nodes"], r[keys[1]]["nodes"]
        lines += ["", f"{large} nodes / {small} nodes: puts **{r['put_ratio']:.2f}x**, gets "
                      f"**{r['get_ratio']:.2f}x** (goal >= {r['goal']}x)", ""]
    if "many" in results:
        r = results["many"]
        lines += [f"## {r['stores']} stores, RF 3, 3 nodes", "",
                  f"- created in **{r['create_seconds']:.1f} s** (goal <= 60 s)",
                  f"- idle CPU per node: {', '.join(f'{100 * c:.1f}%' for c in r['idle_cpu_per_node'])} of one core "
                  f"(goal <= 5%)",
                  f"- memory per idle replica (RSS growth / stores): "
                  f"{', '.join(f'{b / 1024:.0f} KiB' for b in r['rss_per_replica_bytes'])} (aim <= 64 KiB)",
                  f"- {r['writers']} stores written at once, 1 client each: **{r['spread_puts_per_sec']:.0f} puts/s**; "
                  f"one store with 64 clients on the same nodes: {r['single_store_64_clients_puts_per_sec']:.0f} puts/s",
                  ""]
    if "rereplicate" in results:
        r = results["rereplicate"]
        took = ("not reached within 300 s" if r["seconds_to_rf"] is None else
                f"**{r['seconds_to_rf']:.1f} s** after the kill, {r['seconds_after_dead_after']:.1f} s after "
                f"`--dead-after` (aim <= 30 s)")
        lines += [f"## Re-replication: {r['stores']} stores, RF 3, 4 nodes", "",
                  f"- kill -9 of the node holding the most replicas ({r['replicas_on_killed_node']}), "
                  f"`--dead-after {r['dead_after_seconds']:g}s`",
                  f"- every store back to 3 live, healthy replicas: {took}", ""]
    if "leaders" in results:
        r = results["leaders"]
        took = "not within 600 s" if r["seconds_to_even"] is None else f"**{r['seconds_to_even']:.0f} s**"
        lines += [f"## Leaders spread again: {r['stores']} stores, RF 3, 3 nodes", "",
                  f"- leaders per node {r['before']} after creation, {r['with_node_down']} with node 2 killed",
                  f"- node 2 restarted: within one of each other again after {took}; "
                  + ", ".join(f"{t} s {c}" for t, c in r["timeline"]),
                  f"- idle CPU per node afterwards: {', '.join(f'{100 * c:.1f}%' for c in r['idle_cpu_per_node'])}",
                  ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--scenarios", default="rf1,rf3,many,rereplicate,leaders")
    parser.add_argument("--quota", type=float, default=0.15, help="CPU per node, in cores")
    parser.add_argument("--no-quota", action="store_true")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--clients-per-store", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--load-processes", type=int, default=2, help="bench processes sharing the stores")
    parser.add_argument("--many", type=int, default=1000, help="stores in the many scenario")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rereplicate-stores", type=int, default=67,
                        help="stores in the rereplicate scenario (67 on 4 nodes: about 50 replicas per node)")
    parser.add_argument("--leaders-stores", type=int, default=300, help="stores in the leaders scenario")
    parser.add_argument("--dead-after", type=float, default=30.0, help="the nodes' --dead-after, in seconds")
    parser.add_argument("--work", default=None, help="where data directories go (default: a temp dir)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    if args.no_quota:
        args.quota = None
    elif not os.access(CGROUP_ROOT, os.W_OK):
        sys.exit(f"bench-scale: {CGROUP_ROOT} is not writable (cgroup v1 CPU controller, as root); "
                 "--no-quota runs without quotas")
    args.work = args.work or tempfile.gettempdir()
    results = {"date": datetime.date.today().isoformat(), "quota": args.quota}
    runners = {"rf1": scenario_rf1, "rf3": scenario_rf3, "many": scenario_many, "rereplicate": scenario_rereplicate,
               "leaders": scenario_leaders}
    for name in args.scenarios.split(","):
        if name not in runners:
            sys.exit(f"bench-scale: unknown scenario {name!r} ({', '.join(runners)})")
        results[name] = runners[name](args)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"scale-{results['date']}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results, args)
    stem.with_suffix(".md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
