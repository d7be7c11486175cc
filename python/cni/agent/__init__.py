# SPDX-License-Identifier: Apache-2.0
"""The warm plugin path's agent (`cni agent`): plugins at the cost of their work, not of a
Python start.

A runtime execs `cni-shim` under a plugin's name (`cni install` writes it); the shim hands
the invocation to this agent over a unix socket and exits with the worker's status. The
agent imports the plugin path once and keeps a few pre-forked workers; each serves exactly
one request, in the caller's network and mount namespaces, with the caller's environment,
cwd, umask and stdio, by the same entry point a launcher runs, and exits. Nothing survives
from one operation to the next; the process started (the supervisor) never runs plugin
code, and workers fork from a pool process that has rehearsed it once, without effects.

- :mod:`cni.agent.listener`: the socket (a path, 0600 in a 0700 directory; or systemd's).
- :mod:`cni.agent.supervisor`: the process started: holds the socket, starts (and restarts)
  the pool process, re-executes itself when the installed package changes, stops on SIGTERM.
- :mod:`cni.agent.pool`: rehearses the plugin path once and forks every worker from there,
  keeping the pool of idle ones full.
- :mod:`cni.agent.worker`: one request, from accept to exit status.

The wire protocol, shared with the shim, is `cni_core::warm` (Rust).
"""

from __future__ import annotations

#: Where the agent listens and the shim connects unless told otherwise.
DEFAULT_SOCKET = "/run/cni/agent/agent.sock"
#: Idle workers kept ready.
DEFAULT_WORKERS = 4


def serve(socket_path: str = DEFAULT_SOCKET, workers: int = DEFAULT_WORKERS, verbose: bool = False) -> int:
    """Serves `socket_path` (or systemd's socket) in the foreground until SIGTERM, SIGINT or
    SIGHUP; returns the exit status. What `cni agent` runs; `verbose` logs each request."""
    import os

    from cni import __version__
    from cni.agent import listener, pool, supervisor, worker

    pool.warm_imports()
    try:
        sock = listener.activated()
        lock = os.environ.pop(supervisor.REEXEC_LOCK, None)
        path = os.environ.pop(supervisor.REEXEC_PATH, socket_path)
        if sock is not None:
            served = listener.Listener(sock, path, int(lock) if lock is not None else None)
        else:
            served = listener.bind(socket_path)
    except listener.ListenerError as err:
        worker.log(str(err))
        return 1
    agent = supervisor.Supervisor(served, workers, verbose)
    worker.log(f"cni {__version__} serving {served.path} with {workers} idle workers")
    return agent.run()
