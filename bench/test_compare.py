"""The report side of bench/compare.py (tables, goal ratios, the SVG) on made-up results:
`make test` runs this; the measuring side needs etcd and Redis and runs in `make bench-compare`."""

import os
import sys
import unittest
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def result(ops, p50_us, p99_us):
    return {"ops_per_sec": ops, "latency_us": {"p50": p50_us, "p99": p99_us}}


def sample():
    grid = {
        "inproc": {"put": 2e6, "get": 6e6, "lock": 1e6},
        "c1mem": {"put": 50e3, "get": 60e3, "lock": 20e3},
        "c3disk": {"put": 12e3, "get": 10e3, "lock": 3e3},
        "etcd3": {"put": 4e3, "get": 4e3, "lock": 1e3},
        "redis": {"put": 80e3, "get": 75e3, "lock": 40e3},
    }
    results = {}
    for key, by_workload in grid.items():
        for workload, ops in by_workload.items():
            for clients in (1, 64):
                scale = 1 if clients == 64 else 0.2
                results.setdefault(key, {}).setdefault(workload, {})[str(clients)] = result(
                    ops * scale, 1000.0 if key == "c3disk" else 1500.0, 3000.0)
    results["etcd3"]["lock"]["1"] = {"error": "connection refused"}
    return results


class ReportTest(unittest.TestCase):
    def test_goals_compute_ratios_and_say_met_or_missed(self):
        lines = compare.goals(sample(), [1, 64])
        text = "\n".join(lines)
        self.assertIn("| 3-node Clustron vs 3-node etcd, writes/s, 64 clients | 3.00x | ≥ 2x | met |", text)
        self.assertIn("| 3-node Clustron vs 3-node etcd, linearizable reads/s, 64 clients | 2.50x | ≥ 2x | met |", text)
        self.assertIn("lock acquire+release/s, 1 client | n/a |", text)
        self.assertIn("| single-client write p50, Clustron / etcd (lower is better) | 0.67x | ≤ 1x | met |", text)
        self.assertIn("| 1-node in-memory Clustron vs Redis, put, 64 clients | 0.62x | ≥ 0.7x | MISSED |", text)
        self.assertIn("| Clustron in-process get vs the best networked get rate | 80.00x | ≥ 20x | met |", text)

    def test_markdown_has_a_row_per_measured_system_and_lists_failures(self):
        meta = {"date": "2026-01-01", "command": "x", "machine": "m", "duration": 5, "warmup": 1,
                "value_size": 100, "svg": "2026-01-01.svg"}
        text = compare.markdown(sample(), [1, 64], meta)
        self.assertIn("![throughput and p99 latency](2026-01-01.svg)", text)
        self.assertIn("| Clustron 3 nodes, durable | 2400 (1.00 / 3.00) | 12.0k (1.00 / 3.00) |", text)
        self.assertNotIn("Redis 7, appendfsync always |", text, "a system not measured has no row")
        self.assertIn("- etcd3 lock 1 clients: `connection refused`", text)

    def test_svg_is_well_formed_with_a_bar_per_measurement(self):
        svg = compare.svg(sample(), 64)
        root = ElementTree.fromstring(svg)
        bars = [rect for rect in root.iter("{http://www.w3.org/2000/svg}rect") if rect.find(
            "{http://www.w3.org/2000/svg}title") is not None]
        # 5 systems x 3 workloads, in both panels.
        self.assertEqual(len(bars), 30)
        self.assertTrue(all(float(bar.get("height")) >= 0 for bar in bars))


if __name__ == "__main__":
    unittest.main()
