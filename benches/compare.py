# SPDX-License-Identifier: Apache-2.0
"""Regression check of a benchmark run against the baseline kept in the repository.

Absolute times on these machines move by 30 % from one run to the next, so a benchmark is
judged by its ratio to an anchor measured in the same run: the reference plugin of its
group when the group has one (Debian's Go plugins), else the bare interpreter
(`python -I -S -c pass`, benches/test_startup.py). A ratio more than THRESHOLD above the
baseline's ratio is a regression, and the check fails.

    python benches/compare.py                  # compare .benchmarks/latest.json to the baseline
    python benches/compare.py --save           # make .benchmarks/latest.json the baseline
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benches" / "baseline.json"
LATEST = ROOT / ".benchmarks" / "latest.json"
#: How much worse than the baseline a ratio may get before it counts as a regression.
THRESHOLD = 0.25
MACHINE_ANCHOR = "test_startup_bare_interpreter"


def ratios(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each benchmark's median and its ratio to its anchor, by full name."""
    benches = run["benchmarks"]
    machine = next((b for b in benches if b["name"] == MACHINE_ANCHOR), None)
    out = {}
    for bench in benches:
        group = [b for b in benches if b["group"] == bench["group"]]
        anchor = next((b for b in group if "reference" in b["name"]), machine)
        if anchor is None or anchor is bench:
            continue
        out[bench["fullname"]] = {
            "group": bench["group"],
            "median_ms": _significant(bench["stats"]["median"] * 1000),
            "anchor": anchor["name"],
            "ratio": _significant(bench["stats"]["median"] / anchor["stats"]["median"]),
        }
    return out


def _significant(value: float) -> float:
    """Four significant digits: an allocator's pair is 1/30,000 of the interpreter's start,
    which four decimals recorded as a ratio of 0."""
    return float(f"{value:.4g}")


def compare(baseline: dict[str, dict[str, Any]], latest: dict[str, dict[str, Any]]) -> list[str]:
    regressions = []
    width = max((len(name) for name in latest), default=10)
    print(f"{'benchmark':<{width}}  baseline  now     change")
    for name, now in sorted(latest.items()):
        before = baseline.get(name)
        if before is None or before["anchor"] != now["anchor"] or not before["ratio"]:
            print(f"{name:<{width}}  {'-':>8}  {now['ratio']:<7.3f} (new)")
            continue
        change = now["ratio"] / before["ratio"] - 1
        flag = "  REGRESSION" if change > THRESHOLD else ""
        print(f"{name:<{width}}  {before['ratio']:>8.3f}  {now['ratio']:<7.3f} {change:+.0%}{flag}")
        if flag:
            regressions.append(name)
    return regressions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", action="store_true", help="record the latest run as the new baseline")
    parser.add_argument("--latest", type=Path, default=LATEST)
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    ns = parser.parse_args(argv)
    latest = ratios(json.loads(ns.latest.read_text()))
    if ns.save:
        ns.baseline.write_text(
            json.dumps({"threshold": THRESHOLD, "benchmarks": latest}, indent=1, sort_keys=True) + "\n"
        )
        print(f"saved {len(latest)} ratios to {ns.baseline}")
        return 0
    baseline = json.loads(ns.baseline.read_text())["benchmarks"]
    regressions = compare(baseline, latest)
    if regressions:
        print(f"{len(regressions)} regression(s) beyond {THRESHOLD:.0%} of the baseline's ratio", file=sys.stderr)
        return 1
    print(f"no regression beyond {THRESHOLD:.0%} (ratios to anchors measured in the same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
