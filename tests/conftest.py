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
from tests.support.agent import SERVING, start_agent
from tests.support.env import CAN_NETNS, GOPATH, TESTS


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNI_PATH directory holding our test plugin as `echo` (and `echo2`)."""
    directory = tmp_path_factory.mktemp("cni-bin")
    install(str(directory), {"echo": "echo_plugin", "echo2": "echo_plugin"}, [str(TESTS / "plugins")])
    return directory


@pytest.fixture(scope="session")
def launcher_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugins this package ships, as Python launchers (`cni install --launchers`)."""
    directory = tmp_path_factory.mktemp("ours")
    install(str(directory), launchers_only=True)
    return directory


@pytest.fixture(scope="session")
def agent_bin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The plugins this package ships as shims (`cni install`), served by a `cni agent` that
    runs in a network namespace of its own: whatever a test's plugins do must land in the
    caller's namespaces, never in the agent's."""
    if not CAN_NETNS:
        pytest.skip("needs root and `ip netns add`")
    directory = tmp_path_factory.mktemp("shims")
    sock = tmp_path_factory.mktemp("agent") / "agent.sock"
    os.chmod(sock.parent, 0o700)
    install(str(directory), agent_socket=str(sock))
    netns = f"cnit-agent-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    agent = None
    try:
        agent = start_agent(sock, netns=netns)  # the default pool, as `cni agent` runs
        SERVING[directory] = agent
        yield directory
    finally:
        if agent is not None:
            agent.stop()
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


#: Where every test that uses `our_bin` runs twice: through launchers and through the agent.
TWICE = ("netns", "interop")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "our_bin" in metafunc.fixturenames and metafunc.definition.path.parent.name in TWICE:
        metafunc.parametrize("plugin_mode", ["launcher", "agent"], scope="session")


@pytest.fixture(scope="session")
def plugin_mode() -> str:
    """How `our_bin` runs our plugins: "launcher" here, both in tests/netns and tests/interop."""
    return "launcher"


@pytest.fixture
def our_bin(plugin_mode: str, request: pytest.FixtureRequest) -> Path:
    """Our plugins, installed as launchers or as shims served by the agent (per test: a
    session-wide value would keep the last mode's directory for tests outside TWICE)."""
    directory: Path = request.getfixturevalue(f"{plugin_mode}_bin")
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
