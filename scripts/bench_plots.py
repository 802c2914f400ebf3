#!/usr/bin/env python3
"""Draws docs/bench/*.png from the JSON that `minoots-bench ... --json` writes.

    scripts/bench_plots.py docs/bench            # reads docs/bench/*.json, writes PNGs beside them
"""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(folder):
    reports = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            report = json.load(f)
        report["file"] = os.path.splitext(os.path.basename(path))[0]
        reports.append(report)
    return reports


def lateness(reports, folder):
    plotted = [r for r in reports if r["bench"] in ("lateness", "fanout") and r["cdf"]]
    if not plotted:
        return
    fig, ax = plt.subplots(figsize=(9, 5))
    quantiles = [q / 10 for q in range(1001)]
    for report in plotted:
        for label, values in report["cdf"].items():
            ax.plot(values, quantiles, label=f"{report['file']}: {label}")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds after the due time (log scale)")
    ax.set_ylabel("percent of timers")
    ax.set_title("Fire lateness and delivery latency (CDF)")
    ax.axvline(2, color="grey", linestyle=":", linewidth=1)
    ax.text(2, 2, " 2 ms target", color="grey")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "lateness.png"), dpi=120)


def throughput(reports, folder):
    plotted = [r for r in reports if r["bench"] == "schedule" and r["timeline"]]
    if not plotted:
        return
    fig, ax = plt.subplots(figsize=(9, 5))
    for report in plotted:
        xs = [t for t, _ in report["timeline"]]
        ys = [n * 10 for _, n in report["timeline"]]  # per 100 ms -> per second
        params = report["params"]
        ax.plot(xs, ys, label=f"{params['store']}, {params['mode']}, c={params['concurrency']}")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("timers scheduled per second")
    ax.set_title("Schedule throughput over time (auth on)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "throughput.png"), dpi=120)


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "docs/bench"
    reports = load(folder)
    lateness(reports, folder)
    throughput(reports, folder)
    print(f"plotted {len(reports)} reports into {folder}")
