# SPDX-License-Identifier: Apache-2.0
"""Runs one of our plugins with steps made to fail, inside a node namespace
(tests/netns/test_teardown.py).

    teardown_faults.py MODULE FUNCTION [FUNCTION ...]

The plugin's config is read from stdin and the CNI_* variables (the verb included) from
the environment, as for an exec'd plugin; each MODULE.FUNCTION (a step the plugin calls by
that name) raises a CNIError instead of running. Prints the plugin's answer; exits with
its status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from cni.errors import IOFailure
from cni.plugins import registry


def _failing(function: str) -> Callable[..., None]:
    def injected(*args: object) -> None:
        raise IOFailure(f"injected failure of {function}")

    return injected


def main() -> int:
    module_name, *functions = sys.argv[1:]
    __import__(module_name)
    module = sys.modules[module_name]
    for function in functions:
        assert callable(getattr(module, function)), function
        setattr(module, function, _failing(function))
    entry = next(e for e in registry.PLUGINS if e.module == module_name)
    return registry.run(entry.type)


if __name__ == "__main__":
    sys.exit(main())
