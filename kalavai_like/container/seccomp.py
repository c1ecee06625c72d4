"""The seccomp profile every container of ours runs under (workers, heads, jobs): its shipped
path, and how it is made from the default profile of containers-common.

That default allows `unshare`, `clone` with any flags, `mount` and the new mount API, trusting
capabilities to stop misuse; but an unprivileged process may create a user namespace and holds
every capability inside it. Ours keeps everything the default allows except namespaces and
mounts: `unshare`, `setns`, the mount calls are EPERM; `clone3` (whose flags sit in memory a
filter cannot read) is ENOSYS, so glibc falls back to `clone`; `clone` is allowed only without
namespace flags (others get the default's ENOSYS).

Regenerate after a containers-common upgrade (tests/container/test_seccomp.py checks it):

    python -m kalavai_like.container.seccomp /usr/share/containers/seccomp.json \\
        kalavai_like/container/seccomp.json
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = Path("/usr/share/containers/seccomp.json")

# Denied with EPERM whatever the capabilities.
DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
)
# linux/sched.h: NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
NAMESPACE_FLAGS |= 0x20000000 | 0x40000000
EPERM, ENOSYS = 1, 38
# s390 passes clone's flags second (the kernel's CLONE_BACKWARDS2).
_FLAGS_SECOND = ["s390", "s390x"]


def shipped_profile() -> str:
    """Path of the profile shipped with the package (a real file, also in a PyInstaller bundle)."""
    return str(resources.files("kalavai_like.container").joinpath("seccomp.json"))


def harden(default: dict[str, Any]) -> dict[str, Any]:
    """`default` (a containers-common profile) without namespaces and mounts."""
    removed = {*DENIED, "clone", "clone3"}
    rules = []
    for rule in default["syscalls"]:
        names = [n for n in rule["names"] if n not in removed]
        if names:
            rules.append({**rule, "names": names})
    rules += [
        _rule(list(DENIED), "SCMP_ACT_ERRNO", errno=EPERM, why="no namespaces, no mounts"),
        _rule(["clone3"], "SCMP_ACT_ERRNO", errno=ENOSYS, why="glibc falls back to clone"),
        _rule(["clone"], "SCMP_ACT_ALLOW", arg=0, why="no namespace flags", excludes=True),
        _rule(["clone"], "SCMP_ACT_ALLOW", arg=1, why="no namespace flags (s390)"),
    ]
    return {**default, "syscalls": rules}


def _rule(
    names: list[str],
    action: str,
    *,
    why: str,
    errno: int | None = None,
    arg: int | None = None,
    excludes: bool = False,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": names, "action": action, "args": [], "comment": why}
    rule["includes"], rule["excludes"] = {}, {}
    if errno is not None:
        rule.update(errnoRet=errno, errno="EPERM" if errno == EPERM else "ENOSYS")
    if arg is not None:
        flags = {"index": arg, "value": NAMESPACE_FLAGS, "valueTwo": 0}
        rule["args"] = [{**flags, "op": "SCMP_CMP_MASKED_EQ"}]
        rule["excludes" if excludes else "includes"] = {"arches": _FLAGS_SECOND}
    return rule


def main(argv: list[str]) -> int:
    """`python -m kalavai_like.container.seccomp [DEFAULT [OUT]]`: write the hardened profile."""
    source = Path(argv[0]) if argv else DEFAULT_PROFILE
    text = json.dumps(harden(json.loads(source.read_text())), indent=2) + "\n"
    if len(argv) > 1:
        Path(argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
