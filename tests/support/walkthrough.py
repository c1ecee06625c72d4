"""docs/DEPLOY.md's five-machine walkthrough as data: its marked blocks (`<!-- walkthrough:
WHERE -->` before a ```sh block), in order, so the end-to-end test runs exactly what the
document says, and the words in them a test replaces with its own hosts' addresses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md"
BLOCK = re.compile(r"<!-- walkthrough: ([a-z ]+) -->\n```sh\n(.*?)```", re.S)
WHERE = ("platform", "seed", "each volunteer")
# The document's example values, replaced by the simulated hosts' own.
PLATFORM_ADDRESS = "192.0.2.10"
SEED_ADDRESS = "192.0.2.20"
VOLUNTEER_EMAIL = "you@example.org"
TOKEN = "TOKEN"
# What the installed unit does; a simulated host starts its agent as the simulator does.
AGENT_START = "sudo systemctl enable --now kalavai-like-agent"


@dataclass(frozen=True)
class Step:
    where: str  # one of WHERE
    commands: tuple[str, ...]


def steps(text: str | None = None) -> list[Step]:
    """The walkthrough's steps, in the document's order."""
    text = DOC.read_text() if text is None else text
    found = []
    for where, body in BLOCK.findall(text):
        lines = [ln.strip() for ln in body.splitlines()]
        found.append(Step(where.strip(), tuple(ln for ln in lines if ln and ln[0] != "#")))
    return found
