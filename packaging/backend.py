# SPDX-License-Identifier: Apache-2.0
"""The package's PEP 517 backend: maturin, after building `cni-shim` into the package.

maturin builds one Rust artifact per wheel (here the extension `cni._native`), and the exec
shim is a separate, statically linked binary without libpython. So this backend builds the
shim with cargo first, puts it at `python/cni/_bin/cni-shim`, and hands over to maturin,
which ships it as package data (`[tool.maturin] include`). One wheel, one `pip install .`,
and `cni install` finds the shim beside the module that wrote it. A second wheel with
maturin's `bin` bindings would have needed a second package name and a version pin between
the two, and would land the shim on PATH, where no runtime should exec it by that name.

Run as a script (`python packaging/backend.py`), it only builds the shim: what `make build`
does before `maturin develop`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import maturin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "python", "cni", "_bin", "cni-shim")

# Static: no dynamic loader at each exec (0.7 ms less per plugin exec here). Only the shim
# is built so: `cargo rustc` passes the flag to this one crate, not the cdylib.
_CARGO = ["cargo", "rustc", "--release", "--locked", "-p", "cni-shim", "--bin", "cni-shim", "--"]
_STATIC = ["-C", "target-feature=+crt-static"]


def build_shim() -> str:
    subprocess.run([*_CARGO, *_STATIC], cwd=ROOT, check=True)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    os.makedirs(os.path.dirname(TARGET), exist_ok=True)
    tmp = TARGET + ".tmp"
    shutil.copyfile(os.path.join(target_dir, "release", "cni-shim"), tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, TARGET)
    return TARGET


get_requires_for_build_wheel = maturin.get_requires_for_build_wheel
get_requires_for_build_sdist = maturin.get_requires_for_build_sdist
get_requires_for_build_editable = maturin.get_requires_for_build_editable
prepare_metadata_for_build_wheel = maturin.prepare_metadata_for_build_wheel
prepare_metadata_for_build_editable = maturin.prepare_metadata_for_build_editable
build_sdist = maturin.build_sdist


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    build_shim()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    build_shim()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


if __name__ == "__main__":
    sys.stdout.write(build_shim() + "\n")
