# SPDX-License-Identifier: Apache-2.0
"""Regenerates the conversion goldens from the Go oracle (Debian's libcni v1.1.2).

    python tests/data/convert/regenerate.py PATH/TO/libcni_driver

That libcni knows versions up to 1.0.0, so goldens cover every pair among 0.1.0-1.0.0;
the 1.1.0 rules are asserted directly in tests/test_result_conversion.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
INPUTS = HERE.parent / "results"
GO_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")


def go_convert(driver: str, data: bytes, to_version: str) -> dict[str, object]:
    """What libcni makes of `data` in `to_version` (empty DNS dropped, as we omit it)."""
    out = subprocess.run([driver, "convert", to_version], input=data, capture_output=True, check=False)
    result: dict[str, object] = json.loads(out.stdout)
    if result.get("dns") == {}:
        del result["dns"]
    return result


def main(driver: str) -> None:
    for source in GO_VERSIONS:
        data = (INPUTS / f"{source}.json").read_bytes()
        for target in GO_VERSIONS:
            result = go_convert(driver, data, target)
            (HERE / f"{source}-to-{target}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
