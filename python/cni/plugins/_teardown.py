# SPDX-License-Identifier: Apache-2.0
"""Teardown that runs every step: a DEL (or the undo of a failed ADD) goes on past a
failing step, then reports every failure together (a DEL raises them; an undo adds them to
the details of the ADD's error, which is the one to report).

A DEL that stopped at its first failure would leak what the later steps hold: a bridge DEL
whose spoof-check removal failed (`nft` missing) never released its address. netavark
tears down the same way (its error list). The error has the first failure's code, and its
message names each step that failed.
"""

from __future__ import annotations

from cni.errors import CNIError, InternalError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Teardown:
    """Collects the failures of the steps of one teardown."""

    __slots__ = ("failures", "plugin")

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.failures: list[tuple[str, CNIError]] = []

    def step(self, what: str, action: Callable[..., object], *args: object) -> None:
        """Runs `action(*args)`; a failure is kept, under `what`, and the teardown goes on."""
        try:
            action(*args)
        except CNIError as err:
            self.failures.append((what, err))
        except Exception as err:  # noqa: BLE001 - a bug in one step must not skip the others
            self.failures.append((what, InternalError(f"{type(err).__name__}: {err}")))

    def finish(self) -> None:
        """Raises every failure together, or returns when every step succeeded."""
        if not self.failures:
            return
        first = self.failures[0][1]
        msg = "; ".join(f"{what} failed: {err.msg}" for what, err in self.failures)
        details = "; ".join(err.details for _, err in self.failures if err.details)
        raise CNIError(f"{self.plugin}: {msg}", details, code=first.code)

    def note_on(self, cause: BaseException) -> None:
        """After an undo: the failures become details of the error the ADD raises."""
        if self.failures and isinstance(cause, CNIError):
            undo = "undo: " + "; ".join(f"{what} failed: {err.msg}" for what, err in self.failures)
            cause.details = "; ".join(filter(None, [cause.details, undo]))
