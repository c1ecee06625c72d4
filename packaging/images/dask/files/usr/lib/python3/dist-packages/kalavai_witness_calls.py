"""The pool head's witness answers the redundancy library (kalavai_redundancy), as two
scheduler handlers the witness preload adds:

- `kalavai_identities`: per witnessed worker address, its device and user (a pseudonym in
  the pool), from `<dir>/identities.json`, which the seed's agent writes from the platform's
  peer list; the library never gives two results of one workunit to one user;
- `kalavai_outcomes`: the library's verdict on each result (task key -> valid, invalid,
  error, unchecked), which releases or sets apart its held compute (WitnessBook.judge).

Only the pool owner's client may call them: a call over a connection from the host of a
connected worker is refused, so a volunteer cannot vouch for its own results (loopback is the
head's own machine: workers come over the overlay).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from kalavai_witness import WitnessPlugin, ipv4_host

log = logging.getLogger("kalavai_witness")
MAX_TABLE = 16 * 2**20


def read_identities(directory: str) -> object:
    """The seed's table of overlay hosts to devices and users ({} when absent or malformed)."""
    try:
        with open(os.path.join(directory, "identities.json"), encoding="utf-8") as f:
            return json.loads(f.read(MAX_TABLE))
    except (OSError, ValueError):
        return {}


def from_a_worker(plugin: WitnessPlugin, comm: Any) -> bool:
    """Whether `comm` comes from the host of a connected worker (not the owner's client)."""
    host = ipv4_host(getattr(comm, "peer_address", None))
    workers = {key[0] for key, _n in plugin.book._workers.values()}
    if host is not None and host in workers and not host.startswith("127."):
        log.warning("a call for the redundancy library from worker host %s refused", host)
        return True
    return False


def add_handlers(scheduler: Any, plugin: WitnessPlugin) -> None:
    """Add the two handlers to `scheduler` (their first parameter must be named `comm`)."""

    def identities(comm: Any) -> dict[str, dict[str, str]]:
        if from_a_worker(plugin, comm):
            return {}
        return plugin.book.identities(read_identities(plugin.directory))

    def outcomes(comm: Any, outcomes: object = None) -> int:
        if from_a_worker(plugin, comm):
            return 0
        items = outcomes if isinstance(outcomes, (list, tuple)) else ()
        judge = plugin.book.judge
        return sum(judge(o.get("key"), o.get("outcome")) for o in items if isinstance(o, dict))

    scheduler.handlers["kalavai_identities"] = identities
    scheduler.handlers["kalavai_outcomes"] = outcomes
