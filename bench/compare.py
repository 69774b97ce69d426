#!/usr/bin/env python3
"""Side-by-side benchmark: Clustron (in-process, 1 node in memory, 1 node durable, 3 nodes
durable), a 3-node etcd cluster, Redis without persistence and Redis with
`appendfsync always`, all on 127.0.0.1, driven by the same harness (`clustron bench`, built
with `--features compare`) at 1, 16 and 64 clients.

Writes bench/results/<date>.md (tables and the goal ratios), <date>.json (every run) and
<date>.svg (throughput and p99 latency per system and workload). Run through
`make bench-compare`, which installs etcd and Redis and builds the tool first. Every process
it starts is stopped when it ends, however it ends.
"""

import argparse
import datetime
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTED = []  # every server process, stopped at exit


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log):
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=open(log, "wb"), start_new_session=True, text=True
    )
    STARTED.append(process)
    return process


def stop_all():
    for process in STARTED:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    STARTED.clear()


def wait_for_line(process, prefix, timeout=60):
    """Reads the process's stdout until a line starts with prefix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{process.args[0]} exited before printing {prefix!r}")
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"{process.args[0]} did not print {prefix!r} within {timeout}s")


def wait_for_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


class Clustron:
    def __init__(self, binary, nodes, durable, work):
        self.binary, self.nodes, self.durable, self.work = binary, nodes, durable, work

    def __enter__(self):
        ports = []
        for index in range(self.nodes):
            port = free_port()
            args = [self.binary, "node", "--listen", f"127.0.0.1:{port}", "--log-level", "warn"]
            args += ["--store", "bench"] if index == 0 else ["--seed", f"127.0.0.1:{ports[0]}"]
            if self.durable:
                args += ["--data-dir", os.path.join(self.work, f"clustron{index}")]
            process = start(args, os.path.join(self.work, f"clustron{index}.log"))
            wait_for_line(process, "ready ")
            ports.append(port)
        self.target = "clustron://" + ",".join(f"127.0.0.1:{p}" for p in ports) + "/bench"
        # Every member must be a voter before measuring (joining nodes start as learners).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = subprocess.run(
                [self.binary, "status", "--json", "--target", self.target], capture_output=True, text=True
            )
            if status.returncode == 0:
                report = json.loads(status.stdout.splitlines()[0])
                if report["leader"] and len(report["members"]) == self.nodes:
                    return self
            time.sleep(0.2)
        raise RuntimeError("the Clustron cluster did not form")

    def __exit__(self, *_):
        stop_all()


class Etcd:
    def __init__(self, nodes, work):
        self.nodes, self.work = nodes, work

    def __enter__(self):
        clients = [free_port() for _ in range(self.nodes)]
        peers = [free_port() for _ in range(self.nodes)]
        cluster = ",".join(f"e{i}=http://127.0.0.1:{peers[i]}" for i in range(self.nodes))
        for i in range(self.nodes):
            start(
                [
                    shutil.which("etcd") or "etcd",
                    "--name", f"e{i}",
                    "--data-dir", os.path.join(self.work, f"etcd{i}"),
                    "--listen-client-urls", f"http://127.0.0.1:{clients[i]}",
                    "--advertise-client-urls", f"http://127.0.0.1:{clients[i]}",
                    "--listen-peer-urls", f"http://127.0.0.1:{peers[i]}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peers[i]}",
                    "--initial-cluster", cluster,
                    "--initial-cluster-token", "clustron-bench",
                    "--initial-cluster-state", "new",
                    "--log-level", "warn",
                ],
                os.path.join(self.work, f"etcd{i}.log"),
            )
        endpoints = ",".join(f"127.0.0.1:{p}" for p in clients)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = subprocess.run(
                ["etcdctl", "--endpoints", endpoints, "endpoint", "health"],
                capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"},
            )
            if health.returncode == 0:
                self.target = "etcd://" + endpoints
                return self
            time.sleep(0.3)
        raise RuntimeError("etcd did not become healthy")

    def __exit__(self, *_):
        stop_all()


class Redis:
    def __init__(self, durable, work):
        self.durable, self.work = durable, work

    def __enter__(self):
        port = free_port()
        args = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.work, "--daemonize", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        start(args, os.path.join(self.work, f"redis-{port}.log"))
        wait_for_port(port)
        self.target = f"redis://127.0.0.1:{port}"
        return self

    def __exit__(self, *_):
        stop_all()


class InProc:
    target = "clustron://inproc/bench"

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


def bench(binary, target, workload, clients, duration, warmup):
    args = [binary, "bench", workload, "--target", target, "--clients", str(clients), "--duration", str(duration),
            "--warmup", str(warmup), "--json", "--quiet"]
    run = subprocess.run(args, capture_output=True, text=True, timeout=duration + warmup + 120)
    if run.returncode != 0:
        return {"error": (run.stderr or run.stdout).strip()[-300:]}
    return json.loads(run.stdout.splitlines()[-1])


# What each system runs. Redis has no linearizable-vs-serializable distinction, so its `get`
# stands in both rows' place; it has no lock primitive, so its lock row is SET NX + a
# compare-and-delete script.
SYSTEMS = [
    ("Clustron in-process", "inproc"),
    ("Clustron 1 node, memory", "c1mem"),
    ("Clustron 1 node, durable", "c1disk"),
    ("Clustron 3 nodes, durable", "c3disk"),
    ("etcd 3.4, 3 nodes", "etcd3"),
    ("Redis 7, no persistence", "redis"),
    ("Redis 7, appendfsync always", "redisaof"),
]
WORKLOADS = ["put", "get", "lock"]


def system(key, binary, work):
    return {
        "inproc": lambda: InProc(),
        "c1mem": lambda: Clustron(binary, 1, False, work),
        "c1disk": lambda: Clustron(binary, 1, True, work),
        "c3disk": lambda: Clustron(binary, 3, True, work),
        "etcd3": lambda: Etcd(3, work),
        "redis": lambda: Redis(False, work),
        "redisaof": lambda: Redis(True, work),
    }[key]()


def cell(result):
    if not result or "error" in result:
        return "n/a"
    rate = result["ops_per_sec"]
    text = f"{rate/1e6:.2f}M" if rate >= 1e6 else f"{rate/1e3:.1f}k" if rate >= 1e4 else f"{rate:.0f}"
    latency = result["latency_us"]
    return f"{text} ({latency['p50']/1000:.2f} / {latency['p99']/1000:.2f})"


def ratio(a, b):
    if not a or not b or "error" in a or "error" in b or not b["ops_per_sec"]:
        return None
    return a["ops_per_sec"] / b["ops_per_sec"]


def goals(results, clients_list):
    def r(system, workload, clients):
        return results.get(system, {}).get(workload, {}).get(str(clients))

    lines = []

    def line(text, value, target, higher=True):
        if value is None:
            lines.append(f"| {text} | n/a | {target} | not measured |")
            return
        met = value >= target if higher else value <= target
        lines.append(f"| {text} | {value:.2f}x | {'≥' if higher else '≤'} {target}x | {'met' if met else 'MISSED'} |")

    top = max(clients_list)
    for workload, name in [("put", "writes/s"), ("get", "linearizable reads/s"), ("lock", "lock acquire+release/s")]:
        for clients in clients_list:
            line(f"3-node Clustron vs 3-node etcd, {name}, {clients} client{'s' if clients > 1 else ''}",
                 ratio(r("c3disk", workload, clients), r("etcd3", workload, clients)), 2)
    c3, etcd = r("c3disk", "put", 1), r("etcd3", "put", 1)
    if c3 and etcd and "error" not in c3 and "error" not in etcd:
        p50 = c3["latency_us"]["p50"] / etcd["latency_us"]["p50"]
        line("single-client write p50, Clustron / etcd (lower is better)", p50, 1, higher=False)
    for workload in ["get", "put"]:
        line(f"1-node in-memory Clustron vs Redis, {workload}, {top} clients",
             ratio(r("c1mem", workload, top), r("redis", workload, top)), 0.7)
    networked = [
        res for _, key in SYSTEMS if key != "inproc"
        for res in results.get(key, {}).get("get", {}).values() if res and "error" not in res
    ]
    best = max(networked, key=lambda res: res["ops_per_sec"], default=None)
    inproc = max((res for res in results.get("inproc", {}).get("get", {}).values() if res and "error" not in res),
                 key=lambda res: res["ops_per_sec"], default=None)
    line("Clustron in-process get vs the best networked get rate", ratio(inproc, best), 20)
    return lines


def markdown(results, clients_list, meta):
    out = [f"# Side-by-side benchmark, {meta['date']}", ""]
    out.append(f"Reproduce: `make bench-compare` (this run: `{meta['command']}`). Machine: {meta['machine']}. "
               f"Each cell: ops/s (p50 / p99 latency in ms), {meta['duration']} s measured after "
               f"{meta['warmup']} s warm-up, {meta['value_size']}-byte values, 1000 keys, one request in "
               "flight per client, no pipelining; everything on 127.0.0.1 of the same machine.")
    out.append("")
    out.append("![throughput and p99 latency](" + meta["svg"] + ")")
    for workload in WORKLOADS:
        out += ["", f"## {workload}", ""]
        out.append("| system | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in clients_list) + " |")
        out.append("|---|" + "---|" * len(clients_list))
        for name, key in SYSTEMS:
            if key not in results:
                continue
            row = [cell(results.get(key, {}).get(workload, {}).get(str(c))) for c in clients_list]
            out.append(f"| {name} | " + " | ".join(row) + " |")
    out += ["", "## Goals", "", "| comparison | measured | goal | |", "|---|---|---|---|"]
    out += goals(results, clients_list)
    out += ["", "What each system runs for each workload: `cli/src/bench/compare.rs`. "
            "etcd `get` is its default (linearizable) range read; its lock is the v3lock service on a lease; "
            "Redis' lock is SET NX PX with a compare-and-delete release, retried while taken."]
    errors = [(key, w, c, res["error"]) for key, by in results.items() for w, byc in by.items()
              for c, res in byc.items() if res and "error" in res]
    if errors:
        out += ["", "## Runs that failed", ""]
        out += [f"- {key} {w} {c} clients: `{e}`" for key, w, c, e in errors]
    return "\n".join(out) + "\n"


COLORS = ["#1b5e20", "#2e7d32", "#43a047", "#81c784", "#1565c0", "#c62828", "#ef9a9a"]


def tick(value):
    """A short axis label: 1k, 10k, 1M; 0.01."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def svg(results, clients):
    """Two panels: throughput (log scale) and p99 latency (log scale) per workload, one bar
    per system, at `clients` clients."""
    width, height, panel_h, top, left = 1100, 520, 340, 60, 70
    panel_w = (width - left * 2 - 40) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width/2}" y="24" text-anchor="middle" font-size="16">'
             f'Clustron, etcd and Redis on one machine, {clients} clients (log scales)</text>']

    def panel(x0, title, value_of, unit):
        values = [value_of(res) for _, key in SYSTEMS for w in WORKLOADS
                  for res in [results.get(key, {}).get(w, {}).get(str(clients))] if res and "error" not in res]
        values = [v for v in values if v and v > 0]
        if not values:
            return
        lo = 10 ** math.floor(math.log10(min(values)))
        hi = 10 ** math.ceil(math.log10(max(values)))
        scale = lambda v: top + panel_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * panel_h
        parts.append(f'<text x="{x0 + panel_w/2}" y="{top - 12}" text-anchor="middle" font-size="14">{title}</text>')
        decade = lo
        while decade <= hi:
            y = scale(decade)
            label = tick(decade)
            parts.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
            decade *= 10
        parts.append(f'<text x="{x0 - 45}" y="{top + panel_h/2}" transform="rotate(-90 {x0 - 45} {top + panel_h/2})" '
                     f'text-anchor="middle">{unit}</text>')
        group_w = panel_w / len(WORKLOADS)
        bar_w = (group_w - 20) / len(SYSTEMS)
        for g, workload in enumerate(WORKLOADS):
            gx = x0 + g * group_w + 10
            parts.append(f'<text x="{gx + (group_w - 20)/2:.1f}" y="{top + panel_h + 18}" text-anchor="middle">'
                         f'{workload}</text>')
            for s, (name, key) in enumerate(SYSTEMS):
                res = results.get(key, {}).get(workload, {}).get(str(clients))
                if not res or "error" in res or not value_of(res):
                    continue
                v = value_of(res)
                y = scale(v)
                parts.append(f'<rect x="{gx + s * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                             f'height="{top + panel_h - y:.1f}" fill="{COLORS[s]}"><title>{name}: {v:,.1f} {unit}'
                             f'</title></rect>')

    panel(left, "throughput", lambda res: res["ops_per_sec"], "ops/s")
    panel(left * 2 + 40 + panel_w, "p99 latency", lambda res: res["latency_us"]["p99"] / 1000, "ms")
    for s, (name, _) in enumerate(SYSTEMS):
        x = left + (s % 4) * 250
        y = top + panel_h + 50 + (s // 4) * 20
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS[s]}"/>')
        parts.append(f'<text x="{x + 18}" y="{y}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def default_binary() -> str:
    """Where `make bench-compare` builds the binary (the release builds of the Makefile name
    the host's target triple), else where a plain `cargo build --release` puts it."""
    host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=False).stdout
    triple = next((line.split(": ", 1)[1] for line in host.splitlines() if line.startswith("host: ")), "")
    made = os.path.join(ROOT, "target", triple, "release", "clustron")
    return made if triple and os.path.exists(made) else os.path.join(ROOT, "target", "release", "clustron")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=default_binary())
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--systems", default=",".join(key for _, key in SYSTEMS))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--render", metavar="JSON", help="only rewrite the .md and .svg of a saved run")
    options = parser.parse_args()
    if options.render:
        with open(options.render) as f:
            saved = json.load(f)
        base = options.render[: -len(".json")]
        clients_list = sorted({int(c) for by in saved["results"].values() for byc in by.values() for c in byc})
        write_reports(base, saved["results"], clients_list, saved["meta"])
        return
    clients_list = [int(c) for c in options.clients.split(",")]
    os.makedirs(options.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results = {}
    work = tempfile.mkdtemp(prefix="clustron-compare-")
    try:
        for name, key in SYSTEMS:
            if key not in options.systems.split(","):
                continue
            print(f"== {name}", flush=True)
            home = os.path.join(work, key)  # each system its own data directories
            os.makedirs(home)
            with system(key, options.binary, home) as running:
                for workload in WORKLOADS:
                    for clients in clients_list:
                        result = bench(options.binary, running.target, workload, clients, options.duration,
                                       options.warmup)
                        results.setdefault(key, {}).setdefault(workload, {})[str(clients)] = result
                        print(f"   {workload:<5} {clients:>3} clients: {cell(result)}", flush=True)
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    base = os.path.join(options.out, options.date)
    meta = {
        "date": options.date,
        "command": " ".join(["bench/compare.py"] + sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores, {platform_text()}",
        "duration": options.duration,
        "warmup": options.warmup,
        "value_size": 100,
        "svg": os.path.basename(base) + ".svg",
    }
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    write_reports(base, results, clients_list, meta)


def save_report(out, stem, data, lines):
    """Writes `out/stem.json` (the data) and `out/stem.md` (the lines), and prints the lines."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, stem + ".json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(out, stem + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_reports(base, results, clients_list, meta):
    with open(base + ".svg", "w") as f:
        f.write(svg(results, max(clients_list)))
    with open(base + ".md", "w") as f:
        f.write(markdown(results, clients_list, meta))
    print(f"wrote {base}.md, {base}.svg, {base}.json")


def platform_text():
    import platform
    return f"{platform.system()} {platform.release()}"


if __name__ == "__main__":
    main()
