"""A runner that answers engine calls from files recorded from real podman 4.3 (see
tests/container/recorded/), so the runtime's parsing and error translation are tested without
podman."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kalavai_like.container.engine import RunResult

RECORDED = Path(__file__).resolve().parents[1] / "container" / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@dataclass
class RecordedRunner:
    """Maps an engine verb (first argument after the global flags) to queued results."""

    answers: dict[str, list[RunResult]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def add(self, verb: str, result: RunResult) -> RecordedRunner:
        self.answers.setdefault(verb, []).append(result)
        return self

    def __call__(
        self, argv: list[str], *, env: dict[str, str] | None, timeout: float, merge_stderr: bool
    ) -> RunResult:
        self.calls.append(argv)
        verb = next(a for a in argv[1:] if not a.startswith("-") and a not in ("runc", "cgroupfs"))
        queue = self.answers.get(verb)
        if not queue:
            raise AssertionError(f"unexpected call {argv}")
        return queue.pop(0) if len(queue) > 1 else queue[0]
