# SPDX-License-Identifier: Apache-2.0
"""`make bench`'s regression check: ratios to anchors of the same run against the baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benches import compare


def run(**medians: tuple[str, float]) -> dict[str, Any]:
    """A pytest-benchmark JSON document: name -> (group, median in seconds)."""
    return {
        "benchmarks": [
            {"name": name, "fullname": f"benches/x.py::{name}", "group": group, "stats": {"median": median}}
            for name, (group, median) in medians.items()
        ]
    }


def judged(latest: Path, baseline: Path, *flags: str) -> int:
    return compare.main([*flags, "--latest", str(latest), "--baseline", str(baseline)])


def test_ratios_are_to_the_groups_reference_and_the_bare_interpreter() -> None:
    ratios = compare.ratios(
        run(
            test_startup_bare_interpreter=("startup", 0.010),
            test_ours=("add", 0.004),
            test_reference=("add", 0.002),
            test_allocator=("alloc", 0.000_001),
        )
    )
    assert ratios["benches/x.py::test_ours"]["ratios"] == {"test_reference": 2.0, "test_startup_bare_interpreter": 0.4}
    assert ratios["benches/x.py::test_allocator"]["ratios"] == {"test_startup_bare_interpreter": 0.0001}
    # An anchor is not judged, against itself or the other.
    assert "benches/x.py::test_reference" not in ratios
    assert "benches/x.py::test_startup_bare_interpreter" not in ratios


def test_a_machine_twice_as_slow_is_no_regression_but_a_slower_plugin_is(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps(run(test_ours=("add", 0.004), test_reference=("add", 0.002))))
    assert judged(latest, baseline, "--save") == 0
    # Everything twice as slow: the same ratios.
    latest.write_text(json.dumps(run(test_ours=("add", 0.008), test_reference=("add", 0.004))))
    assert judged(latest, baseline) == 0
    # Within the threshold.
    latest.write_text(json.dumps(run(test_ours=("add", 0.0048), test_reference=("add", 0.002))))
    assert judged(latest, baseline) == 0
    # Ours 50 % slower beside an unchanged reference.
    latest.write_text(json.dumps(run(test_ours=("add", 0.006), test_reference=("add", 0.002))))
    assert judged(latest, baseline) == 1


def test_one_anchor_moving_alone_is_no_regression_but_ours_moving_against_both_is(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    latest = tmp_path / "latest.json"

    def measured(ours: float, reference: float, interpreter: float) -> None:
        latest.write_text(
            json.dumps(
                run(
                    test_ours=("add", ours),
                    test_reference=("add", reference),
                    test_startup_bare_interpreter=("startup", interpreter),
                )
            )
        )

    measured(0.004, 0.002, 0.010)
    assert judged(latest, baseline, "--save") == 0
    # The reference twice as fast on this boot, ours and the interpreter as before.
    measured(0.004, 0.001, 0.010)
    assert judged(latest, baseline) == 0
    # The interpreter twice as fast, the reference as before.
    measured(0.004, 0.002, 0.005)
    assert judged(latest, baseline) == 0
    # Ours 50 % slower beside both.
    measured(0.006, 0.002, 0.010)
    assert judged(latest, baseline) == 1


def test_a_benchmark_has_regressed_only_when_every_run_flags_it(tmp_path: Path) -> None:
    baseline, first, second = tmp_path / "baseline.json", tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(run(test_ours=("add", 0.004), test_reference=("add", 0.002))))
    assert judged(first, baseline, "--save") == 0
    slower = json.dumps(run(test_ours=("add", 0.006), test_reference=("add", 0.002)))
    first.write_text(slower)
    # Flagged by one run and cleared by the other: noise, whichever came first.
    second.write_text(json.dumps(run(test_ours=("add", 0.004), test_reference=("add", 0.002))))
    both = ["--latest", str(first), "--latest", str(second), "--baseline", str(baseline)]
    assert compare.main(both) == 0
    assert compare.main([*both[2:4], *both[:2], *both[4:]]) == 0
    # Flagged by both.
    second.write_text(slower)
    assert compare.main(both) == 1
