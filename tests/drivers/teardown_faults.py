# SPDX-License-Identifier: Apache-2.0
"""Runs one of our plugins' DEL with one step made to fail, inside a node namespace
(tests/netns/test_teardown.py).

    teardown_faults.py MODULE FUNCTION

The plugin's config is read from stdin and the CNI_* variables from the environment, as
for an exec'd plugin; MODULE.FUNCTION (a step the DEL calls by that name) raises a
CNIError instead of running. Prints the plugin's answer; exits with its status.
"""

from __future__ import annotations

import sys

from cni.errors import IOFailure
from cni.plugins import registry


def main() -> int:
    module_name, function = sys.argv[1:]
    __import__(module_name)
    module = sys.modules[module_name]
    assert callable(getattr(module, function)), function

    def injected(*args: object) -> None:
        raise IOFailure(f"injected failure of {function}")

    setattr(module, function, injected)
    entry = next(e for e in registry.PLUGINS if e.module == module_name)
    return registry.run(entry.type)


if __name__ == "__main__":
    sys.exit(main())
