#!/usr/bin/env python3
"""Summarises bench/run's measurements into Markdown tables: one for the
simulator, one for the comparisons with the floor, one for the real control
plane.

The full run writes bench/RESULTS.md (a table that was not measured this
time is kept from the last run); the quick run prints the tables only.
"""
import os
import re
import statistics
import sys
from collections import OrderedDict
from datetime import datetime, timezone

results, nodes, per_node, reps, quick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
real_size = sys.argv[6].split() if len(sys.argv) > 6 and sys.argv[6] else None
memory_file = sys.argv[7] if len(sys.argv) > 7 else ""

# A label is "[real|floor|]scenario|tool".
rows = {"sim": OrderedDict(), "floor": OrderedDict(), "real": OrderedDict()}
for line in open(results):
    fields = line.rstrip("\n").split("\t")
    # Older measurements have no CPU column.
    label, wall, rss, reqs, code = fields[:5]
    cpu = float(fields[5]) if len(fields) > 5 else -1.0
    backend = "sim"
    for prefix in ("real", "floor"):
        if label.startswith(prefix + "|"):
            backend, label = prefix, label[len(prefix) + 1:]
    scenario, tool = label.split("|", 1)
    rows[backend].setdefault(scenario, OrderedDict()).setdefault(tool, []).append(
        (float(wall), int(rss or 0), int(reqs), int(code), cpu)
    )


def summary(runs):
    walls = [w for w, *_ in runs]
    cpus = [c for *_, c in runs if c >= 0]
    return {
        "cpu": statistics.median(cpus) if cpus else None,
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "rss_mib": max(r for _, r, *_ in runs) / 1024,
        "requests": statistics.median(q for _, _, q, *_ in runs),
        "failed": sum(1 for _, _, _, c, _ in runs if c not in (0, 1)),
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


def alternations(measured):
    """How many times each pair ran, by where when that differs (the real
    control plane's floor rows run more often: its spread is wider)."""
    by_where = OrderedDict()
    for scenario, tools in measured.items():
        where = scenario.split(", ", 1)[1].rsplit(", ", 1)[0] if ", " in scenario else scenario
        by_where.setdefault(where, len(next(iter(tools.values()))))
    counts = set(by_where.values())
    if len(counts) == 1:
        return f"{counts.pop()} times"
    return ", ".join(f"{n} times on the {w}" for w, n in by_where.items())


def table(measured):
    out = ["| scenario | tool | median s | min s | max s | CPU s | peak RSS MiB | API requests | ratio to peer |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, tools in measured.items():
        names = list(tools)
        stats = {t: summary(r) for t, r in tools.items()}
        peer = stats[names[-1]]["median"] if len(names) > 1 else None
        for t in names:
            s = stats[t]
            ratio = f"{s['median'] / peer:.2f}×" if peer and t != names[-1] else ""
            reqs = "n/a" if s["requests"] < 0 else f"{s['requests']:.0f}"
            flag = f" ({s['failed']} failed)" if s["failed"] else ""
            cpu = "n/a" if s["cpu"] is None else f"{s['cpu']:.2f}"
            out.append(
                f"| {scenario} | {t}{flag} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} | {cpu} | {s['rss_mib']:.1f} | {reqs} | {ratio} |"
            )
    return "\n".join(out) + "\n"


now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
previous = open("bench/RESULTS.md").read() if os.path.exists("bench/RESULTS.md") else ""


def kept(marker):
    """A section of the last RESULTS.md, between <!-- marker --> comments."""
    m = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->\n", previous, re.S)
    return m.group(0) if m else ""


sections = []
if rows["sim"]:
    sections.append(
        "<!-- sim -->\n## The simulator\n\n"
        f"Measured {now} on {machine()}, against the simulator with {nodes:,} nodes and "
        f"{nodes * per_node:,} pods; each pair alternated {reps} times after a warm-up. "
        "API requests come from the simulator's counter.\n\n" + table(rows["sim"]) + "<!-- /sim -->\n"
    )
else:
    sections.append(kept("sim"))
if rows["floor"]:
    sections.append(
        "<!-- floor -->\n## Close to the floor\n\n"
        f"Measured {now} on {machine()}; each pair alternated {alternations(rows['floor'])} after a warm-up. "
        "The floor fetches every page of the pod list over oncall's own client (one keep-alive "
        "connection) and reads only each page's continue token (`bench/list-floor.rs`). "
        "API requests come from the simulator's counter (n/a on the real control plane).\n\n"
        + table(rows["floor"]) + "<!-- /floor -->\n"
    )
else:
    sections.append(kept("floor"))
if real_size and rows["real"]:
    real_nodes, real_per_node = int(real_size[0]), int(real_size[1])
    memory = ""
    if memory_file and os.path.exists(memory_file):
        parts = []
        for line in open(memory_file):
            name, kib = line.rstrip("\n").split("\t")
            parts.append(f"{name} {int(kib) / 1024:.0f} MiB")
        memory = "The control plane's own peak memory (VmHWM): " + ", ".join(parts) + ".\n\n"
    sections.append(
        "<!-- real -->\n## The real control plane\n\n"
        f"Measured {now} on {machine()}, against the test bed of `testbed/` (kube-apiserver, etcd, "
        f"controller-manager and scheduler v1.34.4, kwok kubelets) with {real_nodes:,} nodes and "
        f"{real_nodes * real_per_node:,} pods, on the same machine as the tools; each pair alternated "
        f"{reps} times after a warm-up. A real API server has no request counter here.\n\n"
        + memory + table(rows["real"]) + "<!-- /real -->\n"
    )
else:
    sections.append(kept("real"))

text = "# Benchmark results\n\nProduced by `bench/run` (`--real` adds the real control plane).\n\n" + "\n".join(
    s for s in sections if s
)
print(text)
if not quick:
    if rows["sim"]:
        # Keep the raw measurements next to the summary, so it can be re-made.
        with open("bench/results.tsv", "w") as f:
            f.write(open(results).read())
    notes = "bench/NOTES.md"
    extra = open(notes).read() if os.path.exists(notes) else ""
    with open("bench/RESULTS.md", "w") as f:
        f.write(text + ("\n" + extra if extra else ""))
