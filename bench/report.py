#!/usr/bin/env python3
"""Summarises bench/run's measurements into a Markdown table.

The full run writes bench/RESULTS.md; the quick run prints the table only.
"""
import os
import statistics
import sys
from collections import OrderedDict
from datetime import datetime, timezone

results, nodes, per_node, reps, quick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"

rows = OrderedDict()
for line in open(results):
    label, wall, rss, reqs, code = line.rstrip("\n").split("\t")
    scenario, tool = label.split("|", 1)
    rows.setdefault(scenario, OrderedDict()).setdefault(tool, []).append((float(wall), int(rss or 0), int(reqs), int(code)))


def summary(runs):
    walls = [w for w, _, _, _ in runs]
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "rss_mib": max(r for _, r, _, _ in runs) / 1024,
        "requests": statistics.median(q for _, _, q, _ in runs),
        "failed": sum(1 for *_, c in runs if c not in (0, 1)),
    }


def machine():
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem} memory"


out = []
out.append("# Benchmark results\n")
out.append(
    f"Measured {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {machine()}, "
    f"against the simulator with {nodes:,} nodes and {nodes * per_node:,} pods; "
    f"each pair alternated {reps} times after a warm-up. Produced by `bench/run`.\n"
)
out.append("| scenario | tool | median s | min s | max s | peak RSS MiB | API requests | ratio to peer |")
out.append("|---|---|---:|---:|---:|---:|---:|---:|")
for scenario, tools in rows.items():
    names = list(tools)
    stats = {t: summary(r) for t, r in tools.items()}
    peer = stats[names[-1]]["median"] if len(names) > 1 else None
    for t in names:
        s = stats[t]
        ratio = f"{s['median'] / peer:.2f}×" if peer and t != names[-1] else ""
        reqs = "n/a" if s["requests"] < 0 else f"{s['requests']:.0f}"
        flag = f" ({s['failed']} failed)" if s["failed"] else ""
        out.append(
            f"| {scenario} | {t}{flag} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} | {s['rss_mib']:.1f} | {reqs} | {ratio} |"
        )
text = "\n".join(out) + "\n"
print(text)
if not quick:
    notes = "bench/NOTES.md"
    extra = open(notes).read() if os.path.exists(notes) else ""
    with open("bench/RESULTS.md", "w") as f:
        f.write(text + ("\n" + extra if extra else ""))
