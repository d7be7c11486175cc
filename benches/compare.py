# SPDX-License-Identifier: Apache-2.0
"""Regression check of a benchmark run against the baseline kept in the repository.

Absolute times on these machines move by 30 % from one run to the next, so a benchmark is
judged by its ratios to anchors measured in the same run: the comparison its group holds
(Debian's Go plugin, pyroute2's encoder, a Python set as allocator, a per-address cluster
IPAM), and the bare interpreter (`python -I -S -c pass`, benches/test_startup.py). An
anchor can move on its own from one boot to the next (the reference's host-local at 1,000
reservations ran in 7.2 ms on one day and 16.9 ms on another, while ours went from 16.5 to
9.8 ms), so a benchmark has regressed only when its ratio to every anchor is more than
THRESHOLD above the baseline's: a change of ours moves it against all of them.

Even so, a full run of about a hundred benchmarks flags two or three that the next run
clears, each time others (a 100 ns allocator pair at +56 %, the shim's fallback at +44 %).
With --recheck, the files holding the flagged benchmarks are run again beside the bare
interpreter, and a benchmark has regressed only when every run flags it: a slower change
of ours is slower each time.

    python benches/compare.py                  # compare .benchmarks/latest.json to the baseline
    python benches/compare.py --recheck        # the same, measuring what it flags once more
    python benches/compare.py --save           # make .benchmarks/latest.json the baseline
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benches" / "baseline.json"
LATEST = ROOT / ".benchmarks" / "latest.json"
RECHECK = ROOT / ".benchmarks" / "recheck.json"
#: How much worse than the baseline a ratio may get before it counts as a regression.
THRESHOLD = 0.25
MACHINE_ANCHOR = "test_startup_bare_interpreter"
#: What names a group's comparison, the anchor that moves with the same kind of work (an
#: in-process encoder is not a process start: the interpreter's start moved 35 % between two
#: boots while pyroute2's encoding stayed put).
GROUP_ANCHORS = ("reference", "pyroute2", "python_set", "per-address")


def ratios(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each benchmark's median and its ratio to each of its anchors, by full name."""
    benches = run["benchmarks"]
    machine = next((b for b in benches if b["name"] == MACHINE_ANCHOR), None)
    out = {}
    for bench in benches:
        comparison = next((b for b in benches if b["group"] == bench["group"] and _is_group_anchor(b)), None)
        anchors = [a for a in (comparison, machine) if a is not None and a is not bench]
        if bench is comparison or not anchors:
            continue
        out[bench["fullname"]] = {
            "group": bench["group"],
            "median_ms": _significant(bench["stats"]["median"] * 1000),
            "ratios": {a["name"]: _significant(bench["stats"]["median"] / a["stats"]["median"]) for a in anchors},
        }
    return out


def _is_group_anchor(bench: dict[str, Any]) -> bool:
    return any(marker in bench["name"] for marker in GROUP_ANCHORS)


def _significant(value: float) -> float:
    """Four significant digits: an allocator's pair is 1/30,000 of the interpreter's start,
    which four decimals recorded as a ratio of 0."""
    return float(f"{value:.4g}")


def changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, float]:
    """How much each ratio the two runs share moved, by anchor (+0.5 is half as slow again)."""
    return {
        anchor: ratio / before["ratios"][anchor] - 1
        for anchor, ratio in now["ratios"].items()
        if before["ratios"].get(anchor)
    }


def compare(baseline: dict[str, dict[str, Any]], latest: dict[str, dict[str, Any]]) -> list[str]:
    regressions = []
    width = max((len(name) for name in latest), default=10)
    print(f"{'benchmark':<{width}}  change against each anchor (the group's comparison, the bare interpreter)")
    for name, now in sorted(latest.items()):
        moved = changes(baseline[name], now) if name in baseline else {}
        if not moved:
            print(f"{name:<{width}}  (new)")
            continue
        regressed = min(moved.values()) > THRESHOLD
        shown = " ".join(f"{change:+.0%}" for change in moved.values())
        print(f"{name:<{width}}  {shown}{'  REGRESSION' if regressed else ''}")
        if regressed:
            regressions.append(name)
    return regressions


def recheck(suspects: list[str]) -> Path:
    """Runs the files holding `suspects` once more, with the bare interpreter's, into RECHECK.

    Whole files, because a group's anchor can be another test function of its file."""
    files = sorted({name.split("::")[0] for name in suspects} | {"benches/test_startup.py"})
    command = [sys.executable, "-m", "pytest", *files, "--benchmark-enable", "-p", "no:cacheprovider", "-q"]
    subprocess.run([*command, f"--benchmark-json={RECHECK}"], cwd=ROOT, check=True)
    return RECHECK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", action="store_true", help="record the latest run as the new baseline")
    parser.add_argument("--recheck", action="store_true", help="run what the latest run flags again, and judge both")
    parser.add_argument("--latest", type=Path, action="append", help="a run to judge; regressed = flagged in every one")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    ns = parser.parse_args(argv)
    runs = [ratios(json.loads(path.read_text())) for path in ns.latest or [LATEST]]
    if ns.save:
        ns.baseline.write_text(
            json.dumps({"threshold": THRESHOLD, "benchmarks": runs[0]}, indent=1, sort_keys=True) + "\n"
        )
        print(f"saved {len(runs[0])} ratios to {ns.baseline}")
        return 0
    baseline = json.loads(ns.baseline.read_text())["benchmarks"]
    regressions = set(compare(baseline, runs[0]))
    for run in runs[1:]:
        regressions &= set(compare(baseline, run))
    if regressions and ns.recheck:
        print(f"measuring the {len(regressions)} flagged again")
        regressions &= set(compare(baseline, ratios(json.loads(recheck(sorted(regressions)).read_text()))))
    if regressions:
        print(f"{len(regressions)} regression(s) beyond {THRESHOLD:.0%} of the baseline's ratios", file=sys.stderr)
        for name in sorted(regressions):
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"no regression beyond {THRESHOLD:.0%} against every anchor (ratios to anchors of the same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
