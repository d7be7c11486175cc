# SPDX-License-Identifier: Apache-2.0
"""Fixtures only: the test plugin on a CNI_PATH, our plugins installed, throwaway namespaces,
the Go oracle. Helpers live in tests/support/."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cni.install import install
from tests.support.env import CAN_NETNS, GOPATH, TESTS


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNI_PATH directory holding our test plugin as `echo` (and `echo2`)."""
    directory = tmp_path_factory.mktemp("cni-bin")
    install(str(directory), {"echo": "echo_plugin", "echo2": "echo_plugin"}, [str(TESTS / "plugins")])
    return directory


@pytest.fixture(scope="session")
def our_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugins this package ships, installed as `cni install` writes them."""
    directory = tmp_path_factory.mktemp("ours")
    install(str(directory))
    return directory


@pytest.fixture
def debug_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "debug"
    directory.mkdir()
    return directory


needs_netns = pytest.mark.skipif(not CAN_NETNS, reason="needs root and `ip netns add`")


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], str]]:
    """Creates named throwaway network namespaces; all are removed afterwards, even on failure.

    Returns the namespace's name; its path is /var/run/netns/<name>.
    """
    if not CAN_NETNS:
        pytest.skip("needs root and `ip netns add`")
    made: list[str] = []

    def make(label: str) -> str:
        name = f"cnit-{label}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        made.append(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def go_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's libcni (v1.1.2) behind a small Go driver, built offline in GOPATH mode."""
    if shutil.which("go") is None or not (GOPATH / "src/github.com/containernetworking/cni/libcni").is_dir():
        pytest.skip("needs golang-go and golang-github-appc-cni-dev")
    out = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }
    binary = out / "libcni_driver"
    subprocess.run(
        ["go", "build", "-o", str(binary), str(TESTS / "interop/libcni_driver/main.go")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return binary
