"""The project's error types: one base with a title and a message a person can act on.

Library errors are translated into these at the boundary modules only (the platform client,
the overlay, the container runtime). Frontends map `exit_code` to a process exit code (CLI)
or show `title` and `message` in a notification (tray).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class KalavaiError(Exception):
    """Base error: `title` is a short summary, `message` says what happened and what to do."""

    exit_code = 1

    def __init__(self, title: str, message: str = "") -> None:
        super().__init__(f"{title}: {message}" if message else title)
        self.title = title
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"kind": type(self).__name__, "title": self.title, "message": self.message}


class InvalidInput(KalavaiError):
    """The user gave something malformed or out of range; fixing the input fixes it."""

    exit_code = 2


class TokenError(InvalidInput):
    """A join token is damaged, expired, used up, revoked, unknown or for another platform.

    `reason` is a stable machine-readable word: damaged, version, expired, other_platform,
    used_up, revoked, unknown.
    """

    def __init__(self, reason: str, title: str, message: str = "") -> None:
        super().__init__(title, message)
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "reason": self.reason}


class AuthError(KalavaiError):
    """Not logged in, wrong credentials, or not allowed; logging in (again) fixes it."""

    exit_code = 3


class PlatformUnavailable(KalavaiError):
    """The platform could not be reached, timed out or failed; retrying later may fix it."""

    exit_code = 4


class NotFound(KalavaiError):
    """The named pool, token, device or key does not exist (or is not yours)."""

    exit_code = 5


class Conflict(KalavaiError):
    """The request clashes with the current state (name taken, already joined elsewhere)."""

    exit_code = 6


class SystemProblem(KalavaiError):
    """This machine lacks something the step needs (WireGuard, podman, a free disk, a keyring)."""

    exit_code = 7


class AgentUnavailable(KalavaiError):
    """The local agent is not running or its socket cannot be reached."""

    exit_code = 8


@dataclass(frozen=True)
class Condition:
    """An ongoing problem shown in the status snapshot (no WireGuard, disk full, a rule holding
    the worker): a stable code, a title and a text a person can act on."""

    code: str
    title: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        return cls(str(data["code"]), str(data["title"]), str(data["text"]))
