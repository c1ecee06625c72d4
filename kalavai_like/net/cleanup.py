"""Removing what crashed runs left behind: everything named `<prefix>-...` / `<prefix>_...`.

/run/netns, /proc and /var/run/wireguard are shared by every namespace on the machine, so a
prefix must belong to one (simulated) host: cleanup of `kt4a` never touches `kt4b-...`, since
names are `<prefix>-<name>` and prefixes contain no dash.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from kalavai_like.net import firewall, namespace, validate, wireguard
from kalavai_like.net.config import Names
from kalavai_like.net.relay import route as bridge
from kalavai_like.net.relay.launch import find_bridges
from kalavai_like.net.runner import CommandRunner


@dataclass
class Leftovers:
    """What `cleanup` removed."""

    processes: list[int] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.processes or self.sockets or self.namespaces or self.links or self.tables)


def cleanup(runner: CommandRunner, prefix: str) -> Leftovers:
    """Stop stale wireguard-go and relay bridge processes and remove sockets, namespaces,
    veths and nft tables carrying `prefix`. Idempotent.
    """
    validate.prefix(prefix)
    stem = f"{prefix}-"
    found = Leftovers()
    for ifname, pid in wireguard.userspace_pids(lambda name: name.startswith(stem)).items():
        wireguard.stop_userspace(runner, pid, ifname)
        found.processes.append(pid)
    for label, pid in find_bridges(lambda label: label.startswith(stem)).items():
        bridge.stop(runner, Names(prefix, label.removeprefix(stem)))
        found.processes.append(pid)
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.listdir(wireguard.SOCKET_DIR)):
            if entry.startswith(stem) and entry.endswith(".sock"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{wireguard.SOCKET_DIR}/{entry}")
                found.sockets.append(entry)
    for ns in namespace.names_with(stem):
        namespace.remove(ns)
        found.namespaces.append(ns)
    for link in namespace.links_with(stem):
        namespace.delete_link(link)
        found.links.append(link)
    for table in firewall.tables(runner):
        if table.startswith(f"{prefix}_"):
            firewall.delete_table(runner, table)
            found.tables.append(table)
    return found
