# SPDX-License-Identifier: Apache-2.0
"""The agent imports, before it forks, every module the plugin path imports inside a
function: a worker that imports one pays for it in the request (measured: 1.9 ms of a
host-local ADD's 3.2 ms in a fresh worker; 4 ms more where bytecode cannot be written).

The plugin path's modules are read (not imported) and every import statement inside a
function is collected, following the package's own modules it reaches; `if TYPE_CHECKING:`
blocks are not imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import cni

ROOT = Path(cni.__file__).parent
#: Where a plugin operation starts: skel and the plugin modules (the rest is reached).
ENTRY = ["cni.skel", *(f"cni.plugins.{p.stem}" for p in (ROOT / "plugins").glob("*.py"))]


def _source(module: str) -> Path | None:
    base = ROOT.parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imports(tree: ast.AST, in_function: bool = False) -> tuple[set[str], set[str]]:
    """(module-level imports, function-level imports) of a module's tree."""
    top: set[str] = set()
    lazy: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
            # `from cni.plugins import _masq` imports the submodule.
            names += [f"{node.module}.{a.name}" for a in node.names if _source(f"{node.module}.{a.name}")]
        (lazy if in_function else top).update(n for n in names if n != "__future__")
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        sub_top, sub_lazy = _imports(node, inner)
        (lazy if inner else top).update(sub_top)
        lazy.update(sub_lazy)
    return top, lazy


def lazy_imports() -> dict[str, str]:
    """Every module imported inside a function of the plugin path, with where."""
    seen: set[str] = set()
    found: dict[str, str] = {}
    todo = list(ENTRY)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _source(module)
        if path is None:
            continue
        top, lazy = _imports(ast.parse(path.read_text()))
        for name in lazy:
            found.setdefault(name, module)
        todo += [n for n in top | lazy if n.startswith("cni.")]
    return found


def test_the_agent_imports_every_module_the_plugin_path_imports_lazily() -> None:
    wanted = lazy_imports()
    # The scan sees the imports it must (a function-level one of each kind).
    assert {"ipaddress", "cni.plugins._fields"} <= set(wanted)
    script = "import json, sys; from cni.agent import pool; pool.warm_imports(); print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout))
    missing = {name: where for name, where in wanted.items() if name not in loaded}
    assert not missing, f"imported inside functions but not by the agent: {missing}"
